"""Configuration files of one real node, generated from Python: containerd, CNI, kubelet, kube-proxy.

Every path a component would otherwise take from the host (``/var/lib/containerd``,
``/run/containerd``, ``/etc/cni/net.d``, ``/var/lib/kubelet``, ``/var/log/pods``, runc's
state, the opt plugin's ``/opt/containerd``, containerd's temp mounts) points into the node's
own directory under the cluster's state, so two nodes (and two clusters) share nothing and
``down`` finds everything in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ordinal.localcluster.components import NODE_LEASE_SECONDS
from ordinal.localcluster.network import ClusterNet

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes; leave room for containerd's ".ttrpc" suffix

#: What the kubelet insists on (``setupKernelTunables``, k8s 1.37). The node's mount namespace sees these
#: values in bind-mounted files; the host's own settings are never changed (see :mod:`nodes.real`).
KUBELET_SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


@dataclass(frozen=True)
class NodeLayout:
    """Where one real node keeps its files, and who it is on the network."""

    state: Path  # the cluster's state dir
    name: str  # Node name, e.g. ordinal-node-1
    number: int  # 1-based among real nodes: picks its addresses
    net: ClusterNet

    @property
    def dir(self) -> Path:
        return self.state / "nodes" / self.name

    @property
    def socket(self) -> Path:
        return self.dir / "containerd.sock"

    @property
    def ip(self) -> str:
        return self.net.node_ip(self.number)

    @property
    def pod_cidr(self) -> str:
        return self.net.pod_cidr(self.number)

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def cni_network(self) -> str:
        return self.net.name(self.number)

    def path(self, name: str) -> Path:
        return self.dir / name


def containerd_toml(node: NodeLayout, *, sandbox_image: str) -> str:
    d = node.dir
    q = json.dumps  # TOML basic strings are JSON strings for our ASCII paths
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f"root = {q(str(d / 'containerd' / 'root'))}",
            f"state = {q(str(d / 'containerd' / 'state'))}",
            f"temp = {q(str(d / 'tmp'))}",
            "disabled_plugins = ["
            + ", ".join(
                q(p)
                for p in (
                    "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.tracing.processor.v1.otlp",
                    "io.containerd.internal.v1.tracing",
                )
            )
            + "]",
            "",
            "[grpc]",
            f"  address = {q(str(node.socket))}",
            "[ttrpc]",
            f"  address = {q(str(node.socket) + '.ttrpc')}",
            "[debug]",
            '  level = "warn"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {q(str(d / 'opt'))}",
            f"[{cri}]",
            f"  sandbox_image = {q(sandbox_image)}",
            # Pod network namespaces are bind-mounted under the node's state, not /run/netns.
            "  netns_mounts_under_state_dir = true",
            '  stream_server_address = "127.0.0.1"',
            # Never ask for an oom_score_adj below containerd's own: lowering it needs CAP_SYS_RESOURCE,
            # which sandboxed build machines lack (runc then fails with "can't get final child's PID").
            "  restrict_oom_score_adj = true",
            "  enable_tls_streaming = false",
            f"[{cri}.cni]",
            f"  bin_dir = {q(CNI_BIN_DIR)}",
            f"  conf_dir = {q(str(d / 'cni' / 'net.d'))}",
            "  max_conf_num = 1",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            f"  Root = {q(str(d / 'runc'))}",
            "  SystemdCgroup = false",
            "",
        ]
    )


def cni_conflist(node: NodeLayout) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": node.cni_network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,  # nothing is NATed on its way anywhere: there is nowhere to go
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.dir / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    node: NodeLayout,
    *,
    ca: Path,
    cgroup_root: str,
    cluster_dns: str,
    cluster_domain: str,
    feature_gates: dict[str, bool] | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # 1.35+ refuses cgroup v1 unless told otherwise; this host is cgroup v1 (hybrid).
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "cgroupsPerQOS": True,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "address": node.ip,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": node.ip,
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        # Only holders of a certificate from the cluster's CA get past authentication.
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDomain": cluster_domain,
        "clusterDNS": [cluster_dns],
        "resolvConf": str(node.path("resolv.conf")),  # empty: pods never see the host's resolvers
        "podLogsDir": str(node.path("pod-logs")),
        # Default /usr/libexec/kubernetes/...: the kubelet would create it on the host.
        "volumePluginDir": str(node.path("volume-plugins")),
        # The kubelet only checks kernel tunables (the node's view of them is set up for it).
        "protectKernelDefaults": True,
        "oomScoreAdj": 0,  # the default -999 needs CAP_SYS_RESOURCE; see restrict_oom_score_adj
        # No registry: our two images must never be garbage-collected.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "nodeStatusReportFrequency": "10s",
        "nodeStatusUpdateFrequency": "10s",
        "nodeLeaseDurationSeconds": NODE_LEASE_SECONDS,
        "syncFrequency": "10s",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "maxPods": 110,
    }
    if feature_gates:
        config["featureGates"] = dict(sorted(feature_gates.items()))
    return config


def kubelet_argv(binary: str, node: NodeLayout, *, config: Path, kubeconfig: Path, labels: dict[str, str]) -> list[str]:
    return [
        binary,
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={node.kubelet_root}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.ip}",
        "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "--v=1",
    ]


def kube_proxy_config(node: NodeLayout, *, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "healthzBindAddress": f"{node.ip}:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "clusterCIDR": node.net.cluster_cidr,
        "iptables": {"localhostNodePorts": False},
        "oomScoreAdj": 0,
        # 0: leave the conntrack table size and timeouts alone (host-wide or not ours to tune).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def holder_script(node: NodeLayout) -> str:
    """What the node's namespace holder runs: private /run, /var/lib, /var/log; masked tunables; a hostname.

    The holder then sleeps; every other process of the node joins its namespaces (``nsenter``),
    and all of its mounts vanish with the last of them.
    """
    masks = [
        f"echo {value} > {node.path('sysctl')}/{key.replace('/', '.')} && "
        f"mount --bind {node.path('sysctl')}/{key.replace('/', '.')} /proc/sys/{key}"
        for key, value in KUBELET_SYSCTLS.items()
    ]
    steps = [
        "mount -t tmpfs -o mode=755 ordinal-run /run",
        "mount -t tmpfs -o mode=755 ordinal-var-lib /var/lib",
        "mount -t tmpfs -o mode=755 ordinal-var-log /var/log",
        *masks,
        f"hostname {node.name}",
        f"touch {node.path('holder.ready')}",
    ]
    return "set -e\n" + "\n".join(steps) + "\nexec sleep infinity\n"


def write_all(node: NodeLayout, files: dict[str, str | dict[str, Any]]) -> None:
    """Write ``files`` (name → text, or → data as YAML/JSON by suffix) into the node's directory."""
    for name, content in files.items():
        path = node.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif name.endswith((".json", ".conflist")):
            path.write_text(json.dumps(content, indent=2))
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False))
