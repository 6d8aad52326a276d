"""What the target cluster can show, found out once per session, and the skip reasons that follow.

A conformance result is only honest if "not tested" is told apart from "passed": a test
that needs something the cluster lacks is skipped with a reason naming that capability
(``needs: exec into pods``), and the capability table goes into the report. Discovery only
reads, except for two probes that create and remove objects in a namespace of their own: a
server-side dry-run create (is ``maxUnavailable`` kept?) and, on clusters that are not the
local one, a tiny pod to exec ``true`` in.

The derivations (version parsing, node counting, StorageClass classification, skip reasons)
are pure functions over API objects, so they are unit-tested without a cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from ordinal.checks.dns import reverse_name
from ordinal.checks.storage import pin_of_pv
from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.kube import objects as o
from ordinal.kube.manifests import DEFAULT_UID, restricted_security, statefulset_manifest
from ordinal.kube.rest import (
    ACCESS_REVIEWS,
    CSI_DRIVERS,
    CSI_NODES,
    NODES,
    PODS,
    PVS,
    SERVICES,
    STATEFULSETS,
    STORAGE_CLASSES,
    ApiError,
    Kube,
)
from ordinal.kube.streams import exec_in_pod
from ordinal.labels import (
    DEFAULT_CLASS_ANNOTATIONS,
    HOSTNAME_LABEL,
    NODE_KIND_LABEL,
    REAL_NODE_KIND,
    SIMULATED_NODE_KIND,
    VERSION_LABEL,
    ZONE_LABEL,
)
from ordinal.observe import dnsquery
from ordinal.observe.dnsquery import Resolver
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.target import Target, local_dns_server
from ordinal.types import Obj

#: Provisioners whose volumes live on one node's disk (the pod can only come back there).
LOCAL_PROVISIONERS = frozenset(
    {
        "kubernetes.io/no-provisioner",
        "rancher.io/local-path",
        "openebs.io/local",
        "topolvm.io",
        "topolvm.cybozu.com",
        "local.csi.openebs.io",
        "lvm.csi.metal-stack.io",
    }
)

DnsMode = Literal["auto", "direct", "port-forward", "exec"]
Version = tuple[int, int, int]
#: The controller sets ``apps.kubernetes.io/pod-index`` from this version on (beta 1.28, GA 1.32).
POD_INDEX_LABEL_SINCE: Version = (1, 28, 0)


@dataclass(frozen=True)
class CsiInfo:
    """The CSI driver behind the class under test, as the API shows it (its CSIDriver object and CSINodes).

    The driver's own name and version (CSI GetPluginInfo) are a gRPC answer on each node's socket,
    which no API client reaches: the version is read from the CSIDriver object's labels where its
    packager put one, else it is unknown, and ``version_source`` says which.
    """

    driver: str
    #: How the class is known to be CSI: "CSIDriver object", "CSINode of 2 nodes", "PV spec.csi".
    evidence: str
    #: ``spec.attachRequired`` (true when the driver has no CSIDriver object); None: could not read it.
    attach_required: bool | None
    pod_info_on_mount: bool | None
    fs_group_policy: str | None
    storage_capacity: bool | None
    #: Node label keys the driver reports in NodeGetInfo (CSINode ``drivers[].topologyKeys``), all nodes.
    topology_keys: tuple[str, ...]
    #: Nodes whose CSINode lists the driver (where its node plugin registered with the kubelet).
    nodes: tuple[str, ...]
    version: str
    version_source: str
    #: What could not be read (csidrivers/csinodes refused), "" when everything was.
    unreadable: str = ""


@dataclass(frozen=True)
class StorageInfo:
    """The StorageClass under test and how its volumes behave."""

    name: str
    provisioner: str
    binding_mode: str
    default: bool
    #: Where a PV of the class may be used: "node" (one node), "zone" (one zone), "none" (anywhere);
    #: None: cannot tell yet.
    topology: str | None
    pinned_because: str
    #: ``allowVolumeExpansion: true``: a claim of the class may be grown.
    expansion: bool = False
    #: The class's CSI driver; None when the provisioner is not one (or it could not be told, see ``csi_unknown``).
    csi: CsiInfo | None = None
    #: Why it cannot be told whether the provisioner is a CSI driver ("" when it can).
    csi_unknown: str = ""

    @property
    def node_pinned(self) -> bool | None:
        return None if self.topology is None else self.topology == "node"

    def attaches(self) -> tuple[bool | None, str]:
        """Whether the class's volumes are attached to nodes (CSI, attachRequired), and the sentence saying so.

        Local and hostPath volumes, and CSI drivers with ``attachRequired: false``, are never attached:
        attachment promises do not apply to them (they are neither failed nor passed there).
        """
        if self.csi is None:
            if self.csi_unknown:
                return None, f"cannot tell whether {self.name} volumes are attached ({self.csi_unknown})"
            return False, f"{self.name} volumes are not attached (provisioner {self.provisioner} is not a CSI driver)"
        if self.csi.attach_required is False:
            driver = self.csi.driver
            return False, f"{self.name} volumes are not attached (CSIDriver {driver} has attachRequired: false)"
        if self.csi.attach_required is None:
            return None, f"cannot tell whether {self.name} volumes are attached ({self.csi.unreadable})"
        return True, f"{self.name} volumes are attached by CSI driver {self.csi.driver}"


@dataclass(frozen=True)
class DnsAccess:
    """How this run reaches the cluster DNS (``mode`` and where), or why it cannot."""

    mode: str  # "direct", "port-forward", "exec" or "none"
    where: str = ""
    why_not: str = ""


@dataclass(frozen=True)
class ClusterInfo:
    """Everything the suite decides on, in one JSON-able record (also attached to the report)."""

    target: str
    local: bool
    version: Version
    git_version: str
    gates: Mapping[str, bool | None]
    schedulable_nodes: tuple[str, ...]
    zones: tuple[str, ...]
    simulated_nodes: tuple[str, ...]
    storage: StorageInfo | None
    storage_missing: str
    exec_pods: bool
    exec_why_not: str
    #: nodeSelector for workloads that need exec (real nodes among simulated ones); {} = any node.
    exec_node_selector: Mapping[str, str] = field(default_factory=dict)
    #: Node labels workloads that need no containers prefer: the simulated nodes when real ones are
    #: present too, so their pods start at once and the real nodes' CPU goes to the tests that exec.
    idle_node_selector: Mapping[str, str] = field(default_factory=dict)
    dns: DnsAccess = DnsAccess("none", why_not="not discovered")
    #: The cluster's DNS domain (``cluster.local`` unless the cluster says otherwise), "" when unknown.
    cluster_domain: str = ""
    #: How the domain was found, or why it could not be.
    domain_source: str = "not discovered"
    #: The identity may cordon, taint and label nodes (what drains and node loss need).
    node_changes: bool = True
    #: The API serves storage.k8s.io/v1 VolumeAttachments and the identity may list and watch them.
    volume_attachments: bool = False
    volume_attachments_why_not: str = "not discovered"
    #: Commands that stop and start a real node were given (``--node-stop-command``/``--node-start-command``).
    node_stop: bool = False
    node_stop_why_not: str = "not discovered"

    @property
    def pod_index_label(self) -> bool:
        """``apps.kubernetes.io/pod-index`` is set by the controller from 1.28 (beta, on by default)."""
        return self.version >= POD_INDEX_LABEL_SINCE

    @property
    def readiness_control(self) -> bool:
        """Can a test make one pod unready on purpose? Simulated nodes obey a label; real ones need exec."""
        return bool(self.simulated_nodes) or self.exec_pods

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = ".".join(str(v) for v in self.version)
        if self.storage is not None:
            data["storage"]["node_pinned"] = self.storage.node_pinned
        data["gates"] = dict(self.gates)
        data["pod_index_label"] = self.pod_index_label
        data["readiness_control"] = self.readiness_control
        reason = attach_missing(self, self.storage)
        detail = reason or ""
        if self.storage is not None:
            attached, why = self.storage.attaches()
            data["storage"]["attaches"] = {"attached": attached, "why": why}
            detail = detail or why
        data["csi_attach"] = {"available": reason is None, "detail": detail}
        return data

    def summary(self) -> list[str]:
        """Lines for the terminal header and the allure environment."""
        storage = (
            f"{self.storage.name} ({self.storage.provisioner}, {self.storage.binding_mode}, "
            f"volumes pinned to: {self.storage.topology or 'unknown'})"
            if self.storage
            else f"none ({self.storage_missing})"
        )
        gates = ", ".join(f"{k}={v}" for k, v in sorted(self.gates.items())) or "none probed"
        return [
            f"target: {self.target}",
            f"server: {self.git_version}",
            f"schedulable nodes: {len(self.schedulable_nodes)} in zones {', '.join(self.zones) or '-'}"
            + (f" ({len(self.simulated_nodes)} simulated)" if self.simulated_nodes else ""),
            f"storage: {storage}",
            f"exec into pods: {'yes' if self.exec_pods else f'no ({self.exec_why_not})'}"
            + (
                f"; pods that need no exec prefer nodes {_selector(self.idle_node_selector)}"
                if self.idle_node_selector
                else ""
            ),
            f"volume attachments: {attach_missing(self, self.storage) or 'yes'}",
            f"node stop: {'yes' if self.node_stop else f'no ({self.node_stop_why_not})'}",
            f"dns: {self.dns.mode}" + (f" {self.dns.where}" if self.dns.where else f" ({self.dns.why_not})"),
            f"cluster domain: {self.cluster_domain or 'unknown'} ({self.domain_source})",
            f"feature gates: {gates}",
        ]


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# -- capability names used by needs(...) ------------------------------------------------------

#: needs("...") name → the words after "needs: " in a skip reason.
CAPABILITIES: Mapping[str, str] = {
    "exec": "exec into pods",
    "dns": "DNS reachable from the test runner",
    "storage": "a StorageClass (cluster default or --storage-class)",
    "node-pinned-storage": "a node-pinned StorageClass",
    "movable-storage": "a StorageClass whose volumes can move between nodes",
    "zone-pinned-storage": "a zone-pinned StorageClass",
    "readiness-control": "control over pod readiness (simulated nodes or exec into pods)",
    "node-loss": "a node the suite can silence (simulated nodes)",
    "node-stop": "a command that stops and starts a real node (--node-stop-command)",
    "node-changes": "permission patch nodes (cordon, taint; see ordinal rbac --disruptive)",
    "csi-attach": "VolumeAttachments (CSI attach)",
    "csi": "a CSI StorageClass",
    "volume-expansion": "a StorageClass that allows volume expansion",
}
_COUNTED = {"nodes": "{n} schedulable nodes", "zones": "{n} zones"}
_GATE_PREFIX = "gate:"
#: Gates discovery probes; needs("gate:<name>") is only valid for these.
PROBED_GATES = ("MaxUnavailableStatefulSet",)


def describe(capability: str) -> str:
    """``needs("nodes:2")`` → ``2 schedulable nodes``; an unknown name raises InvalidScenario."""
    if capability in CAPABILITIES:
        return CAPABILITIES[capability]
    kind, _, count = capability.partition(":")
    if kind in _COUNTED and count.isdigit() and int(count) > 0:
        return _COUNTED[kind].format(n=int(count))
    if capability.startswith(_GATE_PREFIX) and capability[len(_GATE_PREFIX) :] in PROBED_GATES:
        return f"feature gate {capability[len(_GATE_PREFIX) :]}"
    known = [*CAPABILITIES, "nodes:<n>", "zones:<n>", *(f"{_GATE_PREFIX}{g}" for g in PROBED_GATES)]
    raise InvalidScenario(f"expected a capability, one of {', '.join(known)}; got {capability!r}")


def has(info: ClusterInfo, capability: str) -> bool:
    describe(capability)  # validates the name
    kind, _, count = capability.partition(":")
    checks: dict[str, Callable[[], bool]] = {
        "exec": lambda: info.exec_pods,
        "dns": lambda: info.dns.mode != "none" and bool(info.cluster_domain),
        "storage": lambda: info.storage is not None,
        "node-pinned-storage": lambda: info.storage is not None and info.storage.topology == "node",
        "zone-pinned-storage": lambda: info.storage is not None and info.storage.topology == "zone",
        "readiness-control": lambda: info.readiness_control,
        "node-loss": lambda: bool(info.simulated_nodes),
        "node-stop": lambda: info.node_stop,
        "movable-storage": lambda: info.storage is not None and info.storage.topology != "node",
        "node-changes": lambda: info.node_changes,
        "csi-attach": lambda: info.volume_attachments and attach_missing(info, info.storage) is None,
        "csi": lambda: info.storage is not None and info.storage.csi is not None,
        "volume-expansion": lambda: info.storage is not None and info.storage.expansion,
        "nodes": lambda: len(info.schedulable_nodes) >= int(count or 0),
        "zones": lambda: len(info.zones) >= int(count or 0),
        "gate": lambda: info.gates.get(count) is True,
    }
    return checks[capability if capability in CAPABILITIES else kind]()


def missing(info: ClusterInfo, capabilities: Sequence[str] = (), min_version: str | None = None) -> str | None:
    """The skip reason for the first capability ``info`` lacks (``needs: exec into pods``), or None."""
    if min_version is not None and info.version < parse_version(min_version):
        return f"needs: Kubernetes >= {min_version}"
    for capability in capabilities:
        if not has(info, capability):
            if capability == "dns" and info.dns.mode != "none":
                return "needs: the cluster domain (pass --cluster-domain)"
            if capability == "csi-attach" and info.storage is not None:
                return attach_missing(info, info.storage)
            if capability == "movable-storage" and info.storage is not None:
                why = f"{info.storage.name}: volumes pinned to one node, {info.storage.pinned_because}"
                return f"needs: {describe(capability)} ({why})"
            if capability == "csi" and info.storage is not None:
                why = info.storage.csi_unknown or f"provisioner {info.storage.provisioner} is not a CSI driver"
                return f"needs: {describe(capability)} ({info.storage.name}: {why})"
            return f"needs: {describe(capability)}"
    return None


def attach_missing(info: ClusterInfo, storage: StorageInfo | None) -> str | None:
    """Why attachment promises cannot be judged on this class (its volumes never attach, or attachments are not
    visible), as a ``needs:`` skip reason; None if they can."""
    if storage is None:
        return f"needs: {describe('storage')}"
    attached, why = storage.attaches()
    if attached is False:
        return f"needs: a StorageClass whose volumes are attached to nodes: {why}"
    if attached is None:
        return f"needs: {describe('csi-attach')} ({why})"
    if not info.volume_attachments:
        return f"needs: {describe('csi-attach')} ({info.volume_attachments_why_not})"
    return None


# -- pure derivations -------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> Version:
    """``v1.37.2``, ``1.32``, ``v1.30.4-gke.100`` → (1, 37, 2) / (1, 32, 0) / (1, 30, 4)."""
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise InvalidScenario(f"expected a Kubernetes version like 1.32 or v1.37.2, got {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def node_summary(nodes: Sequence[Obj]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(schedulable, zones of schedulable, simulated, real) node names."""
    usable = [n for n in nodes if o.node_schedulable(n)]
    zones = sorted({z for n in usable if (z := o.labels(n).get(ZONE_LABEL))})
    return (
        tuple(sorted(o.name(n) for n in usable)),
        tuple(zones),
        tuple(sorted(o.name(n) for n in usable if o.node_simulated(n))),
        tuple(sorted(o.name(n) for n in usable if o.labels(n).get(NODE_KIND_LABEL) == REAL_NODE_KIND)),
    )


