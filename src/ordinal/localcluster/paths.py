"""Where the local cluster keeps its sources, build cache and run state."""

from __future__ import annotations

import os
from pathlib import Path

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
    """The ``cluster/`` directory of an ordinal checkout (Go wrapper modules and pins).

    Looked up from ``ORDINAL_SOURCE``, then upwards from this file and from the working
    directory, so both editable installs and installs run inside a clone find it.
    """
    candidates: list[Path] = []
    if os.environ.get("ORDINAL_SOURCE"):
        candidates.append(Path(os.environ["ORDINAL_SOURCE"]))
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        candidates.extend(start.parents if start.is_file() else [start, *start.parents])
    for root in candidates:
        if (root / "cluster" / "versions.json").is_file():
            return root / "cluster"
    raise ClusterError(
        "expected an ordinal checkout with cluster/versions.json (set ORDINAL_SOURCE to the clone), "
        f"found none above {Path.cwd()}"
    )
