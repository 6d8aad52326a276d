"""The work behind ordinal's chaos activities, kept apart from their Chaos Toolkit signatures.

Activity modules stay thin (argument names, docstrings, ``__all__``); this module reads the
cluster through :mod:`ordinal.observe.snapshot`, judges with the pure checks in
:mod:`ordinal.checks`, waits with :mod:`ordinal.waiting` and measures with the session's
recorders. Functions here raise ordinal's own errors; the boundary translates them.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ordinal import objects as o
from ordinal.chaos.results import Snapshot
from ordinal.chaos.session import Baseline, Fault, Session
from ordinal.checks.dns import check_dns, check_endpoint_slices, expected_queries, headless, pod_fqdn
from ordinal.checks.identity import check_pod_identity, check_replaced, members, set_window
from ordinal.checks.retention import check_after_scale_down, expected_after_scale_down, retention_policy
from ordinal.checks.revisions import check_partition, check_revision_status, partition
from ordinal.checks.storage import (
    check_claims,
    check_pod_on_volume_node,
    check_reattached,
    claim_templates,
    snapshot_claims,
)
from ordinal.errors import InvalidScenario, OrdinalError, WaitTimeout
from ordinal.kube.rest import NODES, PODS, PVCS, STATEFULSETS, Kube
from ordinal.observe.dnsquery import Resolver, ask
from ordinal.observe.recorder import Recorder
from ordinal.observe.snapshot import SetState, observe_set
from ordinal.observe.timeline import Incarnation, Timeline
from ordinal.types import Finding, Obj
from ordinal.waiting import Query, Verdict, wait_for, wait_for_set_ready
from ordinal.workloads import REVISION_LABEL, parse_ordinal, pod_name, pvc_name

T = TypeVar("T")

#: Server-set fields a recreated StatefulSet must not carry.
_SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
_UNREACHABLE = frozenset({"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"})
_SIMULATED_ANNOTATION = "kwok.x-k8s.io/node"
CANARY_ANNOTATION = "ordinal.dev/canary"


def subject(namespace: str, name: str) -> str:
    return f"statefulset {namespace}/{name}"


def get_set(kube: Kube, namespace: str, name: str) -> Obj:
    sts = kube.get_or_none(STATEFULSETS, name, namespace)
    if sts is None:
        raise InvalidScenario(f"expected StatefulSet {namespace}/{name}, found none")
    return sts


def missing_set(namespace: str, name: str) -> Finding:
    return Finding("chaos.statefulset-ready", subject(namespace, name), "metadata.name", name, "no such StatefulSet")


def live_members(state: SetState) -> list[Obj]:
    """The set's pods by name (owned or adoptable), terminating ones included."""
    if state.sts is None:
        return []
    return list(members(state.sts, state.pods).values())


def pod_index_label(kube: Kube) -> bool:
    """Whether the server sets ``apps.kubernetes.io/pod-index`` (beta 1.28, GA 1.32)."""
    cached = getattr(kube, "_ordinal_pod_index", None)
    if isinstance(cached, bool):
        return cached
    try:
        version = json.loads(kube.raw_get("/version"))
        minor = int("".join(ch for ch in str(version.get("minor", "0")) if ch.isdigit()) or 0)
        supported = int(version.get("major", "1")) > 1 or minor >= 28
    except (OrdinalError, ValueError):
        supported = True
    kube._ordinal_pod_index = supported  # type: ignore[attr-defined]
    return supported


# -- baseline ----------------------------------------------------------------------------------


def take_baseline(kube: Kube, namespace: str, name: str, now: float) -> Baseline:
    state = observe_set(kube, namespace, name)
    if state.sts is None:
        raise InvalidScenario(f"expected StatefulSet {namespace}/{name} to snapshot, found none")
    return Baseline(namespace, name, now, state.sts, live_members(state), state.pvcs, state.pvs)


