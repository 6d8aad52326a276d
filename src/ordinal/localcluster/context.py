"""What every launcher step needs: where things are and which ports they use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ordinal.localcluster.network import ClusterNet

LOOPBACK = "127.0.0.1"


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
