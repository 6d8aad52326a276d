"""Attachment promises: a single-writer volume follows its pod from node to node, on one node at a time.

For a CSI driver that attaches (``attachRequired``), the attach/detach controller makes one
VolumeAttachment per (volume, node) and the attacher reports ``status.attached``. For a
ReadWriteOnce or ReadWriteOncePod claim two promises follow: wherever a pod using the claim
runs, the volume is attached to that node; and it is never attached to two nodes at once (the
old attachment is detached, or gone, before the new one reports attached). Both are judged
from the timeline, where VolumeAttachments join PVs, claims and pods: a short overlap between
two watch events is seen there, where a poll would miss it.

Which claims are judged is the caller's decision, from what the test asked for
(:func:`single_writer_claims`); whether the class attaches at all is a capability
(``ordinal.capabilities``): on hostPath or local volumes, or ``attachRequired: false``,
these promises are not applicable rather than passed. A judged claim whose volume the
recording shows no attaching driver for is a finding, never a silent pass.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from ordinal.kube import objects as o
from ordinal.kube.manifests import SINGLE_WRITER_MODES, claim_modes, pvc_name, set_window
from ordinal.observe.timeline import Attachment, Incarnation, Mark, Timeline
from ordinal.types import Finding, Obj


def single_writer_claims(sts: Obj, ordinals: Iterable[int] | None = None) -> list[str]:
    """The claims of the set's ReadWriteOnce / ReadWriteOncePod templates, for ``ordinals`` (default: its window)."""
    templates = [t for t, modes in claim_modes(sts).items() if set(modes) & SINGLE_WRITER_MODES]
    window = set_window(sts) if ordinals is None else ordinals
    return [pvc_name(t, o.name(sts), i) for i in window for t in templates]


@dataclass(frozen=True)
class _Span:
    attachment: Attachment
    start: Mark
    end: Mark | None


def check_attachments(
    timeline: Timeline, namespace: str, claims: Iterable[str], *, attaching: Collection[str]
) -> list[Finding]:
    """Each claim's volume is attached where its pods ran, and to one node at a time.

    ``attaching`` names the CSI drivers known to attach (from the capability); a judged claim
    whose PV the recording shows with another driver, or none, is reported as not judged
    (``storage.attachment-recorded``). One pass over the recording per kind.
    """
    volumes = timeline.claim_volumes(namespace)
    drivers = timeline.volume_drivers()
    by_pv = timeline.attachments()
    users = timeline.claim_users(namespace)
    t0 = timeline.t0
    findings: list[Finding] = []
    for claim in claims:
        subject = f"pvc {namespace}/{claim}"
        pv = volumes.get(claim)
        if pv is None:
            continue  # never bound: the claim checks say so
        driver = drivers.get(pv)
        if driver not in attaching:
            seen = f"pv {pv} " + (f"of driver {driver}" if driver else "not CSI" if pv in drivers else "not recorded")
            findings.append(
                Finding(
                    "storage.attachment-recorded",
                    subject,
                    "spec.volumeName → PersistentVolume spec.csi.driver",
                    f"a volume of a driver that attaches ({', '.join(sorted(attaching)) or 'none known'})",
                    seen,
                )
            )
            continue
        attachments = by_pv.get(pv, [])
        findings += _follows_pods(subject, pv, users.get(claim, []), attachments, t0)
        findings += _one_node_at_a_time(subject, pv, attachments, t0)
        findings += _errors(subject, attachments, t0)
    return findings


def _follows_pods(
    subject: str, pv: str, pods: Iterable[Incarnation], attachments: list[Attachment], t0: float
) -> list[Finding]:
    """Every pod incarnation that ran (phase Running on a node) had the volume attached to its node meanwhile."""
    findings = []
    for pod in pods:
        running = next((mark for mark, state in pod.states if state.phase == "Running" and state.node), None)
        node = pod.node
        if running is None or node is None:
            continue
        if any(a.node == node and a.attached_during(pod.first_seen, pod.gone) for a in attachments):
            continue
        seen = "; ".join(a.describe(t0) for a in attachments) or f"no VolumeAttachment for pv {pv}"
        findings.append(
            Finding(
                "storage.attachment-follows-pod",
                subject,
                "VolumeAttachment spec.nodeName, status.attached",
                f"pv {pv} attached to {node}, where pod {pod.name} (uid {pod.uid[:8]}) ran from {running.t - t0:+.2f}s",
                seen,
            )
        )
    return findings