def baseline_json(baseline: Baseline) -> Snapshot:
    """The baseline as the snapshot action reports it in the journal."""
    sts = baseline.sts
    claims = snapshot_claims(sts, baseline.pvcs)
    return {
        "statefulset": f"{baseline.namespace}/{baseline.name}",
        "uid": o.uid(sts),
        "replicas": int(o.spec(sts).get("replicas", 1)),
        "currentRevision": o.status(sts).get("currentRevision"),
        "updateRevision": o.status(sts).get("updateRevision"),
        "pods": {
            o.name(p): {
                "uid": o.uid(p),
                "node": o.spec(p).get("nodeName"),
                "ip": o.pod_ip(p),
                "revision": o.labels(p).get(REVISION_LABEL),
            }
            for p in baseline.pods
        },
        "claims": {n: c.to_json() for n, c in claims.items()},
    }


def manifest_for_recreate(sts: Obj) -> Obj:
    """The set as the user wrote it: no status, no server-set metadata, no owner or finalizers."""
    meta = {k: v for k, v in o.meta(sts).items() if k not in _SERVER_METADATA}
    meta.pop("deletionTimestamp", None)
    meta.pop("deletionGracePeriodSeconds", None)
    meta.pop("finalizers", None)
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": o.spec(sts)}


# -- findings ----------------------------------------------------------------------------------


def readiness_findings(sts: Obj, pods: Sequence[Obj]) -> list[Finding]:
    """The set has observed its spec and reports every replica ready and available, as its pods say."""
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


def identity_findings(
    kube: Kube, session: Session, state: SetState, replaced: set[int]
) -> tuple[list[Finding], dict[str, Any]]:
    assert state.sts is not None
    pods = live_members(state)
    findings = check_pod_identity(state.sts, pods, pod_index_label=pod_index_label(kube), settled=True)
    baseline = session.baseline(state.namespace, state.name)
    details: dict[str, Any] = {"pods": {o.name(p): o.uid(p) for p in pods if not o.terminating(p)}}
    if baseline is None:
        if session.comparing():
            findings.append(_no_baseline(state))
        details["compared"] = False
        return findings, details
    before = {o.name(p): o.uid(p) for p in baseline.pods}
    names = {pod_name(state.name, i) for i in replaced}
    findings += check_replaced(before, pods, names, namespace=state.namespace, others_unchanged=True)
    details |= {"compared": True, "expected_replaced": sorted(names & set(before))}
    return findings, details


def claim_findings(session: Session, state: SetState, renewed: set[int]) -> tuple[list[Finding], dict[str, Any]]:
    assert state.sts is not None
    sts, pods = state.sts, live_members(state)
    findings = check_claims(sts, pods, state.pvcs, state.pvs)
    findings += check_pod_on_volume_node(sts, pods, state.pvcs, state.pvs, state.nodes)
    baseline = session.baseline(state.namespace, state.name)
    details: dict[str, Any] = {
        "claims": {o.name(c): {"uid": o.uid(c), "volume": o.spec(c).get("volumeName")} for c in state.pvcs}
    }
    if baseline is None:
        if session.comparing():
            findings.append(_no_baseline(state))
        details["compared"] = False
        return findings, details
    before = snapshot_claims(baseline.sts, baseline.pvcs)
    window = set(set_window(sts))
    findings += check_reattached(before, state.pvcs, namespace=state.namespace, ordinals=window - renewed)
    now = {o.name(c): c for c in state.pvcs}
    for name, snap in before.items():
        claim = now.get(name)
        if snap.ordinal in renewed and snap.ordinal in window and claim is not None and o.uid(claim) == snap.uid:
            findings.append(
                Finding(
                    "retention.when-scaled",
                    f"pvc {state.namespace}/{name}",
                    "metadata.uid",
                    f"a new claim (whenScaled=Delete removed uid {snap.uid} at scale-down)",
                    o.uid(claim),
                )
            )
    details |= {"compared": True, "renewed": sorted(renewed)}
    return findings, details


