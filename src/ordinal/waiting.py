"""One waiter: list, judge, watch from the list's resourceVersion, re-judge on every event.

Every wait has a deadline measured by our own monotonic clock (never an HTTP timeout),
says what it waited for, and on expiry reports what it last saw. A judge can also declare
a known-bad state, which ends the wait at once with :class:`InvariantViolated`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ordinal.errors import InvariantViolated, TransientApiError, WaitTimeout
from ordinal.kube.rest import PODS, STATEFULSETS, Gone, Kube, Resource
from ordinal.types import MONOTONIC, Clock, Obj

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict(Generic[T]):
    done: bool
    seen: T  # what was judged; goes into the timeout message
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
    """Return the judge's ``seen`` once it says done; raise WaitTimeout/InvariantViolated otherwise.

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
                    return verdict.seen
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
                    return verdict.seen
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


# -- named waiters ----------------------------------------------------------------------------


def set_status_line(sts: Obj) -> str:
    st, meta = sts.get("status") or {}, sts.get("metadata") or {}
    return (
        f"replicas {st.get('replicas', 0)}, ready {st.get('readyReplicas', 0)}, "
        f"available {st.get('availableReplicas', 0)}, updated {st.get('updatedReplicas', 0)}, "
        f"observedGeneration {st.get('observedGeneration', 0)}/{meta.get('generation', '?')}"
    )


def wait_for_set_ready(kube: Kube, namespace: str, name: str, replicas: int, *, timeout: float) -> Obj:
    """Wait until the set has observed its spec and reports ``replicas`` ready and available."""

    def judge(items: list[Obj]) -> Verdict[Obj | str]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        st = sts.get("status") or {}
        done = (
            st.get("observedGeneration", 0) >= sts["metadata"].get("generation", 1)
            and st.get("readyReplicas", 0) == replicas
            and st.get("availableReplicas", 0) == replicas
            and st.get("replicas", 0) == replicas
        )
        return Verdict(done, sts if done else set_status_line(sts))

    seen = wait_for(
        kube,
        Query(STATEFULSETS, namespace, field_selector=f"metadata.name={name}"),
        judge,
        expect=f"StatefulSet {namespace}/{name} with {replicas} ready replicas",
        timeout=timeout,
    )
    assert isinstance(seen, dict)
    return seen


def wait_for_gone(kube: Kube, res: Resource, namespace: str | None, names: list[str], *, timeout: float) -> None:
    """Wait until none of ``names`` exists any more."""

    def judge(items: list[Obj]) -> Verdict[list[str]]:
        left = sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"] in names)
        return Verdict(not left, left)

    where = f" in {namespace}" if namespace else ""
    wait_for(kube, Query(res, namespace), judge, expect=f"{res.plural} {names}{where} gone", timeout=timeout)


def hold(
    kube: Kube,
    query: Query,
    judge: Judge[T],
    *,
    expect: str,
    seconds: float,
    clock: Clock = MONOTONIC,
) -> T | None:
    """Watch for ``seconds`` that something does *not* happen; return what was last seen.

    The judge's ``failed`` ends the window at once with :class:`InvariantViolated` (the
    promise broke); ``done`` is ignored. This is how "the set must not scale past an unhealthy
    pod" is observed: a watch over a bounded window, not a sleep followed by one look.
    """
    last: list[T] = []

    def keep_going(items: list[Obj]) -> Verdict[T]:
        verdict = judge(items)
        last[:] = [verdict.seen]
        return Verdict(False, verdict.seen, verdict.failed)

    with contextlib.suppress(WaitTimeout):  # the window passed without a violation
        wait_for(kube, query, keep_going, expect=f"{expect} for {seconds:g}s", timeout=seconds, clock=clock)
    return last[0] if last else None


def wait_for_pod_recreated(
    kube: Kube, namespace: str, name: str, old_uid: str, *, timeout: float, ready: bool = True
) -> Obj:
    """Wait until pod ``name`` exists with a UID other than ``old_uid`` (Running+Ready when ``ready``)."""

    def judge(items: list[Obj]) -> Verdict[Obj | str]:
        pod = items[0] if items else None
        if pod is None:
            return Verdict(False, "absent")
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
        fresh = meta.get("uid") != old_uid and not meta.get("deletionTimestamp")
        healthy = status.get("phase") == "Running" and conditions.get("Ready") == "True"
        seen = f"uid {meta.get('uid')}, phase {status.get('phase')}, ready {conditions.get('Ready')}"
        return Verdict(fresh and (healthy or not ready), pod if fresh and (healthy or not ready) else seen)

    seen = wait_for(
        kube,
        Query(PODS, namespace, field_selector=f"metadata.name={name}"),
        judge,
        expect=f"pod {namespace}/{name} recreated with a new UID" + (" and Ready" if ready else ""),
        timeout=timeout,
    )
    assert isinstance(seen, dict)
    return seen


def wait_for_rollout_complete(
    kube: Kube, namespace: str, name: str, *, timeout: float, partition: int | None = None
) -> Obj:
    """Wait until a RollingUpdate has finished: every pod at or above the partition updated and ready.

    Without a partition: ``currentRevision == updateRevision`` and all replicas updated, ready
    and available. With one: ``updatedReplicas == replicas - partition`` and all ready.
    """

    def judge(items: list[Obj]) -> Verdict[Obj | str]:
        if not items:
            return Verdict(False, "no StatefulSet")
        sts = items[0]
        st, spec = sts.get("status") or {}, sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        observed = st.get("observedGeneration", 0) >= sts["metadata"].get("generation", 1)
        ready = st.get("readyReplicas", 0) == replicas and st.get("availableReplicas", 0) == replicas
        if partition:
            updated = st.get("updatedReplicas", 0) == max(0, replicas - partition)
        else:
            updated = st.get("updatedReplicas", 0) == replicas and st.get("currentRevision") == st.get("updateRevision")
        done = observed and ready and updated and st.get("replicas", 0) == replicas
        return Verdict(done, sts if done else set_status_line(sts) + f", revisions {_revisions(st)}")

    seen = wait_for(
        kube,
        Query(STATEFULSETS, namespace, field_selector=f"metadata.name={name}"),
        judge,
        expect=f"StatefulSet {namespace}/{name} rolled out" + (f" down to partition {partition}" if partition else ""),
        timeout=timeout,
    )
    assert isinstance(seen, dict)
    return seen


def _revisions(status: Obj) -> str:
    return f"{status.get('currentRevision')}→{status.get('updateRevision')}"
