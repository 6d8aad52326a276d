"""Node loss: a pod on a real node that stops answering is never run twice, and comes back once the node is off.

The fault takes a whole real node away, as a machine that hung or lost power: its kubelet,
container runtime, containers and CSI node plugin stop answering (``--node-stop-command``; on
the local cluster ``ordinal cluster env`` sets it). Nobody can then confirm the pod stopped, so
the StatefulSet must not replace it and its volume must stay attached to the lost node, however
long that lasts, until the node is declared shut down with the taint
``node.kubernetes.io/out-of-service``. Then the pod must come back on another node of its
volume's topology, with its claim and the bytes written before the fault. Everything is judged
from the timeline (Pods, Nodes, VolumeAttachments), and the timings are reported as figures.

Without permission to taint nodes the test skips (``needs: permission patch nodes``): the only
other way out, deleting the pod by force, is ``test_identity``'s overlap test; a StatefulSet pod
on a lost node is never deleted otherwise (upstream #54368), so there is no force-detach timeout
to wait for.
"""

from __future__ import annotations

import pytest

from ordinal.act.node_loss import plan_stop, strangers_on
from ordinal.act.nodes import NodeCommands, remove_out_of_service, start_node, stop_node, taint_out_of_service
from ordinal.act.tokens import read_token, write_token
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.capabilities import ClusterInfo
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.attachments import attach_figures, attached_only_to, check_attachments, single_writer_claims
from ordinal.checks.identity import check_at_most_one_live
from ordinal.checks.node_loss import check_lost_node, lost_node, node_loss_figures
from ordinal.checks.storage import check_tokens
from ordinal.errors import CapabilityMissing
from ordinal.kube import objects as o
from ordinal.kube.manifests import lost_node_tolerations, nodes_affinity, pvc_name
from ordinal.kube.rest import PVCS, VOLUME_ATTACHMENTS
from ordinal.labels import ZONE_LABEL
from ordinal.observe.recorder import Recorder, synced
from ordinal.observe.waiting import (
    Query,
    hold,
    unconfirmed_pod_broken,
    wait_for_detached,
    wait_for_nodes,
    wait_for_pod_terminating,
)
from ordinal.pytest_plugin import Figures

pytestmark = pytest.mark.promise("Identity")

#: How long the set's pods stay bound to a not-ready or unreachable node (the API server's default is 300 s).
TOLERATION = 2


@pytest.fixture
def stateful(workload: Workload) -> Workload:
    """The workload with a per-pod claim template ``data`` on the StorageClass under test."""
    workload.claim_template = "data"
    return workload


