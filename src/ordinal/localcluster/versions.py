"""The one file that pins every component: ``cluster/versions.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import ClusterError


@dataclass(frozen=True)
class Versions:
    go: str
    kubernetes: str  # v1.37.N
    etcd: str
    coredns: str
    kwok: str
    provisioner_lib: str  # module@version

    @property
    def staging(self) -> str:
        """Version of the k8s.io staging modules that ship with ``kubernetes`` (v1.37.2 → v0.37.2)."""
        _, minor, patch = self.kubernetes.lstrip("v").split(".")
        return f"v0.{minor}.{patch}"

    @property
    def kube_minor(self) -> tuple[str, str]:
        major, minor, _ = self.kubernetes.lstrip("v").split(".")
        return major, minor


def load(source: Path) -> Versions:
    path = source / "versions.json"
    try:
        raw = json.loads(path.read_text())
        return Versions(
            go=raw["go"],
            kubernetes=raw["kubernetes"],
            etcd=raw["etcd"],
            coredns=raw["coredns"],
            kwok=raw["kwok"],
            provisioner_lib=raw["external_provisioner_lib"],
        )
    except (OSError, ValueError, KeyError) as err:
        raise ClusterError(f"expected a readable pin file {path} with go/kubernetes/etcd/...: {err}") from err
