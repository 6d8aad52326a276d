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

from ordinal import disrupt, hygiene
from ordinal import objects as o
from ordinal.chaos.boundary import activity
from ordinal.chaos.results import Touched
from ordinal.chaos.session import Fault, current, now
from ordinal.errors import InvalidScenario
from ordinal.kube.rest import NODES, PODS, Kube
from ordinal.workloads import parse_ordinal

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
    session = current()
    kube = session.kube(configuration, secrets)
    node = disrupt.node_of(kube, ns, name, ordinal)
    at = now()
    drained = disrupt.drain(kube, node, session.run_id, namespace=ns, timeout=timeout)
    hit = {h.name: h.uid for h in drained.evicted if parse_ordinal(h.name, name) is not None}
    session.record_fault(Fault("drain_node_of", ns, name, hit, at, node))
    return Touched(
        action="drain_node_of",
        namespace=ns,
        targets=[{"pod": h.name, "uid": h.uid, "node": h.node} for h in drained.evicted],
        details={"node": node, "cordoned_by_us": drained.cordoned_by_us, "refusals_429": drained.refusals},
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
    session = current()
    kube = session.kube(configuration, secrets)
    node = disrupt.node_of(kube, ns, name, ordinal)
    pods, _ = kube.list(PODS, field_selector=f"spec.nodeName={node}")
    strangers = sorted(o.ref(p) for p in pods if o.namespace(p) != ns and not o.terminating(p))
    if strangers:
        raise InvalidScenario(f"expected node {node} to host only pods of namespace {ns}, found {strangers[:5]}")
    hit = {o.name(p): o.uid(p) for p in pods if parse_ordinal(o.name(p), name) is not None}
    at = now()
    disrupt.stop_heartbeats(kube, node, session.run_id)
    session.record_fault(Fault("lose_node_of", ns, name, hit, at, node))
    return Touched(
        action="lose_node_of",
        namespace=ns,
        targets=[{"pod": p, "uid": u, "node": node} for p, u in sorted(hit.items())],
        details={"node": node},
    )


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
    session = current()
    kube = session.kube(configuration, secrets)
    tainted = []
    for target in _run_nodes(kube, session.run_id, node, key="lost"):
        if disrupt.taint_out_of_service(kube, target, session.run_id):
            tainted.append(target)
    return Touched(action="taint_out_of_service", namespace="", targets=[{"node": n} for n in tainted], details={})


@activity
def uncordon_node(
    node: str = "",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Uncordon what this run cordoned (``node`` "" = every such node); never a cordon someone else made."""
    session = current()
    kube = session.kube(configuration, secrets)
    done = []
    for target in _run_nodes(kube, session.run_id, node, key="cordoned", strict=False):
        hygiene.uncordon(kube, target)
        done.append(target)
    return Touched(action="uncordon_node", namespace="", targets=[{"node": n} for n in done], details={})


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
    session = current()
    kube = session.kube(configuration, secrets)
    done = []
    for target in _run_nodes(kube, session.run_id, node, key=None, strict=False):
        disrupt.restore_node_fully(kube, target)
        done.append(target)
    return Touched(action="restore_node", namespace="", targets=[{"node": n} for n in done], details={})


def _run_nodes(kube: Kube, run_id: str, node: str, *, key: str | None, strict: bool = True) -> list[str]:
    """Nodes whose ledger says this run changed them (``key``: that change); ``node`` narrows to one."""
    found = []
    for item in kube.list(NODES)[0]:
        entry = hygiene.ledger(item)
        if entry.get("run") == run_id and (key is None or entry.get(key)) and (not node or o.name(item) == node):
            found.append(o.name(item))
    if strict and node and node not in found:
        raise InvalidScenario(f"expected node {node} to be one this run changed ({key}), it is not")
    if strict and not found:
        raise InvalidScenario(f"expected a node this run changed ({key}), found none")
    return sorted(found)
