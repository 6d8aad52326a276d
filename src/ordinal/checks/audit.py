"""Is a live StatefulSet shaped to keep its promises? Pure checks over objects fetched once.

The concept note's shape rules, judged on what the cluster holds rather than on a manifest:
a matching headless Service that selects the pods and publishes their hostnames; per-pod
ReadWriteOnce claims (not a shared ReadWriteMany one, not none at all); a PodDisruptionBudget
that covers only this set and allows a disruption; a readiness probe to gate rollouts on;
replicas spread over nodes (and zones, for zonal volumes); what deleting or scaling down does
to the data; claims no pod mounts any more.

Input is ``objects`` (kind → the items listed once, for a namespace or the whole cluster) and
``unreadable`` (kind → why it could not be listed, e.g. the RBAC rule a 403 named). A check
whose objects could not be read says so in an ``audit.not-checked`` finding naming the
permission; it is never silently passed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ordinal.checks.rules import RULES, SEVERITIES, Severity, at_least, severity
from ordinal.checks.storage import claim_templates, pin_of_pv
from ordinal.kube import objects as o
from ordinal.kube.manifests import members, parse_claim_ordinal, pod_name, set_window
from ordinal.labels import HOSTNAME_LABEL
from ordinal.types import Finding, Obj

STATEFULSET, SERVICE, SLICE, POD = "StatefulSet", "Service", "EndpointSlice", "Pod"
PVC, PV, CLASS, PDB, NODE = "PersistentVolumeClaim", "PersistentVolume", "StorageClass", "PodDisruptionBudget", "Node"
#: Every kind the audit reads, in the order it lists them.
KINDS: tuple[str, ...] = (STATEFULSET, SERVICE, SLICE, POD, PVC, PV, CLASS, PDB, NODE)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
_PERCENT = re.compile(r"^([0-9]+)%$")


@dataclass(frozen=True)
class SetAudit:
    """The findings about one StatefulSet (its Service, budget, claims and pods included)."""

    statefulset: str  # "ns/web"
    findings: list[Finding] = field(default_factory=list)

    def at_least(self, level: Severity) -> list[Finding]:
        return at_least(self.findings, level)

    def to_json(self) -> dict[str, Any]:
        return {"statefulset": self.statefulset, "findings": [finding_json(f) for f in self.findings]}


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding with its rule's severity, promise and why (what ``-o json`` and the journal carry)."""
    rule = RULES.get(finding.rule)
    return {
        "rule": finding.rule,
        "severity": severity(finding.rule),
        "subject": finding.subject,
        "path": finding.path,
        "expected": _plain(finding.expected),
        "seen": _plain(finding.seen),
        "promise": rule.promise if rule else "",
        "why": rule.why if rule else "",
    }


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool | list | dict) else str(value)


def audit(
    objects: Mapping[str, Sequence[Obj]],
    unreadable: Mapping[str, str] | None = None,
    *,
    names: Iterable[str] = (),
    drain: bool = False,
) -> list[SetAudit]:
    """Audit every StatefulSet in ``objects`` (or those ``names`` gives: ``web`` or ``ns/web``).

    ``drain``: a drain is about to follow, so a budget that allows no disruption is an error
    (the drain would hang), not a warning.
    """
    wanted = set(names)
    sets = sorted(objects.get(STATEFULSET) or (), key=o.ref)
    chosen = [s for s in sets if not wanted or o.name(s) in wanted or o.ref(s) in wanted]
    return [SetAudit(o.ref(s), audit_set(s, objects, unreadable or {}, drain=drain)) for s in chosen]


def audit_set(
    sts: Obj, objects: Mapping[str, Sequence[Obj]], unreadable: Mapping[str, str], *, drain: bool = False
) -> list[Finding]:
    """Every shape finding about one set, in the order a reader fixes them: Service, storage, budget, rollout."""
    seen = _Seen(sts, objects, unreadable)
    return [
        *check_service(seen),
        *check_storage_shape(sts),
        *check_budget(seen, drain=drain),
        *check_rollout_gates(sts),
        *check_placement(seen),
        *check_data_on_delete(seen),
        *check_leftover_claims(seen),
    ]


