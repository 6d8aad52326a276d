"""Node-loss promises: a pod on a node that stopped answering is replaced only once the node is declared off.

When a real node stops (a hung or powered-off machine) nobody can confirm that its pods have
stopped. The control plane marks the node not Ready and, after the pods' toleration, deletes them
(taint-based eviction): they turn Terminating and stay so, because only the kubelet could finish
the delete. A StatefulSet never replaces a pod that still exists, so its identity is not run
twice, and an attaching volume stays attached to the lost node (its data may still be written
there). Once an administrator declares the node shut down (taint
``node.kubernetes.io/out-of-service``), PodGC force-deletes the pod, the attach/detach controller
detaches the volume without waiting for the unmount, and the replacement starts on another node
of the volume's topology with the same claim.

All of it is judged from the timeline (Pods, Nodes and, where the class attaches,
VolumeAttachments), so a promise broken for a moment between two polls is still seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from ordinal.labels import OUT_OF_SERVICE_TAINT
from ordinal.observe.timeline import Attachment, Entry, Incarnation, Mark, Timeline
from ordinal.types import Finding


@dataclass(frozen=True)
class LostNode:
    """One lost node and one pod that ran there, as the timeline shows them from the fault on."""

    node: str
    namespace: str
    pod: str
    #: The fault (recorder clock seconds).
    since: float
    #: First moment after the fault the node was seen not Ready (or unreachable-tainted).
    not_ready: Mark | None
    #: First moment after the fault the node carried the out-of-service taint.
    declared: Mark | None
    #: The pod that was on the node when it was lost, and the one that took its name next.
    old: Incarnation | None
    new: Incarnation | None

    def rel(self, mark: Mark | None, t0: float) -> str:
        return f"{mark.t - t0:+.2f}s" if mark is not None else "never"


def lost_node(timeline: Timeline, *, node: str, namespace: str, pod: str, old_uid: str, since: float) -> LostNode:
    """Read the story of ``pod`` (uid ``old_uid``) on lost ``node`` from the timeline, from ``since`` on."""
    entries = [e for e in timeline.of_kind("Node") if e.name == node and e.mark.t >= since]
    not_ready = next((e.mark for e in entries if _not_ready(e)), None)
    declared = next((e.mark for e in entries if OUT_OF_SERVICE_TAINT in (e.detail.get("taints") or ())), None)
    incarnations = sorted(timeline.incarnations(pod, namespace), key=lambda i: i.first_seen)
    old = next((i for i in incarnations if i.uid == old_uid), None)
    later = [i for i in incarnations if old is not None and i.first_seen > old.first_seen]
    return LostNode(node, namespace, pod, since, not_ready, declared, old, later[0] if later else None)


def _not_ready(entry: Entry) -> bool:
    taints = set(entry.detail.get("taints") or ())
    return entry.event == "DELETED" or entry.detail.get("ready") != "True" or bool(taints - {OUT_OF_SERVICE_TAINT})


def check_lost_node(
    timeline: Timeline,
    story: LostNode,
    *,
    pv: str | None = None,
    evicted: bool = True,
    elsewhere: bool = True,
) -> list[Finding]:
    """Every node-loss promise the timeline can show for ``story``.

    ``pv``: the pod's volume when its class attaches (VolumeAttachments recorded), else None and
    the attachment promises are not judged. ``evicted``: the pod tolerates the lost node only
    briefly, so the control plane must have marked it for deletion before the node was declared
    out of service. ``elsewhere``: another node could take the pod's volume, so the replacement
    must run there; without one (a volume pinned to the lost node) it must come back at all,
    which it can only once the node is back.
    """
    t0, subject = timeline.t0, f"pod {story.namespace}/{story.pod}"
    findings: list[Finding] = []
    if story.not_ready is None:
        findings.append(
            Finding(
                "node-loss.node-not-ready",
                f"node {story.node}",
                "status.conditions[Ready]",
                f"not Ready after the node stopped (at {story.since - t0:+.2f}s)",
                "Ready throughout the recording",
            )
        )
    old = story.old
    if old is None:
        findings.append(
            Finding("node-loss.recorded", subject, "metadata.uid", "the pod on the lost node in the timeline", None)
        )
        return findings
    declared = story.declared
    end = f"until {story.rel(declared, t0)}" if declared else "throughout the recording"
    if evicted and (old.deletion_requested is None or (declared is not None and old.deletion_requested > declared)):
        findings.append(
            Finding(
                "node-loss.pod-terminating",
                subject,
                "metadata.deletionTimestamp",
                f"uid {old.uid} marked for deletion (taint-based eviction) while node {story.node} was unreachable",
                f"not terminating {end}",
            )
        )
    if old.gone is not None and (declared is None or old.gone < declared):
        findings.append(
            Finding(
                "node-loss.kept-until-declared",
                subject,
                "metadata.uid",
                f"uid {old.uid} kept (Terminating) until node {story.node} is declared out of service",
                f"removed at {story.rel(old.gone, t0)} while the node could not confirm it stopped "
                f"(declared {story.rel(declared, t0)})",
            )
        )
    new = story.new
    if new is not None and (declared is None or new.first_seen < declared):
        findings.append(
            Finding(
                "node-loss.not-replaced-while-unconfirmed",
                subject,
                "metadata.uid",
                f"no new {story.pod} before node {story.node} is declared out of service ({story.rel(declared, t0)})",
                f"uid {new.uid} appeared at {story.rel(new.first_seen, t0)} on node {new.node}",
            )
        )
    if declared is not None and (new is None or new.ready_at is None or (elsewhere and new.node == story.node)):
        seen = "none" if new is None else f"uid {new.uid} on {new.node}, Ready {story.rel(new.ready_at, t0)}"
        where = f"on another node than {story.node}" if elsewhere else f"(on {story.node} once it is back)"
        findings.append(
            Finding(
                "node-loss.replaced-after-declared",
                subject,
                "metadata.uid",
                f"a new {story.pod} Ready {where} once it is declared out of service",
                seen,
            )
        )
    if pv is not None:
        findings += _volume_on_lost_node(timeline, story, pv)
    return findings


def _volume_on_lost_node(timeline: Timeline, story: LostNode, pv: str) -> list[Finding]:
    """Until the node is declared off, the volume stays attached there and is attached nowhere else."""
    t0, subject = timeline.t0, f"pv {pv}"
    attachments = timeline.attachments().get(pv, [])
    since = timeline.mark_at(story.since)
    until = story.declared
    findings: list[Finding] = []
    for other in attachments:
        if other.node == story.node:
            continue
        early = [start for start, _ in other.attached if until is None or start < until]
        if early:
            findings.append(
                Finding(
                    "node-loss.volume-stays-on-lost-node",
                    subject,
                    "VolumeAttachment status.attached",
                    f"attached to no node but {story.node} until it is declared out of service "
                    f"({story.rel(until, t0)})",
                    f"attached to {other.node} ({other.name}) at {story.rel(early[0], t0)}",
                )
            )
    lost = [a for a in attachments if a.node == story.node and a.attached_during(since, since)]
    if not lost:
        seen = "; ".join(a.describe(t0) for a in attachments) or "no VolumeAttachment recorded"
        findings.append(
            Finding(
                "node-loss.volume-stays-on-lost-node",
                subject,
                "VolumeAttachment status.attached",
                f"attached to {story.node} when it stopped ({story.since - t0:+.2f}s)",
                seen,
            )
        )
        return findings
    left = _detached_at(lost[0])
    if left is not None and (until is None or left < until):
        findings.append(
            Finding(
                "node-loss.volume-stays-on-lost-node",
                subject,
                "VolumeAttachment status.attached",
                f"attached to {story.node} until it is declared out of service ({story.rel(until, t0)})",
                f"detached from {story.node} at {story.rel(left, t0)} while nobody could confirm the unmount",
            )
        )
    return findings


def _detached_at(attachment: Attachment) -> Mark | None:
    """When the attachment stopped being attached (its last stretch closed, or it was removed)."""
    if not attachment.attached:
        return attachment.gone
    end = attachment.attached[-1][1]
    return end if end is not None else None


def node_loss_figures(timeline: Timeline, story: LostNode, pv: str | None = None) -> list[tuple[str, float]]:
    """``(name, seconds)``: the lost node's timings, each from the fault unless it says otherwise.

    ``node-loss-to-not-ready``, ``node-loss-to-terminating``, ``node-loss-to-replacement-ready``;
    from the out-of-service taint: ``node-loss-declared-to-pod-gone`` (PodGC), ``…-to-detached``
    (the force detach) and ``…-to-replacement-ready``. Figures whose moments were not recorded are
    left out.
    """
    found: list[tuple[str, float]] = []

    def add(name: str, start: float | None, end: Mark | None) -> None:
        if start is not None and end is not None and end.t >= start:
            found.append((name, round(end.t - start, 3)))

    old, new, declared = story.old, story.new, story.declared
    add("node-loss-to-not-ready", story.since, story.not_ready)
    add("node-loss-to-terminating", story.since, old.deletion_requested if old else None)
    ready = new.ready_at if new is not None else None
    add("node-loss-to-replacement-ready", story.since, ready)
    if declared is not None:
        add("node-loss-declared-to-pod-gone", declared.t, old.gone if old else None)
        if pv is not None:
            lost = [a for a in timeline.attachments().get(pv, []) if a.node == story.node]
            add("node-loss-declared-to-detached", declared.t, _detached_at(lost[-1]) if lost else None)
        add("node-loss-declared-to-replacement-ready", declared.t, ready)
    return found
