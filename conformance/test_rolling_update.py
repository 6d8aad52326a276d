"""Rolling updates: highest ordinal first, one at a time; partition pins low ordinals; OnDelete waits;
rollback re-uses the earlier revision; a broken OrderedReady rollout is reported, not hung on."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest

from ordinal.act.pods import delete_pod
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_at_most_one_live
from ordinal.checks.ordering import check_rolling_update
from ordinal.checks.revisions import check_on_delete, check_partition, check_revision_status, check_rollback
from ordinal.kube import objects as o
from ordinal.kube.manifests import pod_name
from ordinal.kube.rest import CONTROLLER_REVISIONS, PODS, ApiError
from ordinal.labels import REVISION_LABEL
from ordinal.observe.recorder import Recorder, synced
from ordinal.pytest_plugin import Figures
from ordinal.types import Obj

pytestmark = pytest.mark.promise("Rollout and partition")


def _revisions(workload: Workload) -> list[Obj]:
    items, _ = workload.kube.list(CONTROLLER_REVISIONS, workload.namespace)
    return items


def _update_revision_changed(old: str) -> Any:
    def judge(sts: Obj) -> bool:
        return bool(o.status(sts).get("updateRevision")) and o.status(sts).get("updateRevision") != old

    return judge


@pytest.mark.promise(feature="Rolling update")
def test_rolling_update_replaces_pods_from_the_highest_ordinal(
    workload: Workload, recorder: Recorder, figures: Figures
) -> None:
    """A RollingUpdate MUST replace pods from the highest ordinal down, one at a time, each after the last is Ready."""
    with step(f"Create the set ({workload.replicas} replicas) and wait until Ready"):
        workload.deploy()
    with step("Change the pod template"):
        since = recorder.clock()
        workload.set_template_version("v2")
    with step("Wait until the rollout is complete"):
        sts = workload.wait_rollout()
        figures.record("rollout-rolling-update", recorder.clock() - since)
    with step("Check the order of replacements in the timeline and the revision status"):
        update = o.status(sts).get("updateRevision")
        findings = check_rolling_update(
            synced(recorder), workload.name, replicas=workload.replicas, update_revision=update, since=since
        )
        findings += check_revision_status(sts, workload.pods())
        assert_no_findings(findings, what="rolling update", timeline=recorder.timeline)


@pytest.mark.promise(feature="Partition (canary)")
def test_partition_pins_lower_ordinals_even_when_they_are_deleted(
    workload: Workload, recorder: Recorder, figures: Figures
) -> None:
    """With a partition P only ordinals ≥ P MUST be updated; a deleted pod below P MUST return at the old revision."""
    replicas = max(workload.replicas, 3)
    canary = replicas - 1
    with step(f"Create the set ({replicas} replicas) and wait until Ready"):
        workload.deploy(replicas=replicas)
    with step(f"Set partition {canary} and change the template: only {pod_name(workload.name, canary)} may update"):
        since = recorder.clock()
        workload.patch(
            {
                "spec": {
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": canary}},
                    "template": {"metadata": {"annotations": {"ordinal.dev/template": "v2"}}},
                }
            }
        )
        sts = workload.wait_rollout(partition=canary)
        assert_no_findings(
            check_partition(sts, workload.pods())
            + check_rolling_update(synced(recorder), workload.name, replicas=replicas, partition=canary, since=since),
            what=f"partition {canary}",
            timeline=recorder.timeline,
        )
    with step(f"Delete {pod_name(workload.name, 0)} (below the partition): it must return at the old revision"):
        hit = workload.disrupt_pod("delete", 0)
        workload.wait_recreated(0, hit.uid)
        sts = workload.wait_rollout(partition=canary)
        assert_no_findings(check_partition(sts, workload.pods()), what="partition after a delete below it")
    with step("Lower the partition to 0 and wait for the rollout to finish"):
        since = recorder.clock()
        workload.patch({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
        sts = workload.wait_rollout()
        figures.record("rollout-partition-to-0", recorder.clock() - since)
    with step("Check every pod runs the update and the order of replacements"):
        update = o.status(sts).get("updateRevision")
        findings = check_partition(sts, workload.pods()) + check_revision_status(sts, workload.pods())
        findings += check_rolling_update(
            synced(recorder), workload.name, replicas=replicas, update_revision=update, since=since
        )
        assert_no_findings(findings, what="phased rollout to partition 0", timeline=recorder.timeline)


@pytest.mark.promise(feature="OnDelete")
def test_on_delete_updates_nothing_until_a_pod_is_deleted(workload: Workload, recorder: Recorder) -> None:
    """With OnDelete the controller MUST replace no pod on a template change; a deleted pod MUST return updated."""
    with step(f"Create an OnDelete set ({workload.replicas} replicas) and wait until Ready"):
        sts = workload.deploy(update_strategy="OnDelete")
        before = workload.pods()
        current = str(o.status(sts).get("currentRevision"))
    with step("Change the pod template: no pod may be replaced"):
        workload.set_template_version("v2")
        sts = workload.wait_set(_update_revision_changed(current), expect="with a new updateRevision")

        def replaced(pods: list[Obj]) -> str | None:
            uids = {o.name(p): o.uid(p) for p in before}
            changed = [o.name(p) for p in pods if uids.get(o.name(p)) != o.uid(p) or o.terminating(p)]
            return f"the controller replaced {changed} under OnDelete" if changed else None

        workload.hold_pods(replaced, expect="no pod replaced")
    with step(f"Delete {pod_name(workload.name, 1)}: it must return at the update revision"):
        hit = workload.disrupt_pod("delete", 1)
        workload.wait_recreated(1, hit.uid)
        # The controller writes status from its pod cache, which may trail the new pod by a sync;
        # the promise is the status it settles on, so wait (by watch) for it to count the new pod.
        sts = workload.wait_set(
            lambda s: o.status(s).get("updatedReplicas") == 1 and o.status(s).get("readyReplicas") == workload.replicas,
            expect="with 1 updated and every replica ready",
        )
    with step("Check only the deleted pod was replaced, at the update revision"):
        findings = check_on_delete(sts, before, workload.pods(), deleted={hit.name})
        findings += check_revision_status(sts, workload.pods())
        assert_no_findings(findings, what="OnDelete after a template change", timeline=recorder.timeline)


@pytest.mark.promise(feature="Rollback")
def test_rollback_reuses_the_earlier_revision(workload: Workload, recorder: Recorder, figures: Figures) -> None:
    """Reverting the template MUST re-use the earlier ControllerRevision (no new one) and roll every pod back."""
    with step(f"Create the set ({workload.replicas} replicas) and wait until Ready"):
        sts = workload.deploy()
        original = copy.deepcopy(o.spec(sts)["template"])
        earlier = str(o.status(sts).get("currentRevision"))
    with step("Update the template and wait for the rollout"):
        workload.set_template_version("v2")
        workload.wait_rollout()
        revisions_before = _revisions(workload)
    with step("Put the original template back and wait for the rollout"):
        since = recorder.clock()
        workload.restore_template(original)
        sts = workload.wait_rollout()
        figures.record("rollout-rollback", recorder.clock() - since)
    with step(f"Check the set is back at {earlier} without a new revision"):
        findings = check_rollback(earlier, sts, revisions_before=revisions_before, revisions_after=_revisions(workload))
        findings += check_revision_status(sts, workload.pods())
        assert_no_findings(findings, what="rollback", timeline=recorder.timeline)


@pytest.mark.promise(feature="Rollback", story="forced rollback of a broken OrderedReady rollout")
@pytest.mark.needs("readiness-control")
def test_revert_alone_does_not_unstick_ordered_ready_rollout(
    workload: Workload, recorder: Recorder, figures: Figures
) -> None:
    """A broken OrderedReady rollout MUST stop at its first pod; reverting and deleting that pod MUST recover the set.

    Whether the revert alone heals the stuck pod (upstream #67250 says it does not) is
    observed for a bounded window and reported as the ``forced-rollback-trap`` property.
    """
    top = workload.replicas - 1
    with step(f"Create the set ({workload.replicas} replicas) and wait until Ready"):
        sts = workload.deploy()
        original = copy.deepcopy(o.spec(sts)["template"])
        earlier = str(o.status(sts).get("currentRevision"))
    with step(f"Roll out a template whose pods never become Ready: {pod_name(workload.name, top)} gets stuck"):
        workload.break_template("broken")
        sts = workload.wait_set(_update_revision_changed(earlier), expect="with the broken revision")
        broken = str(o.status(sts).get("updateRevision"))
        stuck = workload.wait_pod(
            top,
            lambda p: o.labels(p).get(REVISION_LABEL) == broken and not o.pod_ready(p),
            expect=f"at revision {broken}, not Ready",
        )

        def progressed(pods: list[Obj]) -> str | None:
            moved = [
                o.name(p) for p in pods if o.name(p) != o.name(stuck) and o.labels(p).get(REVISION_LABEL) == broken
            ]
            return f"rollout went past the unready {o.name(stuck)}: {moved}" if moved else None

        workload.hold_pods(progressed, expect=f"the rollout halted at {o.name(stuck)}")
    with step("Revert the template and watch, for a bounded window, whether the stuck pod is replaced"):
        workload.restore_template(original)
        workload.wait_set(lambda s: o.status(s).get("updateRevision") == earlier, expect=f"back at {earlier}")

        def healed(pods: list[Obj]) -> str | None:
            return None

        seen = workload.hold_pods(healed, expect=f"{o.name(stuck)} left as it is")
        still = [p for p in seen if o.uid(p) == o.uid(stuck)]
        trap = "present: revert alone left the broken pod in place" if still else "absent: revert replaced it"
        figures.note("forced-rollback-trap", trap)
    with step(f"Delete {o.name(stuck)} (the documented forced rollback) and wait for the set to recover"):
        delete_pod(workload.kube, workload.namespace, workload.name, top)
        sts = workload.wait_rollout()
    with step(f"Check the set is back at {earlier}"):
        findings = check_rollback(earlier, sts) + check_revision_status(sts, workload.pods())
        assert_no_findings(findings, what="forced rollback", timeline=recorder.timeline)


@pytest.mark.promise(feature="maxUnavailable")
@pytest.mark.needs("gate:MaxUnavailableStatefulSet")
def test_max_unavailable_bounds_the_pods_replaced_at_once(
    workload: Workload, recorder: Recorder, figures: Figures
) -> None:
    """With maxUnavailable=2 a rollout MUST never have more than 2 pods unavailable, highest ordinals first."""
    replicas = max(workload.replicas, 3)
    with step(f"Create the set ({replicas} replicas, maxUnavailable 2) and wait until Ready"):
        workload.deploy(replicas=replicas, max_unavailable=2)
    with step("Change the pod template and wait for the rollout"):
        since = recorder.clock()
        workload.set_template_version("v2")
        sts = workload.wait_rollout()
        figures.record("rollout-max-unavailable-2", recorder.clock() - since)
    with step("Check the budget and the order in the timeline"):
        update = o.status(sts).get("updateRevision")
        findings = check_rolling_update(
            synced(recorder),
            workload.name,
            replicas=replicas,
            update_revision=update,
            max_unavailable=2,
            since=since,
        )
        findings += check_revision_status(sts, workload.pods())
        assert_no_findings(findings, what="rollout with maxUnavailable 2", timeline=recorder.timeline)


#: Holds pod-0 Terminating in the partition test (removed by the test, whatever happens).
HOLD_FINALIZER = "ordinal.dev/hold"


@pytest.mark.promise(feature="Partition (canary)", story="pod-0 held Terminating by a finalizer")
def test_partition_keeps_a_terminating_pod_below_it_at_the_old_revision(workload: Workload, recorder: Recorder) -> None:
    """With partition 1, pods ≥ 1 MUST update; pod-0 held Terminating MUST NOT be replaced until it is gone,
    and MUST return at the old revision."""
    replicas = max(workload.replicas, 3)
    first = pod_name(workload.name, 0)
    with step(f"Create the set ({replicas} replicas, partition 1) and wait until Ready"):
        sts = workload.deploy(replicas=replicas, partition=1)
        current = str(o.status(sts).get("currentRevision"))
    try:
        with step(f"Put a finalizer on {first}"):
            workload.kube.patch(PODS, first, {"metadata": {"finalizers": [HOLD_FINALIZER]}}, workload.namespace)
        with step("Change the template: every pod but the one below the partition must update"):
            since = recorder.clock()
            workload.set_template_version("v2")
            sts = workload.wait_rollout(partition=1)
            until = recorder.clock()
            findings = check_partition(sts, workload.pods())
            findings += check_rolling_update(
                synced(recorder), workload.name, replicas=replicas, partition=1, since=since, until=until
            )
            assert_no_findings(findings, what="partition 1", timeline=recorder.timeline)
        with step(f"Delete {first}: the finalizer keeps it Terminating and not Ready"):
            hit = workload.disrupt_pod("delete", 0)
            workload.wait_pod(0, lambda p: o.terminating(p) and not o.pod_ready(p), expect="Terminating, not Ready")
            workload.wait_set(
                lambda s: o.status(s).get("readyReplicas") == replicas - 1, expect=f"with {replicas - 1} ready"
            )

            def replaced(pods: list[Obj]) -> str | None:
                now = next((p for p in pods if o.name(p) == first), None)
                if now is not None and o.uid(now) != hit.uid:
                    return f"{first} replaced (uid {o.uid(now)}) while uid {hit.uid} was still Terminating"
                return None

            workload.hold_pods(replaced, expect=f"{first} left Terminating, not replaced")
    finally:
        with contextlib.suppress(ApiError):  # gone already: nothing holds it
            workload.kube.patch(PODS, first, {"metadata": {"finalizers": None}}, workload.namespace)
    with step(f"Remove the finalizer: {first} must come back, at the old revision {current}"):
        workload.wait_recreated(0, hit.uid)
        sts = workload.wait_rollout(partition=1)
    with step("Check the revisions: below the partition the old one, above it the update"):
        pods = workload.pods()
        findings = check_partition(sts, pods) + check_revision_status(sts, pods)
        findings += check_at_most_one_live(synced(recorder), set_name=workload.name)
        assert_no_findings(findings, what=f"partition 1 with {first} held Terminating", timeline=recorder.timeline)
