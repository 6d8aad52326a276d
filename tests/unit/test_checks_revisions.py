from __future__ import annotations

from factories import NS, REV1, REV2, controller_revision, pod, pods, rules, statefulset

from ordinal.checks.revisions import check_on_delete, check_partition, check_revision_status, check_rollback


def canary(partition: int, revisions: tuple[str, ...], **status: int) -> tuple[dict, list[dict]]:
    sts = statefulset(
        partition=partition, current=REV1, update=REV2, status={"updatedReplicas": 3 - partition, **status}
    )
    return sts, [pod(i, revision=rev) for i, rev in enumerate(revisions)]


def test_partition_canary_passes() -> None:
    """With partition=2 only web-2 MUST run the update; web-0 and web-1 stay on the current revision."""
    sts, members = canary(2, (REV1, REV1, REV2))
    assert check_partition(sts, members) == []


def test_partition_violated_is_reported() -> None:
    """web-1 running the update below partition=2 MUST be reported with both revisions."""
    sts, members = canary(2, (REV1, REV2, REV2))
    (finding,) = check_partition(sts, members)
    assert finding.rule == "revisions.partition-pinned"
    assert finding.subject == f"pod {NS}/web-1"
    assert finding.path == "metadata.labels['controller-revision-hash']"
    assert (finding.expected, finding.seen) == (REV1, f"{REV2} (the update revision: updated below partition 2)")


def test_partition_not_reached_is_reported_only_at_rest() -> None:
    """An outdated web-2 above the partition MUST be reported at rest, not mid-rollout."""
    sts, members = canary(2, (REV1, REV1, REV1), updatedReplicas=0)
    assert check_partition(sts, members, settled=False) == []
    assert rules(check_partition(sts, members)) == [
        "revisions.partition-updated",
        "revisions.updated-replicas",
    ]


def test_partition_counts_from_the_start_ordinal() -> None:
    """With start=5 and partition=2 only ordinals ≥ 7 MUST be updated."""
    sts = statefulset(start=5, partition=2, current=REV1, update=REV2, status={"updatedReplicas": 1})
    members = [pod(5, revision=REV1), pod(6, revision=REV1), pod(7, revision=REV2)]
    assert check_partition(sts, members) == []
    members[1] = pod(6, revision=REV2)
    assert rules(check_partition(sts, members)) == ["revisions.partition-pinned"]


def test_partition_above_replicas_updates_nothing() -> None:
    """partition > replicas MUST leave every pod on the current revision and updatedReplicas at 0."""
    sts, members = canary(4, (REV1, REV1, REV1), updatedReplicas=0)
    assert check_partition(sts, members) == []


def test_on_delete_replaces_only_deleted_pods() -> None:
    """OnDelete MUST replace only the pod the user deleted, and bring it back at updateRevision."""
    sts = statefulset(strategy="OnDelete", current=REV1, update=REV2)
    before = pods(3)
    after = [pod(0), pod(1, uid="uid-web-1-b", revision=REV2), pod(2)]
    assert check_on_delete(sts, before, after, deleted={"web-1"}) == []


def test_on_delete_violations_are_reported() -> None:
    """A pod replaced without being deleted, or returning at the old revision, MUST be reported."""
    sts = statefulset(strategy="OnDelete", current=REV1, update=REV2)
    before = pods(3)
    after = [pod(0, uid="uid-web-0-b", revision=REV2), pod(1, uid="uid-web-1-b", revision=REV1), pod(2)]
    findings = check_on_delete(sts, before, after, deleted={"web-1"})
    assert [(f.rule, f.subject) for f in findings] == [
        ("revisions.on-delete-untouched", f"pod {NS}/web-0"),
        ("revisions.on-delete-replaced-updated", f"pod {NS}/web-1"),
    ]
    assert findings[1].expected == REV2 and findings[1].seen == REV1


def test_rollback_reuses_the_earlier_revision() -> None:
    """Reverting the template MUST make the earlier revision the update revision again, creating none."""
    sts = statefulset(current=REV2, update=REV1)
    before = [controller_revision(REV1, sts, 1), controller_revision(REV2, sts, 2)]
    after = [controller_revision(REV1, sts, 3), controller_revision(REV2, sts, 2)]
    assert check_rollback(REV1, sts, revisions_before=before, revisions_after=after) == []


def test_rollback_with_a_new_revision_is_reported() -> None:
    """A rollback that minted a new revision MUST be reported on status and on the revision list."""
    sts = statefulset(current=REV2, update="web-99999")
    before = [controller_revision(REV1, sts, 1), controller_revision(REV2, sts, 2)]
    after = [*before, controller_revision("web-99999", sts, 3)]
    findings = check_rollback(REV1, sts, revisions_before=before, revisions_after=after)
    assert [(f.rule, f.path) for f in findings] == [
        ("revisions.rollback-reuses", "status.updateRevision"),
        ("revisions.rollback-reuses", "controllerrevisions"),
        ("revisions.rollback-reuses", "revision"),
    ]
    assert findings[0].expected == REV1 and findings[0].seen == "web-99999"
    assert findings[1].seen == ["web-99999"]


def test_revision_status_at_rest_passes() -> None:
    """A settled set MUST have observed its generation, matching counts and current = update."""
    assert check_revision_status(statefulset(generation=4), pods(3)) == []


def test_revision_status_mismatches_are_reported() -> None:
    """Lagging generation, unknown revisions, wrong counts and a stuck currentRevision MUST be reported."""
    sts = statefulset(generation=4, observed=3, current=REV1, update=REV2, status={"updatedReplicas": 3})
    members = [pod(0, revision=REV2), pod(1, revision="web-stray"), pod(2, revision=REV2)]
    findings = check_revision_status(sts, members)
    assert rules(findings) == [
        "revisions.observed-generation",
        "revisions.pod-revision-known",
        "revisions.status-counts",
        "revisions.current-equals-update",
    ]
    assert findings[1].subject == f"pod {NS}/web-1"
    assert findings[2].path == "status.updatedReplicas" and (findings[2].expected, findings[2].seen) == (2, 3)
    assert rules(check_revision_status(sts, members, settled=False)) == ["revisions.observed-generation"]


def test_on_delete_never_advancing_current_is_not_a_finding() -> None:
    """OnDelete's currentRevision quirk MUST NOT be reported as a stuck rollout."""
    sts = statefulset(
        strategy="OnDelete", current=REV1, update=REV2, status={"updatedReplicas": 3, "currentReplicas": 0}
    )
    assert check_revision_status(sts, pods(3, revision=REV2)) == []
