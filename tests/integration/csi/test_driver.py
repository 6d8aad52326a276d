"""ordinal-csi on real nodes: CSINode registration, provisioning, real attach/detach, a volume that moves.

On the package's CSI cluster (see ``conftest.py``). csi-sanity's verdict on the driver is
``go -C cluster/csi test ./...``.
Figures (attach, detach, move, up) go to the JUnit properties and ``reports/csi-figures.json``.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from host_traces import record_figure

from ordinal.act.nodes import cordon, uncordon
from ordinal.act.pods import delete_pod
from ordinal.kube import objects as o
from ordinal.kube.manifests import headless_service_manifest, pod_name, selector_labels, statefulset_manifest
from ordinal.kube.rest import (
    CSI_DRIVERS,
    CSI_NODES,
    NODES,
    PODS,
    PVCS,
    PVS,
    STATEFULSETS,
    STORAGE_CLASSES,
    VOLUME_ATTACHMENTS,
    Kube,
)
from ordinal.kube.streams import exec_in_pod
from ordinal.labels import CSI_ZONE_LABEL, NODE_KIND_LABEL, REAL_NODE_KIND, ZONE_LABEL
from ordinal.localcluster import csi, process
from ordinal.observe.waiting import Query, Verdict, wait_for, wait_for_gone, wait_for_pod_recreated, wait_for_set_ready
from ordinal.types import Obj

SET = "db"
CLAIM = f"data-{SET}-0"
TIMEOUT = 120
FIGURES = "csi-figures.json"
HOST_PROCESSES = ("csi-controller", "csi-attacher", "csi-provisioner")
NODE_PROCESSES = ("csi-node", "csi-registrar")


def csi_set(namespace: str, image: str) -> Obj:
    """The suite's one-replica set (restricted-compatible: UID/GID 65532, fsGroup) on ordinal-csi, real nodes."""
    manifest = statefulset_manifest(
        SET, namespace, replicas=1, image=image, storage_class=csi.STORAGE_CLASS, termination_grace=5
    )
    pod = manifest["spec"]["template"]["spec"]
    pod["nodeSelector"] = {NODE_KIND_LABEL: REAL_NODE_KIND}
    pod["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    return manifest


def sh(kube: Kube, namespace: str, pod: str, script: str) -> str:
    result = exec_in_pod(kube, namespace, pod, ["sh", "-c", script], timeout=30)
    assert result.ok, f"`{script}` in {namespace}/{pod}: exit {result.code}, stderr {result.stderr!r}"
    return result.stdout


def attachments_of(items: list[Obj], pv: str) -> list[Obj]:
    return [va for va in items if (va.get("spec") or {}).get("source", {}).get("persistentVolumeName") == pv]


def va_line(va: Obj) -> str:
    spec, st = va.get("spec") or {}, va.get("status") or {}
    gone = " deleting" if o.meta(va).get("deletionTimestamp") else ""
    return f"{o.name(va)} node={spec.get('nodeName')} attached={st.get('attached', False)}{gone}"


def wait_attached(kube: Kube, pv: str, node: str, timeout: float = TIMEOUT) -> Obj:
    """The PV's VolumeAttachment to ``node`` reports attached; a second attachment alongside is a failure."""

    def judge(items: list[Obj]) -> Verdict[Obj]:
        mine = attachments_of(items, pv)
        seen = "; ".join(va_line(va) for va in mine) or "none"
        attached = [va for va in mine if (va.get("status") or {}).get("attached")]
        if len(attached) > 1:
            return Verdict(False, seen, failed=f"PV {pv}: expected one attached VolumeAttachment, saw {seen}")
        ok = [va for va in attached if va["spec"]["nodeName"] == node]
        return Verdict(bool(ok), seen, ok[0] if ok else None)

    va: Obj = wait_for(kube, Query(VOLUME_ATTACHMENTS), judge, expect=f"PV {pv} attached to {node}", timeout=timeout)
    return va


# --- the stack ------------------------------------------------------------------------------------


def test_cluster_starts_with_the_csi_stack(csi_cluster: dict[str, Any], kube: Kube) -> None:
    """With real nodes the cluster MUST run the driver, attacher and provisioner, and serve class ordinal-csi."""
    where = Path(csi_cluster["where"])
    alive = {r.name for r in process.records(where) if r.alive()}
    wanted = {*HOST_PROCESSES, *(f"{p}@{n}" for p in NODE_PROCESSES for n in csi_cluster["real_nodes"])}
    assert wanted <= alive, f"expected CSI processes {sorted(wanted - alive)} running, saw {sorted(alive)}"
    driver = kube.get(CSI_DRIVERS, csi.DRIVER)["spec"]
    assert (driver["attachRequired"], driver["podInfoOnMount"], driver["fsGroupPolicy"]) == (True, True, "File")
    klass = kube.get(STORAGE_CLASSES, csi.STORAGE_CLASS)
    assert (klass["provisioner"], klass["volumeBindingMode"], klass["reclaimPolicy"]) == (
        csi.DRIVER,
        "WaitForFirstConsumer",
        "Delete",
    )
    assert not klass.get("allowVolumeExpansion")  # directories have no size a pod sees: no expansion
    real_zones = sorted({o.labels(kube.get(NODES, n))[ZONE_LABEL] for n in csi_cluster["real_nodes"]})
    [term] = klass["allowedTopologies"]
    assert term["matchLabelExpressions"] == [{"key": CSI_ZONE_LABEL, "values": real_zones}]
    assert csi_cluster["csi"]["storage_class"] == csi.STORAGE_CLASS
    assert (Path(csi_cluster["where"]) / "csi" / "controller.sock").is_socket()


def test_csinode_lists_the_driver_with_its_zone_key_on_each_real_node(csi_cluster: dict[str, Any], kube: Kube) -> None:
    """Every real node's CSINode MUST list csi.ordinal.dev with the zone key, and the node carry it as a label."""
    for name in csi_cluster["real_nodes"]:
        drivers = {d["name"]: d for d in kube.get(CSI_NODES, name)["spec"]["drivers"]}
        assert csi.DRIVER in drivers, f"CSINode {name}: expected {csi.DRIVER}, saw {sorted(drivers)}"
        assert drivers[csi.DRIVER]["nodeID"] == name
        assert drivers[csi.DRIVER]["topologyKeys"] == [CSI_ZONE_LABEL]
        labels = o.labels(kube.get(NODES, name))
        assert labels.get(CSI_ZONE_LABEL) == labels.get(ZONE_LABEL), labels


# --- a volume's life ------------------------------------------------------------------------------


def test_claim_is_attached_follows_its_pod_and_keeps_its_data(
    csi_cluster: dict[str, Any], kube: Kube, ns: str, run_id: str, record_property: Any
) -> None:
    """A CSI claim MUST be attached where its pod runs, detached before it attaches elsewhere, data intact."""
    image = csi_cluster["images"]["busybox"]
    kube.create_object(headless_service_manifest(SET, ns, selector_labels(SET)))
    t0 = time.monotonic()
    kube.create_object(csi_set(ns, image))
    wait_for_set_ready(kube, ns, SET, 1, timeout=TIMEOUT)
    record_figure(record_property, FIGURES, "csi_statefulset_1_replica_ready_seconds", time.monotonic() - t0)

    pv_name = kube.get(PVCS, CLAIM, ns)["spec"]["volumeName"]
    pv = kube.get(PVS, pv_name)
    source = pv["spec"]["csi"]
    assert (source["driver"], source["volumeHandle"], source.get("fsType", "")) == (csi.DRIVER, pv_name, "")
    [term] = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["key"] == CSI_ZONE_LABEL
    first = kube.get(PODS, pod_name(SET, 0), ns)
    old_node = o.spec(first)["nodeName"]
    old_va = wait_attached(kube, pv_name, old_node)
    volume_dir = Path(csi_cluster["where"]) / "csi" / "volumes" / source["volumeHandle"]
    assert volume_dir.is_dir()

    # The pod runs as UID/GID 65532 under Pod Security restricted: fsGroupPolicy File lets it write.
    token = f"{SET}-0-{secrets.token_hex(8)}"
    sh(kube, ns, pod_name(SET, 0), f"echo {token} > /data/token && sync")
    assert (volume_dir / "token").read_text().strip() == token

    others = [n for n in csi_cluster["real_nodes"] if n != old_node]
    events: list[tuple[float, str, str]] = []

    def note(kind: str, va: Obj) -> None:
        if (va.get("spec") or {}).get("source", {}).get("persistentVolumeName") == pv_name:
            events.append((time.monotonic(), kind, va_line(va)))

    cordon(kube, old_node, run_id)
    try:
        t0 = time.monotonic()
        delete_pod(kube, ns, SET, 0)
        gone_at: list[float] = []

        def moved(items: list[Obj]) -> Verdict[Obj]:
            mine = attachments_of(items, pv_name)
            seen = "; ".join(va_line(va) for va in mine) or "none"
            old = [va for va in mine if o.name(va) == o.name(old_va)]
            if not old and not gone_at:
                gone_at.append(time.monotonic())
            new = [va for va in mine if va["spec"]["nodeName"] in others and (va.get("status") or {}).get("attached")]
            if new and old:
                return Verdict(
                    False,
                    seen,
                    failed=f"PV {pv_name} (ReadWriteOnce): expected the attachment to {old_node} gone before "
                    f"the one to {new[0]['spec']['nodeName']} is attached, saw both: {seen}",
                )
            return Verdict(bool(new), seen, new[0] if new else None)

        new_va = wait_for(
            kube,
            Query(VOLUME_ATTACHMENTS),
            moved,
            expect=f"PV {pv_name} detached from {old_node} and attached to one of {others}",
            timeout=TIMEOUT,
            on_event=note,
        )
        attached_at = time.monotonic()
        replacement = wait_for_pod_recreated(kube, ns, pod_name(SET, 0), o.uid(first), timeout=TIMEOUT)
        record_figure(record_property, FIGURES, "csi_move_to_other_node_ready_seconds", time.monotonic() - t0)
        record_figure(record_property, FIGURES, "csi_detach_after_pod_delete_seconds", gone_at[0] - t0)
        record_figure(record_property, FIGURES, "csi_attach_after_detach_seconds", attached_at - gone_at[0])
        assert o.spec(replacement)["nodeName"] == new_va["spec"]["nodeName"] != old_node, (old_node, events)
        assert sh(kube, ns, pod_name(SET, 0), "cat /data/token").strip() == token
    finally:
        uncordon(kube, old_node)


def test_deleting_the_set_and_claim_deletes_the_pv_and_its_directory(
    csi_cluster: dict[str, Any], kube: Kube, ns: str
) -> None:
    """With reclaimPolicy Delete, deleting the claim MUST delete its PV, its attachment and its directory."""
    image = csi_cluster["images"]["busybox"]
    kube.create_object(headless_service_manifest(SET, ns, selector_labels(SET)))
    kube.create_object(csi_set(ns, image))
    wait_for_set_ready(kube, ns, SET, 1, timeout=TIMEOUT)
    pv_name = kube.get(PVCS, CLAIM, ns)["spec"]["volumeName"]
    handle = kube.get(PVS, pv_name)["spec"]["csi"]["volumeHandle"]
    volume_dir = Path(csi_cluster["where"]) / "csi" / "volumes" / handle
    assert volume_dir.is_dir()

    kube.delete(STATEFULSETS, SET, ns, propagation="Background")
    wait_for_gone(kube, PODS, ns, [pod_name(SET, 0)], timeout=TIMEOUT)
    kube.delete(PVCS, CLAIM, ns)
    wait_for_gone(kube, PVS, None, [pv_name], timeout=TIMEOUT)

    def detached(items: list[Obj]) -> Verdict[None]:
        mine = attachments_of(items, pv_name)
        return Verdict(not mine, "; ".join(va_line(va) for va in mine) or "none")

    wait_for(kube, Query(VOLUME_ATTACHMENTS), detached, expect=f"no VolumeAttachment of {pv_name}", timeout=TIMEOUT)
    assert not volume_dir.exists(), f"expected {volume_dir} removed with PV {pv_name}"
    assert not volume_dir.with_suffix(".json").exists()
