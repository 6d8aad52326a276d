"""Readiness promise: the set has observed its spec and every replica is Running, Ready and available."""

from __future__ import annotations

from collections.abc import Sequence

from ordinal.kube import objects as o
from ordinal.kube.manifests import members, pod_name, set_window
from ordinal.types import Finding, Obj


def check_set_ready(sts: Obj, pods: Sequence[Obj]) -> list[Finding]:
    """The set MUST report every replica ready and available once it observed its spec, as its pods say."""
    findings: list[Finding] = []
    subj = o.subject(sts, "StatefulSet")
    spec, status, meta = o.spec(sts), o.status(sts), o.meta(sts)
    want = int(spec.get("replicas", 1))
    generation = int(meta.get("generation", 1))
    observed = int(status.get("observedGeneration", 0))
    if observed < generation:
        findings.append(
            Finding("revisions.observed-generation", subj, "status.observedGeneration", generation, observed)
        )
    for field in ("replicas", "readyReplicas", "availableReplicas"):
        count = int(status.get(field, 0))
        if count != want:
            findings.append(Finding("chaos.statefulset-ready", subj, f"status.{field}", want, count))
    by_ordinal = members(sts, pods)
    for ordinal in set_window(sts):
        pod = by_ordinal.get(ordinal)
        if pod is not None and not o.terminating(pod) and o.pod_running_ready(pod):
            continue
        state = "absent" if pod is None else f"phase={o.status(pod).get('phase')} ready={o.pod_ready(pod)}"
        state += " terminating" if pod is not None and o.terminating(pod) else ""
        where = f"pod {o.namespace(sts)}/{pod_name(o.name(sts), ordinal)}"
        findings.append(Finding("chaos.statefulset-ready", where, "status", "Running+Ready", state))
    return findings
