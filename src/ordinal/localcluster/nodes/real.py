"""Real nodes: a kubelet (our multi-call binary), containerd + runc, CNI bridge networking and
kube-proxy, each node in namespaces of its own so that several "hosts" share one machine.

One node, started in this order::

    holder      unshare --mount --net --uts: private /run, /var/lib, /var/log, the kubelet's kernel
                tunables masked by bind mounts, hostname = node name; then it sleeps
    network     veth into the holder's namespace, attached to the cluster bridge; pod routes
    containerd  nsenter into the holder's namespaces; own root/state/socket/runc root
    images      pause + busybox OCI archives imported with `ctr -n k8s.io images import`
    kubelet     nsenter; cgroupRoot below ours; Node labelled ordinal.dev/node-kind=real + zone
    kube-proxy  nsenter; iptables mode, its chains live in the node's own network namespace

Every process of the node is moved into ``<cluster cgroup>/<node>/daemons``; the kubelet puts
pods into ``<cluster cgroup>/<node>/kubepods``. ``down`` stops the recorded processes, kills
whatever is left in the cluster's cgroup subtree (containers whose shims outlived
containerd), removes the cgroups, the veths and the bridge. Mounts, pod network namespaces
and iptables chains live only in the nodes' namespaces and vanish with their last process.

Kernel tunables: the kubelet wants ``vm.overcommit_memory=1``, ``kernel.panic=10``,
``kernel.panic_on_oops=1`` (and three more it finds already set here) and would write them
host-wide. Instead each node's mount namespace shows it files with those values over
``/proc/sys/...`` and the kubelet runs with ``protectKernelDefaults: true`` (check, never
write): the host's settings are never touched, and a tunable a future kubelet adds fails
loudly instead of silently changing the machine.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError, InvalidScenario
from ordinal.labels import INSTANCE_TYPE_LABEL, NODE_KIND_LABEL, REAL_NODE_KIND, REGION_LABEL, ZONE_LABEL
from ordinal.localcluster import cgroups, csi, images, network, paths, process
from ordinal.localcluster.context import Context
from ordinal.localcluster.gates import command_check, http_check, wait_gate
from ordinal.localcluster.network import ClusterNet
from ordinal.localcluster.nodeconfig import (
    MAX_SOCKET_PATH,
    NodeLayout,
    cni_conflist,
    containerd_toml,
    holder_script,
    kube_proxy_config,
    kubelet_argv,
    kubelet_config,
    write_all,
)
from ordinal.localcluster.nodes import zone_name
from ordinal.localcluster.process import ProcessRecord
from ordinal.localcluster.versions import load as load_versions

KIND = REAL_NODE_KIND
RECORD = "real-nodes.json"
K8S_NAMESPACE = "k8s.io"  # the only containerd namespace the CRI plugin sees
#: A node's own mount, network and UTS namespaces; mounts made inside never propagate out.
HOLDER_UNSHARE = ("unshare", "--mount", "--net", "--uts", "--propagation", "private", "--")


def kubelet_identity(node: str) -> str:
    """PKI file stem of a node's kubelet client certificate (user ``system:node:<node>``)."""
    return f"kubelet-{node}"


def component_name(component: str, node: str) -> str:
    """Process record name, e.g. ``kubelet@ordinal-node-1`` (``ordinal cluster logs`` takes it)."""
    return f"{component}@{node}"


def _save(state: Path, data: dict[str, Any]) -> None:
    (state / RECORD).write_text(json.dumps(data, indent=2))


