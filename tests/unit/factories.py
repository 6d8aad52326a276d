"""Builders for API objects as the server returns them (JSON form), and a timeline recorder stand-in.

Objects start from the project's own manifest builders and gain what the server adds
(uid, resourceVersion, status, the controller's labels and ownerRefs), so a check
sees the same shapes it sees on a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ordinal.kube.manifests import (
    Retention,
    headless_service_manifest,
    pod_name,
    pvc_name,
    selector_labels,
    statefulset_manifest,
)
from ordinal.labels import POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL
from ordinal.observe.timeline import Timeline
from ordinal.types import Finding, Obj

NS = "ord-test"
REV1 = "web-5d8f7c9b6"
REV2 = "web-7b4c6d5f8"
STAMP = "2026-09-01T10:00:00Z"


def set_uid(name: str) -> str:
    return f"uid-sts-{name}"


def statefulset(
    name: str = "web",
    *,
    namespace: str = NS,
    replicas: int = 3,
    start: int | None = None,
    service: str | None = None,
    partition: int | None = None,
    strategy: str = "RollingUpdate",
    retention: Retention | None = None,
    current: str = REV1,
    update: str | None = None,
    generation: int = 1,
    observed: int | None = None,
    status: Mapping[str, Any] | None = None,
) -> Obj:
    """A set as read back from the server, at rest unless ``update``/``status`` say otherwise."""
    sts = statefulset_manifest(
        name,
        namespace,
        replicas=replicas,
        service_name=service,
        update_strategy="OnDelete" if strategy == "OnDelete" else "RollingUpdate",
        partition=partition,
        ordinals_start=start,
        retention=retention,
    )
    sts["metadata"].update(uid=set_uid(name), generation=generation, resourceVersion="1000")
    update = update or current
    sts["status"] = {
        "observedGeneration": generation if observed is None else observed,
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "currentReplicas": replicas if current == update else 0,
        "updatedReplicas": replicas,
        "currentRevision": current,
        "updateRevision": update,
        **(status or {}),
    }
    return sts


def set_ref(sts: Obj, **overrides: Any) -> Obj:
    """The ownerReference the controller puts on its pods (and on claims for whenDeleted=Delete)."""
    ref = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": sts["metadata"]["name"],
        "uid": sts["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    ref.update(overrides)
    return ref


def pod(
    ordinal: int,
    set_name: str = "web",
    *,
    namespace: str = NS,
    uid: str | None = None,
    phase: str = "Running",
    ready: bool = True,
    node: str | None = "node-1",
    ip: str | None = "auto",
    revision: str | None = REV1,
    deleting: bool = False,
    grace: int | None = None,
    service: str | None = None,
    templates: Sequence[str] = ("data",),
    owner: bool = True,
) -> Obj:
    """A StatefulSet pod as the controller creates it and the kubelet reports it."""
    name = pod_name(set_name, ordinal)
    labels = {**selector_labels(set_name), POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
    if revision is not None:
        labels[REVISION_LABEL] = revision
    meta: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{name}-a",
        "resourceVersion": "2000",
        "creationTimestamp": STAMP,
        "labels": labels,
    }
    if owner:
        meta["ownerReferences"] = [set_ref(statefulset(set_name, namespace=namespace))]
    if deleting:
        meta["deletionTimestamp"] = STAMP
        meta["deletionGracePeriodSeconds"] = 10 if grace is None else grace
    conditions = [
        {"type": "PodScheduled", "status": "True" if node else "False"},
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": STAMP},
    ]
    status: Obj = {"phase": phase, "conditions": conditions}
    if ip == "auto":
        ip = f"10.244.0.{10 + ordinal}" if phase == "Running" else None
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    spec: Obj = {
        "hostname": name,
        "subdomain": service or set_name,
        "containers": [{"name": "main", "image": "busybox"}],
        "volumes": [
            {"name": t, "persistentVolumeClaim": {"claimName": pvc_name(t, set_name, ordinal)}} for t in templates
        ],
    }
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def pods(n: int, set_name: str = "web", **kw: Any) -> list[Obj]:
    return [pod(i, set_name, **kw) for i in range(n)]


def pvc(
    ordinal: int,
    set_name: str = "web",
    *,
    template: str = "data",
    namespace: str = NS,
    uid: str | None = None,
    volume: str | None = "auto",
    phase: str = "Bound",
    owners: Sequence[Obj] = (),
    deleting: bool = False,
) -> Obj:
    name = pvc_name(template, set_name, ordinal)
    meta: Obj = {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}", "resourceVersion": "3000"}
    if owners:
        meta["ownerReferences"] = [dict(r) for r in owners]
    if deleting:
        meta["deletionTimestamp"] = STAMP
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}
    if volume == "auto":
        volume = f"pvc-{name}"
    if volume:
        spec["volumeName"] = volume
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": phase},
    }


def pvcs(n: int, set_name: str = "web", **kw: Any) -> list[Obj]:
    return [pvc(i, set_name, **kw) for i in range(n)]


def pv(claim: Obj, *, name: str | None = None, node: str | None = None) -> Obj:
    """The PV a claim is bound to; ``node`` pins it like a local volume."""
    spec: Obj = {
        "capacity": {"storage": "1Mi"},
        "claimRef": {
            "kind": "PersistentVolumeClaim",
            "namespace": claim["metadata"]["namespace"],
            "name": claim["metadata"]["name"],
            "uid": claim["metadata"]["uid"],
        },
    }
    if node:
        spec["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
                ]
            }
        }
    pv_name = name or claim["spec"]["volumeName"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "uid": f"uid-{pv_name}"},
        "spec": spec,
        "status": {"phase": "Bound"},
    }


CSI_DRIVER = "csi.example.dev"
CSI_ZONE_KEY = "topology.csi.example.dev/zone"


def csi_pv(claim: Obj, *, driver: str = CSI_DRIVER, zone: str | None = None, storage_class: str = "csi") -> Obj:
    """The PV a CSI provisioner makes for a claim; ``zone`` pins it with the driver's own topology key."""
    volume = pv(claim)
    volume["spec"]["csi"] = {"driver": driver, "volumeHandle": f"vol-{claim['metadata']['uid']}"}
    volume["spec"]["storageClassName"] = storage_class
    if zone:
        expr = {"key": CSI_ZONE_KEY, "operator": "In", "values": [zone]}
        volume["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}}
    return volume


def volume_attachment(
    pv_name: str,
    node_name: str,
    *,
    attached: bool = False,
    driver: str = CSI_DRIVER,
    attach_error: str | None = None,
    detach_error: str | None = None,
    deleting: bool = False,
) -> Obj:
    """A VolumeAttachment as the attach/detach controller makes it and the external-attacher reports it."""
    name = f"csi-{pv_name}-{node_name}"
    meta: Obj = {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "creationTimestamp": STAMP}
    if deleting:
        meta["deletionTimestamp"] = STAMP
    status: Obj = {"attached": attached}
    if attach_error:
        status["attachError"] = {"message": attach_error, "time": STAMP}
    if detach_error:
        status["detachError"] = {"message": detach_error, "time": STAMP}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "VolumeAttachment",
        "metadata": meta,
        "spec": {"attacher": driver, "nodeName": node_name, "source": {"persistentVolumeName": pv_name}},
        "status": status,
    }


