"""One waiter: list, judge, watch from the list's resourceVersion, re-judge on every event.

Every wait has a deadline measured by our own monotonic clock (never an HTTP timeout),
says what it waited for, and on expiry reports what it last saw. A judge can also declare
a known-bad state, which ends the wait at once with :class:`InvariantViolated`.

The named waits below are the only ones: the conformance tests (through
:class:`~ordinal.act.workload.Workload`) and the chaos activities both wait with them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from ordinal.errors import InvalidScenario, InvariantViolated, TransientApiError, WaitTimeout
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name, set_window
from ordinal.kube.rest import ENDPOINT_SLICES, NODES, PODS, STATEFULSETS, Gone, Kube, Resource
from ordinal.labels import SERVICE_NAME_LABEL
from ordinal.types import MONOTONIC, Clock, Finding, Obj

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict(Generic[T]):
    """A judge's answer: done or not, what it saw (in words), and what the wait returns once done."""

    done: bool
    seen: str = ""  # what was judged, in words; goes into the timeout message
    value: T | None = None  # what wait_for returns when done
    failed: str | None = None  # known-bad state: stop now instead of waiting out the deadline


@dataclass(frozen=True)
class Query:
    """What to list and watch: one resource, optionally narrowed to a namespace and selectors."""

    resource: Resource
    namespace: str | None = None
    label_selector: str = ""
    field_selector: str = ""

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        sel = ",".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{self.resource.plural}{where}" + (f" [{sel}]" if sel else "")


Judge = Callable[[list[Obj]], Verdict[T]]
Observer = Callable[[str, Obj], None]


def wait_for(
    kube: Kube,
    query: Query,
    judge: Judge[T],
    *,
    expect: str,
    timeout: float,
    clock: Clock = MONOTONIC,
    on_event: Observer | None = None,
) -> T:
    """Return the judge's ``value`` once it says done; raise WaitTimeout/InvariantViolated otherwise.

    The judge receives every object currently matching ``query`` (kept up to date from the
    watch), sorted by name.
    """
    start = clock()
    objects: dict[str, Obj] = {}
    verdict: Verdict[T] | None = None
    rv = ""

    def current() -> list[Obj]:
        return [objects[k] for k in sorted(objects)]

    def judge_now() -> Verdict[T]:
        v = judge(current())
        log.debug("waiting for %s: done=%s seen=%s", expect, v.done, v.seen)
        if v.failed:
            raise InvariantViolated(f"{query.describe()}: expected {expect}, but {v.failed}")
        return v

    def relist() -> str:
        items, version = kube.list(
            query.resource,
            query.namespace,
            label_selector=query.label_selector,
            field_selector=query.field_selector,
        )
        objects.clear()
        for item in items:
            objects[_key(item)] = item
        return version

    while True:
        left = timeout - (clock() - start)
        if left <= 0:
            seen = verdict.seen if verdict is not None else "nothing (no list succeeded)"
            raise WaitTimeout(f"{expect} ({query.describe()})", seen, clock() - start)
        try:
            if not rv:
                rv = relist()
                verdict = judge_now()
                if verdict.done:
                    return cast(T, verdict.value)
            for kind, obj in kube.watch(
                query.resource,
                query.namespace,
                resource_version=rv,
                timeout_seconds=left,
                label_selector=query.label_selector,
                field_selector=query.field_selector,
            ):
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if kind == "DELETED":
                    objects.pop(_key(obj), None)
                else:
                    objects[_key(obj)] = obj
                if on_event is not None:
                    on_event(kind, obj)
                verdict = judge_now()
                if verdict.done:
                    return cast(T, verdict.value)
                if clock() - start >= timeout:
                    break
        except Gone:
            rv = ""  # too old: re-list on the next turn
        except TransientApiError as err:
            log.debug("waiting for %s: %s; resuming", expect, err)
            time.sleep(min(0.5, max(0.0, timeout - (clock() - start))))  # back off, then resume


