"""Feed a :class:`Timeline` from watches, one thread per resource kind.

Each thread lists (recording what exists as ADDED), then watches from the list's
resourceVersion, resuming from the last version it saw after a dropped connection and
re-listing after 410 Gone. ``start()`` returns once every initial list is in, so a test
that starts recording before it acts cannot miss the first event.

A waiter and the recorder watch the same events on separate streams: when a waiter returns,
the recorder may be a few milliseconds behind. The catch-up waits at the end of this module
(:func:`recorded`, :func:`caught_up`, :func:`synced`) look at memory only, never the API.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from ordinal.errors import TransientApiError
from ordinal.kube import objects as o
from ordinal.kube.rest import (
    CONTROLLER_REVISIONS,
    ENDPOINT_SLICES,
    EVENTS,
    NODES,
    PODS,
    PVCS,
    PVS,
    STATEFULSETS,
    Gone,
    Kube,
    Resource,
)
from ordinal.observe.timeline import Entry, Timeline
from ordinal.types import MONOTONIC, Clock, Obj

log = logging.getLogger(__name__)

NAMESPACED = (PODS, PVCS, STATEFULSETS, ENDPOINT_SLICES, EVENTS, CONTROLLER_REVISIONS)
CLUSTER_WIDE = (PVS, NODES)
WATCH_SECONDS = 300  # server-side timeout of one watch request; the thread re-opens it


class Recorder:
    """Record watch events of ``kinds`` in ``namespace`` (and cluster-wide kinds) into a timeline."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        *,
        kinds: Iterable[Resource] = NAMESPACED + CLUSTER_WIDE,
        clock: Clock = MONOTONIC,
        timeline: Timeline | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.kinds = tuple(kinds)
        self.clock = clock
        self.timeline = timeline or Timeline(t0=clock())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._responses: dict[str, Any] = {}
        self._synced: dict[str, threading.Event] = {r.plural: threading.Event() for r in self.kinds}
        self.errors: list[str] = []

    def record(self, event_type: str, obj: Obj) -> None:
        with self._lock:
            self.timeline.record(event_type, obj, self.clock())

    def start(self, timeout: float = 30.0) -> Recorder:
        for res in self.kinds:
            thread = threading.Thread(target=self._run, args=(res,), name=f"record-{res.plural}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for plural, synced in self._synced.items():
            if not synced.wait(timeout):
                self.stop()
                raise TransientApiError(f"recorder: expected the initial list of {plural} within {timeout:.0f}s")
        return self

    def stop(self) -> None:
        self._stop.set()
        for resp in list(self._responses.values()):
            with contextlib.suppress(Exception):
                resp.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, res: Resource) -> None:
        namespace = self.namespace if res.namespaced else None
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    items, rv = self.kube.list(res, namespace)
                    with self._lock:  # a re-list also closes out objects deleted while we were away
                        self.timeline.relist(res.kind, items, self.clock(), namespace)
                    self._synced[res.plural].set()
                for event_type, obj in self.kube.watch(
                    res,
                    namespace,
                    resource_version=rv,
                    timeout_seconds=WATCH_SECONDS,
                    on_open=functools.partial(self._responses.__setitem__, res.plural),
                ):
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    self.record(event_type, obj)
                    if self._stop.is_set():
                        return
            except Gone:
                rv = ""
            except Exception as err:
                if self._stop.is_set():
                    return
                self.errors.append(f"{res.plural}: {err}")
                log.debug("recorder %s: %s; resuming from %s", res.plural, err, rv)
                self._stop.wait(0.5)


# -- catching up with a waiter ------------------------------------------------------------------


def recorded(
    recorder: Recorder, predicate: Callable[[Entry], bool], *, timeout: float = 5.0, clock: Clock = MONOTONIC
) -> Entry | None:
    """The first timeline entry matching ``predicate``, waiting briefly for the recorder to catch up."""
    deadline = clock() + timeout
    while True:
        found = next((e for e in recorder.timeline.entries if predicate(e)), None)
        if found is not None or clock() >= deadline:
            return found
        time.sleep(0.01)


def caught_up(recorder: Recorder, obj: Obj, *, timeout: float = 2.0) -> bool:
    """Whether the recorder has seen ``obj`` as we saw it (same UID and resourceVersion), waiting briefly."""
    kind, uid, rv = str(obj.get("kind", "Pod")), o.uid(obj), str(o.meta(obj).get("resourceVersion", ""))
    entry = recorded(recorder, lambda e: e.kind == kind and e.uid == uid and e.resource_version == rv, timeout=timeout)
    return entry is not None


def synced(recorder: Recorder, *, timeout: float = 10.0, clock: Clock = MONOTONIC) -> Timeline:
    """The recorder's timeline once its pod stream has caught up with a fresh list of the pods.

    Ordering checks judge what the timeline holds; judging before the recorder caught up would
    report a deletion "never seen gone". This lists the pods once and waits (in memory) until
    every listed pod's latest recorded version is at least the listed one and nothing else is
    recorded as live. If it cannot catch up in ``timeout`` the timeline is returned anyway with
    :attr:`Timeline.lag` saying what it is behind on: the checks still judge it (a broken promise
    is reported first) and add that the recording was incomplete (rule ``timeline.caught-up``).
    """
    items, _ = recorder.kube.list(PODS, recorder.namespace)
    want = {o.uid(p): _rv(o.meta(p).get("resourceVersion")) for p in items}
    names = {o.uid(p): o.name(p) for p in items}
    deadline = clock() + timeout
    while True:
        live = {e.uid: _rv(e.resource_version) for e in recorder.timeline.live("Pod", recorder.namespace)}
        behind = sorted(uid for uid, rv in want.items() if live.get(uid, -1) < rv)
        extra = sorted(set(live) - set(want))
        if not behind and not extra:
            recorder.timeline.lag = None
            return recorder.timeline
        if clock() >= deadline:
            gone = {e.uid: e.name for e in recorder.timeline.live("Pod", recorder.namespace)}
            recorder.timeline.lag = (
                f"after {timeout:.0f}s the recording of {recorder.namespace} was still behind on pods "
                f"{[names[u] for u in behind]} and showed {[gone[u] for u in extra]} live though the API lists "
                f"them gone (recorder errors: {recorder.errors[-3:] or 'none'})"
            )
            return recorder.timeline
        time.sleep(0.01)


def replacement_time(recorder: Recorder, name: str, old_uid: str, *, timeout: float = 5.0) -> float | None:
    """Cluster time from pod ``name``'s deletion to its successor being Ready, once the recorder saw it Ready."""
    recorded(
        recorder,
        lambda e: e.kind == "Pod" and e.name == name and e.uid != old_uid and bool(e.detail.get("ready")),
        timeout=timeout,
    )
    return recorder.timeline.replacement(name, old_uid).seconds_to_ready()


def _rv(value: object) -> int:
    """resourceVersion as a number for "at least" comparisons (etcd revisions; opaque values count as 0)."""
    try:
        return int(str(value))
    except ValueError:
        return 0