def csi_driver(name: str = CSI_DRIVER, *, labels: Mapping[str, str] | None = None, **spec: Any) -> Obj:
    """A CSIDriver object; ``spec`` as the API spells it (attachRequired, podInfoOnMount, …)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": name, "uid": f"uid-csidriver-{name}", "labels": dict(labels or {})},
        "spec": {"attachRequired": True, "podInfoOnMount": False, "fsGroupPolicy": "File", **spec},
    }


def csi_node(node_name: str, drivers: Mapping[str, Sequence[str]]) -> Obj:
    """A node's CSINode: each registered driver with its topology keys."""
    entries = [{"name": d, "nodeID": node_name, "topologyKeys": list(keys)} for d, keys in drivers.items()]
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSINode",
        "metadata": {"name": node_name, "uid": f"uid-csinode-{node_name}"},
        "spec": {"drivers": entries},
    }


def service(
    name: str = "web",
    *,
    namespace: str = NS,
    set_name: str = "web",
    publish_not_ready: bool = False,
    headless: bool = True,
) -> Obj:
    svc = headless_service_manifest(name, namespace, selector_labels(set_name), publish_not_ready=publish_not_ready)
    svc["metadata"]["uid"] = f"uid-svc-{name}"
    if not headless:
        svc["spec"]["clusterIP"] = "10.96.0.20"
    return svc


