"""Pure manifest builders for the workloads under test, plus the naming rules they imply.

Everything returns plain dicts in the API's JSON form, so the same manifest can be
applied by ``kube``, dumped into a report, or compared by a unit test. Invalid
arguments raise :class:`InvalidScenario` here, before anything touches a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.labels import (
    CREATED_BY_LABEL,
    CREATED_BY_VALUE,
    HOSTNAME_LABEL,
    LAST_APPLIED_ANNOTATION,
    NOT_READY_TAINT,
    RESERVED_TAINT,
    RUN_LABEL,
    SET_LABEL,
    UNREACHABLE_TAINT,
)
from ordinal.types import Obj

PodManagement = Literal["OrderedReady", "Parallel"]
UpdateStrategy = Literal["RollingUpdate", "OnDelete"]
RetentionAction = Literal["Retain", "Delete"]
#: ``(whenDeleted, whenScaled)``, the order the API lists them in.
Retention = tuple[RetentionAction, RetentionAction]
AccessMode = Literal["ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany"]
ACCESS_MODES: tuple[AccessMode, ...] = ("ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany")
#: Access modes whose volume one node (or one pod) uses at a time: the ones attachment promises are about.
SINGLE_WRITER_MODES = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})

#: Pinned so every run uses the same bits; override with ``--image`` for air-gapped registries.
DEFAULT_IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
#: Readiness gate: the container is Ready while this file exists. Tests break and
#: restore readiness by exec'ing ``rm``/``touch``; the file lives outside the data
#: volume so a restarted container starts from the image's state, not the disk's.
READY_FILE = "/tmp/ready"
DATA_MOUNT = "/data"
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"peer": 8080})
#: The non-root user (and group) the suite's pods run as, unless the platform assigns one.
DEFAULT_UID = 65532
#: ``--run-as-user platform``: set no UID and let the platform pick one (OpenShift's restricted SCC).
PLATFORM_UID = "platform"

# DNS-1123 label; pod names must also be labels (they become hostnames).
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The controller appends "-<10-char hash>" to the set name for revision labels (63 max).
_MAX_SET_NAME = 52
_LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PERCENT_RE = re.compile(r"^([0-9]+)%$")


def run_labels(run_id: str) -> dict[str, str]:
    """Labels every object ordinal creates carries, so ``ordinal cleanup --run`` can find it."""
    _require_label_value("run id", run_id)
    return {CREATED_BY_LABEL: CREATED_BY_VALUE, RUN_LABEL: run_id}


def selector_labels(set_name: str) -> dict[str, str]:
    """The set's selector; also the headless Service's selector."""
    return {SET_LABEL: set_name}


def pod_name(set_name: str, ordinal: int) -> str:
    return f"{set_name}-{ordinal}"


def pvc_name(template: str, set_name: str, ordinal: int) -> str:
    return f"{template}-{set_name}-{ordinal}"


def set_window(sts: Obj) -> range:
    """Ordinals the set should have: ``start … start+replicas-1``."""
    spec = o.spec(sts)
    start = int((spec.get("ordinals") or {}).get("start") or 0)
    replicas = spec.get("replicas")
    return range(start, start + (1 if replicas is None else int(replicas)))


def parse_ordinal(name: str, set_name: str) -> int | None:
    """Ordinal of pod ``name`` in set ``set_name``, or None if the name is not one the set would use.

    Exact prefix plus canonical decimal: ``web-10`` is 10 (not 1), ``web-db-0`` is not a
    pod of ``web``, ``web-01`` is nobody's (the controller would have named it ``web-1``).
    """
    prefix = f"{set_name}-"
    if not name.startswith(prefix):
        return None
    digits = name[len(prefix) :]
    if not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) > 1 and digits.startswith("0"):
        return None
    return int(digits)


def members(sts: Obj, pods: Sequence[Obj]) -> dict[int, Obj]:
    """Pods that belong to ``sts`` by name (owned by it, or orphans it would adopt), keyed by ordinal."""
    found: dict[int, Obj] = {}
    for pod in pods:
        ordinal = parse_ordinal(o.name(pod), o.name(sts))
        owner = o.controller_ref(pod)
        if ordinal is None or (owner is not None and owner.get("uid") != o.uid(sts)):
            continue
        found[ordinal] = pod
    return dict(sorted(found.items()))


def parse_claim_ordinal(claim: str, template: str, set_name: str) -> int | None:
    """Ordinal of PVC ``claim`` from ``template`` for ``set_name``; rules as in :func:`parse_ordinal`."""
    prefix = f"{template}-"
    return parse_ordinal(claim[len(prefix) :], set_name) if claim.startswith(prefix) else None


def parse_run_as_user(text: str) -> int | None:
    """``65532`` → 65532; ``platform`` → None (the platform assigns the UID). UID 0 is refused: pods run as non-root."""
    value = text.strip()
    if value == PLATFORM_UID:
        return None
    if not value.isdigit() or int(value) == 0 or int(value) > 2**31 - 1:
        raise InvalidScenario(f"expected a non-root UID (1..2147483647) or {PLATFORM_UID!r}, got {text!r}")
    return int(value)


def restricted_security(run_as_user: int | None = DEFAULT_UID) -> tuple[Obj, Obj]:
    """(pod, container) securityContext that Pod Security "restricted" admits.

    Non-root with the default seccomp profile, no capabilities and no privilege escalation. With a
    UID, the pod also runs as that group and owns its volumes through ``fsGroup``; with None (the
    platform assigns UIDs) only ``runAsNonRoot`` is asked for.
    """
    pod: Obj = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if run_as_user is not None:
        pod |= {"runAsUser": run_as_user, "runAsGroup": run_as_user, "fsGroup": run_as_user}
    container: Obj = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return pod, container


def headless_service_manifest(
    name: str,
    namespace: str,
    selector: Mapping[str, str],
    ports: Mapping[str, int] = DEFAULT_PORTS,
    publish_not_ready: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Obj:
    """The governing Service: ``clusterIP: None`` so DNS answers with pod IPs and per-pod names."""
    _require_label("service name", name)
    if not selector:
        raise InvalidScenario(f"Service {namespace}/{name}: expected a non-empty selector, got none")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "clusterIP": "None",
            "selector": dict(selector),
            "publishNotReadyAddresses": publish_not_ready,
            "ports": [
                {"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                for port_name, port in ports.items()
            ],
        },
    }


def pvc_template(
    name: str,
    *,
    storage_class: str | None = None,
    size: str = "1Mi",
    labels: Mapping[str, str] | None = None,
    access_modes: Sequence[AccessMode] = ("ReadWriteOnce",),
) -> Obj:
    """One ``volumeClaimTemplates`` entry; ``storage_class=None`` leaves the field out (cluster default)."""
    _require_label("claim template name", name)
    modes = list(access_modes)
    if not modes or any(m not in ACCESS_MODES for m in modes):
        raise InvalidScenario(f"claim template {name}: expected access modes among {ACCESS_MODES}, got {modes}")
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        raise InvalidScenario(f"claim template {name}: ReadWriteOncePod cannot be combined with {modes}")
    claim_spec: Obj = {"accessModes": modes, "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        claim_spec["storageClassName"] = storage_class
    metadata: Obj = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {"metadata": metadata, "spec": claim_spec}


def statefulset_manifest(
    name: str,
    namespace: str,
    *,
    replicas: int = 3,
    service_name: str | None = None,
    image: str = DEFAULT_IMAGE,
    storage_class: str | None = None,
    claim_template: str | None = "data",
    claim_size: str = "1Mi",
    access_modes: Sequence[AccessMode] = ("ReadWriteOnce",),
    pod_management: PodManagement = "OrderedReady",
    update_strategy: UpdateStrategy = "RollingUpdate",
    partition: int | None = None,
    max_unavailable: int | str | None = None,
    min_ready_seconds: int = 0,
    ordinals_start: int | None = None,
    retention: Retention | None = None,
    labels: Mapping[str, str] | None = None,
    ports: Mapping[str, int] = DEFAULT_PORTS,
    termination_grace: int = 10,
    readiness_file: str | None = READY_FILE,
    start_ready: bool = True,
    run_as_user: int | None = DEFAULT_UID,
) -> Obj:
    """A StatefulSet of a shell that idles until SIGTERM, Ready while ``readiness_file`` exists.

    ``service_name`` defaults to the set's name. ``claim_template=None`` gives pods no
    per-pod volume. ``readiness_file=None`` drops the probe (Ready once started);
    ``start_ready=False`` leaves the file uncreated so a test releases pods one by one.
    On simulated nodes neither runs: the simulator marks pods Ready itself. Pods meet Pod
    Security "restricted" (see :func:`restricted_security`; ``run_as_user=None``: the platform
    assigns the UID).
    """
    _validate_set(name, replicas, partition, max_unavailable, min_ready_seconds, ordinals_start)
    if update_strategy == "OnDelete" and (partition is not None or max_unavailable is not None):
        raise InvalidScenario(
            f"StatefulSet {namespace}/{name}: partition and maxUnavailable need RollingUpdate, got OnDelete"
        )
    extra = dict(labels or {})
    selector = selector_labels(name)
    pod_labels = {**extra, **selector}
    pod_security, container_security = restricted_security(run_as_user)
    container: Obj = {
        "name": "main",
        "image": image,
        "command": ["/bin/sh", "-c", _idle_script(readiness_file if start_ready else None)],
        "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports.items()],
        "securityContext": container_security,
    }
    if readiness_file is not None:
        container["readinessProbe"] = {
            "exec": {"command": ["test", "-e", readiness_file]},
            "periodSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 1,
        }
    spec: Obj = {
        "replicas": replicas,
        "serviceName": service_name or name,
        "selector": {"matchLabels": selector},
        "podManagementPolicy": pod_management,
        "updateStrategy": _update_strategy(update_strategy, partition, max_unavailable),
        "minReadySeconds": min_ready_seconds,
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "terminationGracePeriodSeconds": termination_grace,
                "securityContext": pod_security,
                "containers": [container],
            },
        },
    }
    if claim_template is not None:
        container["volumeMounts"] = [{"name": claim_template, "mountPath": DATA_MOUNT}]
        spec["volumeClaimTemplates"] = [
            pvc_template(
                claim_template, storage_class=storage_class, size=claim_size, labels=extra, access_modes=access_modes
            )
        ]
    if ordinals_start is not None:
        spec["ordinals"] = {"start": ordinals_start}
    if retention is not None:
        when_deleted, when_scaled = retention
        spec["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": when_deleted,
            "whenScaled": when_scaled,
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(name, namespace, labels),
        "spec": spec,
    }


#: Server-set fields a recreated object must not carry.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
)


def as_written(sts: Obj) -> Obj:
    """A StatefulSet as the user wrote it, to create again: no status, server-set metadata, owner or finalizers."""
    meta = {k: v for k, v in o.meta(sts).items() if k not in _SERVER_METADATA}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED_ANNOTATION}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": o.spec(sts)}


def claim_pod_manifest(
    name: str,
    namespace: str,
    claim: str,
    *,
    image: str = DEFAULT_IMAGE,
    labels: Mapping[str, str] | None = None,
    run_as_user: int | None = DEFAULT_UID,
    node_selector: Mapping[str, str] | None = None,
) -> Obj:
    """A bare pod that mounts an existing claim at ``/data``: a second user of an ordinal's volume.

    It idles like the set's pods and meets Pod Security "restricted" too; it goes away at once
    when deleted.
    """
    _require_label("pod name", name)
    pod_security, container_security = restricted_security(run_as_user)
    spec: Obj = {
        "terminationGracePeriodSeconds": 1,
        "securityContext": pod_security,
        "containers": [
            {
                "name": "main",
                "image": image,
                "command": ["/bin/sh", "-c", _idle_script(None)],
                "securityContext": container_security,
                "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(name, namespace, labels), "spec": spec}


def claim_modes(sts: Obj) -> dict[str, list[str]]:
    """Claim template name → the access modes the set asks for (what a test sent, not what the server kept)."""
    found: dict[str, list[str]] = {}
    for template in o.spec(sts).get("volumeClaimTemplates") or ():
        if isinstance(template, dict):
            found[o.name(template)] = [str(m) for m in o.spec(template).get("accessModes") or ()]
    return found


def pdb_manifest(
    name: str,
    namespace: str,
    selector: Mapping[str, str],
    *,
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
    unhealthy_pod_eviction_policy: Literal["IfHealthyBudget", "AlwaysAllow"] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Obj:
    """A PodDisruptionBudget over the set's pods; exactly one of the two budgets must be given."""
    if (min_available is None) == (max_unavailable is None):
        raise InvalidScenario(
            f"PodDisruptionBudget {namespace}/{name}: expected exactly one of minAvailable/maxUnavailable"
        )
    spec: Obj = {"selector": {"matchLabels": dict(selector)}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    if unhealthy_pod_eviction_policy is not None:
        spec["unhealthyPodEvictionPolicy"] = unhealthy_pod_eviction_policy
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(name, namespace, labels),
        "spec": spec,
    }


