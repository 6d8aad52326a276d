"""Pure parts of real nodes: OCI archives, the preflight's verdicts, cgroup parsing, addresses, configs."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from ordinal.errors import ClusterError, InvalidScenario
from ordinal.localcluster import cgroups, images, network, nodeconfig, preflight
from ordinal.localcluster.cluster import up

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def _read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar}  # type: ignore[union-attr]


def test_oci_archive_is_a_valid_single_layer_layout(tmp_path: Path) -> None:
    image = images.Image(
        "ordinal.local/demo:1",
        (images.Entry("bin/tool", data=b"#!x", mode=0o755), images.Entry("bin/sh", "symlink", target="/bin/tool")),
        {"Cmd": ["sh"]},
    )
    archive = images.write_archive(image, tmp_path / "demo.tar")
    files = _read_archive(archive.path)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    [desc] = index["manifests"]
    assert desc["annotations"][images.NAME_ANNOTATION] == "ordinal.local/demo:1"
    assert desc["annotations"][images.REF_ANNOTATION] == "1"
    assert desc["digest"] == archive.manifest_digest
    # Every blob is stored under its own digest, with the size the descriptors claim.
    for name, data in files.items():
        if name.startswith("blobs/sha256/") and data:
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    manifest = json.loads(files[f"blobs/sha256/{desc['digest'][7:]}"])
    assert desc["size"] == len(files[f"blobs/sha256/{desc['digest'][7:]}"])
    [layer_desc] = manifest["layers"]
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'][7:]}"])
    assert config["rootfs"]["diff_ids"] == [layer_desc["digest"]]  # uncompressed: diff id == digest
    assert config["config"] == {"Cmd": ["sh"]}
    layer = tmp_path / "layer.tar"
    layer.write_bytes(files[f"blobs/sha256/{layer_desc['digest'][7:]}"])
    with tarfile.open(layer) as tar:
        members = {m.name: m for m in tar}
    assert list(members) == ["bin", "bin/sh", "bin/tool"]  # parents first, then sorted
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/tool"
    assert members["bin/tool"].mode == 0o755 and members["bin/tool"].uid == 0 and members["bin/tool"].mtime == 0


def test_the_same_inputs_give_the_same_digests(tmp_path: Path) -> None:
    image = images.Image("ordinal.local/x:1", (images.Entry("a", data=b"1"),))
    first = images.write_archive(image, tmp_path / "1.tar")
    second = images.write_archive(image, tmp_path / "2.tar")
    assert first.manifest_digest == second.manifest_digest
    assert first.path.read_bytes() == second.path.read_bytes()


def test_static_elf_detection(tmp_path: Path) -> None:
    assert not images.is_static_elf(Path(sys.executable))  # python is dynamically linked
    assert not images.is_static_elf(tmp_path / "absent")
    (tmp_path / "text").write_text("#!/bin/sh\n")
    assert not images.is_static_elf(tmp_path / "text")


def test_busybox_image_refuses_a_dynamic_busybox(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"expected a static busybox at .*busybox-static"):
        images.busybox_image(Path(sys.executable))


@pytest.mark.skipif(not images.is_static_elf(images.BUSYBOX), reason="needs Debian's busybox-static")
def test_busybox_image_has_the_applets_the_suite_uses() -> None:
    image = images.busybox_image()
    paths = {e.path: e for e in image.entries}
    for applet in ("bin/sh", "bin/sleep", "bin/touch", "usr/bin/test", "usr/bin/nslookup", "bin/cat"):
        assert paths[applet].kind == "symlink" and paths[applet].target == "/bin/busybox"
    assert paths["tmp"].mode == 0o1777
    assert image.ref.startswith(f"{images.REGISTRY}/busybox:1.")


def test_cgroup_mounts_are_parsed_per_controller() -> None:
    found = cgroups.mounts(MOUNTINFO)
    assert found["cpu"] == Path("/sys/fs/cgroup/cpu")
    assert found["cpuset"] == Path("/sys/fs/cgroup/cpuset")  # clone_children is an option, not a controller
    assert found["name=systemd"] == Path("/sys/fs/cgroup/systemd")
    assert found["unified"] == Path("/sys/fs/cgroup/unified")
    assert "clone_children" not in found and "xattr" not in found
    assert cgroups.own_path("memory", "4:memory:/process_api/abc\n1:cpu:/\n0::/\n") == "/process_api/abc"
    assert cgroups.own_path("memory", "0::/user.slice\n") == "/"


def _freezer(directory: Path, state: str = "THAWED", self_freezing: str = "0") -> Path:
    """A directory shaped like a v1 freezer cgroup (plain files: the kernel's answers are what they hold)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "freezer.state").write_text(state + "\n")
    (directory / "freezer.self_freezing").write_text(self_freezing + "\n")
    (directory / "cgroup.procs").write_text("")
    return directory


def test_thaw_resumes_every_cgroup_frozen_on_its_own_and_nothing_else(tmp_path: Path) -> None:
    """``down`` and ``node start`` MUST thaw each self-frozen cgroup below the node, not only the node itself."""
    node = _freezer(tmp_path / "node-1", "FROZEN", "1")
    pod = _freezer(node / "kubepods" / "pod1", "FROZEN", "1")
    inherited = _freezer(node / "daemons", "FROZEN", "0")
    cgroups.thaw(node)
    assert [cgroups.freezer_state(d) for d in (node, pod)] == ["THAWED", "THAWED"]
    assert cgroups.freezer_state(inherited) == "FROZEN"  # the kernel thaws it with its parent; nothing written
    cgroups.thaw(tmp_path / "gone")  # a node already removed: nothing to do, no error


def test_freeze_asks_the_kernel_and_reports_what_it_says(tmp_path: Path) -> None:
    node = _freezer(tmp_path / "node-1")
    cgroups.freeze(node, timeout=1)
    assert cgroups.freezer_state(node) == "FROZEN"


def test_no_freezer_hierarchy_is_one_clear_error() -> None:
    with pytest.raises(ClusterError, match="expected the cgroup v1 freezer hierarchy to be mounted"):
        cgroups.freezer_dir("/x/node-1", cgroups.mounts(MOUNTINFO))
    found = {**cgroups.mounts(MOUNTINFO), "freezer": Path("/sys/fs/cgroup/freezer")}
    assert cgroups.freezer_dir("/x/node-1", found) == Path("/sys/fs/cgroup/freezer/x/node-1")


def test_preflight_names_missing_controllers_tools_and_plugins(tmp_path: Path) -> None:
    found = cgroups.mounts(MOUNTINFO)
    assert preflight.check_cgroups(found) == []
    del found["pids"]
    [missing] = preflight.check_cgroups(found)
    assert "cgroup v1 controller(s) pids" in str(missing)
    pure_v2 = {"unified": Path("/sys/fs/cgroup")}
    assert "cgroup v2 controller(s) pids" in str(preflight.check_cgroups(pure_v2, "cpu cpuset memory io")[0])
    tools = preflight.check_tools(lambda name: None if name in ("runc", "ctr", "containerd") else f"/bin/{name}")
    assert [str(t) for t in tools] == [
        "containerd, ctr on PATH (apt-get install containerd)",
        "runc on PATH (apt-get install runc)",
    ]
    (tmp_path / "bridge").write_text("")
    [cni] = preflight.check_cni(tmp_path)
    assert "host-local, loopback, portmap" in str(cni) and "containernetworking-plugins" in str(cni)
    assert "busybox-static" in str(preflight.check_busybox(tmp_path / "busybox")[0])
    assert preflight.check_root(1000)[0].capability == "root"


def test_preflight_failure_is_one_line_naming_every_gap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gaps = [preflight.Missing("overlay mounts", "x failed"), preflight.Missing("iptables", "apt-get install iptables")]
    monkeypatch.setattr(preflight, "missing", lambda _, nodes: gaps)
    with pytest.raises(ClusterError) as err:
        preflight.require(tmp_path, 2)
    text = str(err.value)
    assert len(text.splitlines()) == 1
    assert text.startswith("expected a host that can run 2 real node(s), missing: overlay mounts (x failed); iptables")
    assert "--real-nodes 0" in text


def test_preflight_wants_inotify_instances_for_every_real_node() -> None:
    """The per-user inotify limit is shared by every cluster here: too few left for the kubelets is named up front."""
    assert preflight.check_inotify(2, limit=128, in_use=40) == []
    [short] = preflight.check_inotify(4, limit=128, in_use=90)
    assert str(short) == (
        "44 free inotify instances for 4 real node(s) (fs.inotify.max_user_instances is 128, 90 in use by this user) "
        "(stop other clusters, or raise it: sysctl fs.inotify.max_user_instances=512)"
    )
    assert preflight.inotify_instances(os.geteuid()) >= 0  # reads /proc; never raises for processes that go away


def test_kernel_probe_reports_the_first_failing_capability(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    steps = (("a working shell", "true"), ("the impossible", "false"))
    monkeypatch.setattr(preflight, "_PROBE_STEPS", steps)
    monkeypatch.setattr(preflight.shutil, "which", lambda _: "/usr/bin/unshare")

    class Done:
        returncode = 3
        stderr = "FAILED 1\n"

    monkeypatch.setattr(preflight.subprocess, "run", lambda *a, **k: Done())
    [missing] = preflight.check_kernel(tmp_path)
    assert missing.capability == "the impossible"
    assert list(tmp_path.iterdir()) == []  # the scratch directory is gone


def test_cluster_network_derives_from_the_port_offset() -> None:
    net = network.ClusterNet(5000)
    assert (net.bridge, net.bridge_ip, net.subnet) == ("ordbr5000", "10.88.5.1", "10.88.5.0/24")
    assert (net.node_ip(1), net.pod_cidr(2), net.cluster_cidr) == ("10.88.5.11", "10.165.2.0/24", "10.165.0.0/16")
    assert len(network.ClusterNet(50000).host_veth(99)) < 16  # IFNAMSIZ
    assert network.ClusterNet(0).bridge_ip == "10.88.0.1"


def test_real_nodes_need_a_port_offset_in_whole_thousands() -> None:
    with pytest.raises(InvalidScenario, match="multiple of 1000"):
        up(nodes=2, real_nodes=1, port_offset=1500)
    with pytest.raises(InvalidScenario, match=r"0 <= --real-nodes <= --nodes \(2\)"):
        up(nodes=2, real_nodes=3)


def test_node_configs_keep_everything_under_the_node_directory(tmp_path: Path) -> None:
    node = nodeconfig.NodeLayout(tmp_path, "ordinal-node-1", 1, network.ClusterNet(5000))
    toml = nodeconfig.containerd_toml(node, sandbox_image="ordinal.local/pause:ordinal-1")
    for line in toml.splitlines():
        if line.strip().startswith(("root", "state", "temp", "address", "path", "conf_dir", "Root")):
            assert str(tmp_path) in line, line
    assert 'sandbox_image = "ordinal.local/pause:ordinal-1"' in toml
    assert "restrict_oom_score_adj = true" in toml and "netns_mounts_under_state_dir = true" in toml
    conf = nodeconfig.cni_conflist(node)
    bridge = conf["plugins"][0]
    assert bridge["ipMasq"] is False and bridge["ipam"]["ranges"] == [[{"subnet": "10.165.1.0/24"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))
    kubelet = nodeconfig.kubelet_config(
        node,
        ca=tmp_path / "ca.crt",
        cgroup_root="/x/ordinal-5000/n",
        cluster_dns="10.88.5.1",
        cluster_domain="corp.test",
    )
    assert kubelet["failCgroupV1"] is False and kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["clusterDomain"] == "corp.test"
    assert kubelet["protectKernelDefaults"] is True and kubelet["clusterDNS"] == ["10.88.5.1"]
    assert yaml.safe_load(yaml.safe_dump(kubelet)) == kubelet
    proxy = nodeconfig.kube_proxy_config(node, kubeconfig=tmp_path / "kp")
    assert proxy["mode"] == "iptables" and proxy["conntrack"]["maxPerCore"] == 0
    script = nodeconfig.holder_script(node)
    for key in nodeconfig.KUBELET_SYSCTLS:
        assert f"/proc/sys/{key}" in script
    assert script.rstrip().endswith("exec sleep infinity")
