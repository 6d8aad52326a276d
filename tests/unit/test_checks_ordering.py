from __future__ import annotations

from factories import NS, REV2, Recording, rules

from ordinal.checks.ordering import (
    check_ordered_scale_down,
    check_ordered_scale_up,
    check_parallel_not_serialized,
    check_rolling_update,
)
from ordinal.checks.rules import severity


def test_ordered_scale_up_passes() -> None:
    """OrderedReady MUST create 0, 1, 2, each after the previous is Running and Ready."""
    rec = Recording().up(0, 1, 2)
    assert check_ordered_scale_up(rec.timeline, "web") == []


def test_wrong_creation_order_is_reported() -> None:
    """Creating web-2 before web-1 MUST break both ascending order and readiness gating."""
    rec = Recording().up(0).create(2).ready(2).create(1).ready(1)
    findings = check_ordered_scale_up(rec.timeline, "web")
    assert [(f.rule, f.subject) for f in findings] == [
        ("ordering.created-ascending", f"pod {NS}/web-1"),
        ("ordering.created-after-ready", f"pod {NS}/web-2"),
    ]
    assert findings[0].expected == "an ordinal above 2 after web-2"
    assert findings[0].seen == "web-1 created at +0.500s, after web-2 at +0.300s"
    assert findings[1].seen == "at +0.300s: web-1 absent"


def test_creation_before_predecessor_ready_is_reported() -> None:
    """web-1 MUST NOT appear while web-0 is still Pending."""
    rec = Recording().create(0).create(1).ready(0).ready(1)
    (finding,) = check_ordered_scale_up(rec.timeline, "web")
    assert finding.rule == "ordering.created-after-ready"
    assert finding.subject == f"pod {NS}/web-1"
    assert finding.expected == "ordinals 0..0 Running+Ready before web-1 is created"
    assert finding.seen == "at +0.200s: web-0 phase=Pending ready=False"


def test_min_ready_seconds_gates_creation() -> None:
    """With minReadySeconds=5 the next pod MUST wait until its predecessor was Ready that long."""
    hasty = Recording().up(0).wait(2).create(1)
    (finding,) = check_ordered_scale_up(hasty.timeline, "web", min_ready_seconds=5)
    assert finding.rule == "ordering.created-after-ready"
    assert "web-0 Ready for only 2.100s" in finding.seen
    assert finding.expected == "ordinals 0..0 Running+Ready for ≥5s before web-1 is created"
    patient = Recording().up(0).wait(5).create(1)
    assert check_ordered_scale_up(patient.timeline, "web", min_ready_seconds=5) == []


def test_unhealthy_pod_halts_creation_above_it_but_not_below() -> None:
    """An unready web-1 MUST stop web-2 from being created; refilling web-0 below it is allowed."""
    rec = Recording().up(0, 1).unready(1)
    since = rec.t
    rec.delete(0).gone(0).create(0).ready(0)
    assert check_ordered_scale_up(rec.timeline, "web", since=since) == []
    rec.create(2)
    (finding,) = check_ordered_scale_up(rec.timeline, "web", since=since)
    assert finding.rule == "ordering.created-after-ready"
    assert finding.subject == f"pod {NS}/web-2"
    assert "web-1 phase=Running ready=False" in finding.seen


def test_start_ordinal_shifts_the_gate() -> None:
    """With ordinals.start=3, web-3 has no predecessor and web-4 waits for web-3."""
    rec = Recording().up(3, 4)
    assert check_ordered_scale_up(rec.timeline, "web", start=3) == []


def test_ordered_scale_down_passes() -> None:
    """Scaling 3→1 MUST delete web-2 then web-1, each once the previous is gone."""
    rec = Recording().up(0, 1, 2)
    since = rec.t
    rec.down(2, 1)
    assert check_ordered_scale_down(rec.timeline, "web", replicas=1, since=since) == []


def test_wrong_deletion_order_is_reported() -> None:
    """Deleting web-1 before web-2 MUST be reported."""
    rec = Recording().up(0, 1, 2)
    since = rec.t
    rec.down(1, 2)
    (finding,) = check_ordered_scale_down(rec.timeline, "web", replicas=1, since=since)
    assert finding.rule == "ordering.deleted-descending"
    assert finding.subject == f"pod {NS}/web-2"
    assert finding.expected == "an ordinal below 1 after web-1"


def test_concurrent_deletions_are_reported() -> None:
    """web-1 MUST NOT be deleted while web-2 is still terminating."""
    rec = Recording().up(0, 1, 2)
    since = rec.t
    rec.delete(2).delete(1).gone(2).gone(1)
    (finding,) = check_ordered_scale_down(rec.timeline, "web", replicas=1, since=since)
    assert finding.rule == "ordering.deleted-one-at-a-time"
    assert finding.subject == f"pod {NS}/web-1"
    assert finding.expected == "web-2 gone before web-1 is deleted"
    assert finding.seen == "web-1 deleted at +0.800s; web-2 gone at +0.900s"


