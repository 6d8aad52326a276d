"""The run's memory between activities, and the sample workload the experiments deploy by default."""

from __future__ import annotations

import json
from pathlib import Path

import factories
import pytest
from fakes import FakeKube

from ordinal.chaos.sample import Needs, parse_node_selector, placement, sample_manifests
from ordinal.chaos.session import Fault, Session
from ordinal.errors import InvalidScenario
from ordinal.kube.manifests import DEFAULT_IMAGE
from ordinal.labels import NODE_KIND_LABEL
from ordinal.types import Obj


def test_faults_since_the_last_restoration_are_pending_with_the_latest_uids() -> None:
    """A second kill of web-1 MUST be waited for against the UID the first kill's replacement had."""
    session = Session("r")
    session.record_fault(Fault("kill_ordinal", "ns", "web", {"web-1": "uid-a"}, 1.0))
    assert session.pending("ns", "web")[1] == {"web-1": "uid-a"}
    session.mark_restored("ns", "web", 1)
    session.record_fault(Fault("kill_ordinal", "ns", "web", {"web-1": "uid-b"}, 2.0))
    faults, hit = session.pending("ns", "web")
    assert [f.at for f in faults] == [2.0] and hit == {"web-1": "uid-b"}
    assert session.disrupted("ns", "web") == {"web-1": "uid-a"}  # the baseline's UID, for identity checks


def test_faults_are_kept_per_set() -> None:
    session = Session("r")
    session.record_fault(Fault("kill_ordinal", "ns", "db", {"db-0": "u"}, 1.0))
    assert session.pending("ns", "web") == ([], {})


@pytest.mark.parametrize(
    ("phase", "comparing"),
    [("standalone", False), ("hypothesis-before", False), ("method", False), ("hypothesis-after", True)],
    ids=lambda v: str(v),
)
def test_probes_compare_against_the_baseline_only_after_the_method(phase: str, comparing: bool) -> None:
    assert Session("r", phase=phase).comparing() is comparing  # type: ignore[arg-type]


def test_the_sample_spreads_its_pods_and_keeps_a_budget_of_one() -> None:
    service, sts, pdb = sample_manifests("web", "ns", "20261125t0000-abcd", replicas=3)
    assert service["spec"]["clusterIP"] == "None"
    assert pdb["spec"]["minAvailable"] == 2
    spec = sts["spec"]["template"]["spec"]
    term = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert "tolerations" not in spec
    assert sts["metadata"]["labels"]["ordinal/run"] == "20261125t0000-abcd"


def test_the_sample_can_leave_an_unreachable_node_fast() -> None:
    _, sts, _ = sample_manifests("web", "ns", "r1", unreachable_toleration=2, storage_class="ordinal-shared")
    tolerations = sts["spec"]["template"]["spec"]["tolerations"]
    assert {t["key"]: t["tolerationSeconds"] for t in tolerations} == {
        "node.kubernetes.io/unreachable": 2,
        "node.kubernetes.io/not-ready": 2,
    }
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "ordinal-shared"


def test_the_sample_refuses_an_unknown_retention_policy() -> None:
    with pytest.raises(InvalidScenario, match="whenDeleted/whenScaled"):
        sample_manifests("web", "ns", "r1", when_scaled="Keep")


def _nodes(kinds: list[str]) -> FakeKube:
    """A cluster of nodes n0, n1… of the given kinds: what placement() reads."""
    nodes: list[Obj] = []
    for i, kind in enumerate(kinds):
        node = factories.node(f"n{i}")
        node["metadata"]["labels"][NODE_KIND_LABEL] = kind
        nodes.append(node)
    return FakeKube(*nodes)


REAL = {NODE_KIND_LABEL: "real"}
DRAIN = Needs(exec=True, node_fault=True)
POD_KILL = Needs(exec=True, node_fault=False)
NODE_LOSS = Needs(exec=True, node_fault=True, simulated_fault=True)