class _Seen:
    """The objects of one set's namespace, and a not-checked finding for each kind a check lacks."""

    def __init__(self, sts: Obj, objects: Mapping[str, Sequence[Obj]], unreadable: Mapping[str, str]) -> None:
        self.sts = sts
        self.namespace = o.namespace(sts)
        self.objects = objects
        self.unreadable = unreadable
        self.pods = members(sts, self.items(POD))

    def items(self, kind: str) -> list[Obj]:
        """Namespaced kinds: the set's namespace only; cluster-scoped ones: all."""
        found = self.objects.get(kind) or ()
        if kind in (PV, CLASS, NODE):
            return list(found)
        return [i for i in found if o.namespace(i) == self.namespace]

    def missing(self, check: str, *kinds: str) -> list[Finding]:
        """``audit.not-checked`` for ``check`` when one of ``kinds`` could not be read; [] when all could."""
        for kind in kinds:
            if kind in self.unreadable:
                expected = f"permission to list {kind}s"
                return [
                    Finding(
                        "audit.not-checked", o.subject(self.sts, STATEFULSET), check, expected, self.unreadable[kind]
                    )
                ]
        return []


# -- the governing Service ------------------------------------------------------------------------


def template_labels(sts: Obj) -> dict[str, str]:
    labels = ((o.spec(sts).get("template") or {}).get("metadata") or {}).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def check_service(seen: _Seen) -> list[Finding]:
    """serviceName names a headless Service selecting the pods, which publishes each Ready pod's hostname."""
    if blocked := seen.missing("serviceName → Service", SERVICE):
        return blocked
    sts, namespace = seen.sts, seen.namespace
    wanted = str(o.spec(sts).get("serviceName") or "")
    services = {o.name(s): s for s in seen.items(SERVICE)}
    svc = services.get(wanted)
    if svc is None:
        others = sorted(n for n, s in services.items() if o.selector_matches(_svc_selector(s), template_labels(sts)))
        seen_text = f"no Service {wanted!r} in {namespace}" if wanted else "serviceName empty"
        if others:
            seen_text += f" (Services selecting the pods: {', '.join(others)})"
        expected = f"a headless Service {namespace}/{wanted or '<name>'}"
        return [Finding("audit.service-exists", o.subject(sts, STATEFULSET), "spec.serviceName", expected, seen_text)]
    findings: list[Finding] = []
    subject = o.subject(svc, SERVICE)
    cluster_ip = o.spec(svc).get("clusterIP")
    if cluster_ip != "None":
        findings.append(Finding("audit.service-headless", subject, "spec.clusterIP", "None", cluster_ip))
    selector = _svc_selector(svc)
    pod_labels = template_labels(sts)
    if not o.selector_matches(selector, pod_labels):
        expected = f"a selector the pods' labels {pod_labels} match"
        findings.append(Finding("audit.service-selects-pods", subject, "spec.selector", expected, selector or None))
        return findings
    if findings:
        return findings  # a Service with a cluster IP publishes no hostnames: the finding above says it all
    return findings + _published(seen, svc)


def _svc_selector(svc: Obj) -> dict[str, str]:
    selector = o.spec(svc).get("selector")
    return {str(k): str(v) for k, v in selector.items()} if isinstance(selector, dict) else {}


def _published(seen: _Seen, svc: Obj) -> list[Finding]:
    if blocked := seen.missing("EndpointSlice hostnames", SLICE, POD):
        return blocked
    hostnames: dict[str, str | None] = {}
    for eps in seen.items(SLICE):
        if o.labels(eps).get(SERVICE_NAME_LABEL) != o.name(svc):
            continue
        for endpoint in eps.get("endpoints") or ():
            target = (endpoint.get("targetRef") or {}).get("name")
            if target:
                hostnames[str(target)] = endpoint.get("hostname")
    findings = []
    for pod in seen.pods.values():
        if not o.pod_ready(pod) or o.terminating(pod):
            continue
        name = o.name(pod)
        if hostnames.get(name) != name:
            got = f"hostname {hostnames[name]!r}" if name in hostnames else "no endpoint for the pod"
            path = f"EndpointSlice[{SERVICE_NAME_LABEL}={o.name(svc)}].endpoints[targetRef.name={name}].hostname"
            findings.append(Finding("audit.endpoint-hostnames", o.subject(pod, POD), path, name, got))
    return findings


