"""Retention: claims outlive pods and sets unless persistentVolumeClaimRetentionPolicy says Delete, and then
only the documented ones go; an orphaned set's pods and claims are adopted back by a new set."""

from __future__ import annotations

import pytest

from ordinal.act.pods import delete_set
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.capabilities import ClusterInfo
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_pod_identity, check_replaced, snapshot_uids
from ordinal.checks.retention import (
    Event,
    check_after_scale_down,
    check_after_set_deleted,
    check_claim_owner_refs,
    expected_after_scale_down,
    expected_after_set_deleted,
)
from ordinal.checks.storage import check_reattached, snapshot_claims
from ordinal.kube import objects as o
from ordinal.kube.manifests import Retention, pvc_name
from ordinal.kube.rest import PVCS, SERVICES
from ordinal.observe import waiting
from ordinal.observe.recorder import Recorder
from ordinal.observe.waiting import Query, converge
from ordinal.types import Obj

pytestmark = [pytest.mark.promise("Retention"), pytest.mark.needs("storage")]

POLICIES = [
    pytest.param(("Retain", "Retain"), id="retain-retain"),
    pytest.param(("Retain", "Delete"), id="retain-delete"),
    pytest.param(("Delete", "Retain"), id="delete-retain"),
    pytest.param(("Delete", "Delete"), id="delete-delete"),
]


@pytest.fixture
def stateful(workload: Workload) -> Workload:
    workload.claim_template = "data"
    return workload


def _hold_claims(workload: Workload, keep: tuple[str, ...]) -> None:
    """For the hold window, no claim that must stay may disappear or start terminating."""

    def lost(items: list[Obj]) -> str | None:
        alive = {o.name(c) for c in items if not o.terminating(c)}
        gone = sorted(set(keep) - alive)
        return f"claims {gone} removed although the policy keeps them" if gone else None

    waiting.hold(
        workload.kube,
        Query(PVCS, workload.namespace),
        lost,
        expect=f"claims {list(keep)} kept",
        seconds=workload.timeouts.hold,
    )


@pytest.mark.promise(feature="Default: Retain/Retain")
def test_default_policy_keeps_claims_after_the_set_is_deleted(stateful: Workload, recorder: Recorder) -> None:
    """Without a retention policy, deleting the set MUST keep every claim."""
    with step(f"Create the set ({stateful.replicas} replicas) with claims and wait until Ready"):
        sts = stateful.deploy()
        claims = stateful.claims()
        fate = expected_after_set_deleted(sts, claims)
    with step("Delete the set and wait until its pods are gone"):
        delete_set(stateful.kube, stateful.namespace, stateful.name)
        stateful.wait_pods_gone(range(stateful.replicas))
    with step("Watch the claims for a while: none may go"):
        _hold_claims(stateful, fate.kept)
        findings = check_after_set_deleted(sts, claims, stateful.claims())
        assert_no_findings(findings, what="claims after set deletion", timeline=recorder.timeline)


@pytest.mark.promise(feature="Default: Retain/Retain")
def test_default_policy_keeps_claims_after_scale_down_and_reuses_them(stateful: Workload, recorder: Recorder) -> None:
    """Without a retention policy, scale-down MUST keep the claims and scale-up MUST re-attach the same ones."""
    with step(f"Create the set ({stateful.replicas} replicas) with claims and wait until Ready"):
        sts = stateful.deploy()
        claims = stateful.claims()
        before = snapshot_claims(sts, claims)
        fate = expected_after_scale_down(sts, claims, replicas_after=1)
    with step("Scale to 1 and wait until the condemned pods are gone"):
        stateful.scale(1)
        stateful.wait_pods_gone(range(1, stateful.replicas))
        stateful.wait_ready(1)
    with step("Watch the claims for a while: none may go"):
        _hold_claims(stateful, fate.kept)
        assert_no_findings(
            check_after_scale_down(sts, claims, stateful.claims(), replicas_after=1),
            what="claims after scale-down",
            timeline=recorder.timeline,
        )
    with step(f"Scale back to {stateful.replicas} and wait until Ready"):
        stateful.scale(stateful.replicas)
        stateful.wait_ready()
    with step("Check every ordinal got its old claim back"):
        findings = check_reattached(before, stateful.claims(), namespace=stateful.namespace)
        assert_no_findings(findings, what="claims after scale-up", timeline=recorder.timeline)


