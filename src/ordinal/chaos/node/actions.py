"""Actions on the node under an ordinal: drain it, lose it, declare it shut down, and undo all of that.

Every node change is written into the node ledger (an annotation on the node, tagged with
the run id) before it is made, so the undo actions, the safety control and
``ordinal cleanup`` know exactly what to put back. The faults pick their node through a
pod (``name`` + ``ordinal`` + ``ns``), which keeps them inside the experiment's namespace;
the undo actions and ``taint_out_of_service`` act only on nodes this run already changed
(:data:`RUN_SCOPED`), which is why they need no namespace.

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

from chaoslib.types import Configuration, Secrets

from ordinal.act import nodes
from ordinal.act import pods as faults
from ordinal.chaos.boundary import activity, call
from ordinal.chaos.results import Touched
from ordinal.chaos.session import Fault, now
from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal
from ordinal.kube.rest import PODS

__all__ = [
    "drain_node_of",
    "lose_node_of",
    "restore_node",
    "taint_out_of_service",
    "uncordon_node",
]

#: Actions without a namespace that act only on nodes this run already changed (the safety control allows them).
RUN_SCOPED = frozenset({"restore_node", "taint_out_of_service", "uncordon_node"})


@activity
def drain_node_of(
    name: str,
    ordinal: int,
    ns: str = "default",
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Drain the node hosting one ordinal: cordon it, then evict this namespace's pods there, honouring PDBs.

    Evictions go through the eviction API one at a time; a 429 (the budget is spent) is
    retried once the PDB allows it again, until ``timeout``. Pods of other namespaces are
    left alone. Undo with ``uncordon_node`` (the rollback every drain experiment declares).
    """
    run = call()
    node = faults.node_of(run.kube, ns, name, ordinal)
    at = now()
    drained = faults.drain(run.kube, node, run.session.run_id, namespace=ns, timeout=timeout)
    hit = {h.name: h.uid for h in drained.evicted if parse_ordinal(h.name, name) is not None}
    run.session.record_fault(Fault("drain_node_of", ns, name, hit, at, node))
    return run.touched(
        ns,
        [{"pod": h.name, "uid": h.uid, "node": h.node} for h in drained.evicted],
        node=node,
        cordoned_by_us=drained.cordoned_by_us,
        refusals_429=drained.refusals,
    )


@activity
def lose_node_of(
    name: str,
    ordinal: int,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Make the (simulated) node hosting one ordinal stop heartbeating, as if its kubelet died.

    Only simulated nodes can be silenced this way, and only if every pod on the node
    belongs to this namespace (other tenants' pods would be hit too). Undo with ``restore_node``.
    """
    run = call()
    node = faults.node_of(run.kube, ns, name, ordinal)
    pods, _ = run.kube.list(PODS, field_selector=f"spec.nodeName={node}")
    strangers = sorted(o.ref(p) for p in pods if o.namespace(p) != ns and not o.terminating(p))
    if strangers:
        raise InvalidScenario(f"expected node {node} to host only pods of namespace {ns}, found {strangers[:5]}")
    hit = {o.name(p): o.uid(p) for p in pods if parse_ordinal(o.name(p), name) is not None}
    at = now()
    nodes.stop_heartbeats(run.kube, node, run.session.run_id)
    run.session.record_fault(Fault("lose_node_of", ns, name, hit, at, node))
    return run.touched(ns, [{"pod": p, "uid": u, "node": node} for p, u in sorted(hit.items())], node=node)


@activity
def taint_out_of_service(
    node: str = "",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Taint a node this run lost ``node.kubernetes.io/out-of-service``: PodGC force-deletes its terminating pods.

    ``node`` "" means every node this run silenced. Refuses a node this run did not lose:
    the taint is only honest on a node that is really off.
    """
    run = call()
    chosen = _run_nodes(node, key="lost", strict=True)
    tainted = [n for n in chosen if nodes.taint_out_of_service(run.kube, n, run.session.run_id)]
    return run.touched("", [{"node": n} for n in tainted])


@activity
def uncordon_node(
    node: str = "",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Uncordon what this run cordoned (``node`` "" = every such node); never a cordon someone else made."""
    run = call()
    done = _run_nodes(node, key="cordoned")
    for target in done:
        nodes.uncordon(run.kube, target)
    return run.touched("", [{"node": n} for n in done])


@activity
def restore_node(
    node: str = "",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Undo every change this run made to a node: out-of-service taint, silenced heartbeats, cordon.

    ``node`` "" means every node in the ledger under this run's id. The rollback of every
    node experiment.
    """
    run = call()
    done = _run_nodes(node, key=None)
    for target in done:
        nodes.restore_node(run.kube, target)
    return run.touched("", [{"node": n} for n in done])


def _run_nodes(node: str, *, key: str | None, strict: bool = False) -> list[str]:
    """Nodes whose ledger says this run changed them (``key``: that change); ``node`` narrows to one."""
    run = call()
    found = [n for n in nodes.ledger_nodes(run.kube, run.session.run_id, key) if not node or n == node]
    if strict and node and node not in found:
        raise InvalidScenario(f"expected node {node} to be one this run changed ({key}), it is not")
    if strict and not found:
        raise InvalidScenario(f"expected a node this run changed ({key}), found none")
    return found