def load(state: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data


def _nsenter(holder: ProcessRecord, argv: list[str]) -> list[str]:
    return ["nsenter", "-t", str(holder.pid), "-m", "-n", "-u", "--", *argv]


def _command_check(argv: list[str]) -> Any:
    def check() -> str | None:
        proc = subprocess.run(argv, capture_output=True, text=True)
        return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit {proc.returncode}")[-160:]

    return check


def ctr(node: NodeLayout, *args: str) -> list[str]:
    return ["ctr", "--address", str(node.socket), "-n", K8S_NAMESPACE, *args]


def prepare(ctx: Context, names: list[str]) -> None:
    """Before the control plane starts (the apiserver binds the bridge): the bridge and the cgroup root.

    What is made is recorded in ``real-nodes.json`` before it is made, so ``down`` (or a failed
    ``up``) finds and removes it whatever step failed.
    """
    net = ClusterNet(ctx.port_offset)
    root = cgroups.cluster_root(ctx.port_offset)
    record: dict[str, Any] = {
        "offset": ctx.port_offset,
        "bridge": net.bridge,
        "veths": [net.host_veth(n) for n in range(1, len(names) + 1)],
        "cgroup_root": root,
        "created_cgroups": [],
        "nodes": names,
        "images": {},
    }
    _save(ctx.state, record)
    network.create_bridge(net)
    record["created_cgroups"] = cgroups.create(root)
    _save(ctx.state, record)


def image_refs(ctx: Context) -> dict[str, str]:
    """``{"busybox": ref, "pause": ref}``: what every real node of this cluster has imported."""
    data = load(ctx.state) or {}
    refs: dict[str, str] = data.get("images") or {}
    return refs


class RealNodes:
    name = KIND

    def start(self, ctx: Context, names: list[str]) -> list[ProcessRecord]:
        if not names:
            return []
        net = ClusterNet(ctx.port_offset)
        record = load(ctx.state)
        if record is None:
            raise ClusterError(f"expected {ctx.state / RECORD} from real.prepare() before starting real nodes")
        root = record["cgroup_root"]
        coredns = (Path(ctx.bin("coredns")), load_versions(paths.source_dir()).coredns)
        archives = images.build_archives(ctx.state / "images", Path(ctx.bin("pause")), coredns=coredns)
        record["images"] = {key: a.ref for key, a in sorted(archives.items())}
        _save(ctx.state, record)
        numbers = list(range(1, len(names) + 1))
        out: list[ProcessRecord] = []
        for number, name in zip(numbers, names, strict=True):
            node = NodeLayout(ctx.state, name, number, net)
            out += self._start_node(ctx, node, archives, numbers, root)
        return out

    def _start_node(
        self,
        ctx: Context,
        node: NodeLayout,
        archives: dict[str, images.Archive],
        numbers: list[int],
        root: str,
    ) -> list[ProcessRecord]:
        if len(str(node.socket)) > MAX_SOCKET_PATH:
            raise ClusterError(
                f"expected a state directory path short enough for unix sockets (<= {MAX_SOCKET_PATH} characters "
                f"for {node.socket}), got {len(str(node.socket))}: set ORDINAL_CLUSTER_DIR to a shorter path"
            )
        csi.check_socket_paths(node)
        net = node.net
        for sub in ("containerd/root", "containerd/state", "tmp", "opt", "runc", "cni/ipam", "pod-logs", "sysctl"):
            node.path(sub).mkdir(parents=True, exist_ok=True)
        index = node.number - 1  # real nodes come first in the cluster's node list
        labels = {
            NODE_KIND_LABEL: KIND,
            ZONE_LABEL: zone_name(index, ctx.zones),
            REGION_LABEL: "ordinal-local",
            INSTANCE_TYPE_LABEL: "ordinal-real",
        }
        write_all(
            node,
            {
                "holder.sh": holder_script(node),
                "containerd.toml": containerd_toml(node, sandbox_image=archives["pause"].ref),
                "cni/net.d/10-ordinal.conflist": cni_conflist(node),
                "kubelet.yaml": kubelet_config(
                    node,
                    ca=ctx.pki / "ca.crt",
                    cgroup_root=f"{root}/{node.name}",
                    cluster_dns=net.bridge_ip,
                    cluster_domain=ctx.cluster_domain,
                    feature_gates=ctx.feature_gates,
                ),
                "kube-proxy.yaml": kube_proxy_config(node, kubeconfig=ctx.kubeconfig("kube-proxy")),
                "resolv.conf": "",
            },
        )
        daemons = f"{root}/{node.name}/daemons"
        cgroups.create(daemons)
        started: list[ProcessRecord] = []

        def spawn(component: str, argv: list[str]) -> ProcessRecord:
            rec = process.spawn(component_name(component, node.name), argv, state=ctx.state)
            cgroups.move(rec.pid, daemons)
            started.append(rec)
            return rec

        t0 = time.monotonic()
        holder = spawn("holder", [*HOLDER_UNSHARE, "sh", str(node.path("holder.sh"))])
        ready = node.path("holder.ready")
        wait_gate(
            f"node {node.name}'s namespaces (holder)",
            lambda: None if ready.exists() else "not ready",
            timeout=10,
            record=holder,
        )
        network.attach_node(net, node.number, holder.pid, numbers)
        config = node.path("containerd.toml")
        containerd = spawn("containerd", _nsenter(holder, ["containerd", "--config", str(config)]))
        wait_gate(
            f"containerd of {node.name} to answer on {node.socket}",
            _command_check(["ctr", "--address", str(node.socket), "version"]),
            timeout=30,
            record=containerd,
        )
        for archive in archives.values():
            network.run(ctr(node, "images", "import", str(archive.path)), what=f"import {archive.ref}")
        listed = network.run(ctr(node, "images", "ls", "-q")).split()
        absent = [a.ref for a in archives.values() if a.ref not in listed]
        if absent:
            raise ClusterError(f"expected images {absent} in containerd of {node.name} after import, found {listed}")
        kubelet = spawn(
            "kubelet",
            _nsenter(
                holder,
                kubelet_argv(
                    ctx.bin("kubelet"),
                    node,
                    config=node.path("kubelet.yaml"),
                    kubeconfig=ctx.kubeconfig(kubelet_identity(node.name)),
                    labels=labels,
                ),
            ),
        )
        wait_gate(
            f"kubelet of {node.name} /healthz to answer 200",
            http_check(f"http://{node.ip}:10248/healthz"),
            timeout=60,
            record=kubelet,
        )
        # The CSI node service and its registrar: the kubelet's plugin watcher finds the registration
        # socket, asks it for the driver's socket and registers the driver (CSINode, the zone label).
        csi_node = spawn("csi-node", _nsenter(holder, csi.node_driver_argv(ctx, node, labels[ZONE_LABEL])))
        wait_gate(
            f"the ordinal-csi node service of {node.name} to answer Probe",
            command_check(csi.probe(ctx, csi.node_socket(node))),
            timeout=30,
            record=csi_node,
        )
        spawn("csi-registrar", _nsenter(holder, csi.registrar_argv(ctx, node)))
        proxy = spawn(
            "kube-proxy",
            _nsenter(holder, [ctx.bin("kube-proxy"), f"--config={node.path('kube-proxy.yaml')}", "--v=1"]),
        )
        wait_gate(
            f"kube-proxy of {node.name} /healthz to answer 200",
            http_check(f"http://{node.ip}:10256/healthz"),
            timeout=60,
            record=proxy,
        )
        ctx.log(f"real node {node.name} ({node.ip}, pods {node.pod_cidr}) up in {time.monotonic() - t0:.1f}s")
        return started

    def teardown(self, ctx: Context) -> list[str]:
        data = load(ctx.state)
        if data is None:
            return []
        errors: list[str] = []
        root = data["cgroup_root"]
        with contextlib.suppress(ClusterError):  # a frozen task takes no SIGKILL until it is thawed
            thaw_all(ctx.state)
        left = cgroups.kill_all(root)
        if left:
            errors.append(f"expected no process left in cgroup {root}, still running: {left}")
        errors += cgroups.remove_tree(root)
        cgroups.remove_created(data.get("created_cgroups") or [])
        for veth in data.get("veths") or []:
            errors += network.delete_link(veth)
        errors += network.delete_bridge(ClusterNet(int(data["offset"])))
        errors += unmount_under(ctx.state)
        if not errors:
            (ctx.state / RECORD).unlink(missing_ok=True)
        return errors


# -- stopping a node: every process of it frozen, as a machine that hung or lost power -----------


def _node_cgroup(state: Path, name: str) -> Path:
    """The node's subtree in the freezer hierarchy: kubelet, containerd, shims, containers, CSI node plugin."""
    data = load(state)
    if data is None or name not in (data.get("nodes") or []):
        known = ", ".join((data or {}).get("nodes") or []) or "none"
        raise InvalidScenario(f"expected a real node of the local cluster ({known}), got {name!r}")
    return cgroups.freezer_dir(f"{data['cgroup_root']}/{name}")


def stopped_nodes(state: Path) -> list[str]:
    """Real nodes whose processes are frozen now."""
    data = load(state) or {}
    found = []
    for name in data.get("nodes") or []:
        with contextlib.suppress(ClusterError, OSError):
            if cgroups.freezer_state(_node_cgroup(state, name)) != cgroups.THAWED:
                found.append(name)
    return found


def stop_node(state: Path, name: str) -> int:
    """Freeze every process of real node ``name``; return how many. Idempotent (0 if already stopped).

    Nothing of the node answers any more: the kubelet renews no lease and reports no status,
    containerd and the containers run no instruction, the CSI node plugin answers no call. Its
    network namespace stays, as the network of a hung machine does; the API server, the
    controllers and the CSI controller side (host processes) go on.
    """
    directory = _node_cgroup(state, name)
    if cgroups.freezer_state(directory) == cgroups.FROZEN:
        return 0
    tasks = len(cgroups.pids_in(directory))
    cgroups.freeze(directory)
    return tasks


def thaw_all(state: Path) -> None:
    """Thaw every stopped node of the cluster (``down`` does this first); nothing to do without real nodes."""
    data = load(state)
    if data is None:
        return
    found = cgroups.mounts()
    if cgroups.FREEZER in found:
        cgroups.thaw(cgroups.freezer_dir(str(data["cgroup_root"]), found))


def start_node(state: Path, name: str) -> int:
    """Thaw real node ``name``; return how many processes resumed (0 if it was not stopped)."""
    directory = _node_cgroup(state, name)
    if cgroups.freezer_state(directory) == cgroups.THAWED:
        return 0
    tasks = len(cgroups.pids_in(directory))
    cgroups.thaw(directory)
    return tasks


def unmount_under(state: Path) -> list[str]:
    """Unmount anything mounted below ``state`` in the host's mount namespace (none expected)."""
    prefix = str(state.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    errors = []
    for point in sorted(points, key=len, reverse=True):
        proc = subprocess.run(["umount", "-l", point], capture_output=True, text=True)
        if proc.returncode != 0:
            errors.append(f"expected to unmount {point}: {proc.stderr.strip()}")
    return errors
