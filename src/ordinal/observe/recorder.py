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
    VOLUME_ATTACHMENTS,
    Gone,
    Kube,
    Resource,
)
from ordinal.observe.timeline import Entry, Timeline
from ordinal.types import MONOTONIC, Clock, Obj

log = logging.getLogger(__name__)

NAMESPACED = (PODS, PVCS, STATEFULSETS, ENDPOINT_SLICES, EVENTS, CONTROLLER_REVISIONS)
CLUSTER_WIDE = (PVS, NODES)
#: Cluster-scoped like PVs, but only those of the namespace's volumes are recorded; a recorder
#: watches them only when asked (the capability "VolumeAttachments (CSI attach)").
ATTACHMENTS = (VOLUME_ATTACHMENTS,)
WATCH_SECONDS = 300  # server-side timeout of one watch request; the thread re-opens it
#: Events kept per VolumeAttachment whose PV is not (yet) known to belong to the namespace.
HELD_PER_ATTACHMENT = 4


class AttachmentScope:
    """Which VolumeAttachments concern a namespace: those of the PVs its claims are bound to.

    An attachment names only its PV; the PV's claimRef (or a claim's volumeName) ties it to the
    namespace. Each kind has its own watch, so an attachment may arrive before what ties it: it
    is held here (its last few events, dropped when it is deleted) and handed over, with its
    original times, once its PV turns out to be the namespace's. Memory stays proportional to
    the attachments that exist, never to the events seen.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.volumes: set[str] = set()
        self._held: dict[str, dict[str, list[tuple[str, Obj, float]]]] = {}

    def learn(self, kind: str, obj: Obj) -> list[tuple[str, Obj, float]]:
        """Note a claim or PV event; the held attachment events of a PV that just became ours, in order."""
        volume = None
        if kind == "PersistentVolumeClaim" and o.namespace(obj) == self.namespace:
            volume = o.spec(obj).get("volumeName")
        elif kind == "PersistentVolume" and (o.spec(obj).get("claimRef") or {}).get("namespace") == self.namespace:
            volume = o.name(obj)
        if not volume or volume in self.volumes:
            return []
        self.volumes.add(str(volume))
        held = self._held.pop(str(volume), {})
        return sorted((e for events in held.values() for e in events), key=lambda e: e[2])

    def admit(self, event_type: str, obj: Obj, t: float) -> bool:
        """True when the attachment is one of the namespace's; else it is held (or forgotten once deleted)."""
        volume = str((o.spec(obj).get("source") or {}).get("persistentVolumeName") or "")
        if volume in self.volumes:
            return True
        per_pv = self._held.setdefault(volume, {})
        if event_type == "DELETED":
            per_pv.pop(o.uid(obj) or o.name(obj), None)
        else:
            events = per_pv.setdefault(o.uid(obj) or o.name(obj), [])
            events.append((event_type, _compact(obj), t))
            del events[:-HELD_PER_ATTACHMENT]
        if not per_pv:
            self._held.pop(volume, None)
        return False

    def split(self, items: list[Obj], t: float) -> list[Obj]:
        """A fresh list of attachments: the namespace's ones; the rest are held afresh."""
        self._held.clear()
        return [item for item in items if self.admit("ADDED", item, t)]

    @property
    def held(self) -> int:
        """Attachments waiting for their PV to be known (for tests and debugging)."""
        return sum(len(per_pv) for per_pv in self._held.values())


def _compact(obj: Obj) -> Obj:
    """What the timeline reads of an attachment, without managedFields and the like."""
    meta = o.meta(obj)
    kept = {k: meta[k] for k in ("name", "uid", "resourceVersion", "deletionTimestamp") if k in meta}
    return {"kind": "VolumeAttachment", "metadata": kept, "spec": o.spec(obj), "status": o.status(obj)}


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
        self.scope = AttachmentScope(namespace)

    def record(self, event_type: str, obj: Obj, kind: str | None = None) -> None:
        kind = kind or str(obj.get("kind", ""))
        with self._lock:
            t = self.clock()
            if kind == VOLUME_ATTACHMENTS.kind and not self.scope.admit(event_type, obj, t):
                return
            self.timeline.record(event_type, obj, t, kind)
            self._release(kind, obj)

    def relist(self, res: Resource, items: list[Obj], namespace: str | None) -> None:
        """A fresh list of ``res``: objects gone meanwhile are closed out (see :meth:`Timeline.relist`)."""
        with self._lock:
            t = self.clock()
            if res.kind == VOLUME_ATTACHMENTS.kind:
                items = self.scope.split(items, t)
            self.timeline.relist(res.kind, items, t, namespace)
            for item in items:
                self._release(res.kind, item)

    def _release(self, kind: str, obj: Obj) -> None:
        """Claims and PVs tie attachments to the namespace: record the ones held for them (lock held)."""
        if kind in (PVCS.kind, PVS.kind):
            for event_type, held, t in self.scope.learn(kind, obj):
                self.timeline.record(event_type, held, t, VOLUME_ATTACHMENTS.kind)

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
                    self.relist(res, items, namespace)  # also closes out objects deleted while we were away
                    self._synced[res.plural].set()
                for event_type, obj in self.kube.watch(
                    res,
                    namespace,
                    resource_version=rv,
                    timeout_seconds=WATCH_SECONDS,
                    on_open=functools.partial(self._responses.__setitem__, res.plural),
                ):
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    self.record(event_type, obj, res.kind)
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
