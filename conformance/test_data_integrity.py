"""Data integrity: the bytes an ordinal wrote into its volume are there when it comes back.

"Same claim UID, same PV" proves the binding survived; only reading the data back proves the
storage kept it. Each test writes a token into every pod's volume (fsync'd), disrupts the set,
and reads each token back from the ordinal that wrote it. It needs pods that run (exec), so on
simulated nodes it skips with ``needs: exec into pods``; on a cluster with real nodes among
simulated ones the set goes onto the real ones.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ordinal.act.pods import delete_set
from ordinal.act.tokens import read_token, write_token
from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.storage import check_tokens
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name
from ordinal.observe.recorder import Recorder, replacement_time
from ordinal.pytest_plugin import Figures
from ordinal.types import Obj

pytestmark = [pytest.mark.promise("Data integrity"), pytest.mark.needs("storage", "exec")]


@pytest.fixture
def stateful(workload: Workload) -> Workload:
    """The workload with a per-pod claim template ``data``, on nodes that run containers."""
    workload.claim_template = "data"
    return workload


def _deploy_and_write(workload: Workload) -> tuple[Obj, dict[str, str]]:
    sts = workload.deploy(manifest=workload.manifest(needs_exec=True))
    tokens = {o.name(pod): write_token(workload.kube, sts, pod) for pod in workload.pods()}
    return sts, tokens


def _read_back(workload: Workload, sts: Obj, tokens: dict[str, str], what: str, recorder: Recorder) -> None:
    read = {o.name(pod): read_token(workload.kube, sts, pod) for pod in workload.pods()}
    missing = sorted(set(tokens) - set(read))
    assert not missing, f"expected pods {sorted(tokens)} back after {what}, saw {sorted(read)}"
    assert_no_findings(check_tokens(sts, tokens, read), what=f"data after {what}", timeline=recorder.timeline)


@pytest.mark.promise(feature="Data survives a replacement")
@pytest.mark.parametrize("how", ["delete", "evict"])
def test_data_in_the_volume_survives_the_pod_being_replaced(
    how: str, stateful: Workload, recorder: Recorder, figures: Figures
) -> None:
    """A token written into an ordinal's volume MUST read back unchanged after the pod is deleted or evicted."""
    with step("Create the set on nodes that run containers; write a token into every volume"):
        sts, tokens = _deploy_and_write(stateful)
    with step(f"{how.capitalize()} pod {pod_name(stateful.name, 1)} and wait for it to return Ready"):
        hit = stateful.disrupt_pod(how, 1)  # type: ignore[arg-type]
        stateful.wait_recreated(1, hit.uid)
        stateful.wait_ready()
    with step("Read every token back"):
        _read_back(stateful, sts, tokens, f"{how} of {hit.name}", recorder)
    seconds = replacement_time(recorder, hit.name, hit.uid)
    if seconds is not None:
        figures.record(f"data-back-after-{how}", seconds)


@pytest.mark.promise(feature="Data survives a drain")
@pytest.mark.disruptive
def test_data_in_the_volume_survives_a_drain(
    stateful: Workload, recorder: Recorder, run_id: str, figures: Figures
) -> None:
    """A token written into an ordinal's volume MUST read back unchanged after its node is drained."""
    with step("Create the set on nodes that run containers; write a token into every volume"):
        sts, tokens = _deploy_and_write(stateful)
        victim = stateful.pod(1)
    # Network-like storage comes back elsewhere at once; a node-pinned volume (or a single node
    # that runs containers) keeps the replacement unscheduled until the uncordon. The lowest
    # evicted ordinal is the one the controller recreates first (OrderedReady waits on it).
    node = o.spec(victim).get("nodeName")
    with step(f"Drain node {node} of {o.name(victim)}"), stateful.draining(1, run_id) as drained:
        ordinals = {hit.name: _ordinal(stateful, hit.name) for hit in drained.evicted}
        first = min(drained.evicted, key=lambda hit: ordinals[hit.name])
        ordinal = ordinals[first.name]
        with step(f"Wait for {first.name} to return Ready elsewhere or be refused a node"):
            stateful.wait_pod(ordinal, _back_or_unschedulable(first.uid), expect="Ready elsewhere or Unschedulable")
    with step(f"Node {drained.node} uncordoned: wait for every drained pod to return Ready"):
        for hit in drained.evicted:
            stateful.wait_recreated(ordinals[hit.name], hit.uid)
        stateful.wait_ready()
    with step("Read every token back"):
        _read_back(stateful, sts, tokens, f"draining {drained.node}", recorder)
    seconds = replacement_time(recorder, o.name(victim), o.uid(victim))
    if seconds is not None:
        figures.record("data-back-after-drain", seconds)


@pytest.mark.promise(feature="Data survives the set being recreated")
def test_data_in_the_volumes_survives_the_set_being_deleted_and_recreated(
    stateful: Workload, recorder: Recorder
) -> None:
    """Tokens in every ordinal's volume MUST read back unchanged after the set is deleted and created again."""
    with step("Create the set on nodes that run containers; write a token into every volume"):
        sts, tokens = _deploy_and_write(stateful)
        manifest = stateful.manifest(needs_exec=True)
    with step(f"Delete StatefulSet {stateful.name} and wait until its pods are gone"):
        delete_set(stateful.kube, stateful.namespace, stateful.name)
        stateful.wait_pods_gone(range(stateful.replicas))
    with step("Create the same set again and wait until it is Ready"):
        sts = stateful.deploy(service=False, manifest=manifest)
    with step("Read every token back"):
        _read_back(stateful, sts, tokens, "the set was deleted and recreated", recorder)


def _ordinal(workload: Workload, name: str) -> int:
    ordinal = parse_ordinal(name, workload.name)
    assert ordinal is not None, f"expected a pod of set {workload.name}, drained {name}"
    return ordinal


def _back_or_unschedulable(old_uid: str) -> Callable[[Obj], bool]:
    """The successor is Ready, or the scheduler refused it a node (``PodScheduled=False``, Unschedulable)."""

    def judge(pod: Obj) -> bool:
        if o.uid(pod) == old_uid:
            return False
        conditions = {c.get("type"): c for c in o.status(pod).get("conditions") or ()}
        refused = (conditions.get("PodScheduled") or {}).get("reason") == "Unschedulable"
        return refused or o.pod_ready(pod)

    return judge
