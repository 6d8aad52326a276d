"""The state file of a running local cluster (``cluster.json``) and the lock around changes."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError
from ordinal.localcluster import paths, process

STATE_FILE = "cluster.json"


def read(state: Path | None = None) -> dict[str, Any] | None:
    state = state or paths.state_dir()
    try:
        data: dict[str, Any] = json.loads((state / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data


def write(state: Path, data: dict[str, Any]) -> None:
    tmp = state / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(data, indent=2))
    tmp.rename(state / STATE_FILE)


def is_running(state: Path | None = None) -> bool:
    """Up means: a state file exists and every recorded process is alive."""
    state = state or paths.state_dir()
    recs = process.records(state)
    return read(state) is not None and bool(recs) and all(r.alive() for r in recs)


def running_kubeconfig(state: Path | None = None) -> Path | None:
    state = state or paths.state_dir()
    data = read(state)
    if data is None or not is_running(state):
        return None
    return Path(data["kubeconfig"])


def node_image(state: Path | None = None) -> str | None:
    """The busybox image every real node of the running cluster holds (None: no real nodes, or not up).

    Real nodes pull nothing, so pods that may land on one must use this image.
    """
    state = state or paths.state_dir()
    data = read(state)
    if data is None or not is_running(state):
        return None
    image = (data.get("images") or {}).get("busybox")
    return str(image) if image else None


@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    """Serialise up/down on one state directory; a second caller fails at once instead of racing."""
    state.parent.mkdir(parents=True, exist_ok=True)
    lock_path = state.parent / f".{state.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ClusterError(
                f"expected to be the only `ordinal cluster up/down` on {state}, found another one in progress"
            ) from None
        yield