def endpoint_slice(svc: Obj, members: Iterable[Obj], *, name: str | None = None) -> Obj:
    """The slice the EndpointSlice controller writes for ``members`` (hostname only on matching subdomain)."""
    svc_name = svc["metadata"]["name"]
    endpoints = []
    for p in members:
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        terminating = "deletionTimestamp" in p["metadata"]
        ep: Obj = {
            "addresses": [p["status"]["podIP"]],
            "conditions": {"ready": ready and not terminating, "serving": ready, "terminating": terminating},
            "targetRef": {
                "kind": "Pod",
                "name": p["metadata"]["name"],
                "namespace": p["metadata"]["namespace"],
            },
            "nodeName": p["spec"].get("nodeName"),
        }
        if p["spec"].get("subdomain") == svc_name:
            ep["hostname"] = p["spec"]["hostname"]
        endpoints.append(ep)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{svc_name}-abcde",
            "namespace": svc["metadata"]["namespace"],
            "uid": f"uid-eps-{svc_name}",
            "resourceVersion": "4000",
            "labels": {"kubernetes.io/service-name": svc_name},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "peer", "port": 8080, "protocol": "TCP"}],
    }


def node(name: str, *, ready: str = "True", taints: Sequence[str] = (), rv: str = "1") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-node-{name}", "resourceVersion": rv, "labels": {}},
        "spec": {"taints": [{"key": k, "effect": "NoExecute"} for k in taints]},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def controller_revision(name: str, sts: Obj, revision: int) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": sts["metadata"]["namespace"],
            "uid": f"uid-{name}",
            "ownerReferences": [set_ref(sts)],
        },
        "revision": revision,
    }


def event(reason: str, obj: Obj, message: str = "", *, rv: str = "1") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{obj['metadata']['name']}.{reason.lower()}",
            "namespace": NS,
            "resourceVersion": rv,
        },
        "involvedObject": {"kind": obj["kind"], "name": obj["metadata"]["name"]},
        "reason": reason,
        "type": "Normal",
        "message": message,
    }


def rules(findings: Iterable[Finding]) -> list[str]:
    return [f.rule for f in findings]


