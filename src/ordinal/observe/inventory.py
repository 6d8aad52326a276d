"""One read of everything the audit judges: each kind listed once, for a namespace or the cluster.

A list the identity may not make (403) is not an error here: the kind goes into
``unreadable`` with the sentence naming the RBAC rule, and the checks that need it say
"not checked". Anything else the server refuses ends the read in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ordinal.errors import OrdinalError
from ordinal.kube.rest import (
    ENDPOINT_SLICES,
    NODES,
    PDBS,
    PODS,
    PVCS,
    PVS,
    SERVICES,
    STATEFULSETS,
    STORAGE_CLASSES,
    ApiError,
    Forbidden,
    Kube,
    Resource,
    retry_transient,
)
from ordinal.types import Obj

#: What the audit reads, in this order (the StatefulSets first: without them there is nothing to audit).
AUDITED: tuple[Resource, ...] = (STATEFULSETS, SERVICES, ENDPOINT_SLICES, PODS, PVCS, PVS, STORAGE_CLASSES, PDBS, NODES)


@dataclass(frozen=True)
class Inventory:
    """Kind → items as listed; kind → why it could not be listed (the permission a 403 named)."""

    namespace: str | None  # None: every namespace
    objects: dict[str, list[Obj]] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def fetch(kube: Kube, namespace: str | None, resources: Sequence[Resource] = AUDITED) -> Inventory:
    """List each resource once (namespaced ones in ``namespace``, or everywhere when None).

    StatefulSets that cannot be listed end the read (nothing could be audited, and saying
    "no findings" would be a lie); any other forbidden kind is recorded as unreadable.
    """
    found = Inventory(namespace)
    where = f"namespace {namespace}" if namespace else "all namespaces"
    for res in resources:
        scope = namespace if res.namespaced else None
        try:
            items, _ = retry_transient(kube.list, res, scope)
        except Forbidden as err:
            if res is STATEFULSETS:
                raise OrdinalError(f"expected to list StatefulSets in {where}, got {err}") from err
            found.unreadable[res.kind] = str(err)
            continue
        except ApiError as err:
            raise OrdinalError(f"expected to list {res.plural} in {where}, got {str(err).splitlines()[0]}") from err
        found.objects[res.kind] = items
    return found