def server_version(kube: Kube) -> Version | None:
    """The server's version, asked once per client; None when /version cannot be read."""
    cached = getattr(kube, "_ordinal_version", False)
    if cached is not False:
        return cast(Version | None, cached)
    try:
        version: Version | None = parse_version(str(json.loads(kube.raw_get("/version")).get("gitVersion", "")))
    except (OrdinalError, ApiError, ValueError):
        version = None
    kube._ordinal_version = version  # type: ignore[attr-defined]
    return version


def pod_index_label(kube: Kube) -> bool:
    """Whether the server sets ``apps.kubernetes.io/pod-index`` (assumed yes when the version is unknown)."""
    version = server_version(kube)
    return version is None or version >= POD_INDEX_LABEL_SINCE


def allowed(kube: Kube, verb: str, resource: str, *, group: str = "", namespace: str = "") -> bool:
    """Whether this identity may ``verb`` ``resource`` (a SelfSubjectAccessReview; any user may ask)."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "group": group, "namespace": namespace}},
    }
    try:
        answer = kube.create(ACCESS_REVIEWS, review)
    except (OrdinalError, ApiError):
        return True  # cannot tell: let the call itself say (a 403 names the rule)
    return bool(o.status(answer).get("allowed"))


def pick_storage_class(classes: Sequence[Obj], wanted: str | None) -> tuple[Obj | None, str]:
    """The class under test: ``wanted`` if given (must exist), else the one marked default."""
    if wanted:
        found = next((c for c in classes if o.name(c) == wanted), None)
        if found is None:
            names = ", ".join(sorted(o.name(c) for c in classes)) or "none"
            raise InvalidScenario(f"expected StorageClass {wanted!r} (from --storage-class), found only: {names}")
        return found, ""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None, "the cluster has no default StorageClass and --storage-class was not given"
    return sorted(defaults, key=o.name)[0], ""


def is_default_class(storage_class: Obj) -> bool:
    annotations = o.meta(storage_class).get("annotations") or {}
    return any(str(annotations.get(a, "")).lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


BOOLS = ("true", "false")


def storage_info(
    storage_class: Obj,
    pvs: Sequence[Obj],
    *,
    csi_drivers: Sequence[Obj] | None = (),
    csi_nodes: Sequence[Obj] | None = (),
    unreadable: str = "",
) -> StorageInfo:
    """Classify the class: node-pinned, zone-pinned or unpinned, by what its volumes carry.

    Existing PVs of the class decide when there are any (a per-node affinity pins to a node; any
    other topology key, the zone label or a CSI driver's, to a zone); otherwise the class itself
    (``nodePinned``/``zonePinned`` parameters, a known local-disk provisioner), the topology keys
    its CSI driver reports, ``allowedTopologies``, or "cannot tell". ``csi_drivers``/``csi_nodes``
    are None when they could not be read (``unreadable`` says why).
    """
    name = o.name(storage_class)
    provisioner = str(storage_class.get("provisioner", ""))
    mode = str(storage_class.get("volumeBindingMode") or "Immediate")
    raw = storage_class.get("parameters") or {}
    params = {k.lower(): str(v).lower() for k, v in raw.items()}
    topology: str | None = None
    because = "no volume of this class to look at yet"
    mine = [pv for pv in pvs if o.spec(pv).get("storageClassName") == name]
    csi, csi_unknown = csi_info(provisioner, mine, csi_drivers, csi_nodes, unreadable)
    if mine:
        pins = [pin_of_pv(pv) for pv in mine]
        kinds = {p.kind for p in pins if p is not None}
        topology = "node" if "node" in kinds else "zone" if "zone" in kinds else "none"
        pinned = sum(1 for p in pins if p is not None)
        because = (
            f"{pinned} of {len(mine)} existing PVs carry a {topology} affinity"
            if pinned
            else f"none of {len(mine)} existing PVs carries a node affinity"
        )
    elif given := {k: v for k, v in raw.items() if k in ("nodePinned", "zonePinned") and str(v).lower() in BOOLS}:
        topology = "node" if params.get("nodepinned") == "true" else "none"
        topology = "zone" if params.get("zonepinned") == "true" else topology
        because = "parameter " + ", ".join(f"{k}={v}" for k, v in sorted(given.items()))
    elif provisioner in LOCAL_PROVISIONERS:
        topology, because = "node", f"provisioner {provisioner} makes local volumes"
    elif csi is not None and csi.nodes:
        keys = csi.topology_keys
        topology = "node" if HOSTNAME_LABEL in keys else "zone" if keys else "none"
        because = f"CSI driver {csi.driver} reports topology keys {', '.join(keys) or 'none'} (CSINode)"
    elif storage_class.get("allowedTopologies"):
        topology, because = "zone", "the class restricts volumes to allowedTopologies"
    return StorageInfo(
        name,
        provisioner,
        mode,
        is_default_class(storage_class),
        topology,
        because,
        expansion=storage_class.get("allowVolumeExpansion") is True,
        csi=csi,
        csi_unknown=csi_unknown,
    )


#: CSIDriver labels a packager may carry the driver's version in, most specific first.
VERSION_LABELS = (VERSION_LABEL, "helm.sh/chart")
_CHART_VERSION = re.compile(r"-v?(\d+\.\d+\.\d+\S*)$")


def csi_info(
    driver: str,
    pvs: Sequence[Obj],
    csi_drivers: Sequence[Obj] | None,
    csi_nodes: Sequence[Obj] | None,
    unreadable: str = "",
) -> tuple[CsiInfo | None, str]:
    """The CSI driver named ``driver`` (a class's provisioner), or None and why it cannot be told.

    A driver is CSI when it has a CSIDriver object, a CSINode lists it (its node plugin
    registered), or a PV of the class carries ``spec.csi``. When neither list could be read
    and no PV says, it cannot be told.
    """
    objects = [d for d in csi_drivers or () if o.name(d) == driver]
    nodes = sorted(
        (o.name(n), entry)
        for n in csi_nodes or ()
        for entry in o.spec(n).get("drivers") or ()
        if isinstance(entry, dict) and entry.get("name") == driver
    )
    by_pv = any((o.spec(pv).get("csi") or {}).get("driver") == driver for pv in pvs)
    evidence = [
        *(["CSIDriver object"] if objects else []),
        *([f"CSINode of {len(nodes)} node{'s' if len(nodes) != 1 else ''}"] if nodes else []),
        *(["PV spec.csi"] if by_pv else []),
    ]
    if not evidence:
        if csi_drivers is None and csi_nodes is None:
            return None, unreadable or "csidrivers and csinodes could not be read"
        return None, ""
    spec = o.spec(objects[0]) if objects else {}
    attach: bool | None = spec.get("attachRequired", True) is not False if objects else None
    if not objects and csi_drivers is not None:
        attach = True  # no CSIDriver object: the attach/detach controller attaches
    version, source = _driver_version(objects[0] if objects else None, driver)
    keys = sorted({str(k) for _, entry in nodes for k in entry.get("topologyKeys") or ()})
    info = CsiInfo(
        driver=driver,
        evidence=", ".join(evidence),
        attach_required=attach,
        pod_info_on_mount=bool(spec.get("podInfoOnMount")) if objects else None,
        fs_group_policy=str(spec.get("fsGroupPolicy") or "ReadWriteOnceWithFSType") if objects else None,
        storage_capacity=bool(spec.get("storageCapacity")) if objects else None,
        topology_keys=tuple(keys),
        nodes=tuple(dict.fromkeys(name for name, _ in nodes)),
        version=version,
        version_source=source,
        unreadable=unreadable,
    )
    return info, ""


def _driver_version(obj: Obj | None, driver: str) -> tuple[str, str]:
    """(version, where it came from), or ("", why it is unknown)."""
    labels = o.labels(obj) if obj is not None else {}
    if version := labels.get(VERSION_LABELS[0], ""):
        return version, f"CSIDriver {driver} label {VERSION_LABELS[0]}"
    if (match := _CHART_VERSION.search(labels.get(VERSION_LABELS[1], ""))) is not None:
        return match.group(1), f"CSIDriver {driver} label {VERSION_LABELS[1]} (the chart's version)"
    where = "has no CSIDriver object to read" if obj is None else f"CSIDriver {driver} carries no version label"
    return "", f"unknown: GetPluginInfo is not reachable from the API and {where} ({', '.join(VERSION_LABELS)})"


def max_unavailable_kept(dry_run_result: Obj) -> bool:
    """A disabled ``MaxUnavailableStatefulSet`` gate drops the field on write (catalog §1)."""
    rolling = (o.spec(dry_run_result).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return rolling.get("maxUnavailable") is not None


def parse_dns_mode(text: str) -> tuple[DnsMode, str]:
    """``auto`` / ``port-forward`` / ``exec`` / ``direct:<ip>:<port>`` → (mode, server)."""
    value = text.strip()
    if value in ("auto", "port-forward", "exec"):
        return value, ""  # type: ignore[return-value]
    if value.startswith("direct:"):
        server = value[len("direct:") :]
        dnsquery.parse_server(server)
        return "direct", server
    raise InvalidScenario(f"expected auto, direct:<ip>:<port>, port-forward or exec; got {text!r}")


# -- discovery --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probes:
    """The probes that create objects, handed in so unit tests (and the local cluster) can skip them."""

    #: Run a server-side dry-run create of ``manifest``; return what the server would store.
    dry_run: Callable[[Obj], Obj]
    #: Exec ``true`` in a tiny pod; return "" if it worked, else why not (see :func:`exec_probe`).
    exec_probe: Callable[[], str]


def discover(
    kube: Kube,
    target: Target,
    *,
    probes: Probes,
    storage_class: str | None,
    dns: DnsAccess,
) -> ClusterInfo:
    """Read the cluster once and decide every capability; probing failures become "no", never a crash."""
    version_text = json.loads(kube.raw_get("/version")).get("gitVersion", "v0.0.0")
    nodes, _ = kube.list(NODES)
    usable, zones, simulated, real = node_summary(nodes)
    classes, _ = kube.list(STORAGE_CLASSES)
    chosen, storage_missing = pick_storage_class(classes, storage_class)
    storage = None
    if chosen is not None:
        try:
            pvs, _ = kube.list(PVS)
        except ApiError:  # PVs are cluster-scoped; a tenant may not read them
            pvs = []
        drivers, csi_nodes, unreadable = read_csi(kube)
        storage = storage_info(chosen, pvs, csi_drivers=drivers, csi_nodes=csi_nodes, unreadable=unreadable)
    gates: dict[str, bool | None] = {}
    try:
        manifest = statefulset_manifest("ordinal-gate-probe", "", replicas=0, max_unavailable=2, claim_template=None)
        gates["MaxUnavailableStatefulSet"] = max_unavailable_kept(probes.dry_run(manifest))
    except (OrdinalError, ApiError):
        gates["MaxUnavailableStatefulSet"] = None
    if real:
        exec_pods, exec_why, selector = True, "", {NODE_KIND_LABEL: REAL_NODE_KIND}
    elif simulated and set(simulated) == set(usable):
        exec_pods, exec_why, selector = False, "only simulated nodes: containers do not run", {}
    else:
        exec_why = probes.exec_probe()
        exec_pods, selector = not exec_why, {}
    simulated_set = set(simulated)
    labelled = all(o.labels(n).get(NODE_KIND_LABEL) == SIMULATED_NODE_KIND for n in nodes if o.name(n) in simulated_set)
    idle = {NODE_KIND_LABEL: SIMULATED_NODE_KIND} if real and simulated and labelled else {}
    node_changes = allowed(kube, "patch", "nodes")
    attachments, attachments_why = attachments_visible(kube)
    return ClusterInfo(
        target=f"{target.source}: {target.kubeconfig or 'in-cluster'}"
        + (f" (context {target.context})" if target.context else ""),
        local=target.local,
        version=parse_version(version_text),
        git_version=version_text,
        gates=gates,
        schedulable_nodes=usable,
        zones=zones,
        simulated_nodes=simulated,
        storage=storage,
        storage_missing=storage_missing,
        exec_pods=exec_pods,
        exec_why_not=exec_why,
        exec_node_selector=selector,
        idle_node_selector=idle,
        dns=dns,
        node_changes=node_changes,
        volume_attachments=attachments,
        volume_attachments_why_not=attachments_why,
    )


STORAGE_API = "/apis/storage.k8s.io/v1"


def attachments_visible(kube: Kube) -> tuple[bool, str]:
    """Whether the API serves VolumeAttachments and this identity may list and watch them; else why not."""
    try:
        served = json.loads(kube.raw_get(STORAGE_API)).get("resources") or []
    except (OrdinalError, ApiError, ValueError) as err:
        return False, f"the API does not serve {STORAGE_API}: {str(err).splitlines()[0]}"
    if not any(isinstance(r, dict) and r.get("name") == "volumeattachments" for r in served):
        return False, f"the API serves no volumeattachments in {STORAGE_API}"
    refused = [v for v in ("list", "watch") if not allowed(kube, v, "volumeattachments", group="storage.k8s.io")]
    if refused:
        return False, f"the identity may not {'/'.join(refused)} volumeattachments (see ordinal rbac)"
    return True, ""


def read_csi(kube: Kube) -> tuple[list[Obj] | None, list[Obj] | None, str]:
    """CSIDriver and CSINode objects (None for a list the identity may not read) and what could not be read."""
    found: list[list[Obj] | None] = []
    refused: list[str] = []
    for res in (CSI_DRIVERS, CSI_NODES):
        try:
            found.append(kube.list(res)[0])
        except (OrdinalError, ApiError) as err:
            found.append(None)
            refused.append(f"{res.plural}: {str(err).splitlines()[0]}")
    return found[0], found[1], "; ".join(refused)


def dry_run_in(kube: Kube, namespace: str) -> Callable[[Obj], Obj]:
    """A dry-run create of a StatefulSet manifest in ``namespace`` (nothing is stored)."""

    def run(manifest: Obj) -> Obj:
        manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
        return kube.create(STATEFULSETS, manifest, namespace, dry_run=True)

    return run


PROBE_POD = "ordinal-probe"
#: Kept for callers that name the pod DNS is asked from by exec.
EXEC_PROBE_POD = PROBE_POD


def probe_pod_manifest(
    namespace: str,
    image: str,
    labels: Mapping[str, str],
    *,
    run_as_user: int | None = DEFAULT_UID,
    node_selector: Mapping[str, str] | None = None,
) -> Obj:
    """The session's probe pod: prints its resolv.conf (the cluster domain, readable as its log even where
    exec is forbidden), then idles for the whole session so DNS can be asked from inside it.

    It meets Pod Security "restricted", as every pod ordinal creates does, and goes away at once
    when deleted.
    """
    pod_security, container_security = restricted_security(run_as_user)
    spec: Obj = {
        "terminationGracePeriodSeconds": 1,
        "restartPolicy": "Never",
        "securityContext": pod_security,
        "containers": [
            {
                "name": "probe",
                "image": image,
                "command": ["/bin/sh", "-c", "cat /etc/resolv.conf; trap 'exit 0' TERM; while true; do sleep 1; done"],
                "securityContext": container_security,
            }
        ],
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": PROBE_POD, "namespace": namespace, "labels": dict(labels)},
        "spec": spec,
    }


def start_probe_pod(kube: Kube, manifest: Obj, *, timeout: float) -> str:
    """Create the probe pod (unless it exists) and wait until it runs; its name. Raises OrdinalError if it cannot."""
    namespace, name = o.namespace(manifest), o.name(manifest)
    if kube.get_or_none(PODS, name, namespace) is None:
        kube.create(PODS, manifest, namespace)

    def running(items: list[Obj]) -> Verdict[None]:
        phase = o.status(items[0]).get("phase") if items else None
        failed = f"the probe pod ended {phase}" if phase in ("Failed", "Succeeded") else None
        return Verdict(phase == "Running", f"phase {phase}", failed=failed)

    wait_for(
        kube,
        Query(PODS, namespace, field_selector=f"metadata.name={name}"),
        running,
        expect=f"probe pod {namespace}/{name} Running",
        timeout=timeout,
    )
    return name


def exec_probe(kube: Kube, namespace: str, pod: str, *, timeout: float) -> str:
    """Exec ``true`` in the probe pod; "" if that worked, else one line saying why not."""
    try:
        result = exec_in_pod(kube, namespace, pod, ["true"], timeout=timeout)
    except (OrdinalError, ApiError) as err:
        return str(err).splitlines()[0]
    if result.ok:
        return ""
    return f"`true` in pod {namespace}/{pod} exited {result.code}: {result.stderr.strip()[:80]}"


def admission_refusal(kube: Kube, pod: Obj) -> str | None:
    """Why the cluster's admission (Pod Security, a policy engine) would refuse ``pod``, or None.

    A server-side dry run of exactly the pod: it goes through admission and validation, and
    nothing is stored.
    """
    try:
        kube.create(PODS, pod, o.namespace(pod), dry_run=True)
    except ApiError as err:
        if err.status in (400, 403, 422):
            return " ".join(err.message.split())
        raise
    return None


def pod_of_template(sts: Obj, name: str) -> Obj:
    """The pod a StatefulSet's template makes (for a dry run before any set exists)."""
    template = o.spec(sts).get("template") or {}
    metadata = {**(template.get("metadata") or {}), "name": name, "namespace": o.namespace(sts)}
    spec = dict(template.get("spec") or {})
    spec.pop("volumes", None)
    containers = [{k: v for k, v in c.items() if k != "volumeMounts"} for c in spec.get("containers") or ()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {**spec, "containers": containers}}


# -- the cluster domain: discovered, never assumed ---------------------------------------------------


def domain_of_search_path(resolv_conf: str) -> str | None:
    """``search ns.svc.example.org svc.example.org example.org`` → ``example.org`` (the kubelet's clusterDomain)."""
    for line in resolv_conf.splitlines():
        words = line.split()
        if words[:1] == ["search"]:
            for entry in words[1:]:
                if entry.startswith("svc."):
                    return entry.removeprefix("svc.").rstrip(".")
    return None


def domain_of_ptr(records: Sequence[str] | None) -> str | None:
    """The PTR of the ``kubernetes`` Service IP, ``kubernetes.default.svc.example.org.`` → ``example.org``."""
    for record in records or ():
        name = record.rstrip(".")
        if name.startswith("kubernetes.default.svc."):
            return name.removeprefix("kubernetes.default.svc.")
    return None


def discover_cluster_domain(
    kube: Kube,
    *,
    resolver: Resolver | None,
    resolv_conf: Callable[[], str] | None = None,
) -> tuple[str, str]:
    """(domain, how it was found), or ("", why not).

    First the cluster DNS itself: the reverse record of the ``kubernetes`` Service's IP names the
    domain (any access mode: direct, port-forward, exec). Else the search path of a pod the
    cluster ran (``resolv_conf``: read from the probe pod's log, which needs no exec).
    """
    tried: list[str] = []
    if resolver is not None:
        try:
            service = kube.get(SERVICES, "kubernetes", "default")
            ip = str(o.spec(service).get("clusterIP") or "")
            if ip:
                domain = domain_of_ptr(resolver.query(reverse_name(ip), "PTR"))
                if domain:
                    return domain, f"PTR of the kubernetes Service {ip}"
                tried.append(f"no kubernetes.default.svc.<domain> PTR for {ip}")
        except (OrdinalError, ApiError) as err:
            tried.append(f"PTR of the kubernetes Service: {str(err).splitlines()[0]}")
    else:
        tried.append("cluster DNS not reachable")
    if resolv_conf is not None:
        try:
            domain = domain_of_search_path(resolv_conf())
            if domain:
                return domain, "search path in the probe pod's resolv.conf"
            tried.append("no svc.<domain> in the probe pod's resolv.conf search path")
        except (OrdinalError, ApiError) as err:
            tried.append(f"probe pod's resolv.conf: {str(err).splitlines()[0]}")
    return "", "; ".join(tried) + " (pass --cluster-domain)"


# -- how to reach the cluster DNS (one choice for the plugin and the experiments) -----------------

#: A question every cluster DNS answers somehow (NXDOMAIN or a refusal also proves it is reachable).
DNS_PROBE_NAME = "kubernetes.default.svc.cluster.local"


def dns_access(
    kube: Kube,
    mode: DnsMode,
    server: str = "",
    *,
    local: bool,
    exec_pod: Callable[[], tuple[str, str]] | None = None,
    exec_why_not: str = "no pod to ask from",
) -> tuple[DnsAccess, Resolver | None]:
    """Pick a resolver for the cluster DNS: direct, port-forward to the DNS pod, or exec in a pod.

    ``auto`` asks the local cluster's CoreDNS directly when the target is the local cluster,
    else tries a port-forward, else exec (``exec_pod`` returns the namespace and pod to ask
    from; None when there is none). A mode asked for explicitly is never swapped silently:
    when it does not work the answer is "none" with the reason.
    """
    tried: list[str] = []
    if mode == "auto" and local and local_dns_server():
        mode, server = "direct", local_dns_server()
    if mode == "direct":
        host, port = dnsquery.parse_server(server)
        return _checked(kube, dnsquery.DirectResolver(host, port), "direct", tried)
    if mode in ("auto", "port-forward"):
        try:
            ns, pod, port = dnsquery.find_dns_pod(kube)
            access, resolver = _checked(kube, dnsquery.PortForwardResolver(kube, ns, pod, port), "port-forward", tried)
            if resolver is not None or mode == "port-forward":
                return access, resolver
        except (OrdinalError, ApiError) as err:
            tried.append(f"port-forward: {str(err).splitlines()[0]}")
            if mode == "port-forward":
                return DnsAccess("none", why_not="; ".join(tried)), None
    if exec_pod is None:
        tried.append(f"exec: {exec_why_not}")
        return DnsAccess("none", why_not="; ".join(tried)), None
    try:
        namespace, pod = exec_pod()
    except (OrdinalError, ApiError) as err:
        tried.append(f"exec: {str(err).splitlines()[0]}")
        return DnsAccess("none", why_not="; ".join(tried)), None
    return _checked(kube, dnsquery.ExecResolver(kube, namespace, pod), "exec", tried)


def _checked(kube: Kube, resolver: Resolver, mode: str, tried: list[str]) -> tuple[DnsAccess, Resolver | None]:
    """Ask something every cluster DNS answers: any answer (even NXDOMAIN) proves it is reachable.

    The reverse record of the ``kubernetes`` Service IP needs no knowledge of the cluster domain
    (which is what it tells); without that IP, the apiserver's name under ``cluster.local``.
    """
    try:
        service = kube.get_or_none(SERVICES, "kubernetes", "default")
        ip = str(o.spec(service).get("clusterIP") or "") if service else ""
    except (OrdinalError, ApiError):
        ip = ""
    try:
        if ip:
            resolver.query(reverse_name(ip), "PTR")
        else:
            resolver.query(DNS_PROBE_NAME, "A")
    except (OrdinalError, ApiError) as err:
        tried.append(f"{mode}: {str(err).splitlines()[0]}")
        close = getattr(resolver, "close", None)
        if callable(close):
            close()
        return DnsAccess("none", why_not="; ".join(tried)), None
    return DnsAccess(mode, where=repr(resolver)), resolver
