"""Node faults and their undo: cordon, silenced heartbeats, the out-of-service taint, all ledger-tracked.

Every node change is noted in an annotation on the node itself (the ledger, tagged with the
run id) *before* it is made, so a crash in between still leaves a trace for the sweep, the
safety control and ``ordinal cleanup``; undoing a change clears its entry. Nothing here undoes
a change ordinal did not make.
"""

from __future__ import annotations

import json
from typing import Any

from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.rest import NODES, Kube
from ordinal.labels import LEDGER_ANNOTATION, NODE_KIND_LABEL, OUT_OF_SERVICE_TAINT, SIMULATED_NODE_KIND
from ordinal.types import Obj

# -- the ledger ------------------------------------------------------------------------------------


def ledger(node: Obj) -> dict[str, Any]:
    """What ordinal changed on this node and has not undone yet: {"run": id, "cordoned": true, "lost": true}."""
    raw = (node.get("metadata", {}).get("annotations") or {}).get(LEDGER_ANNOTATION)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _write_ledger(kube: Kube, node: str, data: dict[str, Any], extra: Obj | None = None) -> None:
    changes = {k: v for k, v in data.items() if k != "run"}
    value = json.dumps(data) if changes else None
    kube.patch(NODES, node, {**(extra or {}), "metadata": {"annotations": {LEDGER_ANNOTATION: value}}})


def record_node_change(kube: Kube, node: str, run_id: str, **changes: bool) -> None:
    """Note a change *before* making it, so a crash in between still leaves a trace for the sweep."""
    current = kube.get(NODES, node)
    _write_ledger(kube, node, {**ledger(current), "run": run_id, **changes})


def clear_node_change(kube: Kube, node: str, key: str, extra: Obj | None = None) -> None:
    current = kube.get_or_none(NODES, node)
    if current is None:
        return
    data = {k: v for k, v in ledger(current).items() if k != key}
    _write_ledger(kube, node, data, extra)


def ledger_nodes(kube: Kube, run_id: str | None = None, key: str | None = None) -> list[str]:
    """Nodes with ledger entries (of ``run_id``; with the change ``key``), sorted."""
    nodes, _ = kube.list(NODES)
    found = []
    for node in nodes:
        entry = ledger(node)
        if entry and (run_id is None or entry.get("run") == run_id) and (key is None or entry.get(key)):
            found.append(o.name(node))
    return sorted(found)


# -- cordon ----------------------------------------------------------------------------------------


def cordon(kube: Kube, node: str, run_id: str) -> bool:
    """Cordon ``node`` and note it; False if it was already unschedulable (then it is not ours to undo)."""
    current = kube.get(NODES, node)
    if current.get("spec", {}).get("unschedulable"):
        return False
    record_node_change(kube, node, run_id, cordoned=True)
    kube.patch(NODES, node, {"spec": {"unschedulable": True}})
    return True


def uncordon(kube: Kube, node: str) -> None:
    """Undo a cordon ordinal made (and only that)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("cordoned"):
        return
    clear_node_change(kube, node, "cordoned", extra={"spec": {"unschedulable": None}})


# -- a lost node -----------------------------------------------------------------------------------


def stop_heartbeats(kube: Kube, node: str, run_id: str) -> None:
    """Simulated nodes only: make the node stop heartbeating, as a crashed kubelet would.

    kwok manages only nodes labelled ``NODE_KIND_LABEL=kwok``; removing the label silences the
    node. Recorded in the node ledger so a sweep brings it back.
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r}, found none")
    kind = o.labels(current).get(NODE_KIND_LABEL)
    if kind != SIMULATED_NODE_KIND:
        raise InvalidScenario(
            f"expected a simulated node (label {NODE_KIND_LABEL}={SIMULATED_NODE_KIND}) to silence, {node} is {kind!r}"
        )
    record_node_change(kube, node, run_id, lost=True)
    kube.patch(NODES, node, {"metadata": {"labels": {NODE_KIND_LABEL: None}}})


def restore_heartbeats(kube: Kube, node: str) -> None:
    """Undo :func:`stop_heartbeats` (a no-op for nodes it did not silence)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("lost"):
        return
    kube.patch(NODES, node, {"metadata": {"labels": {NODE_KIND_LABEL: SIMULATED_NODE_KIND}}})
    clear_node_change(kube, node, "lost")


def taint_out_of_service(kube: Kube, node: str, run_id: str) -> bool:
    """Declare a lost node shut down: PodGC force-deletes its terminating pods, volumes detach.

    Only for a node that is really off (here: one whose heartbeats we stopped). Recorded in the
    node ledger (``out_of_service``) before the taint goes on; False if the taint was already
    there (then it is not ours to remove).
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r} to taint {OUT_OF_SERVICE_TAINT}, found none")
    if OUT_OF_SERVICE_TAINT in o.taint_keys(current):
        return False
    record_node_change(kube, node, run_id, out_of_service=True)
    taints = list(o.spec(current).get("taints") or [])
    taints.append({"key": OUT_OF_SERVICE_TAINT, "value": "nodeshutdown", "effect": "NoExecute"})
    kube.patch(NODES, node, {"spec": {"taints": taints}})
    return True


def remove_out_of_service(kube: Kube, node: str) -> None:
    """Undo :func:`taint_out_of_service` (a no-op for taints ordinal did not add)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("out_of_service"):
        return
    taints = [t for t in o.spec(current).get("taints") or [] if t.get("key") != OUT_OF_SERVICE_TAINT]
    clear_node_change(kube, node, "out_of_service", extra={"spec": {"taints": taints or None}})


def restore_node(kube: Kube, node: str) -> None:
    """Undo every recorded change on ``node``: an out-of-service taint, a cordon, silenced heartbeats."""
    remove_out_of_service(kube, node)
    uncordon(kube, node)
    restore_heartbeats(kube, node)
