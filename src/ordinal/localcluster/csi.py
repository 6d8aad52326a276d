"""The CSI stack of a cluster with real nodes: ``ordinal-csi`` (driver ``csi.ordinal.dev``) and the
upstream external-attacher, so volumes of class ``ordinal-csi`` go the way a vendor's do: CSINode
topology, a provisioner calling CreateVolume, the attach/detach controller and VolumeAttachments,
NodeStage/NodePublish by the kubelet.

Per real node, inside its namespaces (the kubelet's root dir and its mounts live there)::

    csi-node@<node>       ordinal-csi driver --mode node: NodeStage/NodePublish as bind mounts
    csi-registrar@<node>  ordinal-csi registrar: <kubelet root>/plugins_registry/csi.sock

Once, on the host::

    csi-controller    ordinal-csi driver --mode controller: volumes are directories under <state>/csi
    csi-attacher      the external-attacher: VolumeAttachment -> ControllerPublish/Unpublish
    csi-provisioner   ordinal-csi provisioner: claims of ordinal-csi -> CreateVolume, PVs with spec.csi

``<state>/csi`` is seen by every node (like a SAN): a volume can move between the real nodes of its
zone, and only while the controller has it attached to that node. Without real nodes there is no
kubelet to register with: no CSI process runs and the class is not created.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError
from ordinal.kube.rest import CSI_NODES, Kube
from ordinal.labels import CSI_ZONE_LABEL, VERSION_LABEL
from ordinal.localcluster.components import Component
from ordinal.localcluster.context import LOOPBACK, Context
from ordinal.localcluster.gates import command_check, http_check
from ordinal.localcluster.nodeconfig import NodeLayout
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

DRIVER = "csi.ordinal.dev"
STORAGE_CLASS = "ordinal-csi"
#: A unix socket path must fit sun_path (108 bytes with its NUL).
MAX_SOCKET_PATH = 107
#: What ``cluster status`` and the state file say when the stack is absent.
WITHOUT_REAL_NODES = "no real nodes: no kubelet to register a CSI driver with (class ordinal-csi absent)"


def root(state: Path) -> Path:
    """Volumes (``volumes/<id>``), attachment and node records: every node and the controller see it."""
    return state / "csi"


def controller_socket(state: Path) -> Path:
    return root(state) / "controller.sock"


def node_socket(node: NodeLayout) -> Path:
    """The node service's socket: the registrar tells the kubelet where it is, any path will do, so a
    short one beside containerd's (``<kubelet root>/plugins/csi.ordinal.dev/csi.sock`` would be 27
    characters longer and a unix socket path has at most 107)."""
    return node.dir / "csi-node.sock"


def registration_dir(node: NodeLayout) -> Path:
    return node.kubelet_root / "plugins_registry"


def registration_socket(node: NodeLayout) -> Path:
    """The kubelet's plugin watcher takes any socket in ``plugins_registry``. A short name (not the
    sidecar's ``csi.ordinal.dev-reg.sock``): no longer than the kubelet's own sockets under its root
    dir (``pod-resources/kubelet.sock``), so the driver never limits where a cluster's state may be."""
    return registration_dir(node) / "csi.sock"


def check_socket_paths(node: NodeLayout) -> None:
    for path in (node_socket(node), registration_socket(node)):
        if len(str(path)) > MAX_SOCKET_PATH:
            raise ClusterError(
                f"expected the CSI socket {path} to fit a unix socket path (<= {MAX_SOCKET_PATH} characters), "
                f"got {len(str(path))}: set ORDINAL_CLUSTER_DIR to a shorter path"
            )


def endpoint(path: Path) -> str:
    return f"unix://{path}"


def probe(ctx: Context, path: Path) -> list[str]:
    """``ordinal-csi probe``: exits 0 once the driver behind ``path`` answers Probe."""
    return [ctx.bin("ordinal-csi"), "probe", f"--endpoint={endpoint(path)}"]


# --- per real node ------------------------------------------------------------------------------


def node_driver_argv(ctx: Context, node: NodeLayout, zone: str) -> list[str]:
    return [
        ctx.bin("ordinal-csi"),
        "driver",
        "--mode=node",
        f"--endpoint={endpoint(node_socket(node))}",
        f"--root={root(ctx.state)}",
        f"--node-id={node.name}",
        f"--zone={zone}",
    ]


def registrar_argv(ctx: Context, node: NodeLayout) -> list[str]:
    return [
        ctx.bin("ordinal-csi"),
        "registrar",
        f"--driver-socket={node_socket(node)}",
        f"--registration-dir={registration_dir(node)}",
    ]


# --- on the host --------------------------------------------------------------------------------


def controller(ctx: Context) -> Component:
    sock = controller_socket(ctx.state)
    return Component(
        "csi-controller",
        [
            ctx.bin("ordinal-csi"),
            "driver",
            "--mode=controller",
            f"--endpoint={endpoint(sock)}",
            f"--root={root(ctx.state)}",
        ],
        command_check(probe(ctx, sock)),
        f"the ordinal-csi controller service to answer Probe on {sock}",
    )


def attacher(ctx: Context) -> Component:
    """The upstream external-attacher: one instance, so no leader election; short timeouts for tests."""
    return Component(
        "csi-attacher",
        [
            ctx.bin("csi-attacher"),
            f"--csi-address={endpoint(controller_socket(ctx.state))}",
            f"--kubeconfig={ctx.kubeconfig('csi-attacher')}",
            "--leader-election=false",
            "--timeout=15s",
            "--retry-interval-start=500ms",
            "--retry-interval-max=10s",
            "--worker-threads=4",
            "--kube-api-qps=50",
            "--kube-api-burst=100",
            f"--http-endpoint={LOOPBACK}:{ctx.ports.csi_attacher}",
            "--v=2",
        ],
        http_check(f"http://{LOOPBACK}:{ctx.ports.csi_attacher}/metrics"),
        "the external-attacher to serve /metrics (connected to the controller service)",
    )


