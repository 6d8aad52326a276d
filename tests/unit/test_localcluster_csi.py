"""The launcher's CSI pieces: objects it bootstraps, the registration gate, socket paths, artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ordinal.errors import ClusterError
from ordinal.labels import CSI_ZONE_LABEL
from ordinal.localcluster import build, csi
from ordinal.localcluster.context import Context
from ordinal.localcluster.network import ClusterNet
from ordinal.localcluster.nodeconfig import NodeLayout
from ordinal.localcluster.versions import Versions
from ordinal.types import Obj


def by_kind(kind: str) -> list[Obj]:
    return [obj for obj in csi.objects(["zone-b", "zone-a", "zone-b"], "v0.1.0") if obj["kind"] == kind]


def test_csidriver_requires_attach_passes_pod_info_and_applies_fsgroup() -> None:
    [driver] = by_kind("CSIDriver")
    assert driver["metadata"]["name"] == csi.DRIVER == "csi.ordinal.dev"
    spec = driver["spec"]
    assert (spec["attachRequired"], spec["podInfoOnMount"], spec["fsGroupPolicy"]) == (True, True, "File")
    # The report reads the driver's version from this label (clients cannot call GetPluginInfo).
    assert driver["metadata"]["labels"] == {"app.kubernetes.io/version": "v0.1.0"}


def test_storage_class_waits_for_first_consumer_deletes_and_does_not_expand() -> None:
    [klass] = by_kind("StorageClass")
    assert klass["metadata"]["name"] == "ordinal-csi" and klass["provisioner"] == csi.DRIVER
    assert (klass["volumeBindingMode"], klass["reclaimPolicy"]) == ("WaitForFirstConsumer", "Delete")
    assert "allowVolumeExpansion" not in klass
    assert "annotations" not in klass["metadata"]  # ordinal-local stays the default class
    # Only the real nodes' zones, by the driver's key: simulated nodes (no driver, no such label) never qualify.
    [term] = klass["allowedTopologies"]
    assert term["matchLabelExpressions"] == [{"key": CSI_ZONE_LABEL, "values": ["zone-a", "zone-b"]}]


def test_attacher_may_patch_attachment_status_and_read_csinodes() -> None:
    role = next(r for r in by_kind("ClusterRole") if r["metadata"]["name"] == "ordinal:csi-attacher")
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    assert {("volumeattachments/status", "patch"), ("volumeattachments", "watch"), ("csinodes", "get")} <= granted
    assert ("persistentvolumes", "patch") in granted
    bindings = {b["metadata"]["name"]: b["subjects"][0]["name"] for b in by_kind("ClusterRoleBinding")}
    assert bindings == {
        "ordinal:csi-attacher": "ordinal:csi-attacher",
        "ordinal:csi-provisioner": "ordinal:csi-provisioner",
    }
    assert {user for _, user in csi.IDENTITIES} == set(bindings.values())


def csinode(name: str, keys: list[str] | None) -> Obj:
    drivers = [] if keys is None else [{"name": csi.DRIVER, "nodeID": name, "topologyKeys": keys}]
    return {"metadata": {"name": name}, "spec": {"drivers": drivers}}


def test_registration_gate_waits_for_every_real_node_with_the_zone_key() -> None:
    judge = csi.registered(["n1", "n2"])
    assert not judge([csinode("n1", [CSI_ZONE_LABEL]), csinode("n2", None)]).done
    assert not judge([csinode("n1", [CSI_ZONE_LABEL]), csinode("n2", [])]).done
    verdict = judge([csinode("n1", [CSI_ZONE_LABEL])])
    assert not verdict.done and "missing ['n2']" in verdict.seen
    assert judge([csinode("n1", [CSI_ZONE_LABEL]), csinode("n2", [CSI_ZONE_LABEL])]).done


def test_sockets_live_where_the_kubelet_looks_and_a_long_state_path_is_refused(tmp_path: Path) -> None:
    node = NodeLayout(tmp_path, "ordinal-node-1", 1, ClusterNet(0))
    assert csi.node_socket(node) == node.dir / "csi-node.sock"
    assert csi.registration_socket(node) == node.kubelet_root / "plugins_registry" / "csi.sock"
    # No longer than the kubelet's own socket under its root dir: the driver adds no limit of its own.
    kubelets_own = node.kubelet_root / "pod-resources" / "kubelet.sock"
    assert len(str(csi.registration_socket(node))) <= len(str(kubelets_own))
    deep = NodeLayout(Path("/root/.local/state/ordinal/cluster-hardened"), "ordinal-node-1", 1, ClusterNet(0))
    csi.check_socket_paths(deep)
    with pytest.raises(ClusterError, match="set ORDINAL_CLUSTER_DIR to a shorter path"):
        csi.check_socket_paths(NodeLayout(Path("/tmp") / ("x" * 70), "ordinal-node-1", 1, ClusterNet(0)))


def test_without_real_nodes_there_is_no_class_and_the_state_says_why(tmp_path: Path) -> None:
    ctx = Context(state=tmp_path, bins={})
    assert csi.summary(ctx, []) == {"driver": None, "storage_class": None, "why": csi.WITHOUT_REAL_NODES}
    assert csi.summary(ctx, ["n1"])["storage_class"] == "ordinal-csi"


def test_the_csi_driver_and_the_stamped_upstream_attacher_are_built() -> None:
    v = Versions(
        "1.26", "v1.37.2", "v3.6.16", "v1.15.0", "v0.8.0", "lib@v1",
        external_attacher="github.com/kubernetes-csi/external-attacher/v4@v4.13.0",
    )  # fmt: skip
    arts = {a.name: a for a in build.artifacts(v)}
    assert (arts["csi"].module_dir, arts["csi"].binaries) == ("csi", ("ordinal-csi",))
    attacher = arts["attacher"]
    assert (attacher.module_dir, attacher.package) == ("attacher", build.ATTACHER_PACKAGE)
    assert attacher.ldflags == "-X main.version=v4.13.0"


def test_gen_pins_the_csi_modules_and_the_attachers_k8s_modules_at_the_cluster_release(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ordinal.localcluster import gomod, paths
    from ordinal.localcluster.versions import load

    monkeypatch.setattr(gomod, "staging_modules", lambda release, cwd: [])  # the kube modules: not this test's
    v = load(paths.source_dir())
    wanted = gomod.desired(v, paths.source_dir())
    csi_requires, csi_replaces = wanted["csi"]
    assert csi_replaces == {}
    assert csi_requires["github.com/container-storage-interface/spec"] == v.csi_spec.split("@")[1]
    assert csi_requires["github.com/kubernetes-csi/csi-test/v5"] == v.csi_test.split("@")[1]
    assert csi_requires["k8s.io/kubelet"] == csi_requires["k8s.io/client-go"] == v.staging
    attacher_requires, _ = wanted["attacher"]
    assert attacher_requires["github.com/kubernetes-csi/external-attacher/v4"] == v.external_attacher.split("@")[1]
    assert {attacher_requires[m] for m in gomod.ATTACHER_STAGING} == {v.staging}
