"""Scaling: OrderedReady creates 0→N-1 and deletes N-1→0, one at a time, halting behind an unhealthy pod;
Parallel does not wait. Judged from the watch timeline, never from polling snapshots."""

from __future__ import annotations

import pytest

from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_at_most_one_live, check_replaced, snapshot_uids
from ordinal.checks.ordering import check_ordered_scale_down, check_ordered_scale_up
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name
from ordinal.labels import SIMULATE_LABEL, UNREADY
from ordinal.observe.recorder import Recorder, recorded, synced
from ordinal.pytest_plugin import Figures
from ordinal.types import Obj

pytestmark = pytest.mark.promise("Ordering")


def _ordinals(workload: Workload, pods: list[Obj]) -> list[int]:
    return sorted(n for p in pods if (n := parse_ordinal(o.name(p), workload.name)) is not None)


@pytest.mark.promise(feature="OrderedReady scale-up")
@pytest.mark.parametrize("min_ready", [0, 2], ids=["min-ready-0s", "min-ready-2s"])
def test_ordered_ready_creates_pods_in_ascending_order(
    min_ready: int, workload: Workload, recorder: Recorder, figures: Figures
) -> None:
    """OrderedReady MUST create pod i only after every lower ordinal is Running and Ready (for minReadySeconds)."""
    with step(f"Create the set ({workload.replicas} replicas, minReadySeconds {min_ready}) and wait until available"):
        started = recorder.clock()
        workload.deploy(min_ready_seconds=min_ready)
        suite = recorder.clock() - started
    timeline = synced(recorder)
    with step("Check creation order and readiness gating in the timeline"):
        findings = check_ordered_scale_up(timeline, workload.name, min_ready_seconds=min_ready)
        findings += check_at_most_one_live(timeline, set_name=workload.name)
        assert_no_findings(findings, what=f"scale-up 0→{workload.replicas}", timeline=timeline)
    available = recorded(
        recorder,
        lambda e: (
            e.kind == "StatefulSet" and e.name == workload.name and e.detail.get("available") == workload.replicas
        ),
    )
    created = recorded(recorder, lambda e: e.kind == "StatefulSet" and e.name == workload.name)
    assert available is not None and created is not None, f"the timeline never saw {workload.replicas} available"
    # The suite's time runs from before the create request to the waiter's return; the cluster's
    # from the set's first watch event to the status that says all replicas are available.
    figures.record(f"scale-up-suite-min-ready-{min_ready}s", suite)
    figures.record(f"scale-up-cluster-min-ready-{min_ready}s", available.mark.t - created.mark.t)


@pytest.mark.promise(feature="OrderedReady scale-down")
def test_scale_down_removes_highest_ordinal_first(workload: Workload, recorder: Recorder) -> None:
    """OrderedReady scale-down MUST delete the highest ordinal first, the next only once the previous is gone."""
    with step(f"Create the set with {workload.replicas} replicas and wait until Ready"):
        workload.deploy()
    with step("Scale to 0 and wait until every pod is gone"):
        since = recorder.clock()
        workload.scale(0)
        workload.wait_pods_gone(range(workload.replicas))
        workload.wait_ready(0)
    with step("Check deletion order in the timeline"):
        findings = check_ordered_scale_down(synced(recorder), workload.name, replicas=0, since=since)
        assert_no_findings(findings, what=f"scale-down {workload.replicas}→0", timeline=recorder.timeline)


