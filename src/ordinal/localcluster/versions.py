"""The one file that pins every component: ``cluster/versions.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import ClusterError, InvalidScenario


@dataclass(frozen=True)
class Versions:
    go: str
    kubernetes: str  # v1.37.N
    etcd: str
    coredns: str
    kwok: str
    provisioner_lib: str  # module@version
    #: Older releases ``cluster up --kubernetes vX.Y`` can start, each with a module cluster/kube-vX.Y.
    kubernetes_older: tuple[str, ...] = ()
    #: The CSI stack (module@version each): the spec and csi-lib-utils ordinal-csi is built on, csi-test
    #: (csi-sanity in its go test) and the upstream external-attacher the local cluster runs.
    csi_spec: str = ""
    csi_lib_utils: str = ""
    csi_test: str = ""
    external_attacher: str = ""

    @property
    def staging(self) -> str:
        """Version of the k8s.io staging modules that ship with ``kubernetes`` (v1.37.2 → v0.37.2)."""
        return staging_of(self.kubernetes)

    @property
    def kube_minor(self) -> tuple[str, str]:
        major, minor, _ = self.kubernetes.lstrip("v").split(".")
        return major, minor

    def release(self, wanted: str | None) -> str:
        """The pinned release for ``--kubernetes`` (``v1.33``, ``1.33`` or exact); None or "" → the default."""
        if not wanted:
            return self.kubernetes
        want = "v" + wanted.strip().lstrip("v")
        for release in (self.kubernetes, *self.kubernetes_older):
            if release == want or release.startswith(want + "."):
                return release
        known = ", ".join(minor_of(r) for r in (self.kubernetes, *self.kubernetes_older))
        raise InvalidScenario(f"expected --kubernetes one of {known} (pinned in cluster/versions.json), got {wanted!r}")


def split_pin(pin: str) -> tuple[str, str]:
    """``path@version`` → ``(path, version)``."""
    path, _, version = pin.partition("@")
    return path, version


def minor_of(release: str) -> str:
    """``v1.33.13`` → ``v1.33``."""
    return ".".join(release.split(".")[:2])


def staging_of(release: str) -> str:
    """``v1.33.13`` → ``v0.33.13``: the tag of the k8s.io staging modules of that release."""
    _, minor, patch = release.lstrip("v").split(".")
    return f"v0.{minor}.{patch}"


def kube_module(release: str, default: str) -> str:
    """The wrapper module directory under cluster/ of a release: ``kube``, or ``kube-v1.33`` for an older one."""
    return "kube" if release == default else f"kube-{minor_of(release)}"


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
            kubernetes_older=tuple(raw.get("kubernetes_older") or ()),
            csi_spec=raw["csi_spec"],
            csi_lib_utils=raw["csi_lib_utils"],
            csi_test=raw["csi_test"],
            external_attacher=raw["external_attacher"],
        )
    except (OSError, ValueError, KeyError) as err:
        raise ClusterError(f"expected a readable pin file {path} with go/kubernetes/etcd/...: {err}") from err