def provisioner(ctx: Context) -> Component:
    return Component(
        "csi-provisioner",
        [
            ctx.bin("ordinal-csi"),
            "provisioner",
            f"--kubeconfig={ctx.kubeconfig('csi-provisioner')}",
            f"--csi-address={endpoint(controller_socket(ctx.state))}",
            f"--health-addr={LOOPBACK}:{ctx.ports.csi_provisioner}",
        ],
        http_check(f"http://{LOOPBACK}:{ctx.ports.csi_provisioner}/healthz"),
        "the ordinal-csi provisioner /healthz to answer 200",
    )


def host_components(ctx: Context) -> list[Component]:
    root(ctx.state).mkdir(parents=True, exist_ok=True)
    return [controller(ctx), attacher(ctx), provisioner(ctx)]


# --- objects ------------------------------------------------------------------------------------


def driver_version(ctx: Context) -> str:
    """The built driver's vendor version (what GetPluginInfo answers), for the CSIDriver's version label."""
    done = subprocess.run([str(ctx.bin("ordinal-csi")), "version"], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise ClusterError(f"expected `ordinal-csi version` to print the driver's version, got: {done.stderr.strip()}")
    return done.stdout.strip()


def objects(zones: list[str], version: str) -> list[Obj]:
    """CSIDriver (attach required, pod info on mount, fsGroup applied by the kubelet), the class, RBAC.

    The class allows only ``zones``, the real nodes' (by the driver's zone key, which the kubelet puts
    on a node once the driver registers there): the scheduler then never picks a simulated node for a
    claim of it, as it would for any vendor's class restricted to the nodes its driver runs on.
    """
    rbac_v1 = "rbac.authorization.k8s.io/v1"
    roles: dict[str, list[Obj]] = {
        # What the external-attacher reads and writes (its upstream RBAC, events added).
        "csi-attacher": [
            {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["csinodes"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": ["storage.k8s.io"],
                "resources": ["volumeattachments"],
                "verbs": ["get", "list", "watch", "patch"],
            },
            {"apiGroups": ["storage.k8s.io"], "resources": ["volumeattachments/status"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch", "update"]},
        ],
        # What the provisioner library and its topology lookups need.
        "csi-provisioner": [
            {
                "apiGroups": [""],
                "resources": ["persistentvolumes"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {
                "apiGroups": [""],
                "resources": ["persistentvolumeclaims"],
                "verbs": ["get", "list", "watch", "update", "patch"],
            },
            {
                "apiGroups": ["storage.k8s.io"],
                "resources": ["storageclasses", "csinodes"],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch", "create", "update", "patch"]},
        ],
    }
    out: list[Obj] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            # Clients cannot call GetPluginInfo; the label is how `ordinal report` learns the version.
            "metadata": {"name": DRIVER, "labels": {VERSION_LABEL: version}},
            "spec": {
                "attachRequired": True,
                "podInfoOnMount": True,
                # Pods run as 65532 with an fsGroup: the kubelet gives the group the volume's files.
                "fsGroupPolicy": "File",
                "volumeLifecycleModes": ["Persistent"],
                "storageCapacity": False,
                "requiresRepublish": False,
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": DRIVER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": [{"matchLabelExpressions": [{"key": CSI_ZONE_LABEL, "values": sorted(set(zones))}]}],
        },
    ]
    for name, rules in roles.items():
        role = f"ordinal:{name}"
        out.append({"apiVersion": rbac_v1, "kind": "ClusterRole", "metadata": {"name": role}, "rules": rules})
        out.append(
            {
                "apiVersion": rbac_v1,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": role}],
            }
        )
    return out


#: Client identities (kubeconfigs) of the host components: (file stem, user).
IDENTITIES = (("csi-attacher", "ordinal:csi-attacher"), ("csi-provisioner", "ordinal:csi-provisioner"))


# --- readiness ----------------------------------------------------------------------------------


def registered(names: list[str]) -> Callable[[list[Obj]], Verdict[str]]:
    """Judge: every real node's CSINode lists the driver with its zone key (the kubelet registered it)."""

    def judge(items: list[Obj]) -> Verdict[str]:
        have: dict[str, list[str]] = {}
        for item in items:
            for d in (item.get("spec") or {}).get("drivers") or []:
                if d.get("name") == DRIVER:
                    have[item["metadata"]["name"]] = list(d.get("topologyKeys") or [])
        missing = [n for n in names if CSI_ZONE_LABEL not in have.get(n, [])]
        return Verdict(not missing, f"registered {sorted(have) or 'none'}, missing {missing or 'none'}")

    return judge


def wait_registered(kube: Kube, names: list[str], timeout: float = 60.0) -> None:
    wait_for(
        kube,
        Query(CSI_NODES),
        registered(names),
        expect=f"CSINode of {', '.join(names)} to list {DRIVER} with topology key {CSI_ZONE_LABEL}",
        timeout=timeout,
    )


def summary(ctx: Context, real_names: list[str]) -> dict[str, Any]:
    """What ``cluster.json`` records about the CSI stack (``cluster status`` shows it)."""
    if not real_names:
        return {"driver": None, "storage_class": None, "why": WITHOUT_REAL_NODES}
    return {
        "driver": DRIVER,
        "storage_class": STORAGE_CLASS,
        "root": str(root(ctx.state)),
        "nodes": real_names,
        "topology_key": CSI_ZONE_LABEL,
    }
