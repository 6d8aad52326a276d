"""The rule catalog: every rule id a check may emit, its severity and the promise it encodes.

Severity belongs to the rule, not to each finding: ``info`` rules describe something the
suite must see and report (e.g. an identity overlap that a force delete allowed) without
failing the test, so :func:`ordinal.checks.assertions.assert_no_findings` lets them through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ordinal.types import Finding

Severity = Literal["error", "info"]


@dataclass(frozen=True)
class Rule:
    severity: Severity
    promise: str


_ERROR: Severity = "error"
_INFO: Severity = "info"

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        # the request: what the test or experiment sent, judged before anything else
        "api.spec-rewritten": Rule(_ERROR, "the server stores the StatefulSet spec as it was sent"),
        "timeline.caught-up": Rule(_ERROR, "the timeline recorder caught up with the cluster before it was judged"),
        # identity
        "identity.pod-name": Rule(_ERROR, "a pod the set owns is named <set>-<ordinal>"),
        "identity.ordinal-window": Rule(_ERROR, "pods are exactly <set>-<start> … <set>-<start+replicas-1>"),
        "identity.hostname": Rule(_ERROR, "spec.hostname is the pod name"),
        "identity.subdomain": Rule(_ERROR, "spec.subdomain is the set's serviceName"),
        "identity.pod-name-label": Rule(_ERROR, "label statefulset.kubernetes.io/pod-name is the pod name"),
        "identity.pod-index-label": Rule(_ERROR, "label apps.kubernetes.io/pod-index is the ordinal"),
        "identity.controller-ref": Rule(_ERROR, "one controller ownerReference to the set (kind, name, uid)"),
        "identity.replaced-same-name": Rule(_ERROR, "a replaced pod comes back under the same name"),
        "identity.replaced-new-uid": Rule(_ERROR, "a replaced pod is a new object (new UID)"),
        "identity.bystander-kept": Rule(_ERROR, "pods that were not disrupted keep their UID"),
        "identity.at-most-one-live": Rule(_ERROR, "at most one live pod per identity at any moment"),
        "identity.overlap-after-force-delete": Rule(
            _INFO, "a force delete on an unreachable node let a new incarnation start unconfirmed"
        ),
        # ordering
        "ordering.created-ascending": Rule(_ERROR, "OrderedReady creates pods in ascending ordinal order"),
        "ordering.created-after-ready": Rule(
            _ERROR, "OrderedReady creates a pod only once every lower ordinal is Running+Ready+available"
        ),
        "ordering.deleted-descending": Rule(_ERROR, "OrderedReady scale-down deletes the highest ordinal first"),
        "ordering.deleted-one-at-a-time": Rule(
            _ERROR, "OrderedReady deletes the next pod only after the previous one is gone"
        ),
        "ordering.halted-behind-unhealthy": Rule(_ERROR, "OrderedReady does not scale down past an unhealthy pod"),
        "ordering.update-descending": Rule(_ERROR, "a rolling update replaces the highest ordinal first"),
        "ordering.update-one-at-a-time": Rule(
            _ERROR, "a rolling update deletes only while fewer than maxUnavailable pods are unavailable"
        ),
        "ordering.update-below-partition": Rule(_ERROR, "a rolling update never deletes below the partition"),
        "ordering.parallel-serialized": Rule(_INFO, "Parallel created pods one by one, each after the last was Ready"),
        # storage
        "storage.claim-per-ordinal": Rule(_ERROR, "each ordinal has a PVC <template>-<set>-<ordinal>"),
        "storage.claim-bound": Rule(_ERROR, "each per-ordinal PVC is Bound"),
        "storage.distinct-volume": Rule(_ERROR, "each per-ordinal PVC is bound to its own PV"),
        "storage.volume-claim-ref": Rule(_ERROR, "the PV's claimRef names that PVC (namespace, name, uid)"),
        "storage.pod-mounts-own-claim": Rule(_ERROR, "the pod's template volume references its ordinal's PVC"),
        "storage.reattached-claim": Rule(_ERROR, "after a disruption the ordinal gets the same PVC (same UID)"),
        "storage.reattached-volume": Rule(_ERROR, "after a disruption the ordinal's PVC is on the same PV"),
        "storage.pod-on-volume-node": Rule(_ERROR, "with a node-pinned volume the pod runs on the PV's node"),
        "storage.data-token": Rule(_ERROR, "a token written into the volume before a fault reads back unchanged"),
        # chaos experiment bookkeeping (probes of ordinal.chaos)
        "chaos.statefulset-ready": Rule(_ERROR, "every replica Ready and available, spec observed"),
        "chaos.baseline": Rule(_ERROR, "a snapshot was taken before the fault"),
        "chaos.recorded": Rule(_ERROR, "the run was recorded by a watch"),
        "chaos.node-restored": Rule(_ERROR, "no node change of this run remains"),
        # dns
        "dns.per-pod-a-record": Rule(_ERROR, "<pod>.<svc>.<ns>.svc.<zone> A is the pod's IP"),
        "dns.not-ready-absent": Rule(_ERROR, "not-Ready pods have no records unless publishNotReadyAddresses"),
        "dns.service-a-records": Rule(_ERROR, "<svc>.<ns>.svc.<zone> A has exactly one record per Ready pod"),
        "dns.srv-targets": Rule(_ERROR, "SRV for each named port targets the Ready pods' FQDNs"),
        "dns.ptr-record": Rule(_ERROR, "PTR of a Ready pod's IP is the pod's FQDN"),
        "dns.endpoint-slice": Rule(_ERROR, "the Service's EndpointSlices list each pod with IP, hostname, readiness"),
        "dns.no-records-without-service": Rule(_ERROR, "no per-pod records when serviceName has no headless Service"),
        "dns.record-follows-pod": Rule(
            _ERROR, "a replaced pod's own name resolves to the new pod's IP, not the old one"
        ),
        "dns.own-hosts-entry": Rule(_ERROR, "a pod's /etc/hosts maps its IP to <pod>.<svc>.<ns>.svc.<zone>"),
        "dns.lookup-from-pod": Rule(_ERROR, "from a sibling pod, <pod>.<svc>.<ns>.svc.<zone> resolves to the pod's IP"),
        "dns.search-path": Rule(_ERROR, "a pod's resolv.conf searches <ns>.svc.<zone> first"),
        # retention
        "retention.when-deleted": Rule(_ERROR, "after set deletion PVCs follow whenDeleted"),
        "retention.when-scaled": Rule(_ERROR, "after scale-down PVCs follow whenScaled; in-range PVCs stay"),
        "retention.owner-refs": Rule(_ERROR, "PVC ownerReferences match the retention policy table"),
        # revisions
        "revisions.partition-pinned": Rule(_ERROR, "ordinals below the partition keep the current revision"),
        "revisions.partition-updated": Rule(_ERROR, "at rest, ordinals at or above the partition run the update"),
        "revisions.updated-replicas": Rule(_ERROR, "at rest, updatedReplicas = replicas - partition"),
        "revisions.on-delete-untouched": Rule(_ERROR, "OnDelete replaces no pod the user did not delete"),
        "revisions.on-delete-replaced-updated": Rule(_ERROR, "OnDelete recreates deleted pods at updateRevision"),
        "revisions.rollback-reuses": Rule(_ERROR, "rolling back re-uses the earlier revision, creating none"),
        "revisions.pod-revision-known": Rule(_ERROR, "every pod runs the current or the update revision"),
        "revisions.current-equals-update": Rule(
            _ERROR, "a finished RollingUpdate has currentRevision = updateRevision"
        ),
        "revisions.status-counts": Rule(_ERROR, "currentReplicas/updatedReplicas count pods at those revisions"),
        "revisions.observed-generation": Rule(_ERROR, "status.observedGeneration has caught up with the spec"),
    }
)


def severity(rule: str) -> Severity:
    """Severity of ``rule``; an unknown rule counts as an error so a typo cannot hide a failure."""
    known = RULES.get(rule)
    return known.severity if known else _ERROR


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that fail a test (everything but ``info`` rules)."""
    return [f for f in findings if severity(f.rule) == _ERROR]


def informational(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if severity(f.rule) == _INFO]
