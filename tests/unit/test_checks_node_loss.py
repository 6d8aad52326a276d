"""Node-loss checks: a pod on a stopped node is replaced only after the node is declared off, its volume too.

Each timeline is played the way the node lifecycle controller, the taint manager, PodGC, the
attach/detach controller and the StatefulSet controller make it change when a real node stops.
"""

from __future__ import annotations

import pytest
from factories import NS, VolumeStory, rules

from ordinal.checks.identity import check_at_most_one_live
from ordinal.checks.node_loss import check_lost_node, lost_node, node_loss_figures
from ordinal.labels import OUT_OF_SERVICE_TAINT, UNREACHABLE_TAINT
from ordinal.types import Finding

LOST, SIBLING = "n1", "n2"
OLD_UID = "uid-web-1-1"


class NodeLoss(VolumeStory):
    """web-1 on n1 with its CSI volume attached there; n1 stops at :attr:`fault`."""

    def __init__(self) -> None:
        super().__init__()
        self.rec.node(LOST).node(SIBLING)
        self.rec.create(1, node=LOST)
        self.attach(LOST)
        self.rec.ready(1)
        self.fault = self.rec.t
        self.rec.wait(20.0)

    def unreachable(self) -> NodeLoss:
        self.rec.node(LOST, ready="Unknown", taints=[UNREACHABLE_TAINT])
        return self

    def evicted(self) -> NodeLoss:
        self.rec.wait(2.0).delete(1, grace=10)
        return self

    def declared(self) -> NodeLoss:
        self.rec.wait(5.0).node(LOST, ready="Unknown", taints=[UNREACHABLE_TAINT, OUT_OF_SERVICE_TAINT])
        return self

    def force_deleted(self) -> NodeLoss:
        self.rec.wait(10.0).gone(1, grace=0)
        return self

    def replaced(self) -> NodeLoss:
        self.rec.create(1, node=SIBLING)
        self.attach(SIBLING)
        self.rec.wait(3.0).ready(1)
        return self

    def story_findings(self) -> list[Finding]:
        story = lost_node(self.rec.timeline, node=LOST, namespace=NS, pod="web-1", old_uid=OLD_UID, since=self.fault)
        return check_lost_node(self.rec.timeline, story, pv=self.pv)


def _as_promised() -> NodeLoss:
    """Unreachable, evicted (Terminating), declared out of service, force-deleted, force-detached, replaced."""
    loss = NodeLoss().unreachable().evicted().declared().force_deleted()
    loss.detach(LOST)
    return loss.replaced()


def test_a_pod_replaced_only_after_the_out_of_service_taint_keeps_every_promise() -> None:
    """The whole story as Kubernetes promises it MUST yield no finding, and no identity overlap."""
    loss = _as_promised()
    assert loss.story_findings() == []
    assert check_at_most_one_live(loss.rec.timeline, set_name="web", namespace=NS) == []


def test_figures_time_each_step_from_the_fault_and_from_the_taint() -> None:
    loss = _as_promised()
    timeline = loss.rec.timeline
    story = lost_node(timeline, node=LOST, namespace=NS, pod="web-1", old_uid=OLD_UID, since=loss.fault)
    figures = dict(node_loss_figures(timeline, story, loss.pv))
    assert set(figures) == {
        "node-loss-to-not-ready",
        "node-loss-to-terminating",
        "node-loss-to-replacement-ready",
        "node-loss-declared-to-pod-gone",
        "node-loss-declared-to-detached",
        "node-loss-declared-to-replacement-ready",
    }
    assert figures["node-loss-to-not-ready"] == pytest.approx(20.1)
    assert figures["node-loss-declared-to-pod-gone"] == pytest.approx(10.1)
    assert figures["node-loss-to-not-ready"] < figures["node-loss-to-terminating"]
    assert figures["node-loss-to-replacement-ready"] > figures["node-loss-declared-to-replacement-ready"] > 0


def test_a_replacement_before_the_node_is_declared_off_is_named_with_its_node_and_time() -> None:
    """A second web-1 while the lost node could still run the first MUST break the promise, naming both."""
    loss = NodeLoss().unreachable().evicted()
    loss.rec.wait(1.0).gone(1, grace=0)  # someone force-deleted it; nobody declared the node off
    loss.replaced()
    found = loss.story_findings()
    assert rules(found) == [
        "node-loss.kept-until-declared",
        "node-loss.not-replaced-while-unconfirmed",
        "node-loss.volume-stays-on-lost-node",
    ]
    replaced = found[1]
    assert "uid uid-web-1-2 appeared at" in replaced.seen and f"on node {SIBLING}" in replaced.seen
    assert "(never)" in replaced.expected
    assert f"attached to {SIBLING}" in found[2].seen
    overlap = check_at_most_one_live(loss.rec.timeline, set_name="web", namespace=NS)
    assert rules(overlap) == ["identity.overlap-after-force-delete"]  # forced without the taint: reported


def test_a_volume_detached_from_the_lost_node_before_the_taint_is_reported() -> None:
    """Detaching while nobody could confirm the unmount MUST be reported, with when it happened."""
    loss = NodeLoss().unreachable().evicted()
    loss.detach(LOST)
    loss.declared().force_deleted().replaced()
    (finding,) = loss.story_findings()
    assert finding.rule == "node-loss.volume-stays-on-lost-node" and finding.subject == f"pv {loss.pv}"
    assert finding.seen.startswith(f"detached from {LOST} at +")


def test_a_node_never_seen_not_ready_and_a_pod_never_evicted_are_reported() -> None:
    loss = NodeLoss().declared().force_deleted()
    loss.detach(LOST)
    loss.replaced()
    found = loss.story_findings()
    assert rules(found) == ["node-loss.pod-terminating"]  # the taint itself makes the node not Ready here
    quiet = NodeLoss()
    assert rules(quiet.story_findings()) == ["node-loss.node-not-ready", "node-loss.pod-terminating"]


def test_no_replacement_once_declared_is_reported() -> None:
    loss = NodeLoss().unreachable().evicted().declared().force_deleted()
    loss.detach(LOST)
    (finding,) = loss.story_findings()
    assert finding.rule == "node-loss.replaced-after-declared" and finding.seen == "none"


def test_a_class_that_does_not_attach_is_judged_without_attachments() -> None:
    """Without a PV to judge (hostPath, local volumes) the pod's promises are still judged, nothing else."""
    loss = NodeLoss().unreachable().evicted().declared().force_deleted().replaced()
    story = lost_node(loss.rec.timeline, node=LOST, namespace=NS, pod="web-1", old_uid=OLD_UID, since=loss.fault)
    assert check_lost_node(loss.rec.timeline, story, pv=None) == []


def test_a_volume_pinned_to_the_lost_node_brings_the_pod_back_there_once_the_node_is() -> None:
    """With no other node for the volume the replacement MUST come back at all, on the lost node once it is back."""
    loss = NodeLoss().unreachable().evicted().declared().force_deleted()
    loss.rec.wait(30.0).node(LOST).create(1, node=LOST)
    loss.rec.wait(3.0).ready(1)
    story = lost_node(loss.rec.timeline, node=LOST, namespace=NS, pod="web-1", old_uid=OLD_UID, since=loss.fault)
    assert check_lost_node(loss.rec.timeline, story, elsewhere=False) == []
    (moved,) = check_lost_node(loss.rec.timeline, story)
    assert moved.rule == "node-loss.replaced-after-declared" and "on another node than n1" in moved.expected
