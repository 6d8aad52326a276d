"""Which node to lose: only our pods on it (DaemonSet and static pods aside), and another node for its volume."""

from __future__ import annotations

from typing import Any

import pytest
from factories import NS, node, pod
from fakes import FakeKube

from ordinal.act.node_loss import isolate_node, least_shared, plan_stop, strangers_on
from ordinal.act.nodes import ledger
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube.rest import NODES
from ordinal.types import Obj

ZONE = "topology.csi.example.dev/zone"


def real(name: str, zone: str) -> Obj:
    obj = node(name)
    obj["metadata"]["labels"] = {"ordinal.dev/node-kind": "real", ZONE: zone}
    return obj


def stranger(name: str, on: str, namespace: str = "kube-system", owner: str | None = None, **meta: Any) -> Obj:
    obj = pod(0, name, namespace=namespace, node=on, owner=False)
    if owner:
        obj["metadata"]["ownerReferences"] = [{"kind": owner, "name": name, "uid": "u", "controller": True}]
    obj["metadata"].update(meta)
    return obj


def plan(kube: FakeKube) -> Any:
    return plan_stop(kube, NS, selector={"ordinal.dev/node-kind": "real"}, topology_keys=(ZONE,))


def test_the_node_to_stop_hosts_only_our_pods_and_has_a_sibling_in_its_zone() -> None:
    """A zone with one node MUST be passed over; so MUST a node hosting another workload's pod."""
    kube = FakeKube(
        real("n1", "a"),
        real("n2", "b"),
        real("n3", "a"),
        real("n4", "b"),
        real("n5", "c"),
        stranger("coredns", "n1"),
        stranger("kube-proxy", "n3", owner="DaemonSet"),  # belongs to the node: goes down with it anywhere
        stranger("etcd", "n3", **{"annotations": {"kubernetes.io/config.mirror": "x"}}),
    )
    chosen = plan(kube)
    assert (chosen.node, chosen.siblings, chosen.domain) == ("n3", ("n1",), f"{ZONE}=a")
    assert strangers_on(kube, "n1", NS) == ["kube-system/coredns-0"]
    assert strangers_on(kube, "n3", NS) == []


def test_without_such_a_node_the_capability_is_named_with_what_was_found() -> None:
    kube = FakeKube(real("n1", "a"), real("n2", "b"), real("n3", "a"), stranger("dns", "n1"), stranger("p", "n3", "x"))
    with pytest.raises(CapabilityMissing) as missing:
        plan(kube)
    text = str(missing.value)
    assert text.startswith("needs: a node to stop with another node in its volume's topology domain")
    assert "n1 hosts kube-system/dns-0" in text and "n3 hosts x/p-0" in text


def test_isolating_a_node_cordons_it_and_waits_for_the_other_workloads_pods_to_leave() -> None:
    """Terminating pods of another test MUST still count (they are on the node until gone); ours and a
    DaemonSet's MUST NOT. The cordon MUST be in the node ledger, so a sweep undoes it."""
    leaving = stranger("web", "n1", "other-test", deletionTimestamp="2026-12-07T00:00:00Z")
    kube = FakeKube(
        real("n1", "a"), leaving, stranger("proxy", "n1", owner="DaemonSet"), pod(1, "web", namespace=NS, node="n1")
    )
    kube.batches = [[("DELETED", leaving)]]
    assert isolate_node(kube, "n1", "run-1", NS, timeout=5) is True
    assert kube.get(NODES, "n1")["spec"]["unschedulable"] is True
    assert ledger(kube.get(NODES, "n1")).get("cordoned")
    assert strangers_on(kube, "n1", NS) == []


def test_a_node_that_never_clears_is_a_missing_capability_naming_who_stayed() -> None:
    kube = FakeKube(real("n1", "a"), stranger("db", "n1", "tenant"))
    with pytest.raises(CapabilityMissing) as missing:
        isolate_node(kube, "n1", "run-1", NS, timeout=0.2)
    assert str(missing.value).startswith("needs: a node to lose hosting only our pods (on n1: tenant/db-0 after")


def test_the_pod_to_lose_is_the_one_whose_node_is_least_shared() -> None:
    """Other workloads' pods, terminating ones included, are what isolation waits for; a tie keeps the first."""
    kube = FakeKube(
        real("n1", "a"),
        real("n2", "a"),
        stranger("a", "n1", "t1"),
        stranger("b", "n1", "t2", deletionTimestamp="2026-12-07T00:00:00Z"),
        stranger("c", "n2", "t3"),
    )
    assert least_shared(kube, NS, [(1, "n1"), (0, "n2")]) == (0, "n2")
    assert least_shared(kube, NS, [(1, "n2"), (0, "n2")]) == (1, "n2")
    with pytest.raises(InvalidScenario):
        least_shared(kube, NS, [])
