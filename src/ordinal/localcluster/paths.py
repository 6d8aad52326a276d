"""Where the local cluster keeps its sources, build cache and run state."""

from __future__ import annotations

import os
from pathlib import Path

from ordinal import resources
from ordinal.errors import ClusterError


def cache_dir() -> Path:
    """Build outputs: ``$XDG_CACHE_HOME/ordinal`` (never inside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ordinal"


def state_dir() -> Path:
    """Run state of the one local cluster: pids, certificates, kubeconfigs, logs, volumes.

    ``ORDINAL_CLUSTER_DIR`` moves it, which lets tests start a second, independent launcher.
    """
    explicit = os.environ.get("ORDINAL_CLUSTER_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ordinal" / "cluster"


def source_dir() -> Path:
    """The ``cluster/`` directory: the Go wrapper modules and ``versions.json`` the binaries are built from.

    ``ORDINAL_SOURCE`` (a checkout) if set; else the checkout ordinal runs from, or, in an
    installed wheel, the copy it carries as package data (see :mod:`ordinal.resources`). The
    bytes are the same either way, so both find the same cached builds.
    """
    explicit = os.environ.get("ORDINAL_SOURCE")
    if explicit:
        cluster = Path(explicit) / "cluster"
        if not (cluster / "versions.json").is_file():
            raise ClusterError(
                f"expected ORDINAL_SOURCE={explicit} to be an ordinal checkout, found no cluster/versions.json"
            )
        return cluster
    carried = resources.folder("cluster")
    if carried is None or not (carried / "versions.json").is_file():
        raise ClusterError(
            "expected the Go modules and pins ordinal carries (cluster/versions.json), found none: "
            "reinstall ordinal-k8s, or set ORDINAL_SOURCE to a checkout"
        )
    return carried
