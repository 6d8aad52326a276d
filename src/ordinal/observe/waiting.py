"""One waiter: list, judge, watch from the list's resourceVersion, re-judge on every event.

Every wait has a deadline measured by our own monotonic clock (never an HTTP timeout),
says what it waited for, and on expiry reports what it last saw. Findings come first: a judge
that sees a promise visibly broken (``failed``) ends the wait at once with
:class:`InvariantViolated`, its first line the broken promise; a judge that knows which promise
a late state breaks (``findings``) makes the deadline end with those findings, not with a
timeout. A bare :class:`WaitTimeout` is left for when nothing more specific is known.

The named waits below are the only ones: the conformance tests (through
:class:`~ordinal.act.workload.Workload`) and the chaos activities both wait with them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from ordinal.errors import InvalidScenario, InvariantViolated, OrdinalError, TransientApiError, WaitTimeout
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name, set_window
from ordinal.kube.rest import (
    ENDPOINT_SLICES,
    NODES,
    PODS,
    STATEFULSETS,
    VOLUME_ATTACHMENTS,
    ApiError,
    Gone,
    Kube,
    Resource,
)
from ordinal.labels import SERVICE_NAME_LABEL
from ordinal.types import MONOTONIC, Clock, Finding, Obj

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict(Generic[T]):
    """A judge's answer: done or not, what it saw (in words), and what the wait returns once done.

    ``failed`` is a promise visibly broken: the wait stops at once, and that sentence is the
    first line of the failure. ``findings`` are the broken promises the state so far shows:
    with ``failed`` they are listed under it; without, they are what the wait ends with if
    the deadline passes before it is done.
    """

    done: bool
    seen: str = ""  # what was judged, in words; goes into the timeout message
    value: T | None = None  # what wait_for returns when done
    failed: str | None = None  # known-bad state: stop now instead of waiting out the deadline
    findings: tuple[Finding, ...] = ()


#: Findings that end a wait on one object at once (a rewritten spec, a pod mounting another claim).
Broken = Callable[[Obj], Sequence[Finding]]


def broken_verdict(findings: Sequence[Finding], seen: str) -> Verdict[T]:
    """The verdict for promises visibly broken: fail now, the first finding as the sentence."""
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    return Verdict(False, seen, failed=f"{findings[0]}{more}", findings=tuple(findings))


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
            context = f"seen while waiting for {expect} ({query.describe()}) after {clock() - start:.1f}s"
            raise InvariantViolated(f"{v.failed}; {context}", v.findings)
        return v

    def expired() -> OrdinalError:
        """At the deadline: judge what is there now once more; findings if it knows any, else a timeout."""
        last = verdict
        if last is not None:
            last = judge_now()
            if last.done:
                return _Done(last.value)
        elapsed = clock() - start
        if last is not None and last.findings:
            first, count = last.findings[0], len(last.findings)
            more = f" (+{count - 1} more)" if count > 1 else ""
            return InvariantViolated(
                f"{first}{more}; after {elapsed:.1f}s waiting for {expect} ({query.describe()})", last.findings
            )
        seen = last.seen if last is not None else "nothing (no list succeeded)"
        return WaitTimeout(f"{expect} ({query.describe()})", seen, elapsed)

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
            ended = expired()
            if isinstance(ended, _Done):
                return cast(T, ended.value)
            raise ended
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


class _Done(OrdinalError):
    """Internal: the last look at the deadline found the wait done after all."""

    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value


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
    kube: Kube,
    namespace: str,
    name: str,
    judge: Callable[[Obj], bool],
    *,
    expect: str,
    timeout: float,
    broken: Broken | None = None,
) -> Obj:
    """Wait until the set has observed its latest spec and ``judge`` accepts it.

    ``broken`` returns findings that end the wait at once (e.g. the stored spec is not the one sent).
    """

    def verdict(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        found = list(broken(sts)) if broken is not None else []
        if found:
            return broken_verdict(found, set_status_line(sts))
        return Verdict(observed(sts) and judge(sts), set_status_line(sts), sts)

    return wait_for(
        kube,
        _one(STATEFULSETS, namespace, name),
        verdict,
        expect=f"StatefulSet {namespace}/{name} {expect}",
        timeout=timeout,
    )


def wait_for_set_ready(
    kube: Kube, namespace: str, name: str, replicas: int, *, timeout: float, broken: Broken | None = None
) -> Obj:
    """Wait until the set has observed its spec and reports ``replicas`` ready and available.

    On the deadline the pods are read once, so the failure says which of them were not ready and why.
    """

    def judge(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        found = list(broken(sts)) if broken is not None else []
        if found:
            return broken_verdict(found, set_status_line(sts))
        st = o.status(sts)
        done = (
            observed(sts)
            and st.get("readyReplicas", 0) == replicas
            and st.get("availableReplicas", 0) == replicas
            and st.get("replicas", 0) == replicas
        )
        return Verdict(done, set_status_line(sts), sts)

    try:
        return wait_for(
            kube,
            _one(STATEFULSETS, namespace, name),
            judge,
            expect=f"StatefulSet {namespace}/{name} with {replicas} ready replicas",
            timeout=timeout,
        )
    except WaitTimeout as err:
        raise WaitTimeout(err.expect, f"{err.seen}; {pods_of_set_line(kube, namespace, name)}", err.elapsed) from None


def pods_of_set_line(kube: Kube, namespace: str, name: str) -> str:
    """The set's pods as last seen, one phrase each (``web-2 Pending: Unschedulable …``), for a timeout."""
    try:
        items, _ = kube.list(PODS, namespace)
    except (OrdinalError, ApiError) as err:
        return f"pods unreadable: {str(err).splitlines()[0]}"
    mine = sorted(
        (p for p in items if parse_ordinal(o.name(p), name) is not None),
        key=lambda p: parse_ordinal(o.name(p), name) or 0,
    )
    return "pods: " + (", ".join(pod_phrase(p) for p in mine) or "none")