@pytest.mark.promise(feature="Owner references")
@pytest.mark.min_version("1.27")
@pytest.mark.parametrize("policy", POLICIES)
def test_claim_owner_references_follow_the_policy(policy: Retention, stateful: Workload, recorder: Recorder) -> None:
    """Claims of a live set MUST carry exactly the ownerReferences the retention policy prescribes."""
    when_deleted, when_scaled = policy
    with step(f"Create the set with whenDeleted={when_deleted}, whenScaled={when_scaled}; wait until Ready"):
        sts = stateful.deploy(retention=policy)
    with step("Wait for the claims' ownerReferences to settle and check them"):
        findings = converge(
            stateful.kube,
            Query(PVCS, stateful.namespace),
            lambda claims: check_claim_owner_refs(sts, claims),
            expect="claim ownerReferences as the policy says",
            timeout=stateful.timeouts.pod,
        )
        assert_no_findings(
            findings, what=f"claim owner references ({when_deleted}/{when_scaled})", timeline=recorder.timeline
        )


@pytest.mark.promise(feature="whenScaled: Delete")
@pytest.mark.min_version("1.27")
def test_when_scaled_delete_removes_only_the_condemned_claims(stateful: Workload, recorder: Recorder) -> None:
    """With whenScaled=Delete, scale-down MUST remove the condemned ordinals' claims and keep the others."""
    with step(f"Create the set ({stateful.replicas} replicas) with whenScaled=Delete and wait until Ready"):
        sts = stateful.deploy(retention=("Retain", "Delete"))
        claims = stateful.claims()
        fate = expected_after_scale_down(sts, claims, replicas_after=1)
    with step(f"Scale to 1 and wait until claims {list(fate.removed)} are gone"):
        stateful.scale(1)
        stateful.wait_claims_follow(sts, claims, event="scaled", replicas_after=1)
    with step("Check which claims remain"):
        _hold_claims(stateful, fate.kept)
        findings = check_after_scale_down(sts, claims, stateful.claims(), replicas_after=1)
        assert_no_findings(findings, what="claims after scale-down with whenScaled=Delete", timeline=recorder.timeline)


@pytest.mark.promise(feature="whenDeleted: Delete")
@pytest.mark.min_version("1.27")
def test_when_deleted_delete_removes_every_claim(stateful: Workload, recorder: Recorder) -> None:
    """With whenDeleted=Delete, deleting the set MUST remove every claim it made."""
    with step(f"Create the set ({stateful.replicas} replicas) with whenDeleted=Delete and wait until Ready"):
        sts = stateful.deploy(retention=("Delete", "Retain"))
        claims = stateful.claims()
        fate = expected_after_set_deleted(sts, claims)
    with step(f"Delete the set and wait until claims {list(fate.removed)} are gone"):
        delete_set(stateful.kube, stateful.namespace, stateful.name)
        stateful.wait_claims_follow(sts, claims, event="deleted")
    with step("Check no claim of the set remains"):
        findings = check_after_set_deleted(sts, claims, stateful.claims())
        assert_no_findings(findings, what="claims after deletion with whenDeleted=Delete", timeline=recorder.timeline)


