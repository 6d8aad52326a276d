"""The rule catalog: every rule id a check may emit, its severity and the promise it encodes.

Severity belongs to the rule, not to each finding: ``info`` rules describe something the
suite must see and report (e.g. an identity overlap that a force delete allowed) without
failing the test, so :func:`ordinal.checks.assertions.assert_no_findings` lets them through.
``warning`` rules are the audit's (``ordinal audit``): a workload shape that will hurt under a
fault but breaks no promise yet; they never fail a conformance test either. ``why`` says what
the shape costs, for findings a user has to act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ordinal.types import Finding

Severity = Literal["error", "warning", "info"]
#: Lowest first: ``--fail-on warning`` fails on warnings and errors.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


@dataclass(frozen=True)
class Rule:
    severity: Severity
    promise: str
    why: str = ""


_ERROR: Severity = "error"
_INFO: Severity = "info"
_WARNING: Severity = "warning"

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
        "storage.attachment-follows-pod": Rule(
            _ERROR, "an attached (CSI) volume is attached to the node of every pod that runs with it"
        ),
        "storage.attached-to-one-node": Rule(
            _ERROR,
            "a ReadWriteOnce volume is attached to one node at a time: the old attachment is detached or gone "
            "before the new one is attached",
        ),
        "storage.attachment-recorded": Rule(
            _ERROR, "each claim judged for attachment has a recorded PV of a CSI driver that attaches"
        ),
        "storage.attach-error": Rule(_INFO, "the attacher reported an attach or detach error (it may have recovered)"),
        "storage.single-pod-claim": Rule(
            _ERROR, "a ReadWriteOncePod claim keeps every other pod off while one pod uses it"
        ),
        "storage.claim-expanded": Rule(
            _ERROR, "an expanded claim reports at least the requested size, and its pod sees at least that much"
        ),
        # a real node lost (stopped, nobody can confirm what runs there)
        "node-loss.recorded": Rule(_ERROR, "the pod on the lost node was recorded by a watch"),
        "node-loss.node-not-ready": Rule(_ERROR, "a node that stopped answering is marked not Ready"),
        "node-loss.pod-terminating": Rule(
            _ERROR, "a pod on an unreachable node is marked for deletion once its toleration runs out"
        ),
        "node-loss.kept-until-declared": Rule(
            _ERROR, "a pod on a lost node stays (Terminating) until the node is declared out of service"
        ),
        "node-loss.not-replaced-while-unconfirmed": Rule(
            _ERROR, "no second pod takes the identity while the lost node could still run the first"
        ),
        "node-loss.replaced-after-declared": Rule(
            _ERROR, "once the node is declared out of service the pod comes back Ready on another node"
        ),
        "node-loss.volume-stays-on-lost-node": Rule(
            _ERROR,
            "an attached volume stays attached to the lost node, and to no other, until the node is declared "
            "out of service",
        ),
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
        # audit: is a live workload shaped to keep its promises (ordinal audit; before every fault)
        "audit.service-exists": Rule(
            _ERROR,
            "spec.serviceName names a Service in the set's namespace",
            "without its Service no pod gets a DNS record: <pod>.<service> does not resolve",
        ),
        "audit.service-headless": Rule(
            _ERROR,
            "the governing Service is headless (clusterIP: None)",
            "a Service with a cluster IP publishes no per-pod records: clients cannot reach one replica by name",
        ),
        "audit.service-selects-pods": Rule(
            _ERROR,
            "the governing Service's selector matches the set's pods",
            "pods the Service does not select have no DNS record and receive no traffic through it",
        ),
        "audit.endpoint-hostnames": Rule(
            _WARNING,
            "every Ready pod is in the Service's EndpointSlices with its hostname",
            "an endpoint without hostname gets no <pod>.<service> record: peers cannot find that replica",
        ),
        "audit.claim-template-rwx": Rule(
            _WARNING,
            "volumeClaimTemplates ask for per-pod (ReadWriteOnce) volumes",
            "a ReadWriteMany template gives every ordinal its own copy of what is meant to be shared: "
            "shared storage wants one PVC mounted by a Deployment",
        ),
        "audit.no-per-pod-state": Rule(
            _WARNING,
            "a StatefulSet keeps per-pod state (claim templates or persistent volumes)",
            "with no disk of its own per ordinal the set is a Deployment in disguise: "
            "ordered, slower rollouts and nothing they protect",
        ),
        "audit.pdb-missing": Rule(
            _WARNING,
            "a PodDisruptionBudget covers the set's pods",
            "without one a drain may evict every replica at once and take quorum with it",
        ),
        "audit.pdb-allows-none": Rule(
            _WARNING,
            "the PodDisruptionBudget allows at least one disruption",
            "a budget that allows none makes every drain of a node under these pods hang",
        ),
        "audit.pdb-blocks-drain": Rule(
            _ERROR,
            "before a drain, the PodDisruptionBudget allows at least one disruption",
            "the drain would wait on an eviction the budget never allows: the fault could not happen",
        ),
        "audit.pdb-selector-wide": Rule(
            _WARNING,
            "the PodDisruptionBudget selects only the set's pods",
            "pods of other workloads spend the same budget: one of theirs being down blocks this set's drains",
        ),
        "audit.readiness-probe": Rule(
            _WARNING,
            "the pods have a readiness probe",
            "OrderedReady and partition canaries then gate on nothing: the next pod goes as soon as one starts",
        ),
        "audit.min-ready-seconds": Rule(
            _WARNING,
            "with maxUnavailable > 1, minReadySeconds > 0",
            "several replicas are replaced at once and each counts as available the moment it is Ready",
        ),
        "audit.spread-nodes": Rule(
            _WARNING,
            "the replicas run on more than one node",
            "one drain or node failure takes every replica at once",
        ),
        "audit.spread-zones": Rule(
            _WARNING,
            "with zonal volumes, the replicas run in more than one zone",
            "one zone outage takes every replica, and zonal volumes cannot follow them elsewhere",
        ),
        "audit.anti-affinity": Rule(
            _WARNING,
            "the pod template asks for spreading (pod anti-affinity or topology spread constraints)",
            "nothing keeps the scheduler from putting every replica on one node",
        ),
        "audit.data-on-delete": Rule(
            _INFO, "what deleting the set or scaling it down does to the data (retention policy and reclaimPolicy)"
        ),
        "audit.claim-leftover": Rule(
            _WARNING,
            "every claim of the set is mounted by a pod of the set",
            "a claim left over from a scale-down costs its size and brings old data back on the next scale-up",
        ),
        "audit.not-checked": Rule(
            _WARNING,
            "every audit check could read what it needs",
            "a check that could not read its objects says nothing about them: this part of the shape is unknown",
        ),
    }
)


def severity(rule: str) -> Severity:
    """Severity of ``rule``; an unknown rule counts as an error so a typo cannot hide a failure."""
    known = RULES.get(rule)
    return known.severity if known else _ERROR


def at_least(findings: Iterable[Finding], level: Severity) -> list[Finding]:
    """The findings whose rule is ``level`` or more severe (``--fail-on``)."""
    rank = SEVERITIES.index(level)
    return [f for f in findings if SEVERITIES.index(severity(f.rule)) >= rank]


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that fail a test (``error`` rules; a conformance check emits no warnings)."""
    return [f for f in findings if severity(f.rule) == _ERROR]


def informational(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if severity(f.rule) == _INFO]