@pytest.mark.parametrize(
    ("kinds", "needs", "selector", "why"),
    [
        (["real", "real", "real", "kwok"], DRAIN, REAL, ""),
        (["real", "kwok", "kwok"], DRAIN, {}, "needs: exec into pods (1 real node(s) for 3 replicas"),
        (["real", "kwok", "kwok"], POD_KILL, REAL, ""),
        (["kwok", "kwok", "kwok"], POD_KILL, {}, "needs: exec into pods (no node of the cluster runs containers"),
        (["real", "kwok", "kwok", "kwok"], NODE_LOSS, {NODE_KIND_LABEL: "kwok"}, "needs: exec into pods (the fault"),
        (["real", "real", "real"], DRAIN, {}, ""),
        (["real", "kwok", "kwok"], Needs(exec=False), {}, ""),
    ],
    ids=[
        "drain-enough-real-nodes",
        "drain-one-real-node",
        "pod-kill-one-real-node",
        "all-simulated",
        "node-loss",
        "all-real",
        "no-exec-probe",
    ],
)
def test_the_sample_goes_where_every_probe_can_run_when_the_cluster_allows_it(
    kinds: list[str], needs: Needs, selector: dict[str, str], why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data MUST be checkable where it can be, without making a drain evict two pods of one budget; else say why."""
    monkeypatch.delenv("ORDINAL_IMAGE", raising=False)
    placed = placement(_nodes(kinds), False, 3, "", "", needs)  # type: ignore[arg-type]
    assert placed.selector == selector
    assert placed.unchecked.startswith(why) and bool(placed.unchecked) == bool(why)
    assert placed.image == DEFAULT_IMAGE


def test_what_an_experiment_needs_is_read_from_its_hypothesis_and_method() -> None:
    """The shipped experiments MUST be read as: data probes need exec; drain and node-loss take a node away."""
    root = Path(__file__).resolve().parents[2] / "experiments"
    found = {p.stem: Needs.of(json.loads(p.read_text())) for p in sorted(root.glob("*.json"))}
    assert found["drain"] == DRAIN and found["node-loss"] == NODE_LOSS
    assert found["real-node-loss"] == DRAIN  # a real node taken away, data read back: a real node per pod
    assert found["pod-kill"] == found["scale-down-up"] == found["delete-statefulset"] == POD_KILL
    assert Needs.of({"method": [], "steady-state-hypothesis": {"probes": []}}) == Needs(False, False, False)


def test_every_shipped_experiment_checks_every_probe_on_the_default_local_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make run` and `chaos run` on a default `ordinal cluster up` MUST leave no probe 'not checked'.

    Node loss is the exception the experiment itself names: its fault silences a simulated node,
    where nothing can be exec'd.
    """
    from ordinal.localcluster.cluster import DEFAULT_NODES, default_real_nodes

    monkeypatch.delenv("ORDINAL_IMAGE", raising=False)
    real = default_real_nodes({})
    kube = _nodes(["real"] * real + ["kwok"] * (DEFAULT_NODES - real))
    root = Path(__file__).resolve().parents[2] / "experiments"
    unchecked = {}
    for path in sorted(root.glob("*.json")):
        experiment = json.loads(path.read_text())
        replicas = int(experiment.get("configuration", {}).get("replicas", 3))
        placed = placement(kube, False, replicas, "", "", Needs.of(experiment))  # type: ignore[arg-type]
        if placed.unchecked:
            unchecked[path.stem] = placed.unchecked
    assert list(unchecked) == ["node-loss"], unchecked


def test_the_sample_takes_the_image_and_selector_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDINAL_IMAGE", "mirror.example/busybox:1")
    assert placement(_nodes(["real"]), False, 3, "", "zone=a, disk=ssd").selector == {"zone": "a", "disk": "ssd"}  # type: ignore[arg-type]
    assert placement(_nodes([]), False, 3, "", "").image == "mirror.example/busybox:1"  # type: ignore[arg-type]
    assert placement(_nodes([]), False, 3, "own/image:2", "").image == "own/image:2"  # type: ignore[arg-type]


def test_a_malformed_node_selector_is_refused_in_one_line() -> None:
    with pytest.raises(InvalidScenario, match=r"expected node_selector as key=value\[,key=value\], got 'zone'"):
        parse_node_selector("zone")


def test_the_sample_pins_its_pods_and_image_when_asked() -> None:
    _, sts, _ = sample_manifests("web", "ns", "r1", image="local/busybox:1", node_selector={"k": "v"})
    spec = sts["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"k": "v"}
    assert spec["containers"][0]["image"] == "local/busybox:1"
