"""Leave nothing behind: run ids, per-test namespaces, and the sweep after a crash.

Everything ordinal creates carries ``app.kubernetes.io/created-by=ordinal`` and
``ordinal/run=<id>``, so a sweep finds it by label; node changes are found through the node
ledger (:mod:`ordinal.act.nodes`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection

from ordinal.act.nodes import NodeCommands, ledger_nodes, restore_node
from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.kube import objects as o
from ordinal.kube.manifests import run_labels
from ordinal.kube.rest import NAMESPACES, PODS, PVCS, PVS, SERVICE_ACCOUNTS, STATEFULSETS, ApiError, Kube
from ordinal.labels import CREATED_BY_LABEL, CREATED_BY_VALUE, RUN_LABEL
from ordinal.observe.waiting import Query, Verdict, wait_for, wait_for_gone
from ordinal.types import Obj


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

    def judge(items: list[Obj]) -> Verdict[None]:
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


def remove_namespace(kube: Kube, namespace: str, *, timeout: float = 180.0) -> list[str]:
    """Empty, then delete, a namespace ordinal created (and the volumes its claims used); errors, not exceptions.

    Refuses a namespace without ordinal's ``created-by`` label: ordinal never deletes a
    namespace it did not make. The namespace controller re-checks a namespace only after an
    estimate (a pod's grace period, or 15 s for objects with finalizers such as pvc-protection);
    emptying it first halves the wait.
    """
    ns = kube.get_or_none(NAMESPACES, namespace)
    if ns is None:
        return []
    if o.labels(ns).get(CREATED_BY_LABEL) != CREATED_BY_VALUE:
        raise InvalidScenario(
            f"expected namespace {namespace} to carry {CREATED_BY_LABEL}={CREATED_BY_VALUE} before deleting it, "
            f"found labels {o.labels(ns)}"
        )
    errors: list[str] = []
    try:
        for sts in kube.list(STATEFULSETS, namespace)[0]:
            kube.delete(STATEFULSETS, o.name(sts), namespace, propagation="Orphan")
        pods = kube.list(PODS, namespace)[0]
        for pod in pods:
            kube.delete(PODS, o.name(pod), namespace, grace_seconds=0)
        wait_for_gone(kube, PODS, namespace, [o.name(p) for p in pods], timeout=timeout)
        claims = kube.list(PVCS, namespace)[0]
        for claim in claims:
            kube.delete(PVCS, o.name(claim), namespace)
        wait_for_gone(kube, PVCS, namespace, [o.name(c) for c in claims], timeout=timeout)
    except (OrdinalError, ApiError) as err:
        errors.append(f"pods of {namespace}: {str(err).strip().splitlines()[0]}")
    return errors + delete_namespace(kube, namespace, timeout=timeout)


def _delete_pvs_of(kube: Kube, namespace: str, *, timeout: float) -> list[str]:
    """PVs whose claims lived in ``namespace``: Delete-policy ones go by themselves, others we delete."""
    try:
        pvs, _ = kube.list(PVS)
        mine = [pv for pv in pvs if (o.spec(pv).get("claimRef") or {}).get("namespace") == namespace]
        for pv in mine:
            if o.spec(pv).get("persistentVolumeReclaimPolicy") != "Delete" or o.status(pv).get("phase") == "Failed":
                kube.delete(PVS, o.name(pv))
        if mine:
            wait_for_gone(kube, PVS, None, [o.name(pv) for pv in mine], timeout=timeout)
    except (OrdinalError, ApiError) as err:
        return [f"persistentvolumes of {namespace}: {err}"]
    return []


def sweep(
    kube: Kube,
    run_id: str | None = None,
    *,
    timeout: float = 300,
    keep: Collection[str] = (),
    commands: NodeCommands | None = None,
) -> tuple[list[str], list[str]]:
    """Remove what (aborted) runs left: namespaces (but those in ``keep``), their PVs, node changes.

    ``commands`` start again the nodes a run stopped (without them such a node is an error that
    says so). Returns (removed, errors).
    """
    removed: list[str] = []
    errors: list[str] = []
    # Nodes first: a pod on a silenced or stopped node never finishes terminating, so its
    # namespace would wait for the node; an added node goes with the pods bound to it.
    for node in ledger_nodes(kube, run_id):
        try:
            restore_node(kube, node, commands)
            removed.append(f"changes on node/{node}")
        except (OrdinalError, ApiError) as err:
            errors.append(f"node/{node}: {err}")
    selector = f"{CREATED_BY_LABEL}={CREATED_BY_VALUE}" + (f",{RUN_LABEL}={run_id}" if run_id else "")
    namespaces, _ = kube.list(NAMESPACES, label_selector=selector)
    for ns in namespaces:
        name = o.name(ns)
        if name in keep:
            continue
        errs = delete_namespace(kube, name, timeout=timeout)
        errors += errs
        if not errs:
            removed.append(f"namespace/{name}")
    return removed, errors


def leaks(kube: Kube, run_id: str) -> list[str]:
    """What a finished run still left in the cluster (should be empty)."""
    selector = f"{CREATED_BY_LABEL}={CREATED_BY_VALUE},{RUN_LABEL}={run_id}"
    namespaces, _ = kube.list(NAMESPACES, label_selector=selector)
    found = [f"namespace/{o.name(n)}" for n in namespaces]
    found += [f"changes on node/{n}" for n in ledger_nodes(kube, run_id)]
    return found
