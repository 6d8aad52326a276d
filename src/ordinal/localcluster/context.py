"""What every launcher step needs: where things are and which ports they use."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ordinal.errors import InvalidScenario
from ordinal.localcluster.network import ClusterNet

LOOPBACK = "127.0.0.1"
_GATE = re.compile(r"[A-Z][A-Za-z0-9]*")


def parse_feature_gates(raw: str) -> dict[str, bool]:
    """``"A=true,B=false"`` (the components' own ``--feature-gates`` syntax) → ``{"A": True, "B": False}``.

    Only the shape is checked here; a gate name the release does not know stops the first
    component that reads it (the apiserver), and ``up`` reports that component's last log line.
    """
    gates: dict[str, bool] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip().lower()
        if not sep or not _GATE.fullmatch(name) or value not in ("true", "false"):
            raise InvalidScenario(f"expected --feature-gates as Name=true|false[,Name=true|false...], got {item!r}")
        gates[name] = value == "true"
    return gates


def feature_gates_flag(gates: Mapping[str, bool]) -> list[str]:
    """``["--feature-gates=A=true,B=false"]`` for a component's argv, or nothing when no gate is set."""
    if not gates:
        return []
    return ["--feature-gates=" + ",".join(f"{name}={str(on).lower()}" for name, on in sorted(gates.items()))]


@dataclass(frozen=True)
class Ports:
    """Every port the cluster listens on, all on loopback. Checked free before anything starts."""

    etcd: int = 2379
    etcd_peer: int = 2380
    apiserver: int = 6443
    controller_manager: int = 10257
    scheduler: int = 10259
    kwok: int = 10247
    provisioner: int = 10260
    dns: int = 1053
    dns_ready: int = 10261
    dns_health: int = 10262
    csi_attacher: int = 10263  # the external-attacher's /metrics (real nodes only)
    csi_provisioner: int = 10264  # the ordinal-csi provisioner's /healthz (real nodes only)

    def named(self) -> dict[str, int]:
        return dict(vars(self))

    def shifted(self, offset: int) -> Ports:
        """Every port moved by ``offset``: lets a second cluster (another state dir) run beside the first."""
        return Ports(**{name: port + offset for name, port in self.named().items()})


@dataclass
class Context:
    state: Path
    bins: dict[str, Path]
    ports: Ports = field(default_factory=Ports)
    nodes: int = 3
    zones: int = 3
    log: Callable[[str], None] = field(default=lambda m: print(m, file=sys.stderr))
    port_offset: int = 0
    real_nodes: int = 0
    #: The cluster's DNS domain: CoreDNS's zone, the kubelets' clusterDomain, the token issuer.
    cluster_domain: str = "cluster.local"
    #: Pod Security level enforced by default in every namespace ("" = the apiserver's default, privileged).
    pod_security: str = ""
    #: Feature gates set on the apiserver, controller-manager, scheduler and every kubelet (alpha ones too).
    feature_gates: dict[str, bool] = field(default_factory=dict)

    @property
    def net(self) -> ClusterNet | None:
        """The cluster's bridge network: only with real nodes (their namespaces must reach the apiserver)."""
        return ClusterNet(self.port_offset) if self.real_nodes else None

    @property
    def api_host(self) -> str:
        """Where the apiserver listens: loopback, or the bridge IP when real nodes need to reach it."""
        return self.net.bridge_ip if self.net else LOOPBACK

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    def kubeconfig(self, identity: str = "admin") -> Path:
        return self.pki / f"{identity}.kubeconfig"

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.api_host}:{self.ports.apiserver}"

    @property
    def issuer(self) -> str:
        """ServiceAccount token issuer (and audience): the apiserver's in-cluster name under the domain."""
        return f"https://kubernetes.default.svc.{self.cluster_domain}"

    def bin(self, name: str) -> str:
        return str(self.bins[name])
