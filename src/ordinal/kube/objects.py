"""Read-only accessors over API objects in their JSON form.

Watches, timelines and checks all read the same handful of fields; keeping the
lookups here means a missing field reads as "absent" the same way everywhere
instead of raising ``KeyError`` deep inside a check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ordinal.labels import (
    KWOK_NODE_ANNOTATION,
    LOST_CONTACT_TAINTS,
    NODE_KIND_LABEL,
    NOT_READY_TAINT,
    SIMULATED_NODE_KIND,
    UNREACHABLE_TAINTS,
)
from ordinal.types import Obj

#: Lower-case kind → the word used in finding subjects ("pod ns/web-1").
_SUBJECT_WORDS = {
    "Pod": "pod",
    "PersistentVolumeClaim": "pvc",
    "PersistentVolume": "pv",
    "StatefulSet": "statefulset",
    "Service": "service",
    "EndpointSlice": "endpointslice",
    "Node": "node",
    "Event": "event",
    "ControllerRevision": "controllerrevision",
    "PodDisruptionBudget": "pdb",
    "VolumeAttachment": "volumeattachment",
}


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def spec(obj: Obj) -> Obj:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def status(obj: Obj) -> Obj:
    value = obj.get("status")
    return value if isinstance(value, dict) else {}


def name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def namespace(obj: Obj) -> str:
    return str(meta(obj).get("namespace", ""))


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid", ""))


def labels(obj: Obj) -> dict[str, str]:
    value = meta(obj).get("labels")
    return dict(value) if isinstance(value, dict) else {}


def owner_refs(obj: Obj) -> list[Obj]:
    value = meta(obj).get("ownerReferences")
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def controller_ref(obj: Obj) -> Obj | None:
    """The single ownerReference with ``controller: true``, if any."""
    refs = [r for r in owner_refs(obj) if r.get("controller") is True]
    return refs[0] if refs else None


def ref(obj: Obj) -> str:
    """``namespace/name``, or just ``name`` for cluster-scoped objects."""
    ns = namespace(obj)
    return f"{ns}/{name(obj)}" if ns else name(obj)


def subject(obj: Obj, kind: str | None = None) -> str:
    """The subject of a finding about ``obj``: ``pod ns/web-1``."""
    kind = kind or str(obj.get("kind", "object"))
    return f"{_SUBJECT_WORDS.get(kind, kind.lower())} {ref(obj)}"


def terminating(obj: Obj) -> bool:
    return meta(obj).get("deletionTimestamp") is not None


def condition(obj: Obj, kind: str) -> Obj | None:
    conditions = status(obj).get("conditions")
    if not isinstance(conditions, list):
        return None
    for cond in conditions:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def pod_ready(pod: Obj) -> bool:
    """The Ready condition is True (what EndpointSlices and readyReplicas go by)."""
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_running_ready(pod: Obj) -> bool:
    """Running and Ready: the health the OrderedReady walk waits for."""
    return status(pod).get("phase") == "Running" and pod_ready(pod)


def pod_ip(pod: Obj) -> str | None:
    value = status(pod).get("podIP")
    return str(value) if value else None


def node_ready(node: Obj) -> str:
    """Status of the node's Ready condition: ``True``, ``False`` or ``Unknown`` (also when absent)."""
    cond = condition(node, "Ready")
    return str(cond.get("status", "Unknown")) if cond else "Unknown"


def taint_keys(node: Obj) -> list[str]:
    taints = spec(node).get("taints")
    if not isinstance(taints, list):
        return []
    return [str(t.get("key", "")) for t in taints if isinstance(t, dict)]


_SCHEDULING_TAINT_EFFECTS = ("NoSchedule", "NoExecute")


def node_schedulable(node: Obj) -> bool:
    """Ready, not cordoned, and without a taint that keeps ordinary pods off.

    ``node.kubernetes.io/not-ready`` on a node that already reports Ready is the moment before
    the node lifecycle controller lifts it (a freshly started cluster), so it does not count.
    """
    if node_ready(node) != "True" or spec(node).get("unschedulable"):
        return False
    taints = spec(node).get("taints") or ()
    return not any(
        isinstance(t, dict) and t.get("effect") in _SCHEDULING_TAINT_EFFECTS and t.get("key") != NOT_READY_TAINT
        for t in taints
    )


def node_available(node: Obj | None) -> bool:
    """Back in service: schedulable, and no unreachable, not-ready or out-of-service taint left at all."""
    return node is not None and node_schedulable(node) and not set(taint_keys(node)) & UNREACHABLE_TAINTS


def node_unreachable(node: Obj) -> bool:
    """The control plane lost contact: Ready is not True and the lifecycle controller tainted it."""
    return node_ready(node) != "True" and bool(set(taint_keys(node)) & LOST_CONTACT_TAINTS)


def node_simulated(node: Obj | None) -> bool:
    """A kwok node: pods there run no containers (no exec, no data in volumes)."""
    if node is None:
        return False
    return bool((meta(node).get("annotations") or {}).get(KWOK_NODE_ANNOTATION)) or (
        labels(node).get(NODE_KIND_LABEL) == SIMULATED_NODE_KIND
    )


def parse_time(value: Any) -> float | None:
    """RFC 3339 timestamp (``2026-01-02T03:04:05Z``) → POSIX seconds; None if absent or unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def selector_matches(selector: Mapping[str, str], obj_labels: Mapping[str, str]) -> bool:
    """Equality-based selector match; an empty selector matches nothing, as for Services."""
    return bool(selector) and all(obj_labels.get(k) == v for k, v in selector.items())


def expression_matches(expr: Obj, value: str | None) -> bool:
    """One set-based requirement (label or node selector) against the value its key has (None: absent)."""
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or ()]
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values and value.isdigit() and values[0].isdigit():
        return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
    return False


def label_selector_matches(selector: Any, obj_labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: None matches nothing, ``{}`` everything; matchLabels and matchExpressions ANDed."""
    if not isinstance(selector, dict):
        return False
    if any(obj_labels.get(str(k)) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(expression_matches(e, obj_labels.get(str(e.get("key")))) for e in selector.get("matchExpressions") or ())


def quantity_bytes(value: Any) -> int | None:
    """A resource quantity (``1Mi``, ``2Gi``, ``500M``, ``1e9``) in bytes, rounded up; None when it is not one."""
    from kubernetes.utils.quantity import parse_quantity

    try:
        parsed = parse_quantity(value)
    except (ValueError, TypeError):
        return None
    rounded: int = math.ceil(parsed)
    return rounded


def pvc_capacity(pvc: Obj) -> int | None:
    """What a claim holds now (``status.capacity.storage``) in bytes; None before it is bound."""
    return quantity_bytes((status(pvc).get("capacity") or {}).get("storage"))


def pvc_request(pvc: Obj) -> int | None:
    """What a claim asks for (``spec.resources.requests.storage``) in bytes."""
    return quantity_bytes(((spec(pvc).get("resources") or {}).get("requests") or {}).get("storage"))
