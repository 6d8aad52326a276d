"""The timeline model: watch events reduced to compact, ordered entries.

Ordering promises are about *when* things happened relative to each other, so the
checks read a recording of watch events rather than polling snapshots (which miss
short-lived states). The recorder that feeds :meth:`Timeline.record` lives elsewhere;
this module only stores, queries and prints. Each entry gets a sequence number in
arrival order: "before/after" compares sequence numbers (a single watch delivers in
resourceVersion order even when clock readings tie), durations use the seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal
from ordinal.labels import REVISION_LABEL, SERVICE_NAME_LABEL, UNREACHABLE_TAINTS
from ordinal.types import Obj

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
_EVENT_TYPES: tuple[EventType, ...] = ("ADDED", "MODIFIED", "DELETED")


@dataclass(frozen=True, order=True)
class Mark:
    """A point in the recording: ``seq`` orders, ``t`` (recorder clock seconds) measures."""

    seq: int
    t: float


@dataclass(frozen=True)
class Entry:
    """One recorded watch event; ``detail`` holds the few per-kind fields the checks read."""

    mark: Mark
    event: EventType
    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Obj:
        return {
            "seq": self.mark.seq,
            "t": self.mark.t,
            "event": self.event,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "resourceVersion": self.resource_version,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entry:
        return cls(
            mark=Mark(int(data["seq"]), float(data["t"])),
            event=_event_type(str(data["event"])),
            kind=str(data["kind"]),
            namespace=str(data.get("namespace", "")),
            name=str(data["name"]),
            uid=str(data.get("uid", "")),
            resource_version=str(data.get("resourceVersion", "")),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class PodState:
    """What one pod event said about the pod."""

    phase: str | None
    ready: bool
    deleting: bool
    node: str | None
    ip: str | None
    revision: str | None

    @property
    def running_ready(self) -> bool:
        return self.phase == "Running" and self.ready

    @classmethod
    def of(cls, entry: Entry) -> PodState:
        d = entry.detail
        return cls(
            phase=d.get("phase"),
            ready=bool(d.get("ready")),
            deleting=bool(d.get("deleting")) or entry.event == "DELETED",
            node=d.get("node"),
            ip=d.get("ip"),
            revision=d.get("rev"),
        )


@dataclass(frozen=True)
class Incarnation:
    """One pod object (one UID) from first sight to removal."""

    namespace: str
    name: str
    uid: str
    first_seen: Mark
    states: tuple[tuple[Mark, PodState], ...]
    deletion_requested: Mark | None
    gone: Mark | None
    #: ``deletionGracePeriodSeconds`` on the last event seen (0 on a force delete).
    deletion_grace: int | None

    @property
    def ready_at(self) -> Mark | None:
        """First moment it was seen Running and Ready (and not terminating)."""
        for mark, state in self.states:
            if state.running_ready and not state.deleting:
                return mark
        return None

    @property
    def node(self) -> str | None:
        nodes = [s.node for _, s in self.states if s.node]
        return nodes[-1] if nodes else None

    @property
    def revision(self) -> str | None:
        revisions = [s.revision for _, s in self.states if s.revision]
        return revisions[-1] if revisions else None

    def live_at(self, mark: Mark) -> bool:
        return self.first_seen <= mark and (self.gone is None or mark < self.gone)

    def state_at(self, mark: Mark) -> PodState | None:
        current = None
        for seen, state in self.states:
            if seen > mark:
                break
            current = state
        return current if self.live_at(mark) else None

    def ready_since(self, mark: Mark) -> Mark | None:
        """Start of the Running+Ready stretch that contains ``mark``, or None if not healthy then."""
        since: Mark | None = None
        for seen, state in self.states:
            if seen > mark:
                break
            healthy = state.running_ready and not state.deleting
            since = (since or seen) if healthy else None
        return since if self.live_at(mark) else None

    def healthy_at(self, mark: Mark, min_ready_seconds: float = 0.0, slack: float = 0.0) -> bool:
        """Running, Ready, not terminating and Ready for ``min_ready_seconds`` (less ``slack``)."""
        since = self.ready_since(mark)
        return since is not None and mark.t - since.t >= min_ready_seconds - slack

    def describe_at(self, mark: Mark) -> str:
        """Short state for a finding's ``seen``: ``web-0 phase=Running ready=False``."""
        state = self.state_at(mark)
        if state is None:
            return f"{self.name} absent"
        flags = f"phase={state.phase} ready={state.ready}"
        return f"{self.name} {flags}" + (" terminating" if state.deleting else "")


