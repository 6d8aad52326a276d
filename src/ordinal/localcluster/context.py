"""What every launcher step needs: where things are and which ports they use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    def kubeconfig(self, identity: str = "admin") -> Path:
        return self.pki / f"{identity}.kubeconfig"

    @property
    def apiserver_url(self) -> str:
        return f"https://{LOOPBACK}:{self.ports.apiserver}"

    def bin(self, name: str) -> str:
        return str(self.bins[name])