def renewed_by_scale_down(session: Session, sts: Obj, namespace: str) -> set[int]:
    """Ordinals whose claims whenScaled=Delete removed: those a recorded scale-down condemned."""
    _, when_scaled = retention_policy(sts)
    recorder = session.recorder(namespace)
    if when_scaled != "Delete" or recorder is None:
        return set()
    counts = [
        int(e.detail["replicas"])
        for e in recorder.timeline.of_kind("StatefulSet", namespace)
        if e.name == o.name(sts) and isinstance(e.detail.get("replicas"), int)
    ]
    if not counts:
        return set()
    window = set_window(sts)
    return {i for i in window if i >= window.start + min(counts)}


def dns_findings(state: SetState, resolver: Resolver | None, zone: str) -> tuple[list[Finding], dict[str, Any], bool]:
    """Structural findings (Service, EndpointSlices) plus DNS answers when reachable; True if asked."""
    assert state.sts is not None
    service_name = str(o.spec(state.sts).get("serviceName") or "")
    pods = [p for p in live_members(state) if not o.terminating(p)]
    findings: list[Finding] = []
    if not headless(state.service):
        why = "no such Service" if state.service is None else "Service is not headless (clusterIP is not None)"
        for pod in pods:
            fqdn = pod_fqdn(o.name(pod), service_name, state.namespace, zone)
            findings.append(
                Finding(
                    "dns.per-pod-a-record",
                    f"dns {fqdn} A",
                    o.ref(pod),
                    [o.pod_ip(pod)],
                    f"unresolvable: serviceName {service_name!r}: {why}",
                )
            )
        return findings, {"service": service_name, "headless": False}, False
    assert state.service is not None
    findings += check_endpoint_slices(state.service, pods, state.slices)
    if resolver is None:
        return findings, {"service": service_name, "headless": True}, False
    queries: dict[str, Iterable[str]] = dict(expected_queries(state.service, pods, zone=zone))
    answers = ask(resolver, queries)
    findings += check_dns(answers, state.service, pods, zone=zone)
    return findings, {"service": service_name, "headless": True, "answers": answers.to_json()}, True


def revision_findings(state: SetState) -> list[Finding]:
    assert state.sts is not None
    pods = live_members(state)
    return check_partition(state.sts, pods, settled=True) + check_revision_status(state.sts, pods, settled=True)


def _no_baseline(state: SetState) -> Finding:
    return Finding(
        "chaos.baseline",
        subject(state.namespace, state.name),
        "baseline",
        "a snapshot_identity action before the fault",
        "none taken in this run",
    )


# -- waiting -----------------------------------------------------------------------------------


def wait_pods(
    kube: Kube, namespace: str, judge: Callable[[list[Obj]], Verdict[T]], *, expect: str, timeout: float
) -> T:
    return wait_for(kube, Query(PODS, namespace), judge, expect=expect, timeout=timeout)


def wait_ready(kube: Kube, namespace: str, name: str, *, timeout: float) -> Obj:
    """Ready at the set's own replica count, its spec observed and condemned pods gone."""
    deadline = time.monotonic() + timeout
    sts = get_set(kube, namespace, name)
    replicas = int(o.spec(sts).get("replicas", 1))
    window = set_window(sts)

    def pods_ready(items: list[Obj]) -> Verdict[str]:
        mine = {parse_ordinal(o.name(p), name): p for p in items}
        bad = [
            pod_name(name, i)
            for i in window
            if i not in mine or o.terminating(mine[i]) or not o.pod_running_ready(mine[i])
        ]
        extra = sorted(o.name(p) for i, p in mine.items() if i is not None and i not in window)
        return Verdict(not bad and not extra, f"not ready: {bad}, condemned left: {extra}")

    wait_pods(kube, namespace, pods_ready, expect=f"every pod of {namespace}/{name} Running+Ready", timeout=timeout)
    return wait_for_set_ready(kube, namespace, name, replicas, timeout=max(1.0, deadline - time.monotonic()))


