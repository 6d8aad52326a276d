from __future__ import annotations

import pytest
from factories import NS, pod, pvc, pvcs, rules, set_ref, statefulset

from ordinal.checks.retention import (
    check_after_scale_down,
    check_after_set_deleted,
    check_claim_owner_refs,
    expected_after_scale_down,
    expected_after_set_deleted,
    retention_policy,
)
from ordinal.kube.manifests import Retention
from ordinal.types import Obj


def owned_claims(sts: Obj, n: int) -> list[Obj]:
    """Claims as the controller leaves them for the set's policy (set ref only for whenDeleted=Delete)."""
    owners = [set_ref(sts)] if retention_policy(sts)[0] == "Delete" else []
    return pvcs(n, owners=owners)


def test_default_policy_is_retain_retain() -> None:
    """Without a policy both whenDeleted and whenScaled MUST read as Retain."""
    assert retention_policy(statefulset()) == ("Retain", "Retain")
    assert retention_policy(statefulset(retention=("Delete", "Retain"))) == ("Delete", "Retain")


@pytest.mark.parametrize(
    ("policy", "survivors"),
    [
        (("Retain", "Retain"), 3),
        (("Delete", "Retain"), 0),
        (("Retain", "Delete"), 3),
        (("Delete", "Delete"), 0),
    ],
    ids=["retain-retain", "delete-retain", "retain-delete", "delete-delete"],
)
def test_set_deletion_follows_when_deleted(policy: Retention, survivors: int) -> None:
    """Deleting the set MUST keep every claim under whenDeleted=Retain and remove them under Delete."""
    sts = statefulset(retention=policy)
    before = owned_claims(sts, 3)
    assert check_after_set_deleted(sts, before, before[:survivors]) == []


def test_claims_kept_despite_when_deleted_delete_are_reported() -> None:
    """A claim surviving whenDeleted=Delete MUST be reported by name."""
    sts = statefulset(retention=("Delete", "Retain"))
    before = owned_claims(sts, 3)
    (finding,) = check_after_set_deleted(sts, before, [before[1]])
    assert finding.rule == "retention.when-deleted"
    assert finding.subject == f"pvc {NS}/data-web-1"
    assert (finding.expected, finding.seen) == ("removed (policy Delete)", "kept")


def test_claims_lost_despite_retain_are_reported() -> None:
    """A claim gone (or recreated empty) after deleting a Retain set MUST be reported."""
    sts = statefulset()
    before = pvcs(3)
    after = [before[0], pvc(1, uid="uid-fresh")]
    findings = check_after_set_deleted(sts, before, after)
    assert [(f.subject, f.seen) for f in findings] == [
        (f"pvc {NS}/data-web-1", "replaced by a new claim uid=uid-fresh"),
        (f"pvc {NS}/data-web-2", "gone"),
    ]
    assert findings[0].expected == "kept uid=uid-data-web-1 (policy Retain)"


def test_terminating_claim_counts_as_removed() -> None:
    """A claim held by pvc-protection (terminating) MUST count as removed."""
    sts = statefulset(retention=("Delete", "Delete"))
    before = owned_claims(sts, 1)
    assert check_after_set_deleted(sts, before, [pvc(0, deleting=True)]) == []


def test_foreign_owner_keeps_the_claim() -> None:
    """A claim with another owner MUST survive whenDeleted=Delete (the GC waits for every owner)."""
    sts = statefulset(retention=("Delete", "Delete"))
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": "uid-cm"}
    before = [pvc(0, owners=[set_ref(sts)]), pvc(1, owners=[other, set_ref(sts)])]
    assert check_after_set_deleted(sts, before, [before[1]]) == []
    (finding,) = check_after_set_deleted(sts, before, [])
    assert finding.subject == f"pvc {NS}/data-web-1"
    assert "foreign owners" in finding.expected


def test_scale_down_with_when_scaled_delete_removes_only_condemned_claims() -> None:
    """Scaling 3→1 with whenScaled=Delete MUST remove data-web-1 and data-web-2 and keep data-web-0."""
    sts = statefulset(retention=("Retain", "Delete"))
    before = pvcs(3)
    assert check_after_scale_down(sts, before, before[:1], replicas_after=1) == []
    findings = check_after_scale_down(sts, before, [before[0], before[2]], replicas_after=1)
    assert [(f.rule, f.subject, f.seen) for f in findings] == [
        ("retention.when-scaled", f"pvc {NS}/data-web-2", "kept")
    ]
    findings = check_after_scale_down(sts, before, [], replicas_after=1)
    assert [(f.subject, f.expected) for f in findings] == [
        (f"pvc {NS}/data-web-0", "kept uid=uid-data-web-0 (policy Delete)")
    ]


