"""Attachment checks: a single-writer CSI volume follows its pod, on one node at a time; detach and attach figures.

Each timeline is played the way the attach/detach controller, the external-attacher, the
StatefulSet controller and the kubelet would make it change, from the project's factories.
"""

from __future__ import annotations

import pytest
from factories import (
    CSI_DRIVER,
    NS,
    Recording,
    VolumeStory,
    csi_pv,
    pod,
    pvc,
    rules,
    statefulset,
    volume_attachment,
)
from fakes import FakeKube

from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.attachments import (
    attach_figures,
    check_attachments,
    check_expanded,
    check_single_pod_claims,
    moves,
    single_writer_claims,
)
from ordinal.errors import InvariantViolated
from ordinal.kube.manifests import statefulset_manifest
from ordinal.kube.rest import VOLUME_ATTACHMENTS
from ordinal.observe.recorder import ATTACHMENTS, CLUSTER_WIDE, HELD_PER_ATTACHMENT, NAMESPACED, Recorder
from ordinal.types import Finding

CLAIM = "data-web-1"
ATTACHING = {CSI_DRIVER}


class Story(VolumeStory):
    def check(self) -> list[Finding]:
        return check_attachments(self.rec.timeline, NS, [CLAIM], attaching=ATTACHING)


def _moved(*, overlap: bool = False) -> Story:
    """web-1 runs on n1, is deleted and comes back on n2; with ``overlap`` n2 attaches before n1 detaches."""
    story = Story()
    story.rec.create(1, node="n1")
    story.attach("n1")
    story.rec.ready(1).delete(1).gone(1)
    story.rec.wait(1.0)
    if overlap:
        story.rec.create(1, node="n2")
        story.attach("n2")
        story.detach("n1")
    else:
        story.detach("n1")
        story.rec.create(1, node="n2")
        story.attach("n2")
    story.rec.ready(1)
    return story


def test_a_volume_that_follows_its_pod_one_node_at_a_time_holds() -> None:
    """A claim whose attachment moves with its pod, the old one gone before the new one is attached, MUST pass."""
    assert _moved().check() == []


def test_a_volume_attached_to_two_nodes_at_once_is_named_with_both_nodes_and_times() -> None:
    """The new node's attachment reporting attached while the old one still is MUST be reported."""
    story = _moved(overlap=True)
    (finding,) = story.check()
    assert finding.rule == "storage.attached-to-one-node" and finding.subject == f"pvc {NS}/{CLAIM}"
    assert f"pv {story.pv}" in finding.expected
    assert (
        "attached to n1 (csi-" in finding.seen
        and "and to n2 (csi-" in finding.seen
        and "at once, until" in finding.seen
    )
    with pytest.raises(InvariantViolated, match="attached-to-one-node"):
        assert_no_findings([finding], what="attachment", timeline=story.rec.timeline)


def test_a_pod_that_ran_where_its_volume_was_never_attached_is_reported() -> None:
    """web-1 Running on n2 while the only attachment names n1 MUST break 'attachment follows the pod'."""
    story = Story()
    story.rec.create(1, node="n1")
    story.attach("n1")
    story.rec.ready(1).delete(1).gone(1)
    story.rec.create(1, node="n2").ready(1)
    (finding,) = story.check()
    assert finding.rule == "storage.attachment-follows-pod"
    assert "attached to n2, where pod web-1" in finding.expected and "on n1" in finding.seen


def test_a_pod_with_no_attachment_at_all_is_reported() -> None:
    story = Story()
    story.rec.create(1, node="n1").ready(1)
    (finding,) = story.check()
    assert finding.rule == "storage.attachment-follows-pod" and finding.seen == f"no VolumeAttachment for pv {story.pv}"


def test_a_pending_pod_needs_no_attachment() -> None:
    """A pod that never ran (Pending, no node) MUST NOT need an attachment."""
    story = Story()
    story.rec.create(1, node="n1")
    assert story.check() == []


def test_a_claim_whose_volume_is_not_attached_by_a_csi_driver_is_not_passed_silently() -> None:
    """Judging a claim on a hostPath/local PV MUST say it could not be judged, not pass it."""
    story = Story(csi=False)
    story.rec.create(1, node="n1").ready(1)
    (finding,) = story.check()
    assert finding.rule == "storage.attachment-recorded" and finding.seen == f"pv {story.pv} not CSI"
    other = check_attachments(story.rec.timeline, NS, [CLAIM], attaching=set())
    assert rules(other) == ["storage.attachment-recorded"]