def wait_replaced(kube: Kube, namespace: str, name: str, old: Mapping[str, str], *, timeout: float) -> dict[str, Obj]:
    """Every pod in ``old`` (name -> UID) is back under its name with a new UID, Running+Ready."""

    def judge(items: list[Obj]) -> Verdict[dict[str, Obj] | str]:
        now = {o.name(p): p for p in items}
        waiting = []
        for pod, uid in old.items():
            cur = now.get(pod)
            if cur is None:
                waiting.append(f"{pod} (absent)")
            elif o.uid(cur) == uid:
                waiting.append(f"{pod} (not replaced yet)")
            elif o.terminating(cur) or not o.pod_running_ready(cur):
                waiting.append(f"{pod} (phase={o.status(cur).get('phase')} ready={o.pod_ready(cur)})")
        if waiting:
            return Verdict(False, f"waiting for {waiting}")
        return Verdict(True, {pod: now[pod] for pod in old})

    seen = wait_pods(
        kube, namespace, judge, expect=f"pods {sorted(old)} of {namespace}/{name} replaced and Ready", timeout=timeout
    )
    assert isinstance(seen, dict)
    return seen


def wait_dns(resolver: Resolver, fqdn: str, ip: str, *, timeout: float) -> float | None:
    """Seconds until ``fqdn`` answers exactly ``ip``; None if it did not within ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            if resolver.query(fqdn, "A") == [ip]:
                return time.monotonic() - start
        except OrdinalError:
            pass
        if time.monotonic() - start >= timeout:
            return None
        time.sleep(0.1)


# -- figures -----------------------------------------------------------------------------------


def restoration_figures(timeline: Timeline | None, fault: Fault, pod: str, namespace: str) -> dict[str, Any]:
    """Seconds from the fault to each step of a pod's return, read from the recorded timeline.

    ``to_scheduled``: the replacement is bound to a node (its claim can attach there);
    ``to_claim_mounted``: it is Running (the kubelet mounted its volumes, the claim among
    them); ``to_ready``: Running and Ready, so the identity is fully back.
    """
    out: dict[str, Any] = {"pod": pod, "fault": fault.action, "source": "timeline" if timeline else "none"}
    if timeline is None:
        return out
    old_uid = fault.pods.get(pod, "")
    incarnations = timeline.incarnations(pod, namespace)
    old = next((i for i in incarnations if i.uid == old_uid), None)
    if old is not None:
        later = [i for i in incarnations if i.first_seen > old.first_seen]
        if old.gone is not None:
            out["old_gone"] = round(old.gone.t - fault.at, 3)
    else:
        later = [i for i in incarnations if i.first_seen.t >= fault.at]
    if not later:
        return out
    new = later[0]
    out["new_uid"] = new.uid
    out["to_created"] = round(new.first_seen.t - fault.at, 3)
    out |= _first(new, fault.at)
    return out


def catch_up(recorder: Recorder, obj: Obj, timeout: float = 2.0) -> bool:
    """Wait (briefly) until the recorder has seen ``obj`` as we saw it; its watch may trail ours."""
    kind, uid, rv = str(obj.get("kind", "Pod")), o.uid(obj), str(o.meta(obj).get("resourceVersion", ""))
    deadline = time.monotonic() + timeout
    while True:
        if any(e.uid == uid and e.resource_version == rv for e in recorder.timeline.of_kind(kind)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _first(inc: Incarnation, since: float) -> dict[str, float]:
    found: dict[str, float] = {}
    for mark, state in inc.states:
        if "to_scheduled" not in found and state.node:
            found["to_scheduled"] = round(mark.t - since, 3)
        if "to_claim_mounted" not in found and state.phase == "Running":
            found["to_claim_mounted"] = round(mark.t - since, 3)
        if "to_ready" not in found and state.running_ready and not state.deleting:
            found["to_ready"] = round(mark.t - since, 3)
    return found


# -- placement after a node went away ----------------------------------------------------------


def pinned_node(state: SetState, ordinal: int) -> str | None:
    """The node the ordinal's volume is pinned to (local-disk-like classes), or None."""
    assert state.sts is not None
    volumes = {o.name(v): v for v in state.pvs}
    claims = {o.name(c): c for c in state.pvcs}
    for template in claim_templates(state.sts):
        claim = claims.get(pvc_name(template, state.name, ordinal))
        pv = volumes.get(str(o.spec(claim).get("volumeName"))) if claim else None
        terms = ((o.spec(pv).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") if pv else None
        for term in terms or ():
            for expr in term.get("matchExpressions") or ():
                values = expr.get("values") or []
                if expr.get("key") == "kubernetes.io/hostname" and expr.get("operator") == "In" and len(values) == 1:
                    return str(values[0])
    return None


def node_available(node: Obj | None) -> bool:
    """Schedulable and reachable: not cordoned, Ready, no unreachable/not-ready/out-of-service taint."""
    if node is None:
        return False
    taints = set(o.taint_keys(node))
    return (
        not o.spec(node).get("unschedulable")
        and o.node_ready(node) == "True"
        and not taints & (_UNREACHABLE | {"node.kubernetes.io/out-of-service"})
    )


def simulated(node: Obj | None) -> bool:
    """A kwok node: pods there run no containers (no exec, no data in volumes)."""
    if node is None:
        return False
    annotations = o.meta(node).get("annotations") or {}
    return bool(annotations.get(_SIMULATED_ANNOTATION)) or o.labels(node).get("ordinal.dev/node-kind") == "kwok"


def hold(
    kube: Kube,
    namespace: str,
    judge: Callable[[list[Obj]], str | None],
    *,
    seconds: float,
    what: str,
) -> None:
    """Watch pods for ``seconds``; the judge returns a violation text or None. Raise on the first one."""

    def watch(items: list[Obj]) -> Verdict[str]:
        broken = judge(items)
        return Verdict(False, "held", failed=broken)

    try:
        wait_pods(kube, namespace, watch, expect=what, timeout=seconds)
    except WaitTimeout:
        return  # held for the whole window


def unreachable(node: Obj) -> bool:
    return o.node_ready(node) != "True" and bool(set(o.taint_keys(node)) & _UNREACHABLE)


def wait_nodes(kube: Kube, names: Iterable[str], judge: Callable[[Obj], bool], *, expect: str, timeout: float) -> None:
    wanted = set(names)

    def all_of(items: list[Obj]) -> Verdict[str]:
        state = {o.name(n): judge(n) for n in items if o.name(n) in wanted}
        return Verdict(len(state) == len(wanted) and all(state.values()), f"{state}")

    wait_for(kube, Query(NODES), all_of, expect=expect, timeout=timeout)


def wait_claims(kube: Kube, baseline: Baseline, *, replicas_after: int, timeout: float) -> list[Finding]:
    """Wait until the claims follow the retention policy after a scale-down; return what still does not.

    A removed claim must be *gone*, not just terminating: scaling up while it still exists
    leaves the controller waiting on a stale claim, and on the local cluster (1.37) nothing
    wakes it when the claim disappears.
    """
    findings: list[Finding] = []
    removed = set(expected_after_scale_down(baseline.sts, baseline.pvcs, replicas_after=replicas_after).removed)

    def judge(items: list[Obj]) -> Verdict[str]:
        nonlocal findings
        findings = check_after_scale_down(baseline.sts, baseline.pvcs, items, replicas_after=replicas_after)
        lingering = sorted(o.name(c) for c in items if o.name(c) in removed)
        return Verdict(not findings and not lingering, f"{len(findings)} findings, still present: {lingering}")

    with contextlib.suppress(WaitTimeout):
        wait_for(kube, Query(PVCS, baseline.namespace), judge, expect="claims to follow whenScaled", timeout=timeout)
    return findings


def scaled_down_at(recorder: Recorder | None, namespace: str, name: str, replicas: int) -> float | None:
    """When the recorder first saw the set's spec ask for ``replicas`` (the scale-down), if it did."""
    if recorder is None:
        return None
    for entry in recorder.timeline.of_kind("StatefulSet", namespace):
        if entry.name == name and entry.detail.get("replicas") == replicas:
            return entry.mark.t
    return None


def partition_of(sts: Obj) -> int:
    return partition(sts)