@pytest.mark.promise(feature="OrderedReady halts behind an unhealthy pod")
@pytest.mark.needs("readiness-control")
def test_unhealthy_pod_halts_scale_up(workload: Workload, recorder: Recorder) -> None:
    """OrderedReady MUST NOT create pods above an unhealthy one, and MUST resume once it is Ready again."""
    target = workload.replicas + 1
    with step("Create the set with 2 replicas and wait until Ready"):
        workload.deploy(replicas=2)
    with step(f"Make {pod_name(workload.name, 1)} not Ready"):
        workload.make_unready(1)
        workload.wait_set(lambda s: o.status(s).get("readyReplicas", 0) == 1, expect="with 1 ready replica")
    with step(f"Scale to {target}: no pod above {pod_name(workload.name, 1)} may appear"):
        workload.scale(target)
        workload.wait_set(lambda s: o.spec(s).get("replicas") == target, expect=f"asked for {target} replicas")

        def created_above(pods: list[Obj]) -> str | None:
            above = [n for n in _ordinals(workload, pods) if n > 1]
            return f"created {[pod_name(workload.name, n) for n in above]} while web-1 is not Ready" if above else None

        workload.hold_pods(created_above, expect="no pod above the unhealthy one")
    with step(f"Make {pod_name(workload.name, 1)} Ready again and wait for {target} Ready pods"):
        workload.make_ready(1)
        workload.wait_ready(target)
    with step("Check creation order and gating over the whole run"):
        findings = check_ordered_scale_up(synced(recorder), workload.name)
        assert_no_findings(findings, what=f"scale-up 2→{target} behind an unhealthy pod", timeline=recorder.timeline)


@pytest.mark.promise(feature="OrderedReady halts behind an unhealthy pod")
@pytest.mark.needs("readiness-control")
def test_unhealthy_pod_halts_scale_down(workload: Workload, recorder: Recorder) -> None:
    """OrderedReady MUST NOT delete condemned pods while a pod that stays is unhealthy, and MUST resume after."""
    with step(f"Create the set with {workload.replicas} replicas and wait until Ready"):
        workload.deploy()
    with step(f"Make {pod_name(workload.name, 0)} not Ready"):
        workload.make_unready(0)
        ready = workload.replicas - 1
        workload.wait_set(lambda s: o.status(s).get("readyReplicas", 0) == ready, expect=f"with {ready} ready")
    with step("Scale to 1: no pod may be deleted while web-0 is unhealthy"):
        since = recorder.clock()
        workload.scale(1)
        workload.wait_set(lambda s: o.spec(s).get("replicas") == 1, expect="asked for 1 replica")

        def deleted(pods: list[Obj]) -> str | None:
            gone = sorted(
                set(range(workload.replicas)) - set(_ordinals(workload, [p for p in pods if not o.terminating(p)]))
            )
            return f"deleted {[pod_name(workload.name, n) for n in gone]} while web-0 is not Ready" if gone else None

        workload.hold_pods(deleted, expect="no deletion behind the unhealthy pod")
    with step(f"Make {pod_name(workload.name, 0)} Ready again and wait for the scale-down to finish"):
        workload.make_ready(0)
        workload.wait_pods_gone(range(1, workload.replicas))
        workload.wait_ready(1)
    with step("Check deletion order and halting in the timeline"):
        findings = check_ordered_scale_down(synced(recorder), workload.name, replicas=1, since=since)
        assert_no_findings(findings, what="scale-down behind an unhealthy pod", timeline=recorder.timeline)


