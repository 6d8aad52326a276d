"""Which node to lose: one whose pods are all ours, with another node where the lost pod's volume may go.

Stopping a real node hits everything on it. A pod of another workload there (a cluster DNS pod,
another test's probe pod) would be evicted and, once the node is declared out of service,
force-deleted: the fault is only ours to make on a node where every pod is ours (DaemonSet and
static pods belong to the node itself and go down with it on any real machine). And the promise
under test, "the pod comes back elsewhere with its data", needs another node in the same
topology domain as the volume (the same zone for a zonal CSI volume), where the set's pods may run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ordinal.act.nodes import cordon
from ordinal.checks.storage import volume_pin
from ordinal.errors import CapabilityMissing, InvalidScenario, WaitTimeout
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name, set_window
from ordinal.kube.rest import NODES, PODS, Kube
from ordinal.observe.snapshot import observe_set
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

#: Static (mirror) pods carry this annotation: the kubelet's own, they go down with the node.
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def strangers_on(kube: Kube, node: str, namespace: str, *, leaving: bool = False) -> list[str]:
    """Live pods on ``node`` of other workloads: another namespace, not a DaemonSet's, not a static pod
    (``leaving``: terminating ones too)."""
    pods, _ = kube.list(PODS, field_selector=f"spec.nodeName={node}")
    return strangers(pods, namespace, leaving=leaving)


def strangers(pods: Iterable[Obj], namespace: str, *, leaving: bool) -> list[str]:
    """Pods of other workloads among ``pods`` (``leaving``: terminating ones count too), as namespace/name."""
    return sorted(
        o.ref(p)
        for p in pods
        if o.namespace(p) != namespace
        and (leaving or not o.terminating(p))
        and (o.controller_ref(p) or {}).get("kind") != "DaemonSet"
        and MIRROR_ANNOTATION not in (o.meta(p).get("annotations") or {})
    )


def least_shared(kube: Kube, namespace: str, candidates: Sequence[tuple[int, str]]) -> tuple[int, str]:
    """Of (ordinal, node) pairs, the one whose node hosts the fewest pods of other workloads.

    Those are the pods :func:`isolate_node` waits for; on a tie the earlier pair wins.
    """
    if not candidates:
        raise InvalidScenario("expected at least one (ordinal, node) to choose from, got none")
    crowd = {node: len(strangers_on(kube, node, namespace, leaving=True)) for node in {n for _, n in candidates}}
    return min(candidates, key=lambda pair: crowd[pair[1]])


def isolate_node(kube: Kube, node: str, run_id: str, namespace: str, *, timeout: float) -> bool:
    """Cordon ``node`` and wait until no pod of another workload is on it, terminating ones included.

    Losing the node then reaches only ``namespace``'s pods, so a node-loss test may run while
    other tests run elsewhere: the cordon keeps their new pods off, and the pods they have there
    leave as those tests end. Returns whether the cordon was ours (undo with ``uncordon``);
    raises CapabilityMissing naming the pods still there at the deadline (another tenant's
    workload need not ever leave).
    """
    cordoned = cordon(kube, node, run_id)

    def judge(items: list[Obj]) -> Verdict[bool]:
        there = strangers(items, namespace, leaving=True)
        return Verdict(not there, f"on {node}: {', '.join(there[:5]) or 'only ours'}", value=True)

    try:
        wait_for(
            kube,
            Query(PODS, field_selector=f"spec.nodeName={node}"),
            judge,
            expect=f"no other workload's pod on cordoned node {node}",
            timeout=timeout,
        )
    except WaitTimeout as err:
        raise CapabilityMissing("a node to lose hosting only our pods", f"{err.seen} after {err.elapsed:.0f}s") from err
    return cordoned


def _matches(node: Obj, selector: Mapping[str, str]) -> bool:
    labels = o.labels(node)
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class StopPlan:
    """The node to stop, the nodes its pod may move to, and the domain they share."""

    node: str
    siblings: tuple[str, ...]
    domain: str


def plan_stop(
    kube: Kube,
    namespace: str,
    *,
    selector: Mapping[str, str],
    topology_keys: Sequence[str],
    driver_nodes: Collection[str] | None = None,
) -> StopPlan:
    """Before a set is deployed: a node to stop that hosts no stranger and shares its volume domain with another.

    Candidates are schedulable nodes matching ``selector`` (where the set's pods may run) and,
    for a CSI class, listed in ``driver_nodes`` (its node plugin registered there). Nodes are
    grouped by their values of ``topology_keys`` (the driver's CSINode keys, or the zone label;
    none: one group). Raises CapabilityMissing naming what is lacking.
    """
    nodes, _ = kube.list(NODES)
    candidates = [
        n
        for n in nodes
        if o.node_schedulable(n)
        and _matches(n, selector)
        and (driver_nodes is None or o.name(n) in driver_nodes)
        and not o.node_simulated(n)
    ]
    domains: dict[tuple[str | None, ...], list[str]] = {}
    for node in candidates:
        domains.setdefault(tuple(o.labels(node).get(k) for k in topology_keys), []).append(o.name(node))
    crowded: list[str] = []
    for key, names in sorted(domains.items(), key=lambda kv: [str(v) for v in kv[0]]):
        if len(names) < 2:
            continue
        for name in sorted(names):
            strangers = strangers_on(kube, name, namespace)
            if strangers:
                crowded.append(f"{name} hosts {', '.join(strangers[:3])}")
                continue
            where = ", ".join(f"{k}={v}" for k, v in zip(topology_keys, key, strict=True)) or "any node"
            return StopPlan(name, tuple(n for n in sorted(names) if n != name), where)
    pairs = {
        ", ".join(f"{k}={v}" for k, v in zip(topology_keys, key, strict=True)) or "all": n for key, n in domains.items()
    }
    detail = f"nodes per volume domain: {pairs or 'none'}" + (f"; {'; '.join(crowded)}" if crowded else "")
    raise CapabilityMissing(
        "a node to stop with another node in its volume's topology domain, hosting only our pods", detail
    )


def pick_ordinal(kube: Kube, namespace: str, set_name: str, ordinal: int = -1) -> tuple[int, str, tuple[str, ...]]:
    """A deployed set: (ordinal, its node, the nodes its volume may move to) for the node to stop.

    ``ordinal`` -1 takes the lowest ordinal whose node hosts no stranger, preferring one whose
    volume has another node to go to; a given ordinal must have a node without strangers.
    """
    state = observe_set(kube, namespace, set_name)
    if state.sts is None:
        raise InvalidScenario(f"expected StatefulSet {namespace}/{set_name}, found none")
    template = (o.spec(state.sts).get("template") or {}).get("spec") or {}
    selector = template.get("nodeSelector") or {}
    nodes, _ = kube.list(NODES)
    wanted = [ordinal] if ordinal >= 0 else list(set_window(state.sts))
    fits: list[tuple[int, str, tuple[str, ...]]] = []
    refused: list[str] = []
    pods = {parse_ordinal(o.name(p), set_name): p for p in state.members()}
    for i in wanted:
        pod = pods.get(i)
        node = str(o.spec(pod).get("nodeName") or "") if pod is not None else ""
        if not node:
            refused.append(f"{pod_name(set_name, i)} runs on no node")
            continue
        strangers = strangers_on(kube, node, namespace)
        if strangers:
            refused.append(f"{pod_name(set_name, i)} on {node}, which also hosts {', '.join(strangers[:3])}")
            continue
        pin = volume_pin(state.sts, state.pvcs, state.pvs, i)
        siblings = tuple(
            sorted(
                o.name(n)
                for n in nodes
                if o.name(n) != node
                and o.node_schedulable(n)
                and _matches(n, selector)
                and not o.node_simulated(n)
                and (pin is None or pin.admits(n))
            )
        )
        fits.append((i, node, siblings))
    if not fits:
        raise InvalidScenario(
            f"expected an ordinal of {namespace}/{set_name} on a node hosting only pods of {namespace}, "
            f"found none: {'; '.join(refused)}"
        )
    return next((f for f in fits if f[2]), fits[0])