def test_an_attach_error_that_recovered_is_information_not_a_failure() -> None:
    story = Story()
    story.rec.create(1, node="n1")
    story.attach("n1", error="rpc error: code = Unavailable")
    story.rec.ready(1)
    (finding,) = story.check()
    assert finding.rule == "storage.attach-error" and "attach: rpc error" in finding.seen
    assert assert_no_findings([finding], what="attachment") == [finding]


def test_detach_and_attach_times_of_a_move_are_measured_from_the_timeline() -> None:
    """Detach: old pod gone → old attachment gone. Attach: new attachment created → attached."""
    story = _moved()
    (move,) = moves(story.rec.timeline, NS, [CLAIM])
    assert (move.claim, move.pv, move.old_node, move.new_node) == (CLAIM, story.pv, "n1", "n2")
    # gone at t, then 1.0 s wait, deletion asked, detached, DELETED (0.1 s apart): 1.3 s
    assert move.detach_seconds == pytest.approx(1.3) and move.attach_seconds == pytest.approx(0.1)
    figures = attach_figures(story.rec.timeline, NS, [CLAIM], context="after-delete")
    assert sorted(name for name, _ in figures) == ["attach-after-delete", "attach-after-delete", "detach-after-delete"]
    fault = story.rec.timeline.incarnations("web-1")[0].deletion_requested
    assert fault is not None
    after = attach_figures(story.rec.timeline, NS, [CLAIM], context="after-delete", since=fault.t)
    assert after == [("attach-after-delete", pytest.approx(0.1)), ("detach-after-delete", pytest.approx(1.3))]


def test_no_move_means_no_detach_figure() -> None:
    """A pod back on the same node keeps its attachment: nothing detached, nothing to time."""
    story = Story()
    story.rec.create(1, node="n1")
    story.attach("n1")
    story.rec.ready(1).delete(1).gone(1).create(1, node="n1").ready(1)
    assert moves(story.rec.timeline, NS, [CLAIM]) == []
    assert story.check() == []


def test_only_single_writer_claim_templates_are_judged() -> None:
    """ReadWriteOnce and ReadWriteOncePod claims are judged; ReadWriteMany ones are not."""
    rwx = statefulset_manifest("web", NS, replicas=2, access_modes=("ReadWriteMany",))
    rwop = statefulset_manifest("web", NS, replicas=2, access_modes=("ReadWriteOncePod",))
    assert single_writer_claims(rwx) == []
    assert single_writer_claims(rwop) == ["data-web-0", "data-web-1"]
    assert single_writer_claims(statefulset(replicas=3), ordinals=[2]) == ["data-web-2"]


def test_the_timeline_keeps_what_the_attachment_checks_read() -> None:
    """Attachments join PVs, claims and pods in the timeline and its excerpt."""
    story = _moved()
    timeline = story.rec.timeline
    assert timeline.claim_volumes(NS) == {CLAIM: story.pv} and timeline.volume_drivers() == {story.pv: CSI_DRIVER}
    first, second = timeline.attachments()[story.pv]
    assert (first.node, second.node) == ("n1", "n2") and first.gone is not None and second.gone is None
    assert [p.node for p in timeline.claim_users(NS)[CLAIM]] == ["n1", "n2"]
    excerpt = timeline.excerpt(names=["web-1"])
    assert "VolumeAttachment csi-" in excerpt and "attached=True" in excerpt and "claims=data-web-1" in excerpt


def test_the_recorder_keeps_only_the_namespaces_attachments_even_when_they_arrive_first() -> None:
    """An attachment seen before the claim that ties it to the namespace MUST be recorded once that claim is;
    another namespace's attachments MUST NOT be recorded, and are forgotten once deleted."""
    claim = pvc(1)
    volume = csi_pv(claim)
    ours = volume_attachment(volume["metadata"]["name"], "n1")
    theirs = volume_attachment("pvc-elsewhere", "n1")
    clock = iter(float(t) for t in range(100))
    recorder = Recorder(FakeKube(), NS, kinds=(*NAMESPACED, *CLUSTER_WIDE, *ATTACHMENTS), clock=lambda: next(clock))
    recorder.relist(VOLUME_ATTACHMENTS, [ours, theirs], None)  # t=0: neither PV known yet
    recorder.record("MODIFIED", {**theirs, "metadata": {**theirs["metadata"], "resourceVersion": "2"}})
    assert len(recorder.timeline) == 0 and recorder.scope.held == 2
    recorder.record("ADDED", claim)  # bound to the volume: ours is released, at its own time
    kinds = [(e.kind, e.mark.t) for e in recorder.timeline.entries]
    assert kinds == [("PersistentVolumeClaim", 3.0), ("VolumeAttachment", 1.0)]  # t0 took 0, the list 1
    recorder.record("DELETED", theirs)
    assert recorder.scope.held == 0
    attached = {**ours, "metadata": {**ours["metadata"], "resourceVersion": "3"}, "status": {"attached": True}}
    recorder.record("MODIFIED", attached)
    (only,) = recorder.timeline.attachments()[volume["metadata"]["name"]]
    assert only.attached_at is not None and only.seconds_to_attach() == 4.0