def test_scale_down_halts_behind_an_unhealthy_pod() -> None:
    """With web-0 unready, scaling 3→1 MUST NOT delete anything."""
    rec = Recording().up(0, 1, 2).unready(0)
    since = rec.t
    rec.down(2)
    (finding,) = check_ordered_scale_down(rec.timeline, "web", replicas=1, since=since)
    assert finding.rule == "ordering.halted-behind-unhealthy"
    assert "web-0 phase=Running ready=False" in finding.seen


def test_scale_to_zero_with_all_unready_deletes_nothing() -> None:
    """All pods unready, 3→0: deleting web-2 MUST be reported (web-0 is the lowest unhealthy)."""
    rec = Recording().up(0, 1, 2).unready(0).unready(1).unready(2)
    since = rec.t
    rec.delete(2)
    (finding,) = check_ordered_scale_down(rec.timeline, "web", replicas=0, since=since)
    assert finding.rule == "ordering.halted-behind-unhealthy"
    assert "web-0" in finding.seen and "web-1" in finding.seen


def _rollout(order: tuple[int, ...], *, wait_ready: bool = True) -> tuple[Recording, float]:
    rec = Recording().up(0, 1, 2)
    since = rec.t
    for i in order:
        rec.delete(i).gone(i).create(i, revision=REV2)
        if wait_ready:
            rec.ready(i)
    return rec, since


def test_rolling_update_passes() -> None:
    """A rolling update MUST replace web-2, web-1, web-0 in turn, each after the last is Ready."""
    rec, since = _rollout((2, 1, 0))
    assert check_rolling_update(rec.timeline, "web", replicas=3, update_revision=REV2, since=since) == []


def test_rolling_update_out_of_order_is_reported() -> None:
    """Replacing web-0 first MUST be reported."""
    rec, since = _rollout((0, 2, 1))
    findings = check_rolling_update(rec.timeline, "web", replicas=3, update_revision=REV2, since=since)
    assert rules(findings) == ["ordering.update-descending"]
    assert findings[0].subject == f"pod {NS}/web-2"
    assert findings[0].expected == "an ordinal below 0 after web-0"


def test_rolling_update_that_does_not_wait_is_reported() -> None:
    """Deleting web-1 while the new web-2 is not Ready MUST be reported."""
    rec, since = _rollout((2, 1), wait_ready=False)
    (finding,) = check_rolling_update(rec.timeline, "web", replicas=3, update_revision=REV2, since=since)
    assert finding.rule == "ordering.update-one-at-a-time"
    assert finding.subject == f"pod {NS}/web-1"
    assert "web-2 phase=Pending ready=False" in finding.seen


def test_rolling_update_below_partition_is_reported() -> None:
    """With partition=2 only web-2 may be replaced."""
    rec, since = _rollout((2, 1))
    (finding,) = check_rolling_update(rec.timeline, "web", replicas=3, update_revision=REV2, partition=2, since=since)
    assert finding.rule == "ordering.update-below-partition"
    assert finding.subject == f"pod {NS}/web-1"
    assert finding.expected == "only ordinals ≥ 2 (start 0 + partition 2) replaced"


def test_max_unavailable_allows_a_batch_but_not_more() -> None:
    """maxUnavailable=2 MUST allow two pods down together and no third."""
    rec = Recording().up(0, 1, 2)
    since = rec.t
    rec.delete(2).delete(1)
    kw = {"replicas": 3, "update_revision": REV2, "since": since}
    assert check_rolling_update(rec.timeline, "web", max_unavailable=2, **kw) == []  # type: ignore[arg-type]
    rec.delete(0)
    (finding,) = check_rolling_update(rec.timeline, "web", max_unavailable=2, **kw)  # type: ignore[arg-type]
    assert finding.rule == "ordering.update-one-at-a-time"
    assert finding.subject == f"pod {NS}/web-0"


def test_parallel_burst_passes() -> None:
    """Parallel MUST be allowed to create every pod at once."""
    rec = Recording().create(0).create(1).create(2).ready(0).ready(1).ready(2)
    assert check_parallel_not_serialized(rec.timeline, "web") == []


def test_parallel_that_serialized_is_info_only() -> None:
    """Parallel creating pods one by one after readiness MUST be reported as info, not as a failure."""
    rec = Recording().up(0, 1, 2)
    (finding,) = check_parallel_not_serialized(rec.timeline, "web")
    assert finding.rule == "ordering.parallel-serialized"
    assert severity(finding.rule) == "info"
    assert finding.subject == f"statefulset {NS}/web"
    assert len(finding.seen) == 2