def _idle_script(ready_file: str | None) -> str:
    # sh defers a trapped TERM until the foreground child exits, so sleep in short steps and exit
    # from the trap: pods terminate within a second instead of the whole grace period.
    touch = f"touch {ready_file}; " if ready_file else ""
    return f"trap 'exit 0' TERM; {touch}while true; do sleep 1; done"


def _update_strategy(kind: UpdateStrategy, partition: int | None, max_unavailable: int | str | None) -> Obj:
    if kind == "OnDelete":
        return {"type": "OnDelete"}
    rolling: Obj = {}
    if partition is not None:
        rolling["partition"] = partition
    if max_unavailable is not None:
        rolling["maxUnavailable"] = max_unavailable
    return {"type": "RollingUpdate", "rollingUpdate": rolling} if rolling else {"type": "RollingUpdate"}


def _validate_set(
    name: str,
    replicas: int,
    partition: int | None,
    max_unavailable: int | str | None,
    min_ready_seconds: int,
    ordinals_start: int | None,
) -> None:
    _require_label("StatefulSet name", name)
    if len(name) > _MAX_SET_NAME:
        raise InvalidScenario(
            f"StatefulSet {name}: expected a name of at most {_MAX_SET_NAME} characters, got {len(name)}"
        )
    for field, value in (
        ("replicas", replicas),
        ("partition", partition),
        ("minReadySeconds", min_ready_seconds),
        ("ordinals.start", ordinals_start),
    ):
        if value is not None and value < 0:
            raise InvalidScenario(f"StatefulSet {name}: expected {field} >= 0, got {value}")
    if isinstance(max_unavailable, int) and max_unavailable < 1:
        raise InvalidScenario(f"StatefulSet {name}: expected maxUnavailable >= 1, got {max_unavailable}")
    if isinstance(max_unavailable, str):
        match = _PERCENT_RE.match(max_unavailable)
        if not match or not 0 < int(match.group(1)) <= 100:
            raise InvalidScenario(
                f"StatefulSet {name}: expected maxUnavailable as an int or a percentage in (0%, 100%], "
                f"got {max_unavailable!r}"
            )