def pod_phrase(pod: Obj) -> str:
    """``web-1 Running, not Ready (ContainersNotReady), node n2`` or ``web-0 Terminating, finalizers [x]``."""
    status = o.status(pod)
    words = [o.name(pod), str(status.get("phase"))]
    if o.terminating(pod):
        words.append(f"Terminating since {o.meta(pod).get('deletionTimestamp')}")
        finalizers = o.meta(pod).get("finalizers")
        if finalizers:
            words.append(f"finalizers {finalizers}")
    ready = o.condition(pod, "Ready") or {}
    if not o.pod_ready(pod):
        words.append("not Ready" + (f" ({ready.get('reason')})" if ready.get("reason") else ""))
    scheduled = o.condition(pod, "PodScheduled") or {}
    if scheduled.get("status") == "False":
        words.append(f"unscheduled: {str(scheduled.get('message') or scheduled.get('reason'))[:120]}")
    if o.spec(pod).get("nodeName"):
        words.append(f"node {o.spec(pod).get('nodeName')}")
    return " ".join(words[:2]) + (", " + ", ".join(words[2:]) if words[2:] else "")


def wait_for_set_settled(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    timeout: float,
    clock: Clock = MONOTONIC,
    window: range | None = None,
    broken: Broken | None = None,
) -> Obj:
    """Ready at the set's replica count: every ordinal Running+Ready, condemned pods gone, status caught up.

    ``window`` is the ordinals asked for (the request's ``ordinals.start`` and ``replicas``); without
    it the stored set's are taken.
    """
    start = clock()
    if window is None:
        sts = kube.get_or_none(STATEFULSETS, name, namespace)
        if sts is None:
            raise InvalidScenario(f"expected StatefulSet {namespace}/{name}, found none")
        window = set_window(sts)
    wanted = window

    def pods_ready(items: list[Obj]) -> Verdict[None]:
        mine = {parse_ordinal(o.name(p), name): p for p in items}
        bad = [
            pod_phrase(mine[i]) if i in mine else f"{pod_name(name, i)} absent"
            for i in wanted
            if i not in mine or o.terminating(mine[i]) or not o.pod_running_ready(mine[i])
        ]
        extra = sorted(o.name(p) for i, p in mine.items() if i is not None and i not in wanted)
        return Verdict(not bad and not extra, f"not ready: {bad}, condemned left: {extra}")

    wait_for(
        kube,
        Query(PODS, namespace),
        pods_ready,
        expect=f"every pod of {namespace}/{name} Running+Ready",
        timeout=timeout,
    )
    left = max(1.0, timeout - (clock() - start))
    return wait_for_set_ready(kube, namespace, name, len(wanted), timeout=left, broken=broken)