def _key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


# -- named waits ------------------------------------------------------------------------------


def set_status_line(sts: Obj) -> str:
    st, meta = o.status(sts), o.meta(sts)
    return (
        f"replicas {st.get('replicas', 0)}, ready {st.get('readyReplicas', 0)}, "
        f"available {st.get('availableReplicas', 0)}, updated {st.get('updatedReplicas', 0)}, "
        f"observedGeneration {st.get('observedGeneration', 0)}/{meta.get('generation', '?')}"
    )


def observed(sts: Obj) -> bool:
    """The controller has acted on the latest spec: every status waiter is gated on this."""
    return int(o.status(sts).get("observedGeneration", 0)) >= int(o.meta(sts).get("generation", 1))


def _one(resource: Resource, namespace: str, name: str) -> Query:
    return Query(resource, namespace, field_selector=f"metadata.name={name}")


def wait_for_set(
    kube: Kube, namespace: str, name: str, judge: Callable[[Obj], bool], *, expect: str, timeout: float
) -> Obj:
    """Wait until the set has observed its latest spec and ``judge`` accepts it."""

    def verdict(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        return Verdict(observed(sts) and judge(sts), set_status_line(sts), sts)

    return wait_for(
        kube,
        _one(STATEFULSETS, namespace, name),
        verdict,
        expect=f"StatefulSet {namespace}/{name} {expect}",
        timeout=timeout,
    )


def wait_for_set_ready(kube: Kube, namespace: str, name: str, replicas: int, *, timeout: float) -> Obj:
    """Wait until the set has observed its spec and reports ``replicas`` ready and available."""

    def judge(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        st = o.status(sts)
        done = (
            observed(sts)
            and st.get("readyReplicas", 0) == replicas
            and st.get("availableReplicas", 0) == replicas
            and st.get("replicas", 0) == replicas
        )
        return Verdict(done, set_status_line(sts), sts)

    return wait_for(
        kube,
        _one(STATEFULSETS, namespace, name),
        judge,
        expect=f"StatefulSet {namespace}/{name} with {replicas} ready replicas",
        timeout=timeout,
    )


def wait_for_set_settled(kube: Kube, namespace: str, name: str, *, timeout: float, clock: Clock = MONOTONIC) -> Obj:
    """Ready at the set's own replica count: every ordinal Running+Ready, condemned pods gone, status caught up."""
    start = clock()
    sts = kube.get_or_none(STATEFULSETS, name, namespace)
    if sts is None:
        raise InvalidScenario(f"expected StatefulSet {namespace}/{name}, found none")
    window = set_window(sts)

    def pods_ready(items: list[Obj]) -> Verdict[None]:
        mine = {parse_ordinal(o.name(p), name): p for p in items}
        bad = [
            pod_name(name, i)
            for i in window
            if i not in mine or o.terminating(mine[i]) or not o.pod_running_ready(mine[i])
        ]
        extra = sorted(o.name(p) for i, p in mine.items() if i is not None and i not in window)
        return Verdict(not bad and not extra, f"not ready: {bad}, condemned left: {extra}")

    wait_for(
        kube,
        Query(PODS, namespace),
        pods_ready,
        expect=f"every pod of {namespace}/{name} Running+Ready",
        timeout=timeout,
    )
    left = max(1.0, timeout - (clock() - start))
    return wait_for_set_ready(kube, namespace, name, len(window), timeout=left)


def wait_for_rollout_complete(
    kube: Kube, namespace: str, name: str, *, timeout: float, partition: int | None = None
) -> Obj:
    """Wait until a RollingUpdate has finished: every pod at or above the partition updated and ready.

    Without a partition: ``currentRevision == updateRevision`` and all replicas updated, ready
    and available. With one: ``updatedReplicas == replicas - partition`` and all ready.
    """

    def judge(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        st = o.status(sts)
        replicas = int(o.spec(sts).get("replicas", 1))
        ready = st.get("readyReplicas", 0) == replicas and st.get("availableReplicas", 0) == replicas
        if partition:
            updated = st.get("updatedReplicas", 0) == max(0, replicas - partition)
        else:
            updated = st.get("updatedReplicas", 0) == replicas and st.get("currentRevision") == st.get("updateRevision")
        done = observed(sts) and ready and updated and st.get("replicas", 0) == replicas
        revisions = f"{st.get('currentRevision')}→{st.get('updateRevision')}"
        return Verdict(done, set_status_line(sts) + f", revisions {revisions}", sts)

    return wait_for(
        kube,
        _one(STATEFULSETS, namespace, name),
        judge,
        expect=f"StatefulSet {namespace}/{name} rolled out" + (f" down to partition {partition}" if partition else ""),
        timeout=timeout,
    )


def wait_for_gone(kube: Kube, res: Resource, namespace: str | None, names: Iterable[str], *, timeout: float) -> None:
    """Wait until none of ``names`` exists any more."""
    wanted = list(names)

    def judge(items: list[Obj]) -> Verdict[None]:
        left = sorted(o.name(i) for i in items if o.name(i) in wanted)
        return Verdict(not left, str(left))

    where = f" in {namespace}" if namespace else ""
    wait_for(kube, Query(res, namespace), judge, expect=f"{res.plural} {wanted}{where} gone", timeout=timeout)


def pod_line(pod: Obj) -> str:
    return f"phase {o.status(pod).get('phase')}, ready {o.pod_ready(pod)}, node {o.spec(pod).get('nodeName')}"


def wait_for_pod(
    kube: Kube, namespace: str, name: str, judge: Callable[[Obj], bool], *, expect: str, timeout: float
) -> Obj:
    """Wait until pod ``name`` exists and ``judge`` accepts it."""

    def verdict(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "absent")
        return Verdict(judge(items[0]), pod_line(items[0]), items[0])

    return wait_for(
        kube, _one(PODS, namespace, name), verdict, expect=f"pod {namespace}/{name} {expect}", timeout=timeout
    )


def wait_for_pod_recreated(
    kube: Kube, namespace: str, name: str, old_uid: str, *, timeout: float, ready: bool = True
) -> Obj:
    """Wait until pod ``name`` exists with a UID other than ``old_uid`` (Running+Ready when ``ready``)."""

    def judge(items: list[Obj]) -> Verdict[Obj]:
        pod = items[0] if items else None
        if pod is None:
            return Verdict(False, "absent")
        fresh = o.uid(pod) != old_uid and not o.terminating(pod)
        healthy = o.pod_running_ready(pod)
        ready_status = (o.condition(pod, "Ready") or {}).get("status")
        seen = f"uid {o.uid(pod)}, phase {o.status(pod).get('phase')}, ready {ready_status}"
        return Verdict(fresh and (healthy or not ready), seen, pod)

    return wait_for(
        kube,
        _one(PODS, namespace, name),
        judge,
        expect=f"pod {namespace}/{name} recreated with a new UID" + (" and Ready" if ready else ""),
        timeout=timeout,
    )


def wait_for_pods_replaced(
    kube: Kube, namespace: str, name: str, old: Mapping[str, str], *, timeout: float
) -> dict[str, Obj]:
    """Every pod in ``old`` (name -> UID) is back under its name with a new UID, Running+Ready."""

    def judge(items: list[Obj]) -> Verdict[dict[str, Obj]]:
        now = {o.name(p): p for p in items}
        waiting = []
        for pod, uid in old.items():
            cur = now.get(pod)
            if cur is None:
                waiting.append(f"{pod} (absent)")
            elif o.uid(cur) == uid:
                waiting.append(f"{pod} (not replaced yet)")
            elif o.terminating(cur) or not o.pod_running_ready(cur):
                waiting.append(f"{pod} (phase={o.status(cur).get('phase')} ready={o.pod_ready(cur)})")
        if waiting:
            return Verdict(False, f"waiting for {waiting}")
        return Verdict(True, "replaced", {pod: now[pod] for pod in old})

    return wait_for(
        kube,
        Query(PODS, namespace),
        judge,
        expect=f"pods {sorted(old)} of {namespace}/{name} replaced and Ready",
        timeout=timeout,
    )


def wait_for_endpoints(
    kube: Kube, namespace: str, service: str, *, ready: int, timeout: float, condition: str = "ready"
) -> list[Obj]:
    """Wait until exactly ``ready`` of the Service's endpoints have ``condition`` true; return the slices.

    ``ready`` is what DNS publishes (always true with publishNotReadyAddresses); ``serving``
    follows the pod's own readiness either way.
    """

    def judge(items: list[Obj]) -> Verdict[list[Obj]]:
        endpoints = [e for s in items for e in s.get("endpoints") or ()]
        count = sum(1 for e in endpoints if (e.get("conditions") or {}).get(condition))
        return Verdict(count == ready, f"{count} {condition} of {len(endpoints)} endpoints", items)

    return wait_for(
        kube,
        Query(ENDPOINT_SLICES, namespace, label_selector=f"{SERVICE_NAME_LABEL}={service}"),
        judge,
        expect=f"Service {namespace}/{service} with {ready} {condition} endpoints",
        timeout=timeout,
    )


def wait_for_nodes(
    kube: Kube, names: Iterable[str], judge: Callable[[Obj], bool], *, expect: str, timeout: float
) -> None:
    """Wait until every node of ``names`` exists and ``judge`` accepts it."""
    wanted = set(names)

    def all_of(items: list[Obj]) -> Verdict[None]:
        state = {o.name(n): judge(n) for n in items if o.name(n) in wanted}
        return Verdict(len(state) == len(wanted) and all(state.values()), f"{state}")

    wait_for(kube, Query(NODES), all_of, expect=expect, timeout=timeout)


def hold(
    kube: Kube,
    query: Query,
    violation: Callable[[list[Obj]], str | None],
    *,
    expect: str,
    seconds: float,
    clock: Clock = MONOTONIC,
) -> list[Obj]:
    """Watch for ``seconds`` that something does *not* happen; return the objects last seen.

    ``violation`` says why the objects are wrong (the promise broke), which ends the window at
    once with :class:`InvariantViolated`, or None. This is how "the set must not scale past an
    unhealthy pod" is observed: a watch over a bounded window, not a sleep followed by one look.
    """
    last: list[list[Obj]] = [[]]

    def keep_going(items: list[Obj]) -> Verdict[None]:
        last[0] = items
        return Verdict(False, "held", failed=violation(items))

    with contextlib.suppress(WaitTimeout):  # the window passed without a violation
        wait_for(kube, query, keep_going, expect=f"{expect} for {seconds:g}s", timeout=seconds, clock=clock)
    return last[0]


def converge(
    kube: Kube, query: Query, findings_of: Callable[[list[Obj]], list[Finding]], *, expect: str, timeout: float
) -> list[Finding]:
    """Watch until ``findings_of`` the objects is empty; on the deadline return the last findings.

    For promises the controller fulfils a little after the event (ownerReferences on claims,
    status catching up, claims removed by the retention policy): the caller then asserts on
    what is returned, so a broken promise is reported as its findings, not as a bare timeout.
    """
    last: list[list[Finding]] = [[]]

    def judge(items: list[Obj]) -> Verdict[list[Finding]]:
        last[0] = findings_of(items)
        return Verdict(not last[0], f"{len(last[0])} findings", last[0])

    try:
        return wait_for(kube, query, judge, expect=expect, timeout=timeout)
    except WaitTimeout:
        return last[0]
