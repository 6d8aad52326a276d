"""Storage: each ordinal has its own claim and volume, and gets the same ones back after every disruption."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ordinal.act.nodes import cordon, uncordon
from ordinal.act.pods import delete_set
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.capabilities import ClusterInfo
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.attachments import attach_figures, single_writer_claims
from ordinal.checks.storage import (
    ClaimSnapshot,
    Pin,
    check_claims,
    check_pod_on_volume_node,
    check_reattached,
    snapshot_claims,
    volume_pin,
)
from ordinal.kube import objects as o
from ordinal.kube.manifests import pod_name, pvc_name
from ordinal.kube.rest import EVENTS, NODES, PVCS
from ordinal.labels import HOSTNAME_LABEL
from ordinal.observe.recorder import Recorder, replacement_time
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.pytest_plugin import Figures
from ordinal.types import Finding, Obj

pytestmark = [pytest.mark.promise("Storage reattachment"), pytest.mark.needs("storage")]


@pytest.fixture
def stateful(workload: Workload) -> Workload:
    """The workload with a per-pod claim template ``data`` on the StorageClass under test."""
    workload.claim_template = "data"
    return workload


def _storage_findings(workload: Workload, before: Mapping[str, ClaimSnapshot] | None = None) -> list[Finding]:
    """Claims per ordinal, own PVs, mounted by the right pod, pods on their volume's node (and same as before)."""
    state = workload.observe()
    assert state.sts is not None, f"StatefulSet {workload.namespace}/{workload.name} is gone"
    findings = check_claims(state.sts, state.pods, state.pvcs, state.pvs)
    findings += check_pod_on_volume_node(state.sts, state.pods, state.pvcs, state.pvs, state.nodes)
    if before is not None:
        findings += check_reattached(before, state.pvcs, namespace=workload.namespace)
    return findings


def _pin(workload: Workload, ordinal: int) -> Pin | None:
    """Where the ordinal's volume may be used (one node, one zone), if it is pinned at all."""
    state = workload.observe()
    assert state.sts is not None, f"StatefulSet {workload.namespace}/{workload.name} is gone"
    return volume_pin(state.sts, state.pvcs, state.pvs, ordinal)


def _other_takers(workload: Workload, pin: Pin | None, drained: str) -> list[str]:
    """Schedulable nodes besides the drained one where the volume may be used."""
    nodes, _ = workload.kube.list(NODES)
    return [
        o.name(n) for n in nodes if o.name(n) != drained and o.node_schedulable(n) and (pin is None or pin.admits(n))
    ]


@pytest.mark.promise(feature="A claim per ordinal")
def test_each_ordinal_gets_its_own_bound_claim_and_volume(stateful: Workload, recorder: Recorder) -> None:
    """Each ordinal MUST get its own claim <template>-<set>-<ordinal>, Bound to a PV of its own, mounted by its pod."""
    with step(f"Create StatefulSet {stateful.name} ({stateful.replicas} replicas) with a claim template"):
        stateful.deploy()
    with step("Check claims, volumes and mounts"):
        assert_no_findings(_storage_findings(stateful), what="claims per ordinal", timeline=recorder.timeline)


@pytest.mark.promise(feature="The same volume after a disruption")
@pytest.mark.parametrize("how", ["delete", "evict"])
def test_pod_keeps_its_pvc_after_reschedule(how: str, stateful: Workload, recorder: Recorder, figures: Figures) -> None:
    """A pod deleted or evicted MUST come back mounting the same claim (same UID) on the same PV."""
    with step("Create the set with a claim template and wait until it is Ready"):
        sts = stateful.deploy()
        before = snapshot_claims(sts, stateful.claims())
    with step(f"{how.capitalize()} pod {pod_name(stateful.name, 1)}"):
        hit = stateful.disrupt_pod(how, 1)  # type: ignore[arg-type]
    with step(f"Wait for {hit.name} to return Ready"):
        stateful.wait_recreated(1, hit.uid)
        stateful.wait_ready()
    with step("Check the ordinal got its claim and volume back"):
        assert_no_findings(_storage_findings(stateful, before), what=f"storage after {how}", timeline=recorder.timeline)
    seconds = replacement_time(recorder, hit.name, hit.uid)
    if seconds is not None:
        figures.record(f"reattach-after-{how}", seconds)


