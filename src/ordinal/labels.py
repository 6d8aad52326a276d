"""Every label, annotation and taint key ordinal reads or writes, defined once.

Ground floor: imports nothing. A key that two layers agree on (the node-kind label the
launcher sets and the suite reads, the ledger annotation the actions write and the sweep
reads) is only consistent if both spell it from here.
"""

from __future__ import annotations

# -- what ordinal puts on what it creates ---------------------------------------------------------

#: On everything ordinal creates; ``ordinal cleanup`` finds leftovers by it.
CREATED_BY_LABEL = "app.kubernetes.io/created-by"
CREATED_BY_VALUE = "ordinal"
#: The run that created it: ``ordinal cleanup --run-id``.
RUN_LABEL = "ordinal/run"
#: The selector label of the sets under test (and of their headless Service).
SET_LABEL = "app.kubernetes.io/name"
#: Pod-template annotation naming the template version; changing it makes a new revision.
TEMPLATE_VERSION_ANNOTATION = "ordinal.dev/template"
#: Pod-template annotation the canary action changes to start a partitioned rollout.
CANARY_ANNOTATION = "ordinal.dev/canary"
#: Node annotation: JSON of what a run changed there and has not undone (cordon, lost, out-of-service, added).
LEDGER_ANNOTATION = "ordinal.dev/ledger"

# -- what the StatefulSet controller and the API set -----------------------------------------------

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
#: EndpointSlices name their Service with this label.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: The pre-publishNotReadyAddresses way to publish unready endpoints (still honoured by some DNS servers).
TOLERATE_UNREADY_ANNOTATION = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
#: Written by ``kubectl apply``; a recreated object must not carry the old one's.
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)

# -- nodes -------------------------------------------------------------------------------------------

HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
#: The local cluster's node kinds: ``real`` (kubelet + containerd) or ``kwok`` (simulated). kwok
#: manages only nodes carrying ``kwok``; removing the label silences a simulated node's heartbeats.
NODE_KIND_LABEL = "ordinal.dev/node-kind"
REAL_NODE_KIND = "real"
SIMULATED_NODE_KIND = "kwok"
#: The zone key of the local cluster's CSI driver (csi.ordinal.dev): its CSINode topology key, and the
#: label the kubelet puts on a node when the driver registers there; its PVs' node affinity names it.
CSI_ZONE_LABEL = "topology.csi.ordinal.dev/zone"
#: kwok marks the nodes it fakes with this annotation (any kwok cluster, not only ours).
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"

#: Pods on simulated nodes carrying ``SIMULATE_LABEL=UNREADY`` are kept Running but not Ready.
SIMULATE_LABEL = "ordinal.dev/simulate"
UNREADY = "unready"

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
#: Declares a node shut down: PodGC force-deletes its terminating pods, volumes detach.
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"
#: On a node a test added for itself: only pods tolerating the value (their namespace) go there.
RESERVED_TAINT = "ordinal.dev/reserved-for"
#: The node lifecycle controller's taints for a node it no longer hears from.
LOST_CONTACT_TAINTS = frozenset({UNREACHABLE_TAINT, NOT_READY_TAINT})
#: Taints that mean the control plane no longer hears from the kubelet, or was told it is off.
UNREACHABLE_TAINTS = LOST_CONTACT_TAINTS | {OUT_OF_SERVICE_TAINT}

#: The recommended label for an object's version (a CSIDriver's: the driver's vendor version).
VERSION_LABEL = "app.kubernetes.io/version"