def _one_node_at_a_time(subject: str, pv: str, attachments: list[Attachment], t0: float) -> list[Finding]:
    """No two attached stretches on different nodes overlap (a sweep over the stretches in recorded order)."""
    spans = sorted((_Span(a, start, end) for a in attachments for start, end in a.attached), key=lambda s: s.start.seq)
    findings: list[Finding] = []
    active: list[_Span] = []
    for span in spans:
        active = [s for s in active if s.end is None or s.end > span.start]
        for old in active:
            if old.attachment.node == span.attachment.node:
                continue
            end = f"{old.end.t - t0:+.2f}s" if old.end is not None else "the end of the recording"
            findings.append(
                Finding(
                    "storage.attached-to-one-node",
                    subject,
                    "VolumeAttachment status.attached",
                    f"pv {pv} detached from {old.attachment.node} (or its attachment gone) "
                    f"before it is attached to {span.attachment.node}",
                    f"attached to {old.attachment.node} ({old.attachment.name}, from {old.start.t - t0:+.2f}s) "
                    f"and to {span.attachment.node} ({span.attachment.name}, from {span.start.t - t0:+.2f}s) "
                    f"at once, until {end}",
                )
            )
        active.append(span)
    return findings


def _errors(subject: str, attachments: list[Attachment], t0: float) -> list[Finding]:
    return [
        Finding(
            "storage.attach-error",
            subject,
            f"VolumeAttachment {a.name} status.{message.split(':', 1)[0]}Error",
            "no attach or detach error",
            f"{message} at {mark.t - t0:+.2f}s (node {a.node})",
        )
        for a in attachments
        for mark, message in a.errors[:1]
    ]


def check_single_pod_claims(timeline: Timeline, namespace: str, claims: Iterable[str]) -> list[Finding]:
    """A ReadWriteOncePod claim is used by one pod at a time: no two pods mounting it are bound to nodes at once.

    A pod is "on" the claim from the first event that shows it bound to a node until it has ended
    (phase Succeeded or Failed: its containers are stopped, and the scheduler no longer counts
    it) or is gone; the scheduler must keep any other pod unbound (Pending) meanwhile.
    """
    users = timeline.claim_users(namespace)
    t0 = timeline.t0
    findings: list[Finding] = []
    for claim in claims:
        spans: list[tuple[Mark, Mark | None, Incarnation]] = []
        for pod in users.get(claim, []):
            bound = next((mark for mark, state in pod.states if state.node), None)
            ended = next((mark for mark, state in pod.states if state.phase in ("Succeeded", "Failed")), pod.gone)
            if bound is not None:
                spans.append((bound, ended, pod))
        spans.sort(key=lambda span: span[0].seq)
        active: list[tuple[Mark, Mark | None, Incarnation]] = []
        for start, ended, pod in spans:
            active = [(s, e, p) for s, e, p in active if e is None or e > start]
            findings += [
                Finding(
                    "storage.single-pod-claim",
                    f"pvc {namespace}/{claim}",
                    "spec.accessModes[ReadWriteOncePod]",
                    f"{pod.name} kept off (unscheduled) while {other.name} uses the claim",
                    f"{pod.name} bound to {pod.node} at {start.t - t0:+.2f}s while {other.name} was on {other.node} "
                    f"(since {since.t - t0:+.2f}s)",
                )
                for since, _, other in active
            ]
            active.append((start, ended, pod))
    return findings


def check_expanded(claim: Obj, requested: int, seen_in_pod: int | None) -> list[Finding]:
    """An expanded claim reports at least ``requested`` bytes, and the pod's filesystem shows at least that much.

    ``seen_in_pod`` is the size of the mounted filesystem as the pod reads it (``df``); None when
    it could not be read. A filesystem larger than asked (a driver that rounds up, or a volume
    that is a directory on a bigger disk) keeps the promise.
    """
    subject = o.subject(claim, "PersistentVolumeClaim")
    capacity = o.pvc_capacity(claim)
    findings = []
    if capacity is None or capacity < requested:
        findings.append(
            Finding("storage.claim-expanded", subject, "status.capacity.storage", f">= {requested} bytes", capacity)
        )
    if seen_in_pod is None or seen_in_pod < requested:
        findings.append(
            Finding(
                "storage.claim-expanded",
                subject,
                "the mounted filesystem's size (df)",
                f">= {requested} bytes",
                seen_in_pod,
            )
        )
    return findings


