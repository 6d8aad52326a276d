"""Capability discovery: pure derivations over API objects, and discover() against a fake API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import CSI_DRIVER, CSI_ZONE_KEY, csi_driver, csi_node, csi_pv, pvc
from fakes import FakeKube

from ordinal import capabilities as caps
from ordinal.capabilities import ClusterInfo, DnsAccess, Probes, StorageInfo
from ordinal.errors import InvalidScenario
from ordinal.labels import HOSTNAME_LABEL, NODE_KIND_LABEL, ZONE_LABEL
from ordinal.target import Target
from ordinal.types import Obj


def node(name: str, *, zone: str = "a", kind: str | None = None, ready: str = "True", **spec: Any) -> Obj:
    labels = {ZONE_LABEL: zone, HOSTNAME_LABEL: name}
    if kind:
        labels[NODE_KIND_LABEL] = kind
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def storage_class(name: str, *, default: bool = False, mode: str = "WaitForFirstConsumer", **extra: Any) -> Obj:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": extra.pop("provisioner", "csi.example.com"),
        "volumeBindingMode": mode,
        **extra,
    }


def pv(name: str, storage: str, node_name: str | None = None) -> Obj:
    spec: Obj = {"storageClassName": storage}
    if node_name:
        expr = {"key": HOSTNAME_LABEL, "operator": "In", "values": [node_name]}
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}}
    return {"kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def info(**overrides: Any) -> ClusterInfo:
    base: dict[str, Any] = {
        "target": "fake",
        "local": False,
        "version": (1, 32, 1),
        "git_version": "v1.32.1",
        "gates": {"MaxUnavailableStatefulSet": True},
        "schedulable_nodes": ("n1", "n2"),
        "zones": ("a", "b"),
        "simulated_nodes": (),
        "storage": StorageInfo("std", "csi", "Immediate", True, "node", "fake"),
        "storage_missing": "",
        "exec_pods": True,
        "exec_why_not": "",
        "dns": DnsAccess("port-forward", "kube-system/coredns-0:53"),
    }
    return ClusterInfo(**{**base, **overrides})


@pytest.mark.parametrize(
    ("text", "want"),
    [("v1.37.2", (1, 37, 2)), ("1.32", (1, 32, 0)), ("v1.30.4-gke.1003000", (1, 30, 4)), (" 1.28.0+k3s1", (1, 28, 0))],
)
def test_versions_parse_with_vendor_suffixes(text: str, want: tuple[int, int, int]) -> None:
    assert caps.parse_version(text) == want


def test_garbage_version_is_refused() -> None:
    with pytest.raises(InvalidScenario, match="expected a Kubernetes version"):
        caps.parse_version("latest")


@pytest.mark.parametrize(
    ("needs", "min_version", "reason"),
    [
        (["exec"], None, None),
        (["nodes:2", "zones:2"], "1.32", None),
        (["nodes:3"], None, "needs: 3 schedulable nodes"),
        (["zones:3"], None, "needs: 3 zones"),
        ([], "1.33", "needs: Kubernetes >= 1.33"),
        (["node-loss"], None, "needs: a node the suite can silence (simulated nodes)"),
        (["node-stop"], None, "needs: a command that stops and starts a real node (--node-stop-command)"),
        (
            ["movable-storage"],
            None,
            "needs: a StorageClass whose volumes can move between nodes (std: volumes pinned to one node, fake)",
        ),
    ],
)
def test_missing_names_the_first_capability_lacking(needs: list[str], min_version: str | None, reason: str) -> None:
    assert caps.missing(info(), needs, min_version) == reason


def test_exec_dns_storage_and_gate_are_each_reported() -> None:
    lacking = info(
        exec_pods=False,
        dns=DnsAccess("none", why_not="x"),
        storage=None,
        gates={"MaxUnavailableStatefulSet": None},
    )
    assert [caps.missing(lacking, [c]) for c in ("exec", "dns", "storage", "gate:MaxUnavailableStatefulSet")] == [
        "needs: exec into pods",
        "needs: DNS reachable from the test runner",
        "needs: a StorageClass (cluster default or --storage-class)",
        "needs: feature gate MaxUnavailableStatefulSet",
    ]


def test_a_real_node_can_be_lost_where_stop_commands_were_given_and_volumes_move() -> None:
    """node-stop follows the given commands; movable-storage any class not pinned to one node (unknown: try)."""
    zonal = StorageInfo("z", "csi", "WaitForFirstConsumer", False, "zone", "CSINode topology keys")
    ready = info(node_stop=True, node_stop_why_not="", storage=zonal)
    assert caps.missing(ready, ["node-stop", "movable-storage", "exec"]) is None
    unknown = StorageInfo("u", "x", "WaitForFirstConsumer", False, None, "no volume of this class to look at yet")
    assert caps.has(info(storage=unknown), "movable-storage")
    assert "node stop: no (not discovered)" in info().summary()
    assert "node stop: yes" in ready.summary()


def test_unknown_capabilities_are_refused() -> None:
    for bad in ("gpu", "nodes:many", "nodes:0", "gate:Unprobed"):
        with pytest.raises(InvalidScenario, match="expected a capability"):
            caps.describe(bad)


def test_readiness_control_needs_simulated_nodes_or_exec() -> None:
    assert info(exec_pods=False, simulated_nodes=("n1",)).readiness_control
    assert not info(exec_pods=False).readiness_control


def test_pod_index_label_follows_the_server_version() -> None:
    assert info(version=(1, 28, 0)).pod_index_label and not info(version=(1, 27, 9)).pod_index_label


def test_node_summary_counts_only_schedulable_nodes() -> None:
    nodes = [
        node("n1", zone="a", kind="kwok"),
        node("n2", zone="b", kind="real"),
        node("n3", zone="c", unschedulable=True),
        node("n4", zone="d", ready="Unknown"),
        node("n5", zone="e", taints=[{"key": "dedicated", "effect": "NoSchedule"}]),
        node("n6", zone="a", taints=[{"key": "soft", "effect": "PreferNoSchedule"}]),
        node("n7", zone="f", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
        node("n8", zone="g", ready="False", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
    ]
    # n7 reports Ready and only waits for the lifecycle controller to lift not-ready: it counts.
    assert caps.node_summary(nodes) == (("n1", "n2", "n6", "n7"), ("a", "b", "f"), ("n1",), ("n2",))


def test_storage_class_is_the_named_one_or_the_default() -> None:
    classes = [storage_class("fast"), storage_class("std", default=True)]
    assert caps.pick_storage_class(classes, None)[0] == classes[1]
    assert caps.pick_storage_class(classes, "fast")[0] == classes[0]
    assert caps.pick_storage_class([storage_class("fast")], None) == (
        None,
        "the cluster has no default StorageClass and --storage-class was not given",
    )
    with pytest.raises(InvalidScenario, match=r"expected StorageClass 'slow'.*found only: fast, std"):
        caps.pick_storage_class(classes, "slow")


@pytest.mark.parametrize(
    ("sc", "pvs", "pinned"),
    [
        pytest.param(storage_class("local"), [pv("pv1", "local", "n1")], True, id="existing-pv-pinned"),
        pytest.param(storage_class("net"), [pv("pv1", "net")], False, id="existing-pv-free"),
        pytest.param(storage_class("o", parameters={"nodePinned": "true"}), [], True, id="parameter"),
        pytest.param(storage_class("lp", provisioner="rancher.io/local-path"), [], True, id="local-provisioner"),
        pytest.param(storage_class("csi"), [pv("pv1", "other", "n1")], None, id="unknown"),
    ],
)
def test_node_pinned_classification(sc: Obj, pvs: list[Obj], pinned: bool | None) -> None:
    assert caps.storage_info(sc, pvs).node_pinned is pinned


def test_max_unavailable_gate_is_read_from_the_dry_run_answer() -> None:
    kept = {"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}}}}
    dropped = {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    assert caps.max_unavailable_kept(kept) and not caps.max_unavailable_kept(dropped)


@pytest.mark.parametrize(
    ("text", "want"),
    [("auto", ("auto", "")), ("exec", ("exec", "")), ("direct:10.0.0.10:53", ("direct", "10.0.0.10:53"))],
)
def test_dns_modes(text: str, want: tuple[str, str]) -> None:
    assert caps.parse_dns_mode(text) == want


@pytest.mark.parametrize("text", ["udp", "direct:10.0.0.10", "direct:"])
def test_bad_dns_modes(text: str) -> None:
    with pytest.raises(InvalidScenario):
        caps.parse_dns_mode(text)


def cluster(nodes: list[Obj], classes: list[Obj], pvs: list[Obj], version: str = "v1.37.2") -> FakeKube:
    """The few objects discovery reads, and the server version it asks for."""
    return FakeKube(*nodes, *classes, *pvs, git_version=version)


def _probes(exec_result: str = "", kept: bool = True) -> tuple[Probes, list[str]]:
    calls: list[str] = []

    def dry_run(manifest: Obj) -> Obj:
        calls.append("dry-run")
        strategy = manifest["spec"]["updateStrategy"]
        if not kept:
            strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        return {**manifest, "spec": {**manifest["spec"], "updateStrategy": strategy}}

    def exec_probe() -> str:
        calls.append("exec")
        return exec_result

    return Probes(dry_run, exec_probe), calls


def test_discover_on_the_local_cluster_does_not_probe_exec() -> None:
    kube = cluster(
        [node("n1", kind="kwok"), node("n2", zone="b", kind="kwok")],
        [storage_class("ordinal-local", default=True, parameters={"nodePinned": "true"})],
        [],
    )
    probes, calls = _probes()
    found = caps.discover(
        kube,  # type: ignore[arg-type]
        Target("/k", "ordinal-local", "local cluster", local=True),
        probes=probes,
        storage_class=None,
        dns=DnsAccess("direct", "127.0.0.1:1053"),
    )
    assert calls == ["dry-run"]
    assert (found.version, found.exec_pods, found.exec_why_not) == (
        (1, 37, 2),
        False,
        "only simulated nodes: containers do not run",
    )
    assert found.storage is not None and found.storage.node_pinned is True
    assert found.gates == {"MaxUnavailableStatefulSet": True}
    assert caps.missing(found, ["exec"]) == "needs: exec into pods"


def test_discover_treats_real_nodes_as_exec_capable_with_a_selector() -> None:
    kube = cluster([node("n1", kind="kwok"), node("n2", kind="real")], [], [])
    probes, calls = _probes()
    found = caps.discover(
        kube,  # type: ignore[arg-type]
        Target("/k", None, "local cluster", local=True),
        probes=probes,
        storage_class=None,
        dns=DnsAccess("none"),
    )
    assert found.exec_pods and dict(found.exec_node_selector) == {NODE_KIND_LABEL: "real"}
    assert dict(found.idle_node_selector) == {NODE_KIND_LABEL: "kwok"}, "pods needing no exec prefer simulated nodes"
    assert any(line.endswith("prefer nodes ordinal.dev/node-kind=kwok") for line in found.summary())
    assert "exec" not in calls
    assert caps.missing(found, ["storage"]) == "needs: a StorageClass (cluster default or --storage-class)"


def test_discover_probes_exec_on_other_clusters_and_reports_why_not() -> None:
    kube = cluster([node("n1"), node("n2")], [storage_class("std", default=True)], [], version="v1.31.3")
    probes, calls = _probes(exec_result="pods/exec forbidden", kept=False)
    found = caps.discover(
        kube,  # type: ignore[arg-type]
        Target("/k", None, "env KUBECONFIG"),
        probes=probes,
        storage_class=None,
        dns=DnsAccess("none"),
    )
    assert calls == ["dry-run", "exec"]
    assert (found.exec_pods, found.exec_why_not) == (False, "pods/exec forbidden")
    assert found.idle_node_selector == {}, "no simulated nodes: no preference"
    assert found.gates == {"MaxUnavailableStatefulSet": False}
    assert found.to_json()["version"] == "1.31.3"
    assert any(line.startswith("exec into pods: no (pods/exec forbidden)") for line in found.summary())


def test_the_cluster_domain_is_read_from_a_pods_search_path() -> None:
    text = "search ord-1.svc.corp.example svc.corp.example corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"
    assert caps.domain_of_search_path(text) == "corp.example"
    assert caps.domain_of_search_path("nameserver 10.0.0.1\n") is None


def test_the_cluster_domain_is_read_from_the_api_servers_reverse_record() -> None:
    assert caps.domain_of_ptr(["kubernetes.default.svc.corp.example."]) == "corp.example"
    assert caps.domain_of_ptr(None) is None and caps.domain_of_ptr(["10-96-0-1.other."]) is None


class _PtrResolver:
    def __init__(self, answer: list[str] | None) -> None:
        self.answer, self.asked = answer, []  # type: ignore[var-annotated]

    def query(self, name: str, rdtype: str) -> list[str] | None:
        self.asked.append((name, rdtype))
        return self.answer


def test_discovery_asks_the_dns_for_the_kubernetes_service_and_says_how() -> None:
    """The domain MUST come from the cluster (never assumed), and the report MUST say how it was found."""
    kube = FakeKube(
        {
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1"},
        }
    )
    resolver = _PtrResolver(["kubernetes.default.svc.corp.example."])
    assert caps.discover_cluster_domain(kube, resolver=resolver) == (
        "corp.example",
        "PTR of the kubernetes Service 10.96.0.1",
    )  # type: ignore[arg-type]
    assert resolver.asked == [("1.0.96.10.in-addr.arpa", "PTR")]
    domain, why = caps.discover_cluster_domain(kube, resolver=_PtrResolver(None), resolv_conf=lambda: "nameserver x\n")  # type: ignore[arg-type]
    assert domain == "" and why.endswith("(pass --cluster-domain)")
    assert (
        caps.discover_cluster_domain(kube, resolver=None, resolv_conf=lambda: "search a.svc.b.c svc.b.c b.c\n")[0]
        == "b.c"
    )


class _Refusing(FakeKube):
    """Admission that refuses every pod, as Pod Security "restricted" refuses a root pod."""

    def create(self, res: Any, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        from ordinal.kube.rest import ApiError

        raise ApiError(
            "POST",
            "/api/v1/namespaces/ns/pods",
            403,
            "Forbidden",
            'pods "web-0" is forbidden: violates PodSecurity "restricted:latest":\n  runAsNonRoot != true',
        )


def test_an_admission_refusal_is_one_line_naming_the_policy_and_fields() -> None:
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "main"}]}}},
    }
    pod = caps.pod_of_template(sts, "web-0")
    assert pod["metadata"] == {"labels": {"a": "b"}, "name": "web-0", "namespace": "ns"}
    refusal = caps.admission_refusal(_Refusing(), pod)
    assert refusal == 'pods "web-0" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true'
    assert caps.admission_refusal(FakeKube(), pod) is None


def _zonal_pv(name: str, cls: str, key: str, zone: str) -> Obj:
    term = {"matchExpressions": [{"key": key, "operator": "In", "values": [zone]}]}
    return {
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {"storageClassName": cls, "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}}},
    }


@pytest.mark.parametrize(
    ("sc", "pvs", "topology"),
    [
        pytest.param(
            storage_class("z"), [_zonal_pv("pv1", "z", "topology.kubernetes.io/zone", "a")], "zone", id="zone-label"
        ),
        pytest.param(
            storage_class("d"), [_zonal_pv("pv1", "d", "topology.ebs.csi.aws.com/zone", "a")], "zone", id="driver-key"
        ),
        pytest.param(storage_class("l"), [pv("pv1", "l", "n1")], "node", id="hostname"),
        pytest.param(storage_class("p", parameters={"zonePinned": "true"}), [], "zone", id="zone-parameter"),
        pytest.param(
            storage_class("t", allowedTopologies=[{"matchLabelExpressions": []}]), [], "zone", id="allowed-topologies"
        ),
        pytest.param(storage_class("n"), [pv("pv1", "n")], "none", id="unpinned"),
    ],
)
def test_volume_topology_is_classified_node_zone_or_none(sc: Obj, pvs: list[Obj], topology: str) -> None:
    """Zone-pinned storage (the zone label or a CSI driver's key) MUST NOT pass for node-pinned or unpinned."""
    info = caps.storage_info(sc, pvs)
    assert info.topology == topology and info.node_pinned is (topology == "node")


def test_an_identity_that_may_not_patch_nodes_skips_the_disruptive_tests_naming_the_permission() -> None:
    """Without ``patch nodes`` drains cannot run: the skip MUST name the permission, not fail on a 403."""
    kube = cluster([node("n1"), node("n2")], [storage_class("std", default=True)], [])
    kube.reviews["SelfSubjectAccessReview"] = {"allowed": False}
    probes, _ = _probes()
    found = caps.discover(kube, Target("/k", None, "flag"), probes=probes, storage_class=None, dns=DnsAccess("none"))  # type: ignore[arg-type]
    assert found.node_changes is False
    assert (
        caps.missing(found, ["node-changes"])
        == "needs: permission patch nodes (cordon, taint; see ordinal rbac --disruptive)"
    )


# -- CSI: which driver, does it attach, are attachments visible --------------------------------

STORAGE_V1 = json.dumps({"kind": "APIResourceList", "resources": [{"name": "volumeattachments"}, {"name": "csinodes"}]})


def _csi_cluster(*objects: Obj, pvs: list[Obj] | None = None) -> FakeKube:
    kube = cluster([node("n1"), node("n2")], [storage_class("csi", default=True, provisioner=CSI_DRIVER)], pvs or [])
    kube.put(*objects)
    kube.paths[caps.STORAGE_API] = STORAGE_V1
    return kube


def _discover(kube: FakeKube, storage_class: str | None = None) -> ClusterInfo:
    probes, _ = _probes()
    return caps.discover(
        kube, Target("/k", None, "flag"), probes=probes, storage_class=storage_class, dns=DnsAccess("none")
    )  # type: ignore[arg-type]


def test_a_csi_class_that_attaches_has_visible_attachments() -> None:
    """A class whose CSIDriver says attachRequired, with VolumeAttachments listable, MUST have the capability."""
    found = _discover(
        _csi_cluster(
            csi_driver(labels={"app.kubernetes.io/version": "v1.4.0"}, storageCapacity=True),
            csi_node("n1", {CSI_DRIVER: [CSI_ZONE_KEY]}),
            csi_node("n2", {CSI_DRIVER: [CSI_ZONE_KEY], "other.csi": []}),
        )
    )
    assert found.volume_attachments and caps.has(found, "csi-attach") and caps.missing(found, ["csi-attach"]) is None
    csi = found.storage.csi if found.storage else None
    assert csi is not None and csi.attach_required is True and csi.storage_capacity is True
    assert (csi.version, csi.version_source) == ("v1.4.0", f"CSIDriver {CSI_DRIVER} label app.kubernetes.io/version")
    assert csi.topology_keys == (CSI_ZONE_KEY,) and csi.nodes == ("n1", "n2") and csi.fs_group_policy == "File"
    assert found.storage is not None and found.storage.topology == "zone"  # no PV yet: the driver's keys say
    assert found.to_json()["storage"]["csi"]["driver"] == CSI_DRIVER


def test_hostpath_and_local_classes_are_not_applicable_never_failed_or_passed() -> None:
    """A provisioner that is no CSI driver MUST skip the attachment promises naming the class and why."""
    kube = cluster([node("n1")], [storage_class("ordinal-local", default=True, provisioner="ordinal.dev/hostpath")], [])
    kube.paths[caps.STORAGE_API] = STORAGE_V1
    found = _discover(kube)
    assert found.volume_attachments and found.storage is not None and found.storage.csi is None
    assert caps.missing(found, ["csi-attach"]) == (
        "needs: a StorageClass whose volumes are attached to nodes: "
        "ordinal-local volumes are not attached (provisioner ordinal.dev/hostpath is not a CSI driver)"
    )
    assert caps.missing(found, ["csi"]) == (
        "needs: a CSI StorageClass (ordinal-local: provisioner ordinal.dev/hostpath is not a CSI driver)"
    )


def test_a_csi_driver_without_attach_is_not_applicable_either() -> None:
    found = _discover(_csi_cluster(csi_driver(attachRequired=False)))
    assert caps.has(found, "csi")
    assert caps.missing(found, ["csi-attach"]) == (
        "needs: a StorageClass whose volumes are attached to nodes: "
        f"csi volumes are not attached (CSIDriver {CSI_DRIVER} has attachRequired: false)"
    )


def test_attachments_the_identity_may_not_watch_skip_naming_the_permission() -> None:
    kube = _csi_cluster(csi_driver())
    kube.denied.add(("watch", "volumeattachments"))
    found = _discover(kube)
    assert caps.missing(found, ["csi-attach"]) == (
        "needs: VolumeAttachments (CSI attach) (the identity may not watch volumeattachments (see ordinal rbac))"
    )


def test_an_api_without_volume_attachments_skips_naming_them() -> None:
    kube = _csi_cluster(csi_driver())
    kube.paths.pop(caps.STORAGE_API)
    found = _discover(kube)
    assert (
        not found.volume_attachments
        and "the API does not serve /apis/storage.k8s.io/v1" in found.volume_attachments_why_not
    )
    assert str(caps.missing(found, ["csi-attach"])).startswith("needs: VolumeAttachments (CSI attach) (the API")


def test_csi_objects_that_cannot_be_read_leave_attachment_unknown_not_passed() -> None:
    """Without csidrivers/csinodes and no PV to tell, whether the class attaches MUST be 'cannot tell'."""
    info, why = caps.csi_info(CSI_DRIVER, [], None, None, "csidrivers: forbidden; csinodes: forbidden")
    assert info is None and why == "csidrivers: forbidden; csinodes: forbidden"
    sc = storage_class("csi", provisioner=CSI_DRIVER)
    storage = caps.storage_info(sc, [], csi_drivers=None, csi_nodes=None, unreadable=why)
    assert storage.attaches() == (None, f"cannot tell whether csi volumes are attached ({why})")
    found = info_with(storage)
    assert (
        caps.missing(found, ["csi-attach"])
        == f"needs: VolumeAttachments (CSI attach) (cannot tell whether csi volumes are attached ({why}))"
    )


def test_a_pv_of_the_class_shows_a_driver_is_csi_and_attaches_by_default() -> None:
    """No CSIDriver object but a CSI PV: CSI, and attached (the attach/detach controller's default)."""
    claim = pvc(0)
    volume = csi_pv(claim)
    info, _ = caps.csi_info(CSI_DRIVER, [volume], [], [])
    assert info is not None and info.evidence == "PV spec.csi" and info.attach_required is True
    assert info.version == "" and info.version_source.startswith("unknown: GetPluginInfo is not reachable")


def test_a_chart_label_gives_the_version_and_says_so() -> None:
    info, _ = caps.csi_info(CSI_DRIVER, [], [csi_driver(labels={"helm.sh/chart": "example-csi-2.31.0"})], [])
    assert info is not None and info.version == "2.31.0" and "helm.sh/chart" in info.version_source


def test_expansion_is_a_named_capability() -> None:
    storage = caps.storage_info(storage_class("x", allowVolumeExpansion=True), [])
    assert storage.expansion and caps.has(info_with(storage), "volume-expansion")
    plain = info_with(caps.storage_info(storage_class("y"), []))
    assert caps.missing(plain, ["volume-expansion"]) == "needs: a StorageClass that allows volume expansion"


def info_with(storage: StorageInfo) -> ClusterInfo:
    return info(storage=storage, volume_attachments=True, volume_attachments_why_not="")