# -- storage shape ---------------------------------------------------------------------------------


def check_storage_shape(sts: Obj) -> list[Finding]:
    """Claim templates are per-pod (not ReadWriteMany); a set without any per-pod state is flagged."""
    subject = o.subject(sts, STATEFULSET)
    templates = [t for t in o.spec(sts).get("volumeClaimTemplates") or () if isinstance(t, dict)]
    findings = []
    for template in templates:
        modes = list(o.spec(template).get("accessModes") or [])
        if "ReadWriteMany" in modes:
            path = f"spec.volumeClaimTemplates[name={o.name(template)}].spec.accessModes"
            findings.append(Finding("audit.claim-template-rwx", subject, path, ["ReadWriteOnce"], modes))
    volumes = [v for v in _pod_spec(sts).get("volumes") or () if isinstance(v, dict)]
    persistent = [v for v in volumes if "persistentVolumeClaim" in v]
    if not templates and not persistent:
        kinds = sorted({next((k for k in v if k != "name"), "?") for v in volumes})
        seen_text = "no claim templates and no persistent volumes" + (
            f" (pod volumes: {', '.join(kinds)})" if kinds else ""
        )
        findings.append(
            Finding(
                "audit.no-per-pod-state",
                subject,
                "spec.volumeClaimTemplates",
                "a claim template per-pod state",
                seen_text,
            )
        )
    return findings


def _pod_spec(sts: Obj) -> Obj:
    return o.spec(o.spec(sts).get("template") or {})


# -- the disruption budget -------------------------------------------------------------------------