class Recording:
    """Plays a pod watch into a :class:`Timeline`, the way the controller and kubelet would make it change.

    Each call emits one event 0.1 s after the previous (``wait`` jumps ahead), with a
    fresh resourceVersion. Pods are addressed by ordinal, and act on the newest
    incarnation unless ``birth`` (1 for the first UID of that name, 2 for the next…) says otherwise.
    """

    def __init__(self, set_name: str = "web", *, namespace: str = NS) -> None:
        self.set_name = set_name
        self.namespace = namespace
        self.timeline = Timeline(t0=0.0)
        self.t = 0.0
        self._rv = 5000
        self._pods: dict[int, dict[int, Obj]] = {}

    def wait(self, seconds: float) -> Recording:
        self.t += seconds
        return self

    def emit(self, event_type: str, obj: Obj) -> Obj:
        self.t = round(self.t + 0.1, 3)
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self.timeline.record(event_type, obj, self.t)
        return obj

    def create(self, ordinal: int, *, node: str = "node-1", revision: str = REV1) -> Recording:
        births = self._pods.setdefault(ordinal, {})
        birth = len(births) + 1
        p = pod(
            ordinal,
            self.set_name,
            namespace=self.namespace,
            uid=f"uid-{pod_name(self.set_name, ordinal)}-{birth}",
            phase="Pending",
            ready=False,
            ip=None,
            node=node,
            revision=revision,
        )
        births[birth] = self.emit("ADDED", p)
        return self

    def _change(self, ordinal: int, birth: int | None, event_type: str, edit: Any) -> Recording:
        births = self._pods[ordinal]
        birth = birth or max(births)
        p = copy.deepcopy(births[birth])
        edit(p, birth)
        births[birth] = self.emit(event_type, p)
        return self

    def ready(self, ordinal: int, is_ready: bool = True, *, birth: int | None = None) -> Recording:
        def edit(p: Obj, n: int) -> None:
            p["status"]["phase"] = "Running"
            p["status"]["podIP"] = f"10.244.{n}.{10 + ordinal}"
            for cond in p["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond["status"] = "True" if is_ready else "False"

        return self._change(ordinal, birth, "MODIFIED", edit)

    def unready(self, ordinal: int, *, birth: int | None = None) -> Recording:
        return self.ready(ordinal, is_ready=False, birth=birth)

    def delete(self, ordinal: int, *, grace: int = 10, birth: int | None = None) -> Recording:
        """Deletion requested: the pod turns Terminating (and not Ready)."""

        def edit(p: Obj, _: int) -> None:
            p["metadata"]["deletionTimestamp"] = STAMP
            p["metadata"]["deletionGracePeriodSeconds"] = grace
            for cond in p["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond["status"] = "False"

        return self._change(ordinal, birth, "MODIFIED", edit)

    def gone(self, ordinal: int, *, grace: int = 0, birth: int | None = None) -> Recording:
        """The object is removed (the kubelet's final delete, or a force delete: grace 0)."""

        def edit(p: Obj, _: int) -> None:
            p["metadata"].setdefault("deletionTimestamp", STAMP)
            p["metadata"]["deletionGracePeriodSeconds"] = grace

        return self._change(ordinal, birth, "DELETED", edit)

    def node(self, name: str, *, ready: str = "True", taints: Sequence[str] = ()) -> Recording:
        self.emit("MODIFIED", node(name, ready=ready, taints=taints))
        return self

    def up(self, *ordinals: int, revision: str = REV1) -> Recording:
        """OrderedReady scale-up: each pod created, then Ready, before the next."""
        for i in ordinals:
            self.create(i, revision=revision).ready(i)
        return self

    def down(self, *ordinals: int) -> Recording:
        """OrderedReady scale-down: each pod deleted and gone before the next."""
        for i in ordinals:
            self.delete(i).gone(i)
        return self


class VolumeStory:
    """One claim of web-1 on a CSI volume, its pods and their VolumeAttachments, as watch events."""

    def __init__(self, *, csi: bool = True) -> None:
        self.rec = Recording()
        claim = pvc(1)
        self.volume = csi_pv(claim) if csi else pv(claim, node="n1")
        self.pv = self.volume["metadata"]["name"]
        self.rec.emit("ADDED", claim)
        self.rec.emit("ADDED", self.volume)
        self.vas: dict[str, Obj] = {}

    def attach(self, node: str, *, error: str | None = None) -> VolumeStory:
        """The controller creates the attachment, the attacher reports it attached (after ``error``, if any)."""
        va = volume_attachment(self.pv, node)
        self.vas[node] = self.rec.emit("ADDED", va)
        if error:
            self._va(node, attach_error=error)
        return self._va(node, attached=True, attach_error=None)

    def detach(self, node: str) -> VolumeStory:
        """Deletion asked, the attacher detaches, the finalizer goes and the object with it."""
        self._va(node, deleting=True)
        self._va(node, attached=False)
        self.rec.emit("DELETED", self.vas.pop(node))
        return self

    def _va(self, node: str, *, deleting: bool = False, **status: object) -> VolumeStory:
        va = copy.deepcopy(self.vas[node])
        if deleting:
            va["metadata"]["deletionTimestamp"] = "2026-09-01T10:00:05Z"
        for key, value in status.items():
            field = {"attached": "attached", "attach_error": "attachError"}[key]
            if value is None:
                va["status"].pop(field, None)
            else:
                va["status"][field] = value if key == "attached" else {"message": value}
        self.vas[node] = self.rec.emit("MODIFIED", va)
        return self