@pytest.mark.promise(feature="Parallel pod management")
@pytest.mark.needs("readiness-control")
def test_parallel_creates_and_deletes_without_waiting_for_readiness(workload: Workload, recorder: Recorder) -> None:
    """Parallel MUST create (and delete) every pod without waiting for the others to become Ready."""
    with step(f"Create a Parallel set of {workload.replicas} pods that never become Ready"):
        manifest = workload.manifest(pod_management="Parallel", start_ready=False)
        manifest["spec"]["template"]["metadata"]["labels"][SIMULATE_LABEL] = UNREADY
        workload.deploy(manifest=manifest, wait=False)

    def all_created(pods: list[Obj]) -> bool:
        return _ordinals(workload, pods) == list(range(workload.replicas))

    with step(f"Wait until all {workload.replicas} pods exist, none of them Ready"):
        workload.wait_set(
            lambda s: o.status(s).get("replicas") == workload.replicas and not o.status(s).get("readyReplicas"),
            expect=f"with {workload.replicas} pods, none ready",
        )
        pods = workload.pods()
        assert all_created(pods) and not any(o.pod_ready(p) for p in pods), [(o.name(p), o.pod_ready(p)) for p in pods]
    with step("Scale to 0 and wait until every pod is gone"):
        workload.scale(0)
        workload.wait_pods_gone(range(workload.replicas))
    with step("Check that no creation waited for a predecessor to be Ready"):
        timeline = synced(recorder)
        waited = [
            f"{inc.name} created after {pod_name(workload.name, n - 1)} was Ready"
            for n, incs in timeline.set_incarnations(workload.name).items()
            for inc in incs
            if n > 0
            and any(
                prev.ready_at is not None and prev.ready_at < inc.first_seen
                for prev in timeline.incarnations(pod_name(workload.name, n - 1))
            )
        ]
        assert not waited, f"Parallel pods waited for readiness: {waited}\n{timeline.excerpt()}"


@pytest.mark.promise(feature="OrderedReady halts behind an unhealthy pod", story="a predecessor fails")
@pytest.mark.needs("readiness-control")
def test_failed_predecessor_is_recreated_while_a_higher_pod_is_unhealthy(
    workload: Workload, recorder: Recorder
) -> None:
    """A deleted lower ordinal MUST be recreated while a higher one is unhealthy: OrderedReady does not deadlock."""
    first, second = pod_name(workload.name, 0), pod_name(workload.name, 1)
    with step("Create the set with 2 replicas and wait until Ready"):
        workload.deploy(replicas=2)
    with step(f"Make {second} not Ready"):
        workload.make_unready(1)
        workload.wait_set(lambda s: o.status(s).get("readyReplicas", 0) == 1, expect="with 1 ready replica")
    with step(f"Delete {first} (healthy) while {second} is not Ready: {first} must come back"):
        hit = workload.disrupt_pod("delete", 0)
        workload.wait_recreated(0, hit.uid)
        workload.wait_pod_ready(1, ready=False)
    with step(f"Make {second} Ready again and wait for both pods"):
        workload.make_ready(1)
        workload.wait_ready(2)
    with step("Check the timeline: one live pod per identity, recreation not gated on the unhealthy higher pod"):
        findings = check_at_most_one_live(synced(recorder), set_name=workload.name)
        assert_no_findings(findings, what=f"{first} recreated behind an unhealthy {second}", timeline=recorder.timeline)


@pytest.mark.promise(feature="minReadySeconds on a live set")
def test_min_ready_seconds_changed_on_a_live_set_recounts_available_replicas(
    workload: Workload, recorder: Recorder
) -> None:
    """Raising minReadySeconds on a live set MUST drop availableReplicas without a restart; lowering MUST restore it."""
    replicas = 2
    with step(f"Create the set ({replicas} replicas, minReadySeconds 0) and wait until available"):
        workload.deploy(replicas=replicas)
        before = snapshot_uids(workload.pods())
    with step("Set minReadySeconds to 3600: no pod has been Ready that long, so none is available"):
        workload.patch({"spec": {"minReadySeconds": 3600}})
        workload.wait_set(
            lambda s: o.status(s).get("availableReplicas", 0) == 0 and o.status(s).get("readyReplicas") == replicas,
            expect=f"with 0 available of {replicas} ready (minReadySeconds 3600)",
        )
    with step("Set minReadySeconds back to 0: every ready pod is available again"):
        workload.patch({"spec": {"minReadySeconds": 0}})
        workload.wait_ready(replicas)
    with step("Check no pod was restarted for it"):
        findings = check_replaced(before, workload.pods(), set(), namespace=workload.namespace)
        findings += check_at_most_one_live(synced(recorder), set_name=workload.name)
        assert_no_findings(findings, what="minReadySeconds changed on a live set", timeline=recorder.timeline)