def _metadata(name: str, namespace: str, labels: Mapping[str, str] | None) -> Obj:
    metadata: Obj = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return metadata


def _require_label(what: str, value: str) -> None:
    if len(value) > 63 or not _LABEL_RE.match(value):
        raise InvalidScenario(f"expected {what} to be a DNS-1123 label (a-z, 0-9, '-', ≤63), got {value!r}")


def _require_label_value(what: str, value: str) -> None:
    if not value or len(value) > 63 or not _LABEL_VALUE_RE.match(value):
        raise InvalidScenario(f"expected {what} to be a non-empty label value (≤63 characters), got {value!r}")


def lost_node_tolerations(seconds: int) -> list[Obj]:
    """Pods stay bound to a not-ready or unreachable node for ``seconds``, then the taint manager deletes them.

    Without these the API server's defaults apply: 300 s.
    """
    return [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
        for key in (UNREACHABLE_TAINT, NOT_READY_TAINT)
    ]


def reserved_toleration(namespace: str) -> Obj:
    """Lets a pod onto a node reserved for ``namespace`` (see ``act.nodes.add_simulated_node``)."""
    return {"key": RESERVED_TAINT, "operator": "Equal", "value": namespace, "effect": "NoSchedule"}


def nodes_affinity(nodes: Sequence[str], *, prefer: str | None = None) -> Obj:
    """Pods may run only on ``nodes`` (by hostname label), and rather on ``prefer`` when it can take them."""
    term = {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": list(nodes)}]}
    affinity: Obj = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    if prefer:
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [_preference({HOSTNAME_LABEL: prefer})]
    return {"nodeAffinity": affinity}


def preferred_nodes(labels: Mapping[str, str]) -> Obj:
    """An affinity that prefers (never requires) nodes carrying every one of ``labels``."""
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [_preference(labels)]}}


def _preference(labels: Mapping[str, str], weight: int = 100) -> Obj:
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(labels.items())]
    return {"weight": weight, "preference": {"matchExpressions": expressions}}