@pytest.mark.promise(feature="The same volume after a disruption", story="drain")
@pytest.mark.disruptive
@pytest.mark.needs("nodes:2")
def test_pod_keeps_its_pvc_after_drain(
    stateful: Workload, recorder: Recorder, run_id: str, figures: Figures, cluster_info: ClusterInfo
) -> None:
    """A pod drained off its node MUST come back with the same claim and PV, only where its volume may be used.

    Node-pinned: it waits, unscheduled, until its node is back. Zone-pinned: it returns on another
    node of its zone, or waits like a node-pinned one when the zone has no other node.
    """
    with step("Create the set with a claim template and a PodDisruptionBudget, wait until Ready"):
        sts = stateful.deploy()
        before = snapshot_claims(sts, stateful.claims())
        victim = stateful.pod(1)
        pin = _pin(stateful, 1)
        node = str(o.spec(victim).get("nodeName"))
        takers = _other_takers(stateful, pin, node)
    fault = recorder.clock()
    with step(f"Drain node {node} of {o.name(victim)}"), stateful.draining(1, run_id) as drained:
        if pin is not None and not takers:
            wait = f"The volume is pinned to {pin}: {o.name(victim)} must wait, unscheduled, while {node} is cordoned"
            with step(wait):
                _wait_failed_scheduling(stateful, o.name(victim), o.uid(victim))

                def scheduled_elsewhere(pods: list[Obj]) -> str | None:
                    for pod in pods:
                        on = o.spec(pod).get("nodeName")
                        if o.name(pod) == o.name(victim) and o.uid(pod) != o.uid(victim) and on:
                            return f"{o.name(pod)} scheduled to {on} while its volume is pinned to {pin}"
                    return None

                stateful.hold_pods(scheduled_elsewhere, expect=f"{o.name(victim)} not scheduled elsewhere")
        else:
            where = f"a node of its volume's {pin}" if pin is not None else "another node"
            with step(f"Wait for {o.name(victim)} to return Ready on {where}"):
                stateful.wait_recreated(1, o.uid(victim))
    with step(f"Node {drained.node} uncordoned: wait for every drained pod to return Ready"):
        for hit in drained.evicted:
            stateful.wait_recreated(int(hit.name.rsplit("-", 1)[1]), hit.uid)
        stateful.wait_ready()
    with step("Check every ordinal got its claim and volume back, on its volume's node"):
        findings = _storage_findings(stateful, before)
        if pin is not None and pin.kind == "node" and o.spec(stateful.pod(1)).get("nodeName") != pin.value:
            findings.append(
                Finding(
                    "storage.pod-on-volume-node",
                    o.subject(stateful.pod(1), "Pod"),
                    "spec.nodeName",
                    pin.value,
                    o.spec(stateful.pod(1)).get("nodeName"),
                )
            )
        assert_no_findings(findings, what=f"storage after draining {drained.node}", timeline=recorder.timeline)
    seconds = replacement_time(recorder, o.name(victim), o.uid(victim))
    if seconds is not None:
        figures.record("reattach-after-drain" + (f"-{pin.kind}-pinned" if pin else ""), seconds)
    if cluster_info.volume_attachments:  # a CSI volume that moved: how long detach and attach took
        claims = single_writer_claims(stateful.requested())
        for name, value in attach_figures(
            recorder.timeline, stateful.namespace, claims, context="after-drain", since=fault
        ):
            figures.record(name, value)