def test_an_attachment_held_for_an_unknown_volume_keeps_only_its_last_events() -> None:
    """Held events are bounded per attachment, so a busy cluster's attachments cost no more than they number."""
    recorder = Recorder(FakeKube(), NS)
    va = volume_attachment("pvc-elsewhere", "n1")
    for rv in range(20):
        recorder.record("MODIFIED", {**va, "metadata": {**va["metadata"], "resourceVersion": str(rv)}})
    assert recorder.scope.held == 1
    assert sum(len(e) for per_pv in recorder.scope._held.values() for e in per_pv.values()) == HELD_PER_ATTACHMENT


def _second_pod(rec: Recording, *, node: str | None) -> None:
    """A bare pod ``second`` that mounts web-0's claim, as the test creates it; bound to ``node`` if given."""
    p = pod(0, uid="uid-second", phase="Pending", ready=False, node=node, owner=False)
    p["metadata"]["name"] = "second"
    rec.emit("ADDED", p)


def test_a_read_write_once_pod_claim_that_kept_the_second_pod_off_holds() -> None:
    """The second pod staying unbound (Pending) while web-0 runs MUST pass."""
    rec = Recording().create(0, node="n1").ready(0)
    _second_pod(rec, node=None)
    assert check_single_pod_claims(rec.timeline, NS, ["data-web-0"]) == []


def test_a_second_pod_bound_to_a_node_while_the_first_uses_the_claim_is_reported() -> None:
    rec = Recording().create(0, node="n1").ready(0)
    _second_pod(rec, node="n2")
    (finding,) = check_single_pod_claims(rec.timeline, NS, ["data-web-0"])
    assert finding.rule == "storage.single-pod-claim" and finding.subject == f"pvc {NS}/data-web-0"
    assert "second bound to n2" in finding.seen and "while web-0 was on n1" in finding.seen


def test_the_second_pod_may_take_the_claim_once_the_first_is_gone() -> None:
    rec = Recording().create(0, node="n1").ready(0).delete(0).gone(0)
    _second_pod(rec, node="n1")
    assert check_single_pod_claims(rec.timeline, NS, ["data-web-0"]) == []


def test_the_second_pod_may_take_the_claim_once_the_first_has_ended() -> None:
    """A terminating pod whose containers stopped (phase Succeeded) no longer holds the claim, as the scheduler
    sees it; one still Running does."""
    rec = Recording().create(0, node="n1").ready(0).delete(0)
    _second_pod(rec, node="n1")
    assert rules(check_single_pod_claims(rec.timeline, NS, ["data-web-0"])) == ["storage.single-pod-claim"]
    ended = Recording().create(0, node="n1").ready(0).delete(0)
    ended._change(0, None, "MODIFIED", lambda p, _: p["status"].update(phase="Succeeded"))
    _second_pod(ended, node="n1")
    assert check_single_pod_claims(ended.timeline, NS, ["data-web-0"]) == []


def test_an_expanded_claim_must_show_the_new_size_to_the_api_and_to_the_pod() -> None:
    """status.capacity and the pod's df MUST each reach the size asked for; a bigger filesystem is fine."""
    claim = pvc(0)
    claim["status"]["capacity"] = {"storage": "2Mi"}
    assert check_expanded(claim, 2 * 1024 * 1024, 10 * 1024**3) == []
    findings = check_expanded(claim, 4 * 1024 * 1024, 3 * 1024 * 1024)
    assert [(f.rule, f.path, f.seen) for f in findings] == [
        ("storage.claim-expanded", "status.capacity.storage", 2 * 1024 * 1024),
        ("storage.claim-expanded", "the mounted filesystem's size (df)", 3 * 1024 * 1024),
    ]
    assert findings[0].subject == f"pvc {NS}/data-web-0"