def scaled(value: Any, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent field as a pod count of ``total``; None when it is neither."""
    if isinstance(value, int):
        return value
    match = _PERCENT.match(str(value or ""))
    if not match:
        return None
    exact = int(match.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def disruptions_allowed(pdb: Obj, replicas: int, healthy: int | None = None) -> tuple[int | None, str]:
    """How many disruptions the budget allows now (its status, when current) or at rest (from its spec).

    ``healthy``: Ready pods the budget covers as read now. A status that counted fewer (written
    before the last pods became Ready) is stale; the spec then decides, over those pods.
    """
    status = o.status(pdb)
    generation = o.meta(pdb).get("generation")
    current = "disruptionsAllowed" in status and (
        generation is None or int(status.get("observedGeneration") or 0) >= int(generation)
    )
    stale = healthy is not None and healthy > int(status.get("currentHealthy") or 0)
    if current and not (stale and int(status["disruptionsAllowed"]) == 0):
        how = f"currentHealthy {status.get('currentHealthy')}, desiredHealthy {status.get('desiredHealthy')}"
        return int(status["disruptionsAllowed"]), how
    up = replicas if healthy is None else min(healthy, replicas)
    spec = o.spec(pdb)
    if "maxUnavailable" in spec:
        most = scaled(spec["maxUnavailable"], replicas, round_up=True)
        allowed = None if most is None else max(0, most - (replicas - up))
        return allowed, f"maxUnavailable {spec['maxUnavailable']} of {replicas} replicas, {up} healthy"
    if "minAvailable" in spec:
        need = scaled(spec["minAvailable"], replicas, round_up=True)
        allowed = None if need is None else max(0, up - need)
        return allowed, f"minAvailable {spec['minAvailable']} of {replicas} replicas, {up} healthy"
    return None, "no budget given"


def replicas_of(sts: Obj) -> int:
    value = o.spec(sts).get("replicas")
    return 1 if value is None else int(value)


def check_budget(seen: _Seen, *, drain: bool = False) -> list[Finding]:
    """One budget covers the pods, allows a disruption, and selects no pods of other workloads."""
    if blocked := seen.missing("PodDisruptionBudget", PDB):
        return blocked
    sts = seen.sts
    labels = template_labels(sts)
    covering = [p for p in seen.items(PDB) if o.label_selector_matches(o.spec(p).get("selector"), labels)]
    if not covering:
        expected = f"a PodDisruptionBudget in {seen.namespace} selecting {labels}"
        have = len(seen.items(PDB))
        seen_text = {0: "no budget in the namespace", 1: "the namespace's one budget selects other pods"}.get(
            have, f"none of the namespace's {have} budgets selects them"
        )
        return [Finding("audit.pdb-missing", o.subject(sts, STATEFULSET), "PodDisruptionBudget", expected, seen_text)]
    findings = []
    for pdb in sorted(covering, key=o.name):
        subject = o.subject(pdb, PDB)
        healthy = None
        if POD not in seen.unreadable and seen.items(POD):
            covered = [p for p in seen.items(POD) if o.label_selector_matches(o.spec(pdb).get("selector"), o.labels(p))]
            healthy = sum(1 for p in covered if o.pod_ready(p) and not o.terminating(p))
        allowed, how = disruptions_allowed(pdb, replicas_of(sts), healthy)
        if allowed == 0:
            rule = "audit.pdb-blocks-drain" if drain else "audit.pdb-allows-none"
            findings.append(Finding(rule, subject, "status.disruptionsAllowed", ">= 1", f"0 ({how})"))
        if blocked := seen.missing("PodDisruptionBudget selector", POD):
            findings += blocked
            continue
        own = {o.name(p) for p in seen.pods.values()}
        others = sorted(
            o.name(p)
            for p in seen.items(POD)
            if o.name(p) not in own and o.label_selector_matches(o.spec(pdb).get("selector"), o.labels(p))
        )
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            expected = f"only pods of statefulset {o.name(sts)}"
            findings.append(
                Finding(
                    "audit.pdb-selector-wide",
                    subject,
                    "spec.selector",
                    expected,
                    f"also {len(others)} other pods: {shown}",
                )
            )
    return findings


# -- rollout gates ---------------------------------------------------------------------------------


def max_unavailable(sts: Obj) -> int:
    """Pods a rolling update may take down at once: rounded down with a minimum of 1, as the controller does."""
    rolling = (o.spec(sts).get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = scaled(rolling.get("maxUnavailable", 1), replicas_of(sts), round_up=False)
    return max(1, value or 1)


def check_rollout_gates(sts: Obj) -> list[Finding]:
    """A readiness probe to gate OrderedReady and partition steps on; minReadySeconds when several go at once."""
    subject = o.subject(sts, STATEFULSET)
    containers = [c for c in _pod_spec(sts).get("containers") or () if isinstance(c, dict)]
    findings = []
    if not any(c.get("readinessProbe") for c in containers):
        names = ", ".join(str(c.get("name")) for c in containers) or "no containers"
        path = "spec.template.spec.containers[*].readinessProbe"
        findings.append(Finding("audit.readiness-probe", subject, path, "a readiness probe", f"none ({names})"))
    strategy = (o.spec(sts).get("updateStrategy") or {}).get("type") or "RollingUpdate"
    at_once = max_unavailable(sts)
    min_ready = int(o.spec(sts).get("minReadySeconds") or 0)
    if strategy == "RollingUpdate" and at_once > 1 and min_ready == 0:
        expected = f"> 0 with maxUnavailable {at_once} pods"
        findings.append(Finding("audit.min-ready-seconds", subject, "spec.minReadySeconds", expected, 0))
    return findings


# -- placement -------------------------------------------------------------------------------------


def check_placement(seen: _Seen) -> list[Finding]:
    """Replicas on more than one node (and zone, for zonal volumes); a template that asks for spreading."""
    sts = seen.sts
    subject = o.subject(sts, STATEFULSET)
    replicas = replicas_of(sts)
    if replicas < 2:
        return []
    findings = []
    pod_spec = _pod_spec(sts)
    if not (pod_spec.get("affinity") or {}).get("podAntiAffinity") and not pod_spec.get("topologySpreadConstraints"):
        path = "spec.template.spec.affinity.podAntiAffinity | topologySpreadConstraints"
        expected = f"spreading over {HOSTNAME_LABEL} (or a zone)"
        findings.append(Finding("audit.anti-affinity", subject, path, expected, "neither"))
    if blocked := seen.missing("placement", POD):
        return findings + blocked
    placed = {
        o.name(p): str(o.spec(p)["nodeName"])
        for p in seen.pods.values()
        if o.spec(p).get("nodeName") and not o.terminating(p)
    }
    used = sorted(set(placed.values()))
    if len(placed) < 2:
        return findings
    if len(used) == 1:
        expected = f"{len(placed)} pods on at least 2 nodes"
        seen_text = f"all {len(placed)} pods on node {used[0]}"
        findings.append(Finding("audit.spread-nodes", subject, "pods' spec.nodeName", expected, seen_text))
    return findings + _zones(seen, placed)


def _zones(seen: _Seen, placed: Mapping[str, str]) -> list[Finding]:
    if blocked := seen.missing("zone placement", NODE, PV, PVC):
        return blocked
    sts = seen.sts
    claims = {o.name(c): c for c in seen.items(PVC)}
    volumes = {o.name(v): v for v in seen.items(PV)}
    keys = set()
    for pod in seen.pods.values():
        for volume in o.spec(pod).get("volumes") or ():
            claim = claims.get(str((volume.get("persistentVolumeClaim") or {}).get("claimName")))
            pv = volumes.get(str(o.spec(claim).get("volumeName"))) if claim else None
            pin = pin_of_pv(pv) if pv else None
            if pin is not None and pin.kind == "zone":
                keys.add(pin.key)
    if not keys:
        return []  # no zonal volume: a zone outage does not strand the data
    key = sorted(keys)[0]
    node_labels = {o.name(n): o.labels(n) for n in seen.items(NODE)}
    zones = sorted({node_labels.get(node, {}).get(key, "?") for node in placed.values()})
    if len(zones) != 1 or zones == ["?"]:
        return []
    expected = f"{len(placed)} pods in at least 2 zones ({key})"
    return [
        Finding(
            "audit.spread-zones", o.subject(sts, STATEFULSET), f"nodes' labels[{key}]", expected, f"all in {zones[0]}"
        )
    ]


# -- what deleting or scaling down does to the data ------------------------------------------------


def check_data_on_delete(seen: _Seen) -> list[Finding]:
    """One sentence from the retention policy and the class's reclaimPolicy (an ``info`` finding)."""
    sts = seen.sts
    templates = [t for t in o.spec(sts).get("volumeClaimTemplates") or () if isinstance(t, dict)]
    if not templates:
        return []
    policy = o.spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    when_deleted = str(policy.get("whenDeleted") or "Retain")
    when_scaled = str(policy.get("whenScaled") or "Retain")
    blocked = seen.missing("reclaimPolicy", CLASS)
    class_name, reclaim = "?", None
    if not blocked:
        class_name, reclaim = _reclaim(templates[0], seen.items(CLASS))
    expected = (
        f"whenDeleted={when_deleted}, whenScaled={when_scaled}; "
        f"StorageClass {class_name} reclaimPolicy {reclaim or 'unknown'}"
    )
    sentence = data_sentence(when_deleted, when_scaled, reclaim)
    path = "spec.persistentVolumeClaimRetentionPolicy"
    return [Finding("audit.data-on-delete", o.subject(sts, STATEFULSET), path, expected, sentence), *blocked]


def _reclaim(template: Obj, classes: Sequence[Obj]) -> tuple[str, str | None]:
    named = o.spec(template).get("storageClassName")
    if named is None:
        default = [c for c in classes if (o.meta(c).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        if not default:
            return "(default: none)", None
        chosen = default[0]
    else:
        chosen = next((c for c in classes if o.name(c) == named), {})
        if not chosen:
            return str(named), None
    return o.name(chosen), str(chosen.get("reclaimPolicy") or "Delete")


def data_sentence(when_deleted: str, when_scaled: str, reclaim: str | None) -> str:
    """What deleting the set, scaling it down and deleting a claim do to the data, in one sentence."""
    gone = {
        "Delete": "and with them the volumes and the data",
        "Retain": "but the volumes and the data stay, Released (reclaimPolicy Retain)",
    }.get(reclaim or "", "and what happens to the volumes depends on a reclaimPolicy that could not be read")
    if when_deleted == "Delete":
        on_delete = f"deleting the set deletes its claims, {gone}"
    else:
        on_delete = "deleting the set keeps its claims and their data"
    if when_scaled == "Delete":
        on_scale = f"scaling down deletes the removed ordinals' claims, {gone}, so scaling up again starts them empty"
    else:
        on_scale = "scaling down keeps the removed ordinals' claims, so scaling up again mounts the same data"
    by_hand = ""
    if "Retain" in (when_deleted, when_scaled):
        after = {"Delete": "deletes its volume and the data", "Retain": "leaves its volume Released with the data"}
        by_hand = (
            f"; a kept claim deleted by hand {after.get(reclaim or '', 'frees its volume as the reclaimPolicy says')}"
        )
    return f"{on_delete}; {on_scale}{by_hand}."


# -- claims left over ------------------------------------------------------------------------------


def check_leftover_claims(seen: _Seen) -> list[Finding]:
    """Claims of the set's templates for ordinals outside the set that no pod mounts, with their size."""
    sts = seen.sts
    templates = claim_templates(sts)
    if not templates:
        return []
    if blocked := seen.missing("leftover claims", PVC, POD):
        return blocked
    mounted = {
        str((v.get("persistentVolumeClaim") or {}).get("claimName"))
        for p in seen.items(POD)
        for v in o.spec(p).get("volumes") or ()
        if isinstance(v, dict)
    }
    window = set_window(sts)
    findings = []
    for claim in sorted(seen.items(PVC), key=o.name):
        for template in templates:
            ordinal = parse_claim_ordinal(o.name(claim), template, o.name(sts))
            if ordinal is None or ordinal in window or o.name(claim) in mounted:
                continue
            size = (o.status(claim).get("capacity") or {}).get("storage") or (
                (o.spec(claim).get("resources") or {}).get("requests") or {}
            ).get("storage")
            span = f"{window.start}..{window.stop - 1}" if len(window) else "none"
            expected = f"a claim of a running ordinal (ordinals {span}; this one is {pod_name(o.name(sts), ordinal)}'s)"
            seen_text = f"no pod mounts it; {size or 'size unknown'} kept"
            findings.append(
                Finding("audit.claim-leftover", o.subject(claim, PVC), "metadata.name", expected, seen_text)
            )
    return findings


# -- reading the findings --------------------------------------------------------------------------


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    found: dict[str, int] = dict.fromkeys(reversed(SEVERITIES), 0)
    for finding in findings:
        found[severity(finding.rule)] += 1
    return found


def count_text(findings: Sequence[Finding]) -> str:
    """``1 error, 2 warnings, 1 info`` (``no findings`` when empty); not-checked ones named apart."""
    parts = [f"{n} {level}{'s' if n != 1 and level != 'info' else ''}" for level, n in counts(findings).items() if n]
    unchecked = sum(1 for f in findings if f.rule == "audit.not-checked")
    if unchecked:
        parts.append(f"{unchecked} not checked")
    return ", ".join(parts) or "no findings"


def finding_line(finding: Finding) -> str:
    """One line: severity, rule, object, field, expected vs seen (an ``info`` finding: what it says)."""
    level = "not checked" if finding.rule == "audit.not-checked" else severity(finding.rule)
    where = f"{finding.subject} {finding.path}".rstrip()
    if severity(finding.rule) == "info":
        return f"{level:<8} {finding.rule}  {where} ({finding.expected}): {finding.seen}"
    return f"{level:<8} {finding.rule}  {where}: expected {finding.expected}, saw {finding.seen}"


def text_lines(audits: Sequence[SetAudit]) -> list[str]:
    """The audit for a person: per set a heading with counts, then each finding and why it matters."""
    lines: list[str] = []
    for result in audits:
        lines.append(f"statefulset {result.statefulset}: {count_text(result.findings)}")
        for finding in result.findings:
            lines.append(f"  {finding_line(finding)}")
            why = RULES[finding.rule].why if finding.rule in RULES else ""
            if why:
                lines.append(f"  {'':<8} why: {why}")
    return lines


def first_error(audits: Sequence[SetAudit]) -> Finding | None:
    return next((f for a in audits for f in a.at_least("error")), None)
