"""The set under test is judged against what the test sent, and its waits end with the broken promise.

A fake API stands in for a cluster that breaks the promise: a mutating webhook that rewrites a
field on create, a controller that mounts another ordinal's claim, a garbage collector that never
runs, a rollout that goes below the partition.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from factories import NS, REV1, REV2, pod, pvc, set_ref, statefulset
from fakes import FakeKube

from ordinal.act.workload import Timeouts, Workload
from ordinal.errors import InvariantViolated
from ordinal.kube.rest import PODS, PVCS, STATEFULSETS, Resource
from ordinal.types import Obj


class RewritingKube(FakeKube):
    """A cluster with a mutating webhook: every StatefulSet created gets minReadySeconds 7."""

    def create(self, res: Resource, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        if res is STATEFULSETS:
            obj = copy.deepcopy(obj)
            obj["spec"]["minReadySeconds"] = 7
        return super().create(res, obj, namespace, dry_run=dry_run)


def as_sent(stored: Obj) -> Obj:
    """The manifest a test would have sent for a server-shaped set (no status)."""
    return {k: copy.deepcopy(v) for k, v in stored.items() if k != "status"}


def workload(kube: FakeKube, **kw: Any) -> Workload:
    return Workload(kube, NS, timeouts=Timeouts(0.05), clock=kube.clock, claim_template="data", **kw)


def test_a_rewritten_spec_fails_the_deploy_first() -> None:
    """A set the server stores differently from the manifest MUST fail at once with api.spec-rewritten."""
    kube = RewritingKube()
    with pytest.raises(InvariantViolated) as caught:
        workload(kube).deploy()
    first = str(caught.value).splitlines()[0]
    assert first == (
        f"StatefulSet {NS}/web as sent: 1 broken promise; first: [api.spec-rewritten] statefulset {NS}/web "
        "spec.minReadySeconds: expected 0, saw 7"
    )
    assert kube.watches == []  # nothing was waited for


def test_a_patch_sent_is_what_the_set_is_judged_against() -> None:
    """After a patch the set handed back MUST carry the patched spec; a server that ignored it MUST be reported."""
    kube = FakeKube()
    wl = workload(kube)
    wl.deploy(wait=False)
    assert wl.patch({"spec": {"minReadySeconds": 30}})["spec"]["minReadySeconds"] == 30
    kube.objects[("StatefulSet", NS, "web")]["spec"]["minReadySeconds"] = 0  # someone put it back
    with pytest.raises(InvariantViolated, match=r"spec.minReadySeconds: expected 30, saw 0"):
        wl.sts()


def test_a_successor_mounting_another_claim_ends_the_wait_at_once() -> None:
    """The failure MUST be "pod web-1 mounts claim data-web-2", the moment the successor appears."""
    wrong = pod(1, uid="uid-web-1-b")
    wrong["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "data-web-2"
    kube = FakeKube(statefulset(), batches=[[("ADDED", wrong)]])
    wl = workload(kube)
    wl.sent = as_sent(statefulset())
    wl.sts()  # the set is read back once, as after deploy: its UID is known
    with pytest.raises(InvariantViolated) as caught:
        wl.wait_recreated(1, "uid-web-1-a")
    assert str(caught.value).startswith(
        f"[storage.pod-mounts-own-claim] pod {NS}/web-1 spec.volumes[name=data].persistentVolumeClaim.claimName: "
        "expected 'data-web-1', saw 'data-web-2'"
    )


def test_claims_the_gc_never_removes_end_with_the_finding_not_a_timeout() -> None:
    """Claims left 240 s after deletion with whenDeleted: Delete MUST be reported as such, naming who owns them."""
    sts = statefulset(retention=("Delete", "Retain"))
    claims = [pvc(i, owners=[set_ref(sts)]) for i in range(3)]
    kube = FakeKube(*claims)
    wl = workload(kube)
    with pytest.raises(InvariantViolated) as caught:
        wl.wait_claims_follow(sts, claims, event="deleted")
    first = str(caught.value).splitlines()[0]
    assert first.startswith(f"[retention.when-deleted] pvc {NS}/data-web-0 metadata.uid: expected ")
    assert "still present 6 s after the set was deleted with whenDeleted: Delete" in first
    assert "owned by StatefulSet/web: no garbage collection of owned objects seen" in first


def test_a_kept_claim_removed_ends_the_wait_at_once() -> None:
    """A claim the policy keeps MUST NOT disappear: the wait ends with the finding when it does."""
    sts = statefulset(retention=("Retain", "Delete"))
    claims = [pvc(i) for i in range(3)]
    kube = FakeKube(*claims, batches=[[("DELETED", claims[0])]])
    with pytest.raises(InvariantViolated, match=rf"^\[retention.when-scaled\] pvc {NS}/data-web-0 .*saw 'gone'"):
        workload(kube).wait_claims_follow(sts, claims, event="scaled", replicas_after=1)


def test_a_pod_updated_below_the_partition_ends_the_rollout_wait() -> None:
    """The rollout wait MUST end with "web-0 updated below partition 2" as the failure."""
    sts = statefulset(partition=2, update=REV2, status={"updatedReplicas": 2, "currentReplicas": 1})
    pods = [pod(0, revision=REV2), pod(1, revision=REV1), pod(2, revision=REV2)]
    kube = FakeKube(sts, *pods)
    wl = workload(kube)
    wl.sent = as_sent(statefulset(partition=2))
    with pytest.raises(InvariantViolated) as caught:
        wl.wait_rollout(partition=2)
    assert str(caught.value).startswith(
        f"[revisions.partition-pinned] pod {NS}/web-0 metadata.labels['controller-revision-hash']: "
        f"expected '{REV1}', saw '{REV2} (the update revision: updated below partition 2)'"
    )
    assert kube.calls["list"] >= 2 and PODS.plural and PVCS.plural


def test_a_field_the_test_asked_to_remove_is_absent_from_the_set_as_asked_for() -> None:
    """After sending ``ordinals: null`` the request MUST hold no ordinals; a server keeping them MUST be caught."""
    kube = FakeKube()
    wl = workload(kube)
    wl.deploy(wait=False, ordinals_start=3)
    wl.record_sent({"spec": {"ordinals": None}})
    assert "ordinals" not in wl.requested()["spec"]
    with pytest.raises(InvariantViolated, match=r"spec.ordinals: expected '<absent>', saw \{'start': 3\}"):
        wl.sts()


def test_pods_that_need_no_exec_prefer_the_idle_nodes_and_exec_pods_go_where_exec_works() -> None:
    """A preference only (a hard filter such as a volume's topology still wins); exec pods get the selector."""
    set_ = workload(FakeKube(), exec_node_selector={"kind": "real"}, idle_node_selector={"kind": "kwok"})
    plain = set_.manifest()["spec"]["template"]["spec"]
    assert plain["affinity"] == {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {"matchExpressions": [{"key": "kind", "operator": "In", "values": ["kwok"]}]},
                }
            ]
        }
    }
    assert "nodeSelector" not in plain
    execs = set_.manifest(needs_exec=True)["spec"]["template"]["spec"]
    assert execs["nodeSelector"] == {"kind": "real"} and "affinity" not in execs
    assert "affinity" not in workload(FakeKube()).manifest()["spec"]["template"]["spec"]
