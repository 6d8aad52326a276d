"""Volumes as CSI drivers serve them: attachment follows the pod, ReadWriteOncePod keeps others off, claims grow.

These are the promises a storage vendor's class makes beyond "the same claim comes back": the
attach/detach controller moves a ReadWriteOnce volume to the pod's new node without ever
attaching it to two nodes at once; a ReadWriteOncePod claim admits one pod; an expanded claim
shows its new size to the pod and keeps its data. Attachment is judged from the timeline, where
VolumeAttachments join PVs, claims and pods. On classes whose volumes are never attached
(hostPath, local volumes, ``attachRequired: false``) the attachment test skips saying the
class's volumes are not attached; the others skip naming the capability they lack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ordinal.act.nodes import cordon, uncordon
from ordinal.act.tokens import mounted_bytes, read_token, write_token
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.capabilities import ClusterInfo
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.attachments import (
    attach_figures,
    check_attachments,
    check_expanded,
    check_single_pod_claims,
    single_writer_claims,
)
from ordinal.checks.storage import check_claims, check_reattached, check_tokens, snapshot_claims, volume_pin
from ordinal.errors import CapabilityMissing
from ordinal.kube import objects as o
from ordinal.kube.manifests import claim_pod_manifest, pvc_name
from ordinal.kube.rest import NODES, PODS, PVCS
from ordinal.observe.recorder import Recorder, recorded
from ordinal.observe.waiting import Query, Verdict, hold, wait_for, wait_for_detached
from ordinal.pytest_plugin import Figures
from ordinal.types import Obj

pytestmark = [pytest.mark.promise("Storage reattachment"), pytest.mark.needs("storage")]

MIB = 1024 * 1024


@pytest.fixture
def stateful(workload: Workload) -> Workload:
    """The workload with a per-pod claim template ``data`` on the StorageClass under test."""
    workload.claim_template = "data"
    return workload


def _attaching_driver(cluster_info: ClusterInfo) -> str:
    csi = cluster_info.storage.csi if cluster_info.storage is not None else None
    assert csi is not None, "expected the class's CSI driver from discovery (needs csi-attach)"
    return csi.driver


def _new_node(workload: Workload, cluster_info: ClusterInfo, ordinal: int, leaving: str) -> list[str]:
    """Schedulable nodes besides ``leaving`` where the ordinal's volume may be used and its CSI driver runs."""
    state = workload.observe()
    assert state.sts is not None, f"StatefulSet {workload.namespace}/{workload.name} is gone"
    pin = volume_pin(state.sts, state.pvcs, state.pvs, ordinal)
    csi = cluster_info.storage.csi if cluster_info.storage is not None else None
    driver_nodes = set(csi.nodes) if csi is not None and csi.nodes else None
    nodes, _ = workload.kube.list(NODES)
    takers = [
        o.name(n)
        for n in nodes
        if o.name(n) != leaving
        and o.node_schedulable(n)
        and (pin is None or pin.admits(n))
        and (driver_nodes is None or o.name(n) in driver_nodes)
    ]
    if not takers:
        where = f"its volume is pinned to {pin}" if pin is not None else "no other schedulable node"
        runs = f"; the driver runs on {sorted(driver_nodes)}" if driver_nodes else ""
        raise CapabilityMissing("a second node where the volume may be used", f"leaving {leaving}: {where}{runs}")
    return takers


