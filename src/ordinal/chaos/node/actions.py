"""Actions on the node under an ordinal: drain it, lose it, stop it, declare it shut down, and undo all of that.

Every node change is written into the node ledger (an annotation on the node, tagged with
the run id) before it is made, so the undo actions, the safety control and
``ordinal cleanup`` know exactly what to put back. The faults pick their node through a
pod (``name`` + ``ordinal`` + ``ns``), which keeps them inside the experiment's namespace;
the undo actions and ``taint_out_of_service`` act only on nodes this run already changed
(:data:`RUN_SCOPED`), which is why they need no namespace.

A real node is stopped and started by commands the configuration gives (``node_stop_command``,
``node_start_command``; else ``ORDINAL_NODE_STOP_COMMAND``/``ORDINAL_NODE_START_COMMAND``, which
``ordinal cluster env`` sets for the local cluster), ``{node}`` standing for the node's name.

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

from collections.abc import Mapping
from typing import Any

from chaoslib.types import Configuration, Secrets

from ordinal.act import nodes
from ordinal.act import pods as faults
from ordinal.act.node_loss import pick_ordinal, strangers_on
from ordinal.chaos.boundary import activity, call
from ordinal.chaos.results import Touched
from ordinal.chaos.session import Fault, now
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name
from ordinal.kube.rest import PODS
from ordinal.observe.waiting import wait_for_nodes

__all__ = [
    "drain_node_of",
    "lose_node_of",
    "restore_node",
    "start_node",
    "stop_node_of",
    "taint_out_of_service",
    "uncordon_node",
]

#: Actions without a namespace that act only on nodes this run already changed (the safety control allows them).
RUN_SCOPED = frozenset({"restore_node", "start_node", "taint_out_of_service", "uncordon_node"})
#: The faults after which a node may be declared out of service: it is really off (or silenced).
LOST = ("lost", "stopped")


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
    strangers = strangers_on(run.kube, node, ns)
    if strangers:
        raise InvalidScenario(f"expected node {node} to host only pods of namespace {ns}, found {strangers[:5]}")
    pods, _ = run.kube.list(PODS, ns, field_selector=f"spec.nodeName={node}")
    hit = {o.name(p): o.uid(p) for p in pods if parse_ordinal(o.name(p), name) is not None}
    at = now()
    nodes.stop_heartbeats(run.kube, node, run.session.run_id)
    run.session.record_fault(Fault("lose_node_of", ns, name, hit, at, node))
    return run.touched(ns, [{"pod": p, "uid": u, "node": node} for p, u in sorted(hit.items())], node=node)


@activity
def stop_node_of(
    name: str,
    ordinal: int = -1,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Stop the real node hosting one ordinal: its kubelet, runtime, containers and CSI node plugin stop answering.

    ``ordinal`` -1 picks the lowest ordinal whose node hosts only this namespace's pods (DaemonSet and
    static pods aside), preferring one whose volume may move to another node; a given ordinal's node
    must host only this namespace's pods too. Undo with ``start_node`` or ``restore_node``.
    """
    run = call()
    commands = _commands(configuration)
    if not commands.configured:
        raise CapabilityMissing("a command that stops and starts a real node", _MISSING)
    chosen, node, siblings = pick_ordinal(run.kube, ns, name, ordinal)
    pods, _ = run.kube.list(PODS, ns, field_selector=f"spec.nodeName={node}")
    hit = {o.name(p): o.uid(p) for p in pods if parse_ordinal(o.name(p), name) is not None}
    at = now()
    nodes.stop_node(run.kube, node, run.session.run_id, commands)
    run.session.record_fault(
        Fault("stop_node_of", ns, name, hit, at, node, pod=pod_name(name, chosen), takers=siblings)
    )
    targets = [{"pod": p, "uid": u, "node": node} for p, u in sorted(hit.items())]
    return run.touched(ns, targets, node=node, ordinal=chosen, volume_may_move_to=list(siblings))


@activity
def start_node(
    node: str = "",
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Start again the real nodes this run stopped (``node`` "" = all of them) and wait until each is Ready.

    Its out-of-service taint stays: ``restore_node`` removes it once the node is back, as an
    administrator would.
    """
    run = call()
    commands = _commands(configuration)
    done = _run_nodes(node, key="stopped")
    for target in done:
        nodes.start_node(run.kube, target, commands)
    if done:
        wait_for_nodes(
            run.kube, done, lambda n: o.node_ready(n) == "True", expect=f"nodes {done} Ready again", timeout=timeout
        )
    return run.touched("", [{"node": n} for n in done])


@activity
def taint_out_of_service(
    node: str = "",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Taint a node this run lost ``node.kubernetes.io/out-of-service``: PodGC force-deletes its terminating pods.

    ``node`` "" means every node this run silenced or stopped. Refuses a node this run did not
    lose: the taint is only honest on a node that is really off.
    """
    run = call()
    chosen = sorted({n for key in LOST for n in _run_nodes(node, key=key)})
    if node and node not in chosen:
        raise InvalidScenario(f"expected node {node} to be one this run lost (silenced or stopped), it is not")
    if not chosen:
        raise InvalidScenario("expected a node this run lost (silenced or stopped), found none")
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
    """Undo every change this run made to a node: a stopped node, out-of-service taint, silenced heartbeats, cordon.

    ``node`` "" means every node in the ledger under this run's id. The rollback of every
    node experiment; a stopped node is started first (with the configured start command).
    """
    run = call()
    done = _run_nodes(node, key=None)
    commands = _commands(configuration) if done else None
    for target in done:
        nodes.restore_node(run.kube, target, commands)
    return run.touched("", [{"node": n} for n in done])


def _run_nodes(node: str, *, key: str | None) -> list[str]:
    """Nodes whose ledger says this run changed them (``key``: that change); ``node`` narrows to one."""
    run = call()
    return [n for n in nodes.ledger_nodes(run.kube, run.session.run_id, key) if not node or n == node]


_MISSING = (
    "configuration node_stop_command and node_start_command (or ORDINAL_NODE_STOP_COMMAND and "
    "ORDINAL_NODE_START_COMMAND) not given; `ordinal cluster env` sets them for the local cluster"
)


def _commands(configuration: Mapping[str, Any] | None) -> nodes.NodeCommands:
    """The run's node commands: the configuration's, else the environment's; the session keeps them for cleanup."""
    given = configuration or {}
    env = nodes.NodeCommands.from_env()
    stop, start = str(given.get("node_stop_command") or ""), str(given.get("node_start_command") or "")
    commands = nodes.NodeCommands(
        nodes.parse_node_command(stop) if stop else env.stop,
        nodes.parse_node_command(start) if start else env.start,
    )
    call().session.node_commands = commands
    return commands