@pytest.mark.promise(feature="Orphan and adopt")
def test_orphaned_pods_and_claims_are_adopted_by_a_new_set(
    stateful: Workload, cluster_info: ClusterInfo, recorder: Recorder
) -> None:
    """Deleting a set with propagationPolicy=Orphan MUST keep pods and claims; a new set MUST adopt them unchanged."""
    with step(f"Create the set ({stateful.replicas} replicas) with claims and wait until Ready"):
        sts = stateful.deploy()
        manifest = stateful.manifest()
        pods_before = snapshot_uids(stateful.pods())
        claims_before = snapshot_claims(sts, stateful.claims())
    with step("Delete the set with propagationPolicy=Orphan; wait until its pods have no owner"):
        delete_set(stateful.kube, stateful.namespace, stateful.name, propagation="Orphan")
        stateful.wait_deleted()
        for ordinal in range(stateful.replicas):
            stateful.wait_pod(ordinal, lambda p: o.controller_ref(p) is None, expect="orphaned (no controller)")
    with step("Create the same set again; wait until it adopts every pod"):
        new = stateful.deploy(service=False, manifest=manifest)
        for ordinal in range(stateful.replicas):
            stateful.wait_pod(
                ordinal,
                lambda p: (o.controller_ref(p) or {}).get("uid") == o.uid(new),
                expect=f"adopted by the new set uid {o.uid(new)}",
            )
        new = stateful.wait_ready()
    with step("Check the pods kept their UIDs and identity, and the claims are the same"):
        pods = stateful.pods()
        findings = check_replaced(pods_before, pods, set(), namespace=stateful.namespace)
        findings += check_pod_identity(new, pods, pod_index_label=cluster_info.pod_index_label)
        findings += check_reattached(claims_before, stateful.claims(), namespace=stateful.namespace)
        assert_no_findings(findings, what="orphan and re-adoption", timeline=recorder.timeline)


def _owner_refs_settled(workload: Workload, sts: Obj, recorder: Recorder, what: str) -> None:
    """Wait (by watch) until the claims carry the ownerReferences the policy prescribes, and check them."""
    findings = converge(
        workload.kube,
        Query(PVCS, workload.namespace),
        lambda claims: check_claim_owner_refs(sts, claims),
        expect="claim ownerReferences as the policy says",
        timeout=workload.timeouts.pod,
    )
    assert_no_findings(findings, what=what, timeline=recorder.timeline)


@pytest.mark.promise(feature="Claims with another controller")
@pytest.mark.min_version("1.27")
@pytest.mark.parametrize("event", ["scaled", "deleted"], ids=["when-scaled-delete", "when-deleted-delete"])
def test_claim_owned_by_another_controller_is_left_alone(event: Event, stateful: Workload, recorder: Recorder) -> None:
    """A claim another controller owns MUST survive whenScaled/whenDeleted Delete; its siblings MUST go."""
    foreign = pvc_name("data", stateful.name, 1)
    with step(f"Create the set ({stateful.replicas} replicas, Retain/Retain) with claims and wait until Ready"):
        stateful.deploy()
    with step(f"Make the headless Service the controller of {foreign} (an owner that is not the set)"):
        service = stateful.kube.get(SERVICES, stateful.name, stateful.namespace)
        owner = {"apiVersion": "v1", "kind": "Service", "name": o.name(service), "uid": o.uid(service)}
        refs = [{**owner, "controller": True}]
        stateful.kube.patch(PVCS, foreign, {"metadata": {"ownerReferences": refs}}, stateful.namespace)
    policy = {"whenDeleted": "Delete", "whenScaled": "Retain"} if event == "deleted" else {"whenScaled": "Delete"}
    with step(f"Change the retention policy of the live set to {policy}"):
        sts = stateful.patch({"spec": {"persistentVolumeClaimRetentionPolicy": policy}})
        sts = stateful.wait_set(lambda s: True, expect="with the new policy observed")
        _owner_refs_settled(stateful, sts, recorder, "claim owner references after the policy change")
        claims = stateful.claims()
        replicas_after = 0
    if event == "scaled":
        with step("Scale to 0: every claim but the foreign-owned one must go"):
            stateful.scale(0)
            stateful.wait_pods_gone(range(stateful.replicas))
            stateful.wait_claims_follow(sts, claims, event="scaled", replicas_after=replicas_after)
    else:
        with step("Delete the set: every claim but the foreign-owned one must go"):
            delete_set(stateful.kube, stateful.namespace, stateful.name)
            stateful.wait_claims_follow(sts, claims, event="deleted")
    with step(f"Watch the claims for a while: {foreign} must stay"):
        _hold_claims(stateful, (foreign,))
        if event == "scaled":
            findings = check_after_scale_down(sts, claims, stateful.claims(), replicas_after=replicas_after)
        else:
            findings = check_after_set_deleted(sts, claims, stateful.claims())
        assert_no_findings(findings, what=f"claims after {event} with a foreign owner", timeline=recorder.timeline)
    if event == "scaled":
        with step(f"Release {foreign} from the other controller, scale to 2, then to 1: now it must go"):
            stateful.kube.patch(PVCS, foreign, {"metadata": {"ownerReferences": None}}, stateful.namespace)
            stateful.scale(2)
            sts = stateful.wait_ready(2)
            claims = stateful.claims()
            stateful.scale(1)
            stateful.wait_claims_follow(sts, claims, event="scaled", replicas_after=1)
            findings = check_after_scale_down(sts, claims, stateful.claims(), replicas_after=1)
            assert_no_findings(findings, what=f"claims after {foreign} was released", timeline=recorder.timeline)


