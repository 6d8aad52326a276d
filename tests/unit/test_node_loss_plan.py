"""Which node to lose: only our pods on it (DaemonSet and static pods aside), and another node for its volume."""

from __future__ import annotations

from typing import Any

import pytest
from factories import NS, node, pod
from fakes import FakeKube

from ordinal.act.node_loss import plan_stop, strangers_on
from ordinal.errors import CapabilityMissing
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
