"""Identity: ``web-1`` is always the same member: its name, hostname, labels and owner, never two at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ordinal.act.node_loss import isolate_node, least_shared
from ordinal.act.nodes import add_simulated_node, remove_added_node, restore_heartbeats, stop_heartbeats, uncordon
from ordinal.act.pods import Hit, delete_pod
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.capabilities import CAPABILITIES, ClusterInfo
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_at_most_one_live, check_pod_identity, check_replaced, snapshot_uids
from ordinal.errors import CapabilityMissing
from ordinal.kube import objects as o
from ordinal.kube.manifests import nodes_affinity, pod_name, reserved_toleration
from ordinal.kube.rest import NODES, PODS
from ordinal.labels import SET_LABEL
from ordinal.observe.recorder import Recorder, synced
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

pytestmark = pytest.mark.promise("Identity")


@pytest.mark.promise(feature="Names, hostnames and labels")
def test_pods_carry_their_ordinal_identity(workload: Workload, cluster_info: ClusterInfo, recorder: Recorder) -> None:
    """Each pod MUST be named <set>-<ordinal>, with hostname, subdomain, identity labels and owner to match."""
    with step(f"Create StatefulSet {workload.name} ({workload.replicas} replicas) and its headless Service"):
        sts = workload.deploy()
    with step("Check the identity of every pod"):
        findings = check_pod_identity(sts, workload.pods(), pod_index_label=cluster_info.pod_index_label)
        what = f"StatefulSet {workload.namespace}/{workload.name}"
        assert_no_findings(findings, what=what, timeline=recorder.timeline)


@pytest.mark.promise(feature="Replacement keeps the name")
@pytest.mark.parametrize("how", ["delete", "evict"])
def test_replaced_pod_keeps_its_name_with_a_new_uid(
    how: str, workload: Workload, cluster_info: ClusterInfo, recorder: Recorder
) -> None:
    """A pod that is deleted or evicted MUST come back under the same name as a new object (new UID)."""
    with step("Create the set and wait until it is Ready"):
        workload.deploy()
        before = snapshot_uids(workload.pods())
    with step(f"{how.capitalize()} pod {pod_name(workload.name, 1)}"):
        hit = workload.disrupt_pod(how, 1)  # type: ignore[arg-type]
    with step(f"Wait for {hit.name} to return Ready"):
        workload.wait_recreated(1, hit.uid)
        sts = workload.wait_ready()
    with step("Check names, UIDs and that no identity was ever live twice"):
        pods = workload.pods()
        findings = (
            check_replaced(before, pods, {hit.name}, namespace=workload.namespace)
            + check_pod_identity(sts, pods, pod_index_label=cluster_info.pod_index_label)
            + check_at_most_one_live(synced(recorder), set_name=workload.name)
        )
        assert_no_findings(findings, what=f"{how} of {hit.name}", timeline=recorder.timeline)


def _back_elsewhere(hit: Hit) -> Callable[[Obj], bool]:
    """A successor of ``hit`` (new UID), Ready, on a node other than the drained one."""
    return lambda p: o.uid(p) != hit.uid and o.pod_ready(p) and o.spec(p).get("nodeName") != hit.node


@pytest.mark.promise(feature="Replacement keeps the name", story="drain")
@pytest.mark.disruptive
@pytest.mark.needs("nodes:2")
def test_pod_drained_off_its_node_returns_under_its_name(
    workload: Workload, cluster_info: ClusterInfo, recorder: Recorder, run_id: str
) -> None:
    """A pod evicted by a node drain MUST come back under the same name as a new object, on another node."""
    with step("Create the set and wait until it is Ready"):
        workload.deploy()
        before = snapshot_uids(workload.pods())
    with step(f"Drain the node of {pod_name(workload.name, 1)}"), workload.draining(1, run_id) as drained:
        for hit in drained.evicted:
            with step(f"Wait for {hit.name} to return Ready on another node"):
                ordinal = int(hit.name.rsplit("-", 1)[1])
                workload.wait_pod(ordinal, _back_elsewhere(hit), expect=f"back Ready off node {hit.node}")
        sts = workload.wait_ready()
    with step("Check names, UIDs and that no identity was ever live twice"):
        pods = workload.pods()
        findings = (
            check_replaced(before, pods, {h.name for h in drained.evicted}, namespace=workload.namespace)
            + check_pod_identity(sts, pods, pod_index_label=cluster_info.pod_index_label)
            + check_at_most_one_live(synced(recorder), set_name=workload.name)
        )
        assert_no_findings(findings, what=f"drain of node {drained.node}", timeline=recorder.timeline)


@pytest.mark.promise(feature="Adoption and release")
@pytest.mark.parametrize("how", ["labels", "owner-reference"])
def test_orphaned_pod_is_adopted_back_with_the_same_uid(
    how: str, workload: Workload, cluster_info: ClusterInfo, recorder: Recorder
) -> None:
    """A pod released from its set (labels or ownerReference removed) MUST be adopted back unchanged once it matches."""
    with step("Create the set and wait until it is Ready"):
        sts = workload.deploy()
        before = snapshot_uids(workload.pods())
        name = pod_name(workload.name, 1)
    if how == "labels":
        with step(f"Change {name}'s {SET_LABEL} label so the selector no longer matches"):
            workload.kube.patch(PODS, name, {"metadata": {"labels": {SET_LABEL: "released"}}}, workload.namespace)
        with step(f"Wait until the set releases {name} (no controller ownerReference)"):
            workload.wait_pod(1, lambda p: o.controller_ref(p) is None, expect="released by its set")
        with step("Put the label back"):
            workload.kube.patch(PODS, name, {"metadata": {"labels": {SET_LABEL: workload.name}}}, workload.namespace)
    else:
        with step(f"Remove {name}'s ownerReferences"):
            workload.kube.patch(PODS, name, {"metadata": {"ownerReferences": None}}, workload.namespace)
    with step(f"Wait until the set adopts {name} again"):
        workload.wait_pod(
            1,
            lambda p: (o.controller_ref(p) or {}).get("uid") == o.uid(sts),
            expect=f"adopted by StatefulSet {workload.name} uid {o.uid(sts)}",
        )
        sts = workload.wait_ready()
    with step("Check that every pod kept its UID and identity"):
        pods = workload.pods()
        findings = check_replaced(before, pods, set(), namespace=workload.namespace) + check_pod_identity(
            sts, pods, pod_index_label=cluster_info.pod_index_label
        )
        assert_no_findings(findings, what=f"release and adoption of {name}", timeline=recorder.timeline)


@pytest.mark.promise(feature="Ordinal window (spec.ordinals.start)")
@pytest.mark.min_version("1.27")
@pytest.mark.parametrize(
    ("start", "to"),
    [
        pytest.param(2, 0, id="decrease-to-0"),
        pytest.param(2, 4, id="increase"),
        pytest.param(3, 2, id="decrease"),
        pytest.param(3, None, id="remove"),
    ],
)
def test_pods_follow_the_ordinals_start_window(
    start: int, to: int | None, workload: Workload, cluster_info: ClusterInfo, recorder: Recorder
) -> None:
    """With ordinals.start=S the pods MUST be <set>-S … <set>-(S+N-1), and MUST move when the window moves."""
    replicas = 2
    with step(f"Create the set with ordinals.start={start} and {replicas} replicas"):
        sts = workload.deploy(ordinals_start=start, replicas=replicas)
    with step(f"Check pods are numbered from {start}"):
        findings = check_pod_identity(sts, workload.pods(), pod_index_label=cluster_info.pod_index_label)
        assert_no_findings(findings, what=f"ordinals.start={start}", timeline=recorder.timeline)
    change = "remove spec.ordinals" if to is None else f"set ordinals.start={to}"
    new_start = 0 if to is None else to
    with step(f"On the live set, {change}: the window moves to {new_start}…{new_start + replicas - 1}"):
        workload.patch({"spec": {"ordinals": None if to is None else {"start": to}}})
        left = [i for i in range(start, start + replicas) if not new_start <= i < new_start + replicas]
        workload.wait_pods_gone(left)
        sts = workload.wait_ready(replicas)
    with step(f"Check pods are numbered from {new_start}, one live pod per identity throughout"):
        findings = check_pod_identity(sts, workload.pods(), pod_index_label=cluster_info.pod_index_label)
        findings += check_at_most_one_live(synced(recorder), set_name=workload.name)
        assert_no_findings(findings, what=f"ordinals.start {start} → {to}", timeline=recorder.timeline)


@pytest.mark.promise(feature="Replacement keeps the name", story="a pod that ends Failed")
def test_failed_pod_is_replaced_under_its_name(
    workload: Workload, cluster_info: ClusterInfo, recorder: Recorder
) -> None:
    """A pod that ends Failed (rejected or stopped by its kubelet) MUST be replaced under the same name, new UID."""
    name = pod_name(workload.name, 1)
    with step("Create the set and wait until it is Ready"):
        workload.deploy()
        before = snapshot_uids(workload.pods())
    with step(f"Make {name} end Failed, as a kubelet does with a pod it rejects"):
        hit = workload.fail_pod(1)
        workload.wait_pod(
            1,
            lambda p: o.uid(p) != hit.uid or o.status(p).get("phase") == "Failed" or o.terminating(p),
            expect="Failed (or already replaced)",
        )
    with step(f"Wait for {name} to return Ready with a new UID"):
        workload.wait_recreated(1, hit.uid)
        sts = workload.wait_ready()
    with step("Check names, UIDs and that no identity was ever live twice"):
        pods = workload.pods()
        timeline = synced(recorder)
        findings = (
            check_replaced(before, pods, {name}, namespace=workload.namespace)
            + check_pod_identity(sts, pods, pod_index_label=cluster_info.pod_index_label)
            + check_at_most_one_live(timeline, set_name=workload.name)
        )
        assert_no_findings(findings, what=f"{name} ended Failed", timeline=timeline)
        failed = [
            e for e in timeline.entries if e.kind == "Pod" and e.uid == hit.uid and e.detail.get("phase") == "Failed"
        ]
        assert failed, (
            f"expected the timeline to show {name} uid {hit.uid} Failed before its replacement\n{timeline.excerpt()}"
        )


@pytest.mark.promise(feature="At most one pod per identity", story="force delete on a lost node")
@pytest.mark.chaos
@pytest.mark.disruptive
@pytest.mark.isolates_node
@pytest.mark.needs("node-loss", "nodes:2")
def test_force_delete_on_a_lost_node_is_reported_as_an_identity_overlap(
    workload: Workload, recorder: Recorder, run_id: str
) -> None:
    """Two pods of one identity MUST NOT be live at once; one force-deleted on an unreachable node MUST be reported."""
    kube, namespace, simulated = workload.kube, workload.namespace, sorted(workload.simulated_nodes)
    with step("Add a simulated node for this set alone: a copy of a simulated node, tainted for its namespace"):
        added = add_simulated_node(kube, simulated[0], namespace, run_id, timeout=workload.timeouts.pod)
    node: str | None = None
    try:
        with step("Create the set with 2 replicas (on the added node when there is one) and wait until it is Ready"):
            manifest = workload.manifest(replicas=2)
            if added:
                spec = manifest["spec"]["template"]["spec"]
                spec["affinity"] = nodes_affinity([added, *simulated], prefer=added)
                spec["tolerations"] = [reserved_toleration(namespace)]
            workload.deploy(manifest=manifest)
            pods = {i: workload.pod(i) for i in (1, 0)}  # web-1 first: it is lost when both nodes are as busy
            nodes = {i: str(o.spec(pod).get("nodeName")) for i, pod in pods.items()}
            silenceable = [(i, n) for i, n in nodes.items() if n == added or n in workload.simulated_nodes]
            if not silenceable:
                raise CapabilityMissing(CAPABILITIES["node-loss"], f"web-0 and web-1 run on {nodes[0]}, {nodes[1]}")
            lost = added if added and added in nodes.values() else least_shared(kube, namespace, silenceable)[1]
            node = lost
            # The lowest ordinal there: its predecessors run elsewhere, so OrderedReady recreates it.
            ordinal = min(i for i, n in nodes.items() if n == lost)
            victim = pods[ordinal]
        with step(f"Cordon {lost} and wait until no other workload's pod is on it (the loss reaches only ours)"):
            isolate_node(kube, lost, run_id, namespace, timeout=workload.timeouts.pod)
        with step(f"Silence node {lost} (its kubelet stops heartbeating)"):
            stop_heartbeats(kube, lost, run_id)
        with step(f"Wait until the control plane marks {lost} not Ready"):

            def unreachable(items: list[dict[str, object]]) -> Verdict[str]:
                ready = o.node_ready(items[0]) if items else "absent"
                return Verdict(ready != "True", f"Ready={ready}")

            wait_for(
                kube,
                Query(NODES, field_selector=f"metadata.name={lost}"),
                unreachable,
                expect=f"node {lost} not Ready after missed heartbeats",
                timeout=workload.timeouts.of(180),
            )
        with step(f"Force-delete {o.name(victim)} (grace period 0) while its node is unreachable"):
            delete_pod(kube, namespace, workload.name, ordinal, grace_seconds=0)
        with step(f"Wait for {o.name(victim)} to return Ready on another node"):
            workload.wait_recreated(ordinal, o.uid(victim))
        with step("Check the timeline: no unexplained overlap, and the forced one reported"):
            findings = check_at_most_one_live(synced(recorder), set_name=workload.name)
            notes = assert_no_findings(findings, what="identities after a forced delete", timeline=recorder.timeline)
            assert [f.rule for f in notes] == ["identity.overlap-after-force-delete"], notes
    finally:
        if added:
            remove_added_node(kube, added)  # with the pods still bound to it
        elif node:
            restore_heartbeats(kube, node)
            uncordon(kube, node)
