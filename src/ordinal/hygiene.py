"""Leave nothing behind: run ids, per-test namespaces, the node ledger and the sweep.

Everything ordinal creates carries ``app.kubernetes.io/created-by=ordinal`` and
``ordinal/run=<id>``. Node-level changes (cordons, taints) are written into an annotation
on the node itself, so a sweep after a crash still knows what to undo.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ordinal.errors import OrdinalError
from ordinal.kube.rest import NAMESPACES, NODES, PVS, SERVICE_ACCOUNTS, ApiError, Kube
from ordinal.types import Obj
from ordinal.waiting import Query, Verdict, wait_for, wait_for_gone
from ordinal.workloads import CREATED_BY_LABEL, CREATED_BY_VALUE, RUN_LABEL, run_labels

LEDGER = "ordinal.dev/ledger"  # node annotation: JSON {"run": id, "cordoned": true, "lost": true}


def new_run_id() -> str:
    """Sortable and unique enough: ``20261125t1705-3f9a``."""
    return time.strftime("%Y%m%dt%H%M", time.gmtime()) + "-" + secrets.token_hex(2)


def create_namespace(kube: Kube, run_id: str, prefix: str = "ord", *, timeout: float = 60) -> str:
    """A fresh namespace for one test, ready for pods (its default ServiceAccount exists)."""
    name = f"{prefix}-{run_id.split('-')[-1]}-{secrets.token_hex(3)}"[:63]
    kube.create(
        NAMESPACES,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": run_labels(run_id)}},
    )

    def judge(items: list[Obj]) -> Verdict[str]:
        return Verdict(bool(items), "present" if items else "absent")

    # Pods created before the ServiceAccount controller made "default" are rejected and
    # retried with backoff, which would distort every ordering and timing measurement.
    wait_for(
        kube,
        Query(SERVICE_ACCOUNTS, name, field_selector="metadata.name=default"),
        judge,
        expect=f"ServiceAccount {name}/default",
        timeout=timeout,
    )
    return name


def delete_namespace(kube: Kube, name: str, *, timeout: float = 180) -> list[str]:
    """Delete the namespace and every PV its claims used; return errors instead of raising."""
    errors: list[str] = []
    try:
        kube.delete(NAMESPACES, name, propagation="Background")
        wait_for_gone(kube, NAMESPACES, None, [name], timeout=timeout)
    except (OrdinalError, ApiError) as err:
        errors.append(f"namespace/{name}: {err}")
    errors += _delete_pvs_of(kube, name, timeout=timeout)
    return errors


def _delete_pvs_of(kube: Kube, namespace: str, *, timeout: float) -> list[str]:
    """PVs whose claims lived in ``namespace``: Delete-policy ones go by themselves, others we delete."""
    try:
        pvs, _ = kube.list(PVS)
        mine = [pv for pv in pvs if (pv.get("spec", {}).get("claimRef") or {}).get("namespace") == namespace]
        for pv in mine:
            if pv["spec"].get("persistentVolumeReclaimPolicy") != "Delete" or pv["status"].get("phase") == "Failed":
                kube.delete(PVS, pv["metadata"]["name"])
        if mine:
            wait_for_gone(kube, PVS, None, [pv["metadata"]["name"] for pv in mine], timeout=timeout)
    except (OrdinalError, ApiError) as err:
        return [f"persistentvolumes of {namespace}: {err}"]
    return []


# -- node ledger ------------------------------------------------------------------------------


def ledger(node: Obj) -> dict[str, Any]:
    """What ordinal changed on this node and has not undone yet: {"run": id, "cordoned": true, "lost": true}."""
    raw = (node.get("metadata", {}).get("annotations") or {}).get(LEDGER)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _write_ledger(kube: Kube, node: str, data: dict[str, Any], extra: Obj | None = None) -> None:
    changes = {k: v for k, v in data.items() if k != "run"}
    value = json.dumps(data) if changes else None
    kube.patch(NODES, node, {**(extra or {}), "metadata": {"annotations": {LEDGER: value}}})


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


def ledger_nodes(kube: Kube, run_id: str | None = None) -> list[str]:
    nodes, _ = kube.list(NODES)
    return [n["metadata"]["name"] for n in nodes if ledger(n) and (run_id is None or ledger(n).get("run") == run_id)]


def restore_node(kube: Kube, node: str) -> None:
    """Undo every recorded change on ``node``: an out-of-service taint, a cordon, silenced heartbeats."""
    from ordinal.disrupt import remove_out_of_service, restore_heartbeats  # disrupt builds on hygiene

    remove_out_of_service(kube, node)
    uncordon(kube, node)
    restore_heartbeats(kube, node)


# -- sweep ------------------------------------------------------------------------------------


def sweep(kube: Kube, run_id: str | None = None, *, timeout: float = 300) -> tuple[list[str], list[str]]:
    """Remove what (aborted) runs left: namespaces, their PVs, cordons. Returns (removed, errors)."""
    selector = f"{CREATED_BY_LABEL}={CREATED_BY_VALUE}" + (f",{RUN_LABEL}={run_id}" if run_id else "")
    namespaces, _ = kube.list(NAMESPACES, label_selector=selector)
    removed: list[str] = []
    errors: list[str] = []
    for ns in namespaces:
        name = ns["metadata"]["name"]
        errs = delete_namespace(kube, name, timeout=timeout)
        errors += errs
        if not errs:
            removed.append(f"namespace/{name}")
    for node in ledger_nodes(kube, run_id):
        try:
            restore_node(kube, node)
            removed.append(f"changes on node/{node}")
        except (OrdinalError, ApiError) as err:
            errors.append(f"node/{node}: {err}")
    return removed, errors


def leaks(kube: Kube, run_id: str) -> list[str]:
    """What a finished run still left in the cluster (should be empty)."""
    selector = f"{CREATED_BY_LABEL}={CREATED_BY_VALUE},{RUN_LABEL}={run_id}"
    namespaces, _ = kube.list(NAMESPACES, label_selector=selector)
    found = [f"namespace/{n['metadata']['name']}" for n in namespaces]
    found += [f"changes on node/{n}" for n in ledger_nodes(kube, run_id)]
    return found