@dataclass(frozen=True)
class Move:
    """A claim's volume leaving one node for another with the pods that used it."""

    claim: str
    pv: str
    old_node: str
    new_node: str
    #: Old pod gone → its node's attachment gone (else no longer attached); None when not recorded.
    detach_seconds: float | None
    #: The new node's attachment created → attached; None when not recorded.
    attach_seconds: float | None
    #: When the old pod was gone (recorder clock seconds; its first sighting if never seen gone).
    left_at: float


def moves(timeline: Timeline, namespace: str, claims: Iterable[str]) -> list[Move]:
    """Each time a claim's next pod ran on another node than the one before: how long detach and attach took."""
    volumes = timeline.claim_volumes(namespace)
    by_pv = timeline.attachments()
    users = timeline.claim_users(namespace)
    found = []
    for claim in claims:
        pv = volumes.get(claim)
        if pv is None:
            continue
        pods = [p for p in users.get(claim, []) if p.node]
        for old, new in itertools.pairwise(pods):
            if old.node == new.node or old.node is None or new.node is None:
                continue
            found.append(
                Move(
                    claim,
                    pv,
                    old.node,
                    new.node,
                    _detach_seconds(old, by_pv.get(pv, [])),
                    _attach_seconds(new, by_pv.get(pv, [])),
                    (old.gone or old.first_seen).t,
                )
            )
    return found


def _detach_seconds(old: Incarnation, attachments: list[Attachment]) -> float | None:
    if old.gone is None:
        return None
    for a in attachments:
        if a.node != old.node or a.first_seen > old.gone:
            continue
        ended = [end for _, end in a.attached if end is not None and end > old.gone]
        done = a.gone if a.gone is not None and a.gone > old.gone else (ended[0] if ended else None)
        if done is not None:
            return round(done.t - old.gone.t, 3)
    return None


def _attach_seconds(new: Incarnation, attachments: list[Attachment]) -> float | None:
    for a in attachments:
        if a.node == new.node and (new.gone is None or a.first_seen < new.gone):
            return a.seconds_to_attach()
    return None


def attach_figures(
    timeline: Timeline, namespace: str, claims: Iterable[str], *, context: str, since: float | None = None
) -> list[tuple[str, float]]:
    """``(name, seconds)`` figures: ``attach-<context>`` for every attachment of the claims' volumes seen from
    creation to attached, ``detach-<context>`` for every move (old pod gone → old attachment gone).

    ``since`` (recorder clock seconds, e.g. the moment of a fault) leaves out attachments and
    moves that began before it, such as the first attach when the set was created.
    """
    claims = list(claims)
    volumes = timeline.claim_volumes(namespace)
    wanted = {volumes[c] for c in claims if c in volumes}
    found: list[tuple[str, float]] = []
    for pv, attachments in timeline.attachments().items():
        if pv not in wanted:
            continue
        for a in attachments:
            seconds = a.seconds_to_attach()
            if seconds is not None and (since is None or a.first_seen.t >= since):
                found.append((f"attach-{context}", seconds))
    for move in moves(timeline, namespace, claims):
        if move.detach_seconds is not None and (since is None or move.left_at >= since):
            found.append((f"detach-{context}", move.detach_seconds))
    return found


def attached_only_to(attachments: Iterable[Obj], pv: str, node: str) -> str | None:
    """Why VolumeAttachments (as listed now) break "``pv`` attached to lost ``node`` and nowhere else", or None.

    For a watch that holds the promise over a window; the timeline check
    (:func:`ordinal.checks.node_loss.check_lost_node`) judges the whole run afterwards.
    """
    mine = [a for a in attachments if (o.spec(a).get("source") or {}).get("persistentVolumeName") == pv]
    elsewhere = [f"{o.spec(a).get('nodeName')} ({o.name(a)})" for a in mine if o.spec(a).get("nodeName") != node]
    if elsewhere:
        return f"pv {pv} has attachments to {', '.join(elsewhere)} while {node} is lost"
    if not any(o.status(a).get("attached") for a in mine):
        return f"pv {pv} is no longer attached to {node}, though nobody confirmed the unmount"
    return None
