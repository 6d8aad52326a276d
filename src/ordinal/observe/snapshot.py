"""One consistent-enough read of everything a StatefulSet's promises are judged on.

Checks are pure; this is where their inputs come from. Both consumers (the conformance
tests and the chaos probes) take a snapshot before and after a disruption and hand the
pair to the checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ordinal.kube import objects as o
from ordinal.kube.manifests import members, parse_ordinal
from ordinal.kube.rest import ENDPOINT_SLICES, NODES, PODS, PVCS, PVS, SERVICES, STATEFULSETS, Kube
from ordinal.labels import SERVICE_NAME_LABEL
from ordinal.types import Obj


@dataclass(frozen=True)
class SetState:
    """The set and what hangs off it: pods, claims, volumes, its Service, slices and nodes."""

    namespace: str
    name: str
    sts: Obj | None
    service: Obj | None
    pods: list[Obj] = field(default_factory=list)
    pvcs: list[Obj] = field(default_factory=list)
    pvs: list[Obj] = field(default_factory=list)
    slices: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)

    def pod(self, name: str) -> Obj | None:
        return next((p for p in self.pods if o.name(p) == name), None)

    def members(self) -> list[Obj]:
        """The set's pods by name (owned or adoptable), terminating ones included; none without the set."""
        return list(members(self.sts, self.pods).values()) if self.sts is not None else []

    def claim(self, name: str) -> Obj | None:
        return next((c for c in self.pvcs if o.name(c) == name), None)

    def to_json(self) -> dict[str, Any]:
        """Compact summary for journals and failure dumps (full objects stay out of them)."""
        return {
            "statefulset": f"{self.namespace}/{self.name}",
            "exists": self.sts is not None,
            "status": (self.sts or {}).get("status", {}),
            "service": None if self.service is None else o.spec(self.service).get("clusterIP"),
            "pods": {
                o.name(p): {
                    "uid": o.uid(p),
                    "node": o.spec(p).get("nodeName"),
                    "ip": o.pod_ip(p),
                    "phase": o.status(p).get("phase"),
                    "ready": o.pod_ready(p),
                    "terminating": o.terminating(p),
                }
                for p in self.pods
            },
            "claims": {
                o.name(c): {
                    "uid": o.uid(c),
                    "phase": o.status(c).get("phase"),
                    "volume": o.spec(c).get("volumeName"),
                }
                for c in self.pvcs
            },
        }


def observe_set(kube: Kube, namespace: str, name: str) -> SetState:
    """Read the set, its pods (by ordinal name), claims, their volumes, the governing Service and slices."""
    sts = kube.get_or_none(STATEFULSETS, name, namespace)
    service_name = o.spec(sts).get("serviceName") if sts else name
    service = kube.get_or_none(SERVICES, service_name, namespace) if service_name else None
    pods = [p for p in kube.list(PODS, namespace)[0] if parse_ordinal(o.name(p), name) is not None]
    pvcs = [c for c in kube.list(PVCS, namespace)[0] if _claim_of(c, name)]
    volumes = {o.spec(c).get("volumeName") for c in pvcs}
    pvs = [pv for pv in kube.list(PVS)[0] if o.name(pv) in volumes]
    slices = (
        kube.list(ENDPOINT_SLICES, namespace, label_selector=f"{SERVICE_NAME_LABEL}={service_name}")[0]
        if service_name
        else []
    )
    nodes = kube.list(NODES)[0]
    return SetState(namespace, name, sts, service, pods, pvcs, pvs, slices, nodes)


def _claim_of(claim: Obj, set_name: str) -> bool:
    """``<template>-<set>-<ordinal>`` for any template name."""
    claim_name = o.name(claim)
    marker = f"-{set_name}-"
    index = claim_name.rfind(marker)
    return index > 0 and parse_ordinal(claim_name[index + 1 :], set_name) is not None