@dataclass(frozen=True)
class Replacement:
    """A pod and its successor under the same name, as the timeline saw them.

    Both consumers time a pod's return from here: the cluster's own figures (watch event
    times), not a waiter's, so a slow waiter cannot inflate them.
    """

    old: Incarnation | None
    new: Incarnation | None

    def seconds_to_ready(self) -> float | None:
        """From the old pod's deletion (requested, else seen gone) to its successor being Ready."""
        began = (self.old.deletion_requested or self.old.gone) if self.old is not None else None
        if began is None or self.new is None or not self.new.first_seen > began:
            return None
        ready = self.new.ready_at
        return ready.t - began.t if ready is not None else None

    def steps(self, since: float) -> dict[str, float]:
        """Seconds from ``since`` (a fault) to each step of the return.

        ``old_gone``: the old pod is gone; ``to_created``: the successor exists; ``to_scheduled``:
        it is bound to a node (its claim can attach there); ``to_claim_mounted``: it is Running
        (the kubelet mounted its volumes, the claim among them); ``to_ready``: Running and Ready.
        """
        found: dict[str, float] = {}
        if self.old is not None and self.old.gone is not None:
            found["old_gone"] = round(self.old.gone.t - since, 3)
        if self.new is None:
            return found
        found["to_created"] = round(self.new.first_seen.t - since, 3)
        for mark, state in self.new.states:
            if "to_scheduled" not in found and state.node:
                found["to_scheduled"] = round(mark.t - since, 3)
            if "to_claim_mounted" not in found and state.phase == "Running":
                found["to_claim_mounted"] = round(mark.t - since, 3)
            if "to_ready" not in found and state.running_ready and not state.deleting:
                found["to_ready"] = round(mark.t - since, 3)
        return found


@dataclass(frozen=True)
class Attachment:
    """One VolumeAttachment object (one UID): a PV on one node, from first sight to removal.

    ``attached`` holds the stretches it reported ``status.attached: true``, each closed by the
    first event that says detached (or by its removal); None while still attached.
    """

    name: str
    uid: str
    pv: str
    node: str
    attacher: str
    first_seen: Mark
    #: Whether the recording saw it before it was attached (so ``first_seen`` is its creation).
    seen_created: bool
    attached: tuple[tuple[Mark, Mark | None], ...]
    deletion_requested: Mark | None
    gone: Mark | None
    #: ``(mark, "attach: …" / "detach: …")`` for every new error message the attacher reported.
    errors: tuple[tuple[Mark, str], ...]

    @property
    def attached_at(self) -> Mark | None:
        return self.attached[0][0] if self.attached else None

    def seconds_to_attach(self) -> float | None:
        """From creation (as recorded) to the first ``attached: true``; None when either was not seen."""
        at = self.attached_at
        return round(at.t - self.first_seen.t, 3) if self.seen_created and at is not None else None

    def attached_during(self, start: Mark, end: Mark | None) -> bool:
        """Was it attached at some point between ``start`` and ``end`` (None: the end of the recording)?"""
        return any((end is None or a < end) and (b is None or b > start) for a, b in self.attached)

    def describe(self, t0: float) -> str:
        """``volumeattachment csi-1a2b (pv pvc-x on node-1, attached +3.20s–+7.10s)`` for findings."""
        spans = ", ".join(
            f"{a.t - t0:+.2f}s–" + (f"{b.t - t0:+.2f}s" if b is not None else "still attached")
            for a, b in self.attached
        )
        state = f"attached {spans}" if spans else "never attached"
        return f"volumeattachment {self.name} (pv {self.pv} on {self.node}, {state})"


