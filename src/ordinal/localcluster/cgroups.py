"""The real nodes' cgroups: one subtree per cluster, created in every hierarchy, removed on ``down``.

The kubelet (``cgroupDriver: cgroupfs``) refuses a ``cgroupRoot`` that does not exist, and on
cgroup v1 each controller is its own hierarchy, so the same path is created in all of them.
The path sits below the launcher's own memory cgroup (``/proc/self/cgroup``), so pods are
accounted with whoever started the cluster::

    <own memory cgroup>/ordinal-<offset>/<node>            kubelet cgroupRoot (kubepods/... below)
    <own memory cgroup>/ordinal-<offset>/<node>/daemons     containerd, shims, kubelet, kube-proxy

Teardown kills whatever is still inside the subtree (containers whose shims outlived
containerd), then removes every directory bottom-up, then the parents it had to create.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path

from ordinal.errors import ClusterError

V1_REQUIRED = ("cpu", "cpuacct", "cpuset", "memory", "pids")
_NOT_CONTROLLERS = {"rw", "ro", "clone_children", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods"}


def mounts(mountinfo: str | None = None) -> dict[str, Path]:
    """Every cgroup hierarchy: controller (or ``name=…``, or ``unified`` for cgroup2) → mount point."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    found: dict[str, Path] = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rest = right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        fstype, options = rest[0], rest[2].split(",")
        if fstype == "cgroup":
            for opt in options:
                if opt in _NOT_CONTROLLERS or ("=" in opt and not opt.startswith("name=")):
                    continue
                found.setdefault(opt, Path(fields[4]))
        elif fstype == "cgroup2":
            found.setdefault("unified", Path(fields[4]))
    return found


def hierarchies(found: dict[str, Path] | None = None) -> list[Path]:
    """Distinct mount points (``cpu,cpuacct`` mounted together counts once)."""
    return sorted(set((found if found is not None else mounts()).values()))


def own_path(controller: str = "memory", proc_cgroup: str | None = None) -> str:
    """This process's cgroup path in ``controller``'s hierarchy (``/`` when not listed)."""
    text = proc_cgroup if proc_cgroup is not None else Path("/proc/self/cgroup").read_text()
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path or "/"
    return "/"


def cluster_root(offset: int) -> str:
    base = own_path("memory").rstrip("/")
    return f"{base}/ordinal-{offset}"


def _copy_cpuset(directory: Path) -> None:
    """A new v1 cpuset is empty and refuses tasks until it has cpus and mems: inherit the parent's."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        target = directory / name
        if target.exists() and not target.read_text().strip():
            target.write_text((directory.parent / name).read_text().strip() or "0")


def create(rel: str) -> list[str]:
    """mkdir ``rel`` in every hierarchy; return the directories created (for :func:`remove_created`)."""
    created: list[str] = []
    for root in hierarchies():
        path = root
        for part in [p for p in rel.split("/") if p]:
            path = path / part
            if path.is_dir():
                continue
            try:
                path.mkdir()
            except OSError as err:
                raise ClusterError(f"expected to create cgroup {path}, got {err.strerror}") from err
            created.append(str(path))
            _copy_cpuset(path)
    return created


def move(pid: int, rel: str) -> None:
    """Put process ``pid`` (all its threads) into ``rel`` in every hierarchy."""
    for root in hierarchies():
        procs = root / rel.lstrip("/") / "cgroup.procs"
        if not procs.exists():
            continue
        try:
            procs.write_text(str(pid))
        except OSError as err:
            if err.errno == errno.ESRCH:
                return
            raise ClusterError(f"expected to move pid {pid} into {procs.parent}, got {err.strerror}") from err


def pids(rel: str) -> set[int]:
    """Every process anywhere below ``rel``, in any hierarchy."""
    found: set[int] = set()
    for root in hierarchies():
        top = root / rel.lstrip("/")
        if not top.is_dir():
            continue
        found |= pids_in(top)
    found.discard(os.getpid())
    return found


def pids_in(directory: Path) -> set[int]:
    """Every process below ``directory`` of one hierarchy."""
    found: set[int] = set()
    for procs in directory.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            found.update(int(p) for p in procs.read_text().split())
    return found


def kill_all(rel: str, *, timeout: float = 10.0) -> list[int]:
    """SIGKILL everything below ``rel`` until it is empty; return what is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    left = pids(rel)
    while left and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
        left = pids(rel)
    return sorted(left)


def remove_tree(rel: str) -> list[str]:
    """rmdir ``rel`` and everything below it in every hierarchy (deepest first); return errors."""
    errors: list[str] = []
    for root in hierarchies():
        top = root / rel.lstrip("/")
        if not top.is_dir():
            continue
        dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True)
        for directory in [*dirs, top]:
            for attempt in range(50):  # a just-killed task may take a moment to leave
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as err:
                    if err.errno != errno.EBUSY or attempt == 49:
                        errors.append(f"expected to remove cgroup {directory}, got {err.strerror}")
                        break
                    time.sleep(0.1)
    return errors


def remove_created(created: list[str]) -> None:
    """Remove parents we created, deepest first, if nothing else uses them now (best effort)."""
    for path in sorted(created, key=lambda p: len(Path(p).parts), reverse=True):
        with contextlib.suppress(OSError):
            Path(path).rmdir()


# -- the freezer: a node that stops answering, as a hung machine would ---------------------------

FREEZER = "freezer"
FROZEN, FREEZING, THAWED = "FROZEN", "FREEZING", "THAWED"


def freezer_dir(rel: str, found: dict[str, Path] | None = None) -> Path:
    """``rel`` in the v1 freezer hierarchy; ClusterError when that hierarchy is not mounted."""
    root = (found if found is not None else mounts()).get(FREEZER)
    if root is None:
        raise ClusterError("expected the cgroup v1 freezer hierarchy to be mounted (to stop a node), found none")
    return root / rel.lstrip("/")


def freezer_state(directory: Path) -> str:
    """``FROZEN``, ``FREEZING`` or ``THAWED`` (what the kernel says of the whole subtree)."""
    return (directory / "freezer.state").read_text().strip()


def freeze(directory: Path, *, timeout: float = 10.0) -> None:
    """Freeze every task below ``directory`` (children too) and wait until the kernel reports FROZEN.

    A task in uninterruptible sleep keeps the cgroup FREEZING; past ``timeout`` it is thawed
    again and the error says so, so a failed stop never leaves a half-frozen node behind.
    """
    (directory / "freezer.state").write_text(FROZEN)
    deadline = time.monotonic() + timeout
    state = freezer_state(directory)
    while state != FROZEN and time.monotonic() < deadline:
        time.sleep(0.05)  # a kernel state file: nothing to watch, so a short bounded poll
        state = freezer_state(directory)
    if state != FROZEN:
        thaw(directory)
        raise ClusterError(
            f"expected {directory} FROZEN within {timeout:.0f}s, it stayed {state} "
            "(a task in uninterruptible sleep?); thawed it again"
        )


def thaw(directory: Path) -> None:
    """Thaw ``directory`` and every descendant frozen on its own (``self_freezing``)."""
    if not directory.is_dir():
        return
    frozen = [d for d in (directory, *directory.rglob("*")) if d.is_dir() and _self_frozen(d)]
    for path in frozen:
        with contextlib.suppress(FileNotFoundError):
            (path / "freezer.state").write_text(THAWED)


def _self_frozen(directory: Path) -> bool:
    try:
        return (directory / "freezer.self_freezing").read_text().strip() == "1"
    except (FileNotFoundError, NotADirectoryError):
        return False
