"""One waiter: list, judge, watch from the list's resourceVersion, re-judge on every event.

Every wait has a deadline measured by our own monotonic clock (never an HTTP timeout),
says what it waited for, and on expiry reports what it last saw. A judge can also declare
a known-bad state, which ends the wait at once with :class:`InvariantViolated`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ordinal.errors import InvariantViolated, TransientApiError, WaitTimeout
from ordinal.kube.rest import Gone, Kube, Resource
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


def condition(obj: Obj, kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            status: str = cond.get("status", "")
            return status
    return None