def _wait_failed_scheduling(workload: Workload, name: str, old_uid: str) -> None:
    def refused(items: list[Obj]) -> Verdict[str]:
        hits = [
            e
            for e in items
            if e.get("reason") == "FailedScheduling" and (e.get("involvedObject") or {}).get("uid") != old_uid
        ]
        return Verdict(bool(hits), str(hits[-1].get("message")) if hits else "no FailedScheduling yet")

    wait_for(
        workload.kube,
        Query(EVENTS, workload.namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}"),
        refused,
        expect=f"the scheduler to refuse the replacement of {name} (FailedScheduling)",
        timeout=workload.timeouts.pod,
    )


@pytest.mark.promise(feature="The same volume after a disruption", story="set deleted and recreated")
def test_claims_come_back_when_the_set_is_deleted_and_recreated(stateful: Workload, recorder: Recorder) -> None:
    """A set deleted and created again MUST give every ordinal its old claim (same UID) and PV back."""
    with step("Create the set with a claim template and wait until it is Ready"):
        sts = stateful.deploy()
        manifest = stateful.manifest()
        before = snapshot_claims(sts, stateful.claims())
    with step(f"Delete StatefulSet {stateful.name} and wait until its pods are gone"):
        delete_set(stateful.kube, stateful.namespace, stateful.name)
        stateful.wait_pods_gone(range(stateful.replicas))
    with step("Create the same set again and wait until it is Ready"):
        stateful.deploy(service=False, manifest=manifest)
    with step("Check every ordinal got its claim and volume back"):
        findings = _storage_findings(stateful, before)
        assert_no_findings(findings, what="storage after set delete and recreate", timeline=recorder.timeline)


@pytest.mark.promise(feature="Node-pinned volumes")
@pytest.mark.needs("node-pinned-storage")
def test_node_pinned_volume_brings_the_pod_back_to_its_node(
    stateful: Workload, cluster_info: ClusterInfo, recorder: Recorder
) -> None:
    """On a node-pinned StorageClass a replaced pod MUST come back on the node its volume lives on."""
    with step("Create the set with a claim template and wait until it is Ready"):
        stateful.deploy()
        victim = stateful.pod(1)
        node = o.spec(victim).get("nodeName")
    with step(f"Delete {o.name(victim)} (on {node})"):
        stateful.disrupt_pod("delete", 1)
    with step(f"Wait for {o.name(victim)} to return Ready"):
        back = stateful.wait_recreated(1, o.uid(victim))
    with step(f"Check it is back on {node}"):
        findings = _storage_findings(stateful)
        if o.spec(back).get("nodeName") != node:
            findings.append(
                Finding(
                    "storage.pod-on-volume-node",
                    o.subject(back, "Pod"),
                    "spec.nodeName",
                    node,
                    o.spec(back).get("nodeName"),
                )
            )
        assert_no_findings(findings, what=f"{o.name(victim)} on its volume's node", timeline=recorder.timeline)


@pytest.mark.promise(feature="Zone-pinned volumes")
@pytest.mark.needs("zone-pinned-storage")
def test_zone_pinned_volume_keeps_the_pod_in_its_zone(stateful: Workload, recorder: Recorder) -> None:
    """On a zone-pinned StorageClass a replaced pod MUST come back on a node of the zone its volume lives in."""
    with step("Create the set with a claim template and wait until it is Ready"):
        stateful.deploy()
        victim = stateful.pod(1)
        pin = _pin(stateful, 1)
        assert pin is not None and pin.kind == "zone", f"expected a zone-pinned volume for {o.name(victim)}, saw {pin}"
    with step(f"Delete {o.name(victim)} (its volume is pinned to {pin})"):
        stateful.disrupt_pod("delete", 1)
    with step(f"Wait for {o.name(victim)} to return Ready"):
        back = stateful.wait_recreated(1, o.uid(victim))
    with step(f"Check it is back in {pin}"):
        node = stateful.kube.get(NODES, str(o.spec(back).get("nodeName")))
        findings = _storage_findings(stateful)
        if not pin.admits(node):
            findings.append(
                Finding("storage.pod-on-volume-node", o.subject(back, "Pod"), "spec.nodeName", str(pin), o.name(node))
            )
        assert_no_findings(findings, what=f"{o.name(victim)} in its volume's zone", timeline=recorder.timeline)