@pytest.mark.promise(feature="Orphan and adopt")
@pytest.mark.min_version("1.27")
@pytest.mark.parametrize("event", ["deleted", "scaled"], ids=["when-deleted-delete", "when-scaled-delete"])
def test_claims_of_adopted_pods_follow_the_new_sets_policy(
    event: Event, stateful: Workload, recorder: Recorder
) -> None:
    """A new set that adopts orphaned pods MUST apply its own retention policy to their claims."""
    retention: Retention = ("Delete", "Retain") if event == "deleted" else ("Retain", "Delete")
    with step(f"Create the set ({stateful.replicas} replicas, Retain/Retain) with claims and wait until Ready"):
        stateful.deploy()
        pods_before = snapshot_uids(stateful.pods())
    with step("Delete the set with propagationPolicy=Orphan; wait until its pods have no owner"):
        delete_set(stateful.kube, stateful.namespace, stateful.name, propagation="Orphan")
        stateful.wait_deleted()
        for ordinal in range(stateful.replicas):
            stateful.wait_pod(ordinal, lambda p: o.controller_ref(p) is None, expect="orphaned (no controller)")
    with step(f"Create the set again with whenDeleted={retention[0]}, whenScaled={retention[1]}; wait for adoption"):
        new = stateful.deploy(service=False, manifest=stateful.manifest(retention=retention))
        for ordinal in range(stateful.replicas):
            stateful.wait_pod(
                ordinal,
                lambda p: (o.controller_ref(p) or {}).get("uid") == o.uid(new),
                expect=f"adopted by the new set uid {o.uid(new)}",
            )
        new = stateful.wait_ready()
        assert_no_findings(
            check_replaced(pods_before, stateful.pods(), set(), namespace=stateful.namespace),
            what="adoption",
            timeline=recorder.timeline,
        )
        _owner_refs_settled(stateful, new, recorder, "claim owner references after adoption")
        claims = stateful.claims()
    if event == "deleted":
        with step("Delete the new set: every claim must go"):
            delete_set(stateful.kube, stateful.namespace, stateful.name)
            stateful.wait_claims_follow(new, claims, event="deleted")
            findings = check_after_set_deleted(new, claims, stateful.claims())
    else:
        with step("Scale the new set to 1: the condemned ordinals' claims must go"):
            stateful.scale(1)
            stateful.wait_claims_follow(new, claims, event="scaled", replicas_after=1)
            _hold_claims(stateful, expected_after_scale_down(new, claims, replicas_after=1).kept)
            findings = check_after_scale_down(new, claims, stateful.claims(), replicas_after=1)
    with step("Check the claims followed the new set's policy"):
        assert_no_findings(
            findings, what=f"claims of adopted pods after the set was {event}", timeline=recorder.timeline
        )