class Timeline:
    """Ordered, de-duplicated record of watch events over several kinds."""

    def __init__(self, t0: float | None = None) -> None:
        self._entries: list[Entry] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._t0 = t0
        #: Set by the recorder's catch-up wait when the timeline could not catch up with a fresh
        #: list (what it is behind on); checks that read it then report so, after their findings.
        self.lag: str | None = None

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    @property
    def t0(self) -> float:
        """Origin of the relative seconds in :meth:`excerpt` (first entry unless given)."""
        if self._t0 is not None:
            return self._t0
        return self._entries[0].mark.t if self._entries else 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, event_type: str, obj: Obj, t: float, kind: str | None = None) -> Entry | None:
        """Add one watch event; ``kind`` for list items, which carry none. Returns None if skipped.

        BOOKMARK/ERROR events and repeats of an already recorded (kind, uid, resourceVersion)
        are skipped: one resourceVersion is one state, so a recorder may replay or re-list
        after a reconnect without doubling entries.
        """
        if event_type not in _EVENT_TYPES:
            return None
        kind = kind or str(obj.get("kind", ""))
        rv = str(o.meta(obj).get("resourceVersion", ""))
        key = (kind, _identity(o.namespace(obj), o.name(obj), o.uid(obj)), rv)
        if rv and key in self._seen:
            return None
        self._seen.add(key)
        return self._append(
            event_type,
            kind,
            o.namespace(obj),
            o.name(obj),
            o.uid(obj),
            rv,
            _DETAILS.get(kind, _no_detail)(obj),
            t,
        )

    def relist(self, kind: str, items: Iterable[Obj], t: float, namespace: str | None = None) -> list[Entry]:
        """Record a fresh list (after 410 Gone): objects missing from it get a synthetic DELETED first.

        Without this, a pod deleted while the watch was down would stay "live" forever and
        its successor would look like a second live pod with the same identity.
        """
        items = list(items)
        present = {_identity(o.namespace(i), o.name(i), o.uid(i)) for i in items}
        added: list[Entry] = []
        for last in self.live(kind, namespace):
            if _identity(last.namespace, last.name, last.uid) not in present:
                detail = {**last.detail, "synthetic": True}
                added.append(self._append("DELETED", kind, last.namespace, last.name, last.uid, "", detail, t))
        for item in items:
            entry = self.record("ADDED", item, t, kind)
            if entry is not None:
                added.append(entry)
        return added

    def live(self, kind: str, namespace: str | None = None) -> list[Entry]:
        """Latest entry of every object of ``kind`` not (yet) seen DELETED."""
        latest: dict[str, Entry] = {}
        for entry in self.of_kind(kind, namespace):
            latest[_identity(entry.namespace, entry.name, entry.uid)] = entry
        return [e for e in latest.values() if e.event != "DELETED"]

    def _append(
        self,
        event_type: str,
        kind: str,
        namespace: str,
        name: str,
        uid: str,
        rv: str,
        detail: Mapping[str, Any],
        t: float,
    ) -> Entry:
        entry = Entry(Mark(len(self._entries), t), _event_type(event_type), kind, namespace, name, uid, rv, detail)
        self._entries.append(entry)
        return entry

    def of_kind(self, kind: str, namespace: str | None = None) -> list[Entry]:
        return [e for e in self._entries if e.kind == kind and _in_ns(e, namespace)]

    def pods(self, set_name: str | None = None, namespace: str | None = None) -> list[str]:
        """Pod names in first-seen order; with ``set_name``, only names that set would use."""
        names: dict[str, None] = {}
        for entry in self.of_kind("Pod", namespace):
            if set_name is None or parse_ordinal(entry.name, set_name) is not None:
                names.setdefault(entry.name, None)
        return list(names)

    def incarnations(self, name: str, namespace: str | None = None) -> list[Incarnation]:
        """Every UID that carried pod ``name``, in first-seen order."""
        by_uid: dict[str, list[Entry]] = {}
        for entry in self.of_kind("Pod", namespace):
            if entry.name == name:
                by_uid.setdefault(_identity(entry.namespace, entry.name, entry.uid), []).append(entry)
        return [_incarnation(uid, entries) for uid, entries in by_uid.items()]

    def replacement(
        self, name: str, old_uid: str, namespace: str | None = None, *, since: float | None = None
    ) -> Replacement:
        """Pod ``name`` of UID ``old_uid`` and the first incarnation after it.

        When the old one was never recorded, its successor is the first seen at or after ``since``.
        """
        incarnations = self.incarnations(name, namespace)
        old = next((i for i in incarnations if i.uid == old_uid), None)
        if old is not None:
            later = [i for i in incarnations if i.uid != old_uid and i.first_seen > old.first_seen]
        else:
            later = [i for i in incarnations if since is not None and i.first_seen.t >= since]
        return Replacement(old, later[0] if later else None)

    def set_incarnations(self, set_name: str, namespace: str | None = None) -> dict[int, list[Incarnation]]:
        """Incarnations of every pod name of ``set_name``, keyed by ordinal.

        One pass over the entries (not one per pod name), so a 50-replica set costs 50 times a
        1-replica one, not 2500 times.
        """
        by_ordinal: dict[int, dict[str, list[Entry]]] = {}
        for entry in self.of_kind("Pod", namespace):
            ordinal = parse_ordinal(entry.name, set_name)
            if ordinal is not None:
                uids = by_ordinal.setdefault(ordinal, {})
                uids.setdefault(_identity(entry.namespace, entry.name, entry.uid), []).append(entry)
        return {
            ordinal: [_incarnation(uid, entries) for uid, entries in by_ordinal[ordinal].items()]
            for ordinal in sorted(by_ordinal)
        }

    def claim_users(self, namespace: str | None = None) -> dict[str, list[Incarnation]]:
        """Claim name → every pod incarnation that mounts it, in first-seen order (one pass over the pods)."""
        by_uid: dict[str, list[Entry]] = {}
        for entry in self.of_kind("Pod", namespace):
            by_uid.setdefault(_identity(entry.namespace, entry.name, entry.uid), []).append(entry)
        users: dict[str, list[Incarnation]] = {}
        for uid, entries in by_uid.items():
            incarnation = _incarnation(uid, entries)
            for claim in dict.fromkeys(c for e in entries for c in e.detail.get("claims") or ()):
                users.setdefault(str(claim), []).append(incarnation)
        return users

    def claim_volumes(self, namespace: str | None = None) -> dict[str, str]:
        """Claim name → the PV it was last seen bound to."""
        volumes: dict[str, str] = {}
        for entry in self.of_kind("PersistentVolumeClaim", namespace):
            if entry.detail.get("volume"):
                volumes[entry.name] = str(entry.detail["volume"])
        return volumes

    def volume_drivers(self) -> dict[str, str | None]:
        """PV name → its CSI driver (``spec.csi.driver``), None for a volume that is not CSI."""
        drivers: dict[str, str | None] = {}
        for entry in self.of_kind("PersistentVolume"):
            driver = entry.detail.get("driver")
            drivers[entry.name] = str(driver) if driver else None
        return drivers

    def attachments(self) -> dict[str, list[Attachment]]:
        """PV name → its VolumeAttachments in first-seen order (one pass over the recorded attachments)."""
        by_uid: dict[str, list[Entry]] = {}
        for entry in self.of_kind("VolumeAttachment"):
            by_uid.setdefault(_identity(entry.namespace, entry.name, entry.uid), []).append(entry)
        found: dict[str, list[Attachment]] = {}
        for uid, entries in by_uid.items():
            attachment = _attachment(uid, entries)
            found.setdefault(attachment.pv, []).append(attachment)
        return found

    def set_replicas(self, name: str, namespace: str | None = None) -> list[tuple[Mark, int]]:
        """The replica counts StatefulSet ``name``'s spec asked for, as recorded (its scale history)."""
        return [
            (e.mark, int(e.detail["replicas"]))
            for e in self.of_kind("StatefulSet", namespace)
            if e.name == name and isinstance(e.detail.get("replicas"), int)
        ]

    def live_intervals(self, name: str, namespace: str | None = None) -> list[tuple[str, Mark, Mark | None]]:
        """``(uid, first seen, gone or None)`` per incarnation of pod ``name``."""
        return [(i.uid, i.first_seen, i.gone) for i in self.incarnations(name, namespace)]

    def node_unreachable_at(self, node: str, mark: Mark) -> bool | None:
        """Was ``node`` NotReady, tainted unreachable/out-of-service or gone at ``mark``? None: unknown."""
        last = self._node_at(node, mark)
        if last is None:
            return None
        if last.event == "DELETED":
            return True
        taints = set(last.detail.get("taints") or ())
        return last.detail.get("ready") != "True" or bool(taints & UNREACHABLE_TAINTS)

    def node_tainted_at(self, node: str, mark: Mark, key: str) -> bool:
        """Did ``node`` carry taint ``key`` at ``mark``, as recorded (False when not recorded)?"""
        last = self._node_at(node, mark)
        return last is not None and last.event != "DELETED" and key in (last.detail.get("taints") or ())

    def _node_at(self, node: str, mark: Mark) -> Entry | None:
        last = None
        for entry in self.of_kind("Node"):
            if entry.name == node and entry.mark <= mark:
                last = entry
        return last

    def mark_at(self, t: float) -> Mark:
        """A mark after every entry recorded at or before ``t`` (for checks taking seconds)."""
        seq = sum(1 for e in self._entries if e.mark.t <= t)
        return Mark(seq - 1, t) if seq else Mark(-1, t)

    def excerpt(self, names: Collection[str] | None = None, around: float | None = None, limit: int = 40) -> str:
        """Human-readable lines, one per entry, seconds relative to :attr:`t0`.

        ``names`` keeps entries about those objects (and their claims, volumes, nodes and
        events); ``around`` centres the window on that time, else the latest entries show.
        """
        keep = None if names is None else _related(self._entries, names)
        chosen = [e for e in self._entries if keep is None or e.mark.seq in keep]
        total = len(chosen)
        if total > limit:
            if around is None:
                start = total - limit
            else:
                centre = next((i for i, e in enumerate(chosen) if e.mark.t >= around), total - 1)
                start = max(0, min(centre - limit // 2, total - limit))
            chosen = chosen[start : start + limit]
        else:
            start = 0
        lines = [f"{len(chosen)} of {total} entries, seconds from t0={self.t0:.3f}"]
        if start:
            lines.append(f"  … {start} earlier entries")
        lines += [self._line(e) for e in chosen]
        if start + len(chosen) < total:
            lines.append(f"  … {total - start - len(chosen)} later entries")
        return "\n".join(lines)

    def to_json(self) -> Obj:
        return {"t0": self.t0, "entries": [e.to_json() for e in self._entries]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Timeline:
        """Rebuild a timeline saved by :meth:`to_json` (recorded runs double as test fixtures)."""
        timeline = cls(t0=data.get("t0"))
        for raw in data.get("entries", []):
            entry = Entry.from_json(raw)
            entry = replace(entry, mark=Mark(len(timeline._entries), entry.mark.t))
            timeline._entries.append(entry)
            timeline._seen.add((entry.kind, _identity(entry.namespace, entry.name, entry.uid), entry.resource_version))
        return timeline

    def _line(self, entry: Entry) -> str:
        where = f"{entry.namespace}/{entry.name}" if entry.namespace else entry.name
        parts = [
            f"  {entry.mark.t - self.t0:+9.3f}s",
            f"{entry.event:<8}",
            f"{entry.kind} {where}",
            f"uid={_short_uid(entry.uid)}" if entry.uid else "",
            f"rv={entry.resource_version}" if entry.resource_version else "",
        ]
        parts += [f"{k}={_fmt(v)}" for k, v in entry.detail.items() if _shown(k, v)]
        return " ".join(p for p in parts if p)


def _event_type(value: str) -> EventType:
    for known in _EVENT_TYPES:
        if value == known:
            return known
    raise ValueError(f"expected a watch event type {_EVENT_TYPES}, got {value!r}")


def _identity(namespace: str, name: str, uid: str) -> str:
    """What tells two objects apart: the UID, or ``namespace/name`` when a fixture has none."""
    return uid or (f"{namespace}/{name}" if namespace else name)


def _in_ns(entry: Entry, namespace: str | None) -> bool:
    return namespace is None or entry.namespace == namespace


def _incarnation(uid: str, entries: list[Entry]) -> Incarnation:
    requested = next((e.mark for e in entries if e.detail.get("deleting") or e.event == "DELETED"), None)
    gone = next((e.mark for e in entries if e.event == "DELETED"), None)
    grace = entries[-1].detail.get("grace")
    return Incarnation(
        namespace=entries[0].namespace,
        name=entries[0].name,
        uid=uid,
        first_seen=entries[0].mark,
        states=tuple((e.mark, PodState.of(e)) for e in entries),
        deletion_requested=requested,
        gone=gone,
        deletion_grace=int(grace) if grace is not None else None,
    )


def _attachment(uid: str, entries: list[Entry]) -> Attachment:
    spans: list[tuple[Mark, Mark | None]] = []
    errors: list[tuple[Mark, str]] = []
    opened: Mark | None = None
    last_error = ""
    for entry in entries:
        attached = bool(entry.detail.get("attached")) and entry.event != "DELETED"
        if attached and opened is None:
            opened = entry.mark
        elif not attached and opened is not None:
            spans.append((opened, entry.mark))
            opened = None
        for which in ("attach", "detach"):
            message = entry.detail.get(f"{which}_error")
            if message and f"{which}: {message}" != last_error:
                last_error = f"{which}: {message}"
                errors.append((entry.mark, last_error))
    if opened is not None:
        spans.append((opened, None))
    first = entries[0]
    return Attachment(
        name=first.name,
        uid=uid,
        pv=str(first.detail.get("pv") or ""),
        node=str(first.detail.get("node") or ""),
        attacher=str(first.detail.get("attacher") or ""),
        first_seen=first.mark,
        seen_created=not first.detail.get("attached") and not first.detail.get("synthetic"),
        attached=tuple(spans),
        deletion_requested=next((e.mark for e in entries if e.detail.get("deleting") or e.event == "DELETED"), None),
        gone=next((e.mark for e in entries if e.event == "DELETED"), None),
        errors=tuple(errors),
    )


def _related(entries: Iterable[Entry], names: Collection[str]) -> set[int]:
    """Sequence numbers of entries about the named pods or what hangs off them."""
    entries = list(entries)
    wanted = set(names)
    nodes = {str(e.detail["node"]) for e in entries if e.kind == "Pod" and e.name in wanted and e.detail.get("node")}
    claims = {str(c) for e in entries if e.kind == "Pod" and e.name in wanted for c in e.detail.get("claims") or ()}
    claims |= wanted
    volumes = {
        str(e.detail["volume"])
        for e in entries
        if e.kind == "PersistentVolumeClaim" and e.name in claims and e.detail.get("volume")
    } | {e.name for e in entries if e.kind == "PersistentVolume" and e.name in wanted}
    related: set[int] = set()
    for e in entries:
        if (
            e.name in wanted
            or (e.kind == "Node" and e.name in nodes)
            or (e.kind == "PersistentVolumeClaim" and e.name in claims)
            or (e.kind == "PersistentVolumeClaim" and any(e.name.endswith(f"-{n}") for n in wanted))
            or (e.kind == "PersistentVolume" and any(str(e.detail.get("claim", "")).endswith(f"-{n}") for n in wanted))
            or (e.kind == "PersistentVolume" and e.name in volumes)
            or (e.kind == "VolumeAttachment" and str(e.detail.get("pv")) in volumes)
            or (e.kind == "Event" and str(e.detail.get("object", "")).split("/")[-1] in wanted)
            or (e.kind == "EndpointSlice" and any(ep[0] in wanted for ep in e.detail.get("endpoints") or ()))
        ):
            related.add(e.mark.seq)
    return related


def _short_uid(uid: str) -> str:
    """First block of a server UUID (unique enough within one test); other ids as they are."""
    return uid[:8] if len(uid) == 36 and uid.count("-") == 4 else uid


def _shown(key: str, value: Any) -> bool:
    """Leave out empty fields and flags that are off by default, to keep one entry on one line."""
    if value is None or value == "" or value == []:
        return False
    return not (value is False and key in _QUIET_FLAGS)


_QUIET_FLAGS = frozenset({"deleting", "unschedulable", "synthetic"})


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_fmt(v) for v in value)
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    return str(value)


def _no_detail(obj: Obj) -> dict[str, Any]:
    return {}


def _pod_detail(pod: Obj) -> dict[str, Any]:
    owner = o.controller_ref(pod)
    set_name = owner.get("name") if owner and owner.get("kind") == "StatefulSet" else None
    disruption = o.condition(pod, "DisruptionTarget")
    return {
        "phase": o.status(pod).get("phase"),
        "ready": o.pod_ready(pod),
        "deleting": o.terminating(pod),
        "grace": o.meta(pod).get("deletionGracePeriodSeconds"),
        "node": o.spec(pod).get("nodeName"),
        "ip": o.pod_ip(pod),
        "rev": o.labels(pod).get(REVISION_LABEL),
        "set": set_name,
        "ordinal": parse_ordinal(o.name(pod), str(set_name)) if set_name else None,
        "disruption": disruption.get("reason") if disruption and disruption.get("status") == "True" else None,
        "claims": [
            str(claim)
            for volume in o.spec(pod).get("volumes") or ()
            if isinstance(volume, dict) and (claim := (volume.get("persistentVolumeClaim") or {}).get("claimName"))
        ],
    }


def _pvc_detail(pvc: Obj) -> dict[str, Any]:
    return {
        "phase": o.status(pvc).get("phase"),
        "volume": o.spec(pvc).get("volumeName"),
        "deleting": o.terminating(pvc),
        "owners": [f"{r.get('kind')}/{r.get('name')}" for r in o.owner_refs(pvc)],
    }


def _pv_detail(pv: Obj) -> dict[str, Any]:
    claim = o.spec(pv).get("claimRef") or {}
    return {
        "phase": o.status(pv).get("phase"),
        "claim": f"{claim.get('namespace')}/{claim.get('name')}" if claim else None,
        "deleting": o.terminating(pv),
        "driver": (o.spec(pv).get("csi") or {}).get("driver"),
    }


def _attachment_detail(va: Obj) -> dict[str, Any]:
    spec, status = o.spec(va), o.status(va)
    return {
        "pv": (spec.get("source") or {}).get("persistentVolumeName"),
        "node": spec.get("nodeName"),
        "attacher": spec.get("attacher"),
        "attached": bool(status.get("attached")),
        "attach_error": (status.get("attachError") or {}).get("message"),
        "detach_error": (status.get("detachError") or {}).get("message"),
        "deleting": o.terminating(va),
    }


def _slice_detail(eps: Obj) -> dict[str, Any]:
    endpoints = []
    for ep in eps.get("endpoints") or ():
        addresses = ep.get("addresses") or [None]
        conditions = ep.get("conditions") or {}
        endpoints.append([ep.get("hostname"), addresses[0], conditions.get("ready")])
    return {"service": o.labels(eps).get(SERVICE_NAME_LABEL), "endpoints": endpoints}


def _set_detail(sts: Obj) -> dict[str, Any]:
    st = o.status(sts)
    return {
        "generation": o.meta(sts).get("generation"),
        "observed": st.get("observedGeneration"),
        "replicas": o.spec(sts).get("replicas"),
        "ready": st.get("readyReplicas"),
        "available": st.get("availableReplicas"),
        "current": st.get("currentReplicas"),
        "updated": st.get("updatedReplicas"),
        "currentRevision": st.get("currentRevision"),
        "updateRevision": st.get("updateRevision"),
        "deleting": o.terminating(sts),
    }


def _event_detail(event: Obj) -> dict[str, Any]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    message = str(event.get("message") or event.get("note") or "")
    return {
        "type": event.get("type"),
        "reason": event.get("reason"),
        "object": f"{involved.get('kind')}/{involved.get('name')}",
        "message": message[:160],
    }


def _node_detail(node: Obj) -> dict[str, Any]:
    return {
        "ready": o.node_ready(node),
        "unschedulable": bool(o.spec(node).get("unschedulable")),
        "taints": o.taint_keys(node),
    }


def _revision_detail(rev: Obj) -> dict[str, Any]:
    return {"revision": rev.get("revision")}


_DETAILS: dict[str, Callable[[Obj], dict[str, Any]]] = {
    "Pod": _pod_detail,
    "PersistentVolumeClaim": _pvc_detail,
    "PersistentVolume": _pv_detail,
    "EndpointSlice": _slice_detail,
    "StatefulSet": _set_detail,
    "Event": _event_detail,
    "Node": _node_detail,
    "ControllerRevision": _revision_detail,
    "VolumeAttachment": _attachment_detail,
}