def wait_for_rollout_complete(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    timeout: float,
    partition: int | None = None,
    replicas: int | None = None,
    broken: Broken | None = None,
) -> Obj:
    """Wait until a RollingUpdate has finished: every pod at or above the partition updated and ready.

    Without a partition: ``currentRevision == updateRevision`` and all replicas updated, ready
    and available. With one: ``updatedReplicas == replicas - partition`` and all ready.
    ``replicas`` is the count asked for (the stored spec's when None); ``broken`` ends the wait
    at once with its findings (a pod updated below the partition, a rewritten spec).
    """

    def judge(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        st = o.status(sts)
        want = int(o.spec(sts).get("replicas", 1)) if replicas is None else replicas
        revisions = f"{st.get('currentRevision')}→{st.get('updateRevision')}"
        seen = set_status_line(sts) + f", revisions {revisions}"
        found = list(broken(sts)) if broken is not None else []
        if found:
            return broken_verdict(found, seen)
        ready = st.get("readyReplicas", 0) == want and st.get("availableReplicas", 0) == want
        if partition:
            updated = st.get("updatedReplicas", 0) == max(0, want - partition)
        else:
            updated = st.get("updatedReplicas", 0) == want and st.get("currentRevision") == st.get("updateRevision")
        done = observed(sts) and ready and updated and st.get("replicas", 0) == want
        return Verdict(done, seen, sts)

    return wait_for(
        kube,
        _one(STATEFULSETS, namespace, name),
        judge,
        expect=f"StatefulSet {namespace}/{name} rolled out" + (f" down to partition {partition}" if partition else ""),
        timeout=timeout,
    )


def wait_for_gone(kube: Kube, res: Resource, namespace: str | None, names: Iterable[str], *, timeout: float) -> None:
    """Wait until none of ``names`` exists any more; a timeout says how each one still is."""
    wanted = list(names)

    def judge(items: list[Obj]) -> Verdict[None]:
        left = sorted((i for i in items if o.name(i) in wanted), key=o.name)
        return Verdict(not left, "; ".join(lingering_phrase(i) for i in left) or "[]")

    where = f" in {namespace}" if namespace else ""
    wait_for(kube, Query(res, namespace), judge, expect=f"{res.plural} {wanted}{where} gone", timeout=timeout)


def wait_for_detached(kube: Kube, volume: str, node: str, *, timeout: float) -> None:
    """Wait until no VolumeAttachment ties PV ``volume`` to ``node`` any more (detached and removed)."""

    def judge(items: list[Obj]) -> Verdict[None]:
        left = [
            i
            for i in items
            if (o.spec(i).get("source") or {}).get("persistentVolumeName") == volume
            and o.spec(i).get("nodeName") == node
        ]
        seen = "; ".join(f"{lingering_phrase(i)}, attached {o.status(i).get('attached')}" for i in left)
        return Verdict(not left, seen or "none")

    wait_for(
        kube,
        Query(VOLUME_ATTACHMENTS),
        judge,
        expect=f"pv {volume} detached from {node} (its VolumeAttachment gone)",
        timeout=timeout,
    )


def lingering_phrase(obj: Obj) -> str:
    """Why an object is still there: never deleted (and who owns it), or held by finalizers."""
    meta = o.meta(obj)
    if o.terminating(obj):
        held = f", held by finalizers {meta.get('finalizers')}" if meta.get("finalizers") else ""
        return f"{o.name(obj)} terminating since {meta.get('deletionTimestamp')}{held}"
    owners = [f"{r.get('kind')}/{r.get('name')}" for r in o.owner_refs(obj)]
    return f"{o.name(obj)} present, not terminating" + (f", owned by {owners}" if owners else ", no owner")


def pod_line(pod: Obj) -> str:
    return f"phase {o.status(pod).get('phase')}, ready {o.pod_ready(pod)}, node {o.spec(pod).get('nodeName')}"


def wait_for_pod(
    kube: Kube,
    namespace: str,
    name: str,
    judge: Callable[[Obj], bool],
    *,
    expect: str,
    timeout: float,
    broken: Broken | None = None,
) -> Obj:
    """Wait until pod ``name`` exists and ``judge`` accepts it; ``broken`` findings end the wait at once."""

    def verdict(items: list[Obj]) -> Verdict[Obj]:
        if not items:
            return Verdict(False, "absent")
        found = list(broken(items[0])) if broken is not None else []
        if found:
            return broken_verdict(found, pod_line(items[0]))
        return Verdict(judge(items[0]), pod_line(items[0]), items[0])

    return wait_for(
        kube, _one(PODS, namespace, name), verdict, expect=f"pod {namespace}/{name} {expect}", timeout=timeout
    )


def wait_for_pod_recreated(
    kube: Kube,
    namespace: str,
    name: str,
    old_uid: str,
    *,
    timeout: float,
    ready: bool = True,
    broken: Broken | None = None,
) -> Obj:
    """Wait until pod ``name`` exists with a UID other than ``old_uid`` (Running+Ready when ``ready``).

    ``broken`` judges the successor as soon as it appears (its identity, the claim it mounts):
    what it finds ends the wait at once, so "web-1 mounts data-web-2" is the failure, not a timeout.
    """

    def judge(items: list[Obj]) -> Verdict[Obj]:
        pod = items[0] if items else None
        if pod is None:
            return Verdict(False, "absent")
        fresh = o.uid(pod) != old_uid and not o.terminating(pod)
        healthy = o.pod_running_ready(pod)
        ready_status = (o.condition(pod, "Ready") or {}).get("status")
        seen = f"uid {o.uid(pod)}, phase {o.status(pod).get('phase')}, ready {ready_status}"
        found = list(broken(pod)) if broken is not None and o.uid(pod) != old_uid else []
        if found:
            return broken_verdict(found, seen)
        return Verdict(fresh and (healthy or not ready), seen, pod)

    return wait_for(
        kube,
        _one(PODS, namespace, name),
        judge,
        expect=f"pod {namespace}/{name} recreated with a new UID" + (" and Ready" if ready else ""),
        timeout=timeout,
    )


def unconfirmed_pod_broken(name: str, uid: str, node: str) -> Callable[[list[Obj]], str | None]:
    """Why pod ``name`` (``uid``) on unreachable ``node`` breaks its promise: gone, or a second one took the name.

    Nobody can confirm a pod on a lost node stopped, so it must stay (Terminating) and unreplaced.
    """

    def broken(items: list[Obj]) -> str | None:
        current = next((p for p in items if o.name(p) == name), None)
        if current is None:
            return f"{name} (uid {uid}) vanished although its node {node} could not confirm it stopped"
        if o.uid(current) != uid:
            return f"a second pod {name} (uid {o.uid(current)}) appeared while uid {uid} was unconfirmed"
        return None

    return broken


def wait_for_pod_terminating(kube: Kube, namespace: str, name: str, uid: str, node: str, *, timeout: float) -> Obj:
    """Wait until pod ``name`` (``uid``) on unreachable ``node`` is marked for deletion; it must not go or be replaced.

    The taint manager marks it once its toleration of the node's unreachable/not-ready taint runs out.
    """
    broken = unconfirmed_pod_broken(name, uid, node)

    def judge(items: list[Obj]) -> Verdict[Obj]:
        current = next((p for p in items if o.name(p) == name), None)
        seen = pod_line(current) if current is not None else "absent"
        done = current is not None and o.uid(current) == uid and o.terminating(current)
        return Verdict(done, seen, current, failed=broken(items))

    return wait_for(
        kube,
        _one(PODS, namespace, name),
        judge,
        expect=f"pod {namespace}/{name} (uid {uid}) Terminating while node {node} is unreachable",
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