@pytest.mark.promise(feature="A claim per ordinal", story="claim deleted under a Pending pod")
@pytest.mark.disruptive
def test_claim_deleted_while_its_pod_is_pending_is_recreated(
    stateful: Workload, recorder: Recorder, run_id: str, cluster_info: ClusterInfo
) -> None:
    """A claim deleted while its pod is Pending MUST be recreated (new UID), and the pod MUST start on it."""
    nodes, _ = stateful.kube.list(NODES)
    usable = sorted((n for n in nodes if o.node_schedulable(n)), key=o.name)
    # A CSI class provisions only where its node plugin runs (CSINode): pin the pod to such a node.
    csi = cluster_info.storage.csi if cluster_info.storage is not None else None
    if csi is not None and csi.nodes:
        usable = [n for n in usable if o.name(n) in csi.nodes] or usable
    assert usable, "expected a schedulable node, found none"
    node = o.name(usable[0])
    host = o.labels(usable[0]).get(HOSTNAME_LABEL, node)
    claim = pvc_name("data", stateful.name, 0)
    with step(f"Create a set of 1 pinned to node {node} with a claim template; wait until Ready"):
        manifest = stateful.manifest(replicas=1)
        manifest["spec"]["template"]["spec"]["nodeSelector"] = {HOSTNAME_LABEL: host}
        stateful.deploy(manifest=manifest)
        old_claim = stateful.kube.get(PVCS, claim, stateful.namespace)
    try:
        with step(f"Cordon {node} and delete {pod_name(stateful.name, 0)}: its successor stays Pending"):
            cordon(stateful.kube, node, run_id)
            hit = stateful.disrupt_pod("delete", 0)
            pending = stateful.wait_pod(
                0, lambda p: o.uid(p) != hit.uid and o.status(p).get("phase") == "Pending", expect="Pending"
            )
        with step(f"Delete claim {claim} while {o.name(pending)} is Pending, uncordon: a new claim must be made"):
            stateful.kube.delete(PVCS, claim, stateful.namespace, uid=o.uid(old_claim))
            # The controller makes missing claims when it syncs the Pending pod; a claim's deletion
            # alone triggers no sync, the pod's next status change (here: schedulable again) does.
            uncordon(stateful.kube, node)

            def recreated(items: list[Obj]) -> Verdict[Obj]:
                now = next((c for c in items if o.name(c) == claim), None)
                if now is None:
                    return Verdict(False, "absent")
                fresh = o.uid(now) != o.uid(old_claim)
                return Verdict(fresh, f"uid {o.uid(now)}" + (" (the deleted one)" if not fresh else ""), now)

            new_claim = wait_for(
                stateful.kube,
                Query(PVCS, stateful.namespace),
                recreated,
                expect=f"claim {stateful.namespace}/{claim} recreated with a new UID for the Pending pod",
                timeout=stateful.timeouts.pod,
            )
    finally:
        uncordon(stateful.kube, node)
    with step(f"Node {node} uncordoned: wait for {pod_name(stateful.name, 0)} to start on the new claim"):
        stateful.wait_ready(1)
    with step("Check the ordinal's claim, its volume and the pod mounting it"):
        findings = _storage_findings(stateful)
        now = stateful.kube.get(PVCS, claim, stateful.namespace)
        if o.uid(now) != o.uid(new_claim):
            findings.append(
                Finding(
                    "storage.reattached-claim",
                    o.subject(now, "PersistentVolumeClaim"),
                    "metadata.uid",
                    o.uid(new_claim),
                    o.uid(now),
                )
            )
        assert_no_findings(findings, what=f"{claim} recreated under a Pending pod", timeline=recorder.timeline)