def test_scale_down_with_retain_keeps_every_claim() -> None:
    """Scaling 3→1 with whenScaled=Retain MUST keep all three claims."""
    sts = statefulset()
    before = pvcs(3)
    assert check_after_scale_down(sts, before, before, replicas_after=1) == []
    assert rules(check_after_scale_down(sts, before, before[:2], replicas_after=1)) == ["retention.when-scaled"]


@pytest.mark.parametrize(
    "policy",
    [("Retain", "Retain"), ("Delete", "Retain"), ("Retain", "Delete"), ("Delete", "Delete")],
    ids=["retain-retain", "delete-retain", "retain-delete", "delete-delete"],
)
def test_owner_refs_in_range_follow_the_table(policy: Retention) -> None:
    """In-range claims MUST carry a set ref exactly when whenDeleted=Delete, never a pod ref."""
    sts = statefulset(retention=policy)
    assert check_claim_owner_refs(sts, owned_claims(sts, 3)) == []


def test_missing_set_ref_is_reported() -> None:
    """whenDeleted=Delete without the set ref (or with controller=false) MUST be reported."""
    sts = statefulset(retention=("Delete", "Retain"))
    claims = [pvc(0, owners=[set_ref(sts)]), pvc(1), pvc(2, owners=[set_ref(sts, controller=False)])]
    findings = check_claim_owner_refs(sts, claims)
    assert [(f.rule, f.subject) for f in findings] == [
        ("retention.owner-refs", f"pvc {NS}/data-web-1"),
        ("retention.owner-refs", f"pvc {NS}/data-web-2"),
    ]
    assert findings[0].expected == [set_ref(sts)] and findings[0].seen == []
    assert findings[1].seen[0]["controller"] is False


def test_unexpected_set_ref_under_retain_is_reported() -> None:
    """whenDeleted=Retain with a set ref MUST be reported (the GC would delete the claim)."""
    sts = statefulset()
    (finding,) = check_claim_owner_refs(sts, [pvc(0, owners=[set_ref(sts)]), *pvcs(3)[1:]])
    assert finding.expected == []


def test_condemned_claim_moves_to_its_pod() -> None:
    """Under whenScaled=Delete a condemned claim MUST be owned by its pod, not the set."""
    sts = statefulset(replicas=1, retention=("Delete", "Delete"))
    condemned = pod(1)
    pod_ref = {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": condemned["metadata"]["uid"]}
    claims = [pvc(0, owners=[set_ref(sts)]), pvc(1, owners=[pod_ref])]
    assert check_claim_owner_refs(sts, claims, condemned_pods={1: condemned}) == []
    still_set = [pvc(0, owners=[set_ref(sts)]), pvc(1, owners=[set_ref(sts)])]
    (finding,) = check_claim_owner_refs(sts, still_set, condemned_pods={1: condemned})
    assert finding.subject == f"pvc {NS}/data-web-1"
    assert finding.expected == [{"kind": "Pod", "name": "web-1", "uid": "uid-web-1-a"}]


def test_claims_the_controller_leaves_alone_are_skipped() -> None:
    """Claims with a foreign controller or a stale set ref MUST NOT be judged."""
    sts = statefulset(retention=("Delete", "Retain"))
    foreign = {"apiVersion": "v1", "kind": "Other", "name": "x", "uid": "u", "controller": True}
    stale = set_ref(sts, uid="uid-older-web")
    claims = [pvc(0, owners=[set_ref(sts)]), pvc(1, owners=[foreign]), pvc(2, owners=[stale])]
    assert check_claim_owner_refs(sts, claims) == []


def test_expected_fates_name_the_claims_to_wait_for() -> None:
    """The expected kept/removed claims MUST follow the policy, so waiters know what to wait for."""
    sts = statefulset(retention=("Delete", "Delete"))
    before = owned_claims(sts, 3)
    gone_all = expected_after_set_deleted(sts, before)
    assert gone_all.kept == () and gone_all.removed == ("data-web-0", "data-web-1", "data-web-2")
    scaled = expected_after_scale_down(sts, before, replicas_after=1)
    assert scaled.kept == ("data-web-0",) and scaled.removed == ("data-web-1", "data-web-2")
    retained = expected_after_scale_down(statefulset(start=2), pvcs(3), replicas_after=0)
    assert retained.kept == ("data-web-0", "data-web-1", "data-web-2")
