"""What the run ran on, for ``ordinal report``: ``environment.json`` and ``session.json`` beside the JUnit XML.

The capability table (``ClusterInfo``) says what the suite decided on; a customer reading a
storage vendor's report also wants the StorageClass as the cluster holds it (parameters,
binding mode, reclaim policy, allowed topologies) and the nodes with their zones. Both are
read once, at the end of the session while the client is still open. A read that fails is
written down as an error in the file instead of failing the run: the report says what it
could not see.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ordinal.capabilities import ClusterInfo, is_default_class
from ordinal.errors import OrdinalError
from ordinal.kube import objects as o
from ordinal.kube.permissions import Call
from ordinal.kube.rest import NODES, STORAGE_CLASSES, ApiError, Kube
from ordinal.labels import NODE_KIND_LABEL, ZONE_LABEL
from ordinal.types import Obj

ENVIRONMENT_FILE = "environment.json"
SESSION_FILE = "session.json"


def storage_class_record(storage_class: Obj) -> dict[str, Any]:
    """The fields of a StorageClass that decide how its volumes behave."""
    return {
        "name": o.name(storage_class),
        "provisioner": str(storage_class.get("provisioner", "")),
        "binding_mode": str(storage_class.get("volumeBindingMode") or "Immediate"),
        "reclaim_policy": str(storage_class.get("reclaimPolicy") or "Delete"),
        "allow_volume_expansion": bool(storage_class.get("allowVolumeExpansion")),
        "parameters": {str(k): str(v) for k, v in (storage_class.get("parameters") or {}).items()},
        "mount_options": [str(m) for m in storage_class.get("mountOptions") or ()],
        "allowed_topologies": list(storage_class.get("allowedTopologies") or ()),
        "default": is_default_class(storage_class),
    }


def node_record(node: Obj) -> dict[str, Any]:
    info = o.status(node).get("nodeInfo") or {}
    return {
        "name": o.name(node),
        "zone": o.labels(node).get(ZONE_LABEL, ""),
        "kind": o.labels(node).get(NODE_KIND_LABEL, ""),
        "ready": o.node_ready(node) == "True",
        "schedulable": o.node_schedulable(node),
        "kubelet": str(info.get("kubeletVersion") or ""),
    }


def collect(kube: Kube, info: ClusterInfo) -> dict[str, Any]:
    """The capability table, the StorageClass under test and the nodes, as JSON-able data."""
    errors: list[str] = []
    storage_class = None
    if info.storage is not None:
        try:
            storage_class = storage_class_record(kube.get(STORAGE_CLASSES, info.storage.name))
        except (OrdinalError, ApiError) as err:
            errors.append(f"storageclass/{info.storage.name}: {str(err).splitlines()[0]}")
    nodes: list[dict[str, Any]] = []
    try:
        items, _ = kube.list(NODES)
        nodes = [node_record(n) for n in sorted(items, key=o.name)]
    except (OrdinalError, ApiError) as err:
        errors.append(f"nodes: {str(err).splitlines()[0]}")
    return {"cluster": info.to_json(), "storage_class": storage_class, "nodes": nodes, "errors": errors}


def session_record(
    run_id: str,
    leaks: Sequence[str],
    cleanup_errors: Sequence[str],
    kept: Mapping[str, str],
    calls: Iterable[Call] = (),
) -> dict[str, Any]:
    """How the session ended apart from test outcomes: leftovers are a problem the report must show.

    ``api_calls`` lists every kind of request the run made as RBAC sees it, which the project's
    tests hold against ``ordinal rbac``'s table.
    """
    return {
        "run_id": run_id,
        "leaks": list(leaks),
        "cleanup_errors": [e.splitlines()[0] for e in cleanup_errors],
        "kept_namespaces": dict(kept),
        "api_calls": [vars(c) for c in sorted(set(calls))],
    }


def write(path: Path, data: Mapping[str, Any]) -> None:
    """Write whole or not at all: xdist workers each write the same ``environment.json``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(data, indent=1, default=str) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