@pytest.mark.promise(feature="Attachment follows the pod")
@pytest.mark.parametrize("how", ["delete", "evict"])
@pytest.mark.disruptive
@pytest.mark.needs("csi-attach", "nodes:2")
def test_volume_attachment_follows_its_pod(
    how: str, stateful: Workload, recorder: Recorder, cluster_info: ClusterInfo, run_id: str, figures: Figures
) -> None:
    """A ReadWriteOnce CSI volume MUST follow its pod to a new node, attached to one node at a time.

    The pod's node is cordoned and the pod deleted or evicted, so its successor lands elsewhere;
    the old attachment must be detached (or gone) before the new node's reports attached.
    """
    driver = _attaching_driver(cluster_info)
    with step("Create the set with a claim template and wait until it is Ready"):
        sts = stateful.deploy()
        before = snapshot_claims(sts, stateful.claims())
        victim = stateful.pod(1)
        node = str(o.spec(victim).get("nodeName"))
        takers = _new_node(stateful, cluster_info, 1, node)
        claim = pvc_name("data", stateful.name, 1)
        volume = str(before[claim].volume)
    try:
        with step(f"Cordon {node} and {how} {o.name(victim)}: it must come back on one of {takers}"):
            cordon(stateful.kube, node, run_id)
            fault = recorder.clock()
            hit = stateful.disrupt_pod(how, 1)  # type: ignore[arg-type]
            stateful.wait_recreated(1, hit.uid)
    finally:
        uncordon(stateful.kube, node)
    with step(f"Wait for pv {volume} to be detached from {node}"):
        wait_for_detached(stateful.kube, volume, node, timeout=stateful.timeouts.pod)
        recorded(
            recorder,
            lambda e: (
                e.kind == "VolumeAttachment"
                and e.event == "DELETED"
                and (e.detail.get("pv"), e.detail.get("node")) == (volume, node)
            ),
            timeout=stateful.timeouts.hold,
        )
        stateful.wait_ready()
    with step("Judge the attachments from the timeline: they follow the pods, one node at a time"):
        claims = single_writer_claims(stateful.requested())
        findings = check_attachments(recorder.timeline, stateful.namespace, claims, attaching={driver})
        state = stateful.observe()
        assert state.sts is not None, f"StatefulSet {stateful.namespace}/{stateful.name} is gone"
        findings += check_claims(state.sts, state.pods, state.pvcs, state.pvs)
        findings += check_reattached(before, state.pvcs, namespace=stateful.namespace)
        assert_no_findings(findings, what=f"attachment of {claim} after {how}", timeline=recorder.timeline)
    moved = attach_figures(recorder.timeline, stateful.namespace, [claim], context=f"after-{how}", since=fault)
    for name, seconds in moved:
        figures.record(name, seconds)


@pytest.fixture
def second_pod(stateful: Workload) -> Iterator[list[str]]:
    """Names of bare pods a test creates beside the set; deleted afterwards (the namespace would, later)."""
    made: list[str] = []
    yield made
    for name in made:
        stateful.kube.delete(PODS, name, stateful.namespace)


@pytest.mark.promise(feature="ReadWriteOncePod")
@pytest.mark.needs("csi")
@pytest.mark.min_version("1.29")
def test_read_write_once_pod_claim_keeps_a_second_pod_off(
    stateful: Workload, recorder: Recorder, second_pod: list[str]
) -> None:
    """A second pod mounting an ordinal's ReadWriteOncePod claim MUST stay unscheduled while the first runs.

    Once the first pod is gone (the set scaled to 0) the second one MUST be scheduled: the claim,
    nothing else, kept it off.
    """
    claim = pvc_name("data", stateful.name, 0)
    with step("Create a set of 1 whose claim template asks for ReadWriteOncePod; wait until Ready"):
        stateful.deploy(manifest=stateful.manifest(replicas=1, access_modes=("ReadWriteOncePod",)))
        first = stateful.pod(0)
    with step(f"Create pod 'second' mounting {claim}: the scheduler must refuse it a node"):
        manifest = claim_pod_manifest(
            "second",
            stateful.namespace,
            claim,
            image=stateful.image,
            labels=stateful.labels,
            run_as_user=stateful.run_as_user,
        )
        stateful.kube.create_object(manifest)
        second_pod.append("second")
        refused = _wait_second(stateful, lambda p: _unschedulable(p) is not None, "refused a node (Unschedulable)")
    with step(f"Hold: 'second' stays unscheduled while {o.name(first)} runs"):

        def taken(pods: list[Obj]) -> str | None:
            for pod in pods:
                if o.name(pod) == "second" and o.spec(pod).get("nodeName"):
                    return f"second bound to {o.spec(pod).get('nodeName')} while {o.name(first)} uses {claim}"
            return None

        hold(
            stateful.kube,
            Query(PODS, stateful.namespace, field_selector="metadata.name=second"),
            taken,
            expect=f"pod second unscheduled while {o.name(first)} uses {claim}",
            seconds=stateful.timeouts.hold,
        )
        stateful.wait_pod(0, lambda p: o.uid(p) == o.uid(first) and o.pod_ready(p), expect="the first pod still Ready")
    with step(f"Scale the set to 0: with {o.name(first)} gone, 'second' must be scheduled"):
        stateful.scale(0)
        stateful.wait_pods_gone([0])
        _wait_second(stateful, lambda p: bool(o.spec(p).get("nodeName")), "scheduled to a node")
    with step("Judge from the timeline: one pod on the claim at a time"):
        findings = check_single_pod_claims(recorder.timeline, stateful.namespace, [claim])
        assert_no_findings(
            findings,
            what=f"ReadWriteOncePod claim {claim} (refused: {_unschedulable(refused)})",
            timeline=recorder.timeline,
        )