@pytest.mark.promise(feature="At most one pod per identity", story="real node lost")
@pytest.mark.chaos
@pytest.mark.needs("node-stop", "storage", "movable-storage", "csi-attach", "exec")
def test_pod_of_a_lost_node_is_replaced_only_after_the_node_is_declared_out_of_service_and_keeps_its_data(
    stateful: Workload,
    recorder: Recorder,
    cluster_info: ClusterInfo,
    run_id: str,
    figures: Figures,
    node_commands: NodeCommands,
) -> None:
    """A pod on a stopped node MUST stay Terminating and unreplaced, its volume attached there only, until the
    node is declared out of service; then it MUST come back Ready on another node with its claim and data."""
    kube, namespace = stateful.kube, stateful.namespace
    storage = cluster_info.storage
    assert storage is not None and storage.csi is not None, "expected a CSI class from discovery (needs csi-attach)"
    csi = storage.csi
    keys = csi.topology_keys or ((ZONE_LABEL,) if storage.topology == "zone" else ())
    with step("Pick a node to stop: only our pods on it, another node in its volume's topology domain"):
        plan = plan_stop(
            kube,
            namespace,
            selector=dict(stateful.exec_node_selector),
            topology_keys=keys,
            driver_nodes=set(csi.nodes) if csi.nodes else None,
        )
    takers = [plan.node, *plan.siblings]
    with step(
        f"Create a set of 1 on {plan.node} (may move to {', '.join(plan.siblings)}; {plan.domain}), write a token"
    ):
        manifest = stateful.manifest(replicas=1, needs_exec=True)
        spec = manifest["spec"]["template"]["spec"]
        spec["affinity"] = nodes_affinity(takers, prefer=plan.node)
        spec["tolerations"] = lost_node_tolerations(TOLERATION)
        sts = stateful.deploy(manifest=manifest)
        victim = stateful.pod(0)
        name, old_uid, node = o.name(victim), o.uid(victim), str(o.spec(victim).get("nodeName"))
        if node != plan.node and strangers_on(kube, node, namespace):
            raise CapabilityMissing(
                "a node to stop hosting only our pods",
                f"{name} went to {node}, not {plan.node}, and {node} hosts others",
            )
        siblings = [n for n in takers if n != node]
        claim = pvc_name("data", stateful.name, 0)
        volume = str(o.spec(kube.get(PVCS, claim, namespace)).get("volumeName"))
        token = write_token(kube, sts, victim)
    fault = recorder.clock()
    declared = False
    try:
        with step(f"Stop node {node}: its kubelet, runtime, containers and CSI node plugin stop answering"):
            stop_node(kube, node, run_id, node_commands)
        with step(f"Wait until the control plane marks {node} unreachable"):
            wait_for_nodes(
                kube,
                [node],
                o.node_unreachable,
                expect=f"node {node} not Ready and tainted unreachable after it stopped",
                timeout=stateful.timeouts.of(180),
            )
        with step(
            f"Wait for {name} to turn Terminating ({TOLERATION}s toleration); hold: not replaced, volume on {node}"
        ):
            wait_for_pod_terminating(kube, namespace, name, old_uid, node, timeout=stateful.timeouts.pod)
            stateful.hold_pods(unconfirmed_pod_broken(name, old_uid, node), expect=f"{name} Terminating and unreplaced")
            hold(
                kube,
                Query(VOLUME_ATTACHMENTS),
                lambda items: attached_only_to(items, volume, node),
                expect=f"pv {volume} attached to {node} only",
                seconds=1.0,
            )
        with step(f"Declare {node} out of service (taint node.kubernetes.io/out-of-service=nodeshutdown:NoExecute)"):
            declared = taint_out_of_service(kube, node, run_id)
        with step(f"Wait for {name} to return Ready on {', '.join(siblings)}, and pv {volume} to leave {node}"):
            stateful.wait_recreated(0, old_uid)
            wait_for_detached(kube, volume, node, timeout=stateful.timeouts.pod)
        with step(f"Read the token back from the new {name}"):
            back = read_token(kube, sts, stateful.pod(0))
    finally:
        with step(f"Start node {node} again, wait until it is Ready, remove our taint"):
            start_node(kube, node, node_commands)
            wait_for_nodes(
                kube,
                [node],
                lambda n: o.node_ready(n) == "True",
                expect=f"node {node} Ready after it started again",
                timeout=stateful.timeouts.of(120),
            )
            if declared:
                remove_out_of_service(kube, node)
    with step("Judge from the timeline: unreplaced and attached to the lost node until declared; then moved"):
        timeline = synced(recorder)
        story = lost_node(timeline, node=node, namespace=namespace, pod=name, old_uid=old_uid, since=fault)
        claims = single_writer_claims(stateful.requested())
        findings = check_lost_node(timeline, story, pv=volume)
        findings += check_at_most_one_live(timeline, set_name=stateful.name, namespace=namespace)
        findings += check_attachments(timeline, namespace, claims, attaching={csi.driver})
        findings += check_tokens(sts, {name: token}, {name: back})
        assert_no_findings(findings, what=f"{name} on lost node {node}", timeline=timeline)
    for figure, seconds in node_loss_figures(timeline, story, volume):
        figures.record(figure, seconds)
    for figure, seconds in attach_figures(timeline, namespace, claims, context="after-node-loss", since=fault):
        figures.record(figure, seconds)
