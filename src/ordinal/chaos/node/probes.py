"""Probes on nodes: has a lost node been noticed, is it back, and did this run leave any node changed.

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

from chaoslib.types import Configuration, Secrets

from ordinal.act.nodes import ledger
from ordinal.chaos.boundary import activity, call
from ordinal.chaos.results import ProbeVerdict, Waited
from ordinal.chaos.session import now
from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.rest import NODES
from ordinal.observe.waiting import wait_for_nodes
from ordinal.types import Finding

__all__ = ["await_node_ready", "await_node_unreachable", "nodes_restored"]


@activity
def nodes_restored(
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """No node is left cordoned, silenced or tainted by this run (the node ledger holds nothing of it)."""
    run = call()
    findings = []
    for node in run.kube.list(NODES)[0]:
        entry = ledger(node)
        if entry.get("run") == run.session.run_id:
            changes = sorted(k for k, v in entry.items() if k != "run" and v)
            findings.append(Finding("chaos.node-restored", f"node {o.name(node)}", "ledger", [], changes))
    return run.verdict("nodes", findings, held="no node changes of this run remain")


@activity
def await_node_unreachable(
    node: str = "",
    timeout: float = 150.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until the control plane marks a lost node unreachable (Ready not True, NoExecute taint).

    ``node`` "" means the nodes this run silenced. Takes the node-monitor grace period
    (50 s by default since Kubernetes 1.32).
    """
    run = call()
    lost = [f for f in run.session.faults if f.action == "lose_node_of" and f.node and (not node or f.node == node)]
    if not lost:
        raise InvalidScenario(f"expected a node this run silenced{' named ' + node if node else ''}, found none")
    names = sorted({str(f.node) for f in lost})
    wait_for_nodes(run.kube, names, o.node_unreachable, expect=f"nodes {names} unreachable", timeout=timeout)
    return run.waited(f"nodes {','.join(names)}", since_fault=round(now() - min(f.at for f in lost), 3))


@activity
def await_node_ready(
    node: str = "",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until the nodes this run disrupted (or ``node``) are Ready, schedulable and untainted again."""
    run = call()
    names = sorted({str(f.node) for f in run.session.faults if f.node and (not node or f.node == node)})
    if names:
        wait_for_nodes(run.kube, names, o.node_available, expect=f"nodes {names} available", timeout=timeout)
    return run.waited(f"nodes {','.join(names) or 'none'}", nodes=names)