def _unschedulable(pod: Obj) -> str | None:
    """The scheduler's message when it refused the pod a node (``PodScheduled=False``, Unschedulable)."""
    condition = o.condition(pod, "PodScheduled")
    if condition and condition.get("status") == "False" and condition.get("reason") == "Unschedulable":
        return str(condition.get("message") or "Unschedulable")
    return None


def _wait_second(workload: Workload, judge: Callable[[Obj], bool], expect: str) -> Obj:
    def verdict(items: list[Obj]) -> Verdict[Obj]:
        pod = next((p for p in items if o.name(p) == "second"), None)
        if pod is None:
            return Verdict(False, "absent")
        seen = f"phase {o.status(pod).get('phase')}, node {o.spec(pod).get('nodeName')}, {_unschedulable(pod)}"
        return Verdict(judge(pod), seen, pod)

    return wait_for(
        workload.kube,
        Query(PODS, workload.namespace, field_selector="metadata.name=second"),
        verdict,
        expect=f"pod {workload.namespace}/second {expect}",
        timeout=workload.timeouts.pod,
    )


@pytest.mark.promise(feature="Claim expansion")
@pytest.mark.needs("volume-expansion", "exec")
def test_expanding_an_ordinals_claim_grows_what_the_pod_sees_and_keeps_the_data(
    stateful: Workload, recorder: Recorder
) -> None:
    """Expanding an ordinal's claim MUST grow what its pod sees to at least the new size and keep the data.

    The claim is grown in place (templates are immutable); a driver that only expands offline
    gets its pod restarted once, as a user would.
    """
    claim_name = pvc_name("data", stateful.name, 0)
    with step("Create a set of 1 on nodes that run containers; write a token into the volume"):
        sts = stateful.deploy(manifest=stateful.manifest(replicas=1, needs_exec=True))
        token = write_token(stateful.kube, sts, stateful.pod(0))
        claim = stateful.kube.get(PVCS, claim_name, stateful.namespace)
        now = max(o.pvc_capacity(claim) or 0, o.pvc_request(claim) or 0)
        wanted = 2 * now
        size = f"{wanted // MIB}Mi" if wanted % MIB == 0 else str(wanted)
    with step(f"Expand {claim_name} from {now} to {size}"):
        stateful.kube.patch(
            PVCS, claim_name, {"spec": {"resources": {"requests": {"storage": size}}}}, stateful.namespace
        )
        grown = _wait_capacity(stateful, claim_name, wanted, or_pending=True)
        if (o.pvc_capacity(grown) or 0) < wanted:
            with step("The driver grows the filesystem offline: restart the pod once"):
                hit = stateful.disrupt_pod("delete", 0)
                stateful.wait_recreated(0, hit.uid)
                grown = _wait_capacity(stateful, claim_name, wanted, or_pending=False)
    with step("Check the size the API and the pod see, and the token"):
        pod = stateful.pod(0)
        findings = check_expanded(grown, wanted, mounted_bytes(stateful.kube, sts, pod))
        findings += check_tokens(sts, {o.name(pod): token}, {o.name(pod): read_token(stateful.kube, sts, pod)})
        assert_no_findings(findings, what=f"expansion of {claim_name} to {size}", timeline=recorder.timeline)


def _wait_capacity(workload: Workload, name: str, wanted: int, *, or_pending: bool) -> Obj:
    """Wait until the claim holds ``wanted`` bytes (or, with ``or_pending``, waits for the node to grow it)."""

    def judge(items: list[Obj]) -> Verdict[Obj]:
        claim = next((c for c in items if o.name(c) == name), None)
        if claim is None:
            return Verdict(False, "absent")
        capacity = o.pvc_capacity(claim) or 0
        conditions = [str(c.get("type")) for c in o.status(claim).get("conditions") or ()]
        pending = "FileSystemResizePending" in conditions
        return Verdict(
            capacity >= wanted or (or_pending and pending), f"capacity {capacity}, conditions {conditions}", claim
        )

    return wait_for(
        workload.kube,
        Query(PVCS, workload.namespace, field_selector=f"metadata.name={name}"),
        judge,
        expect=f"claim {workload.namespace}/{name} to hold at least {wanted} bytes",
        timeout=workload.timeouts.ready,
    )
