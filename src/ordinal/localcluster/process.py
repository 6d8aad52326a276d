"""Start, find and stop the cluster's host processes by recorded pid.

A pid alone can be reused by the kernel, so each record also keeps the process's start
time from ``/proc/<pid>/stat``; a record whose start time no longer matches is stale and
never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ordinal.errors import ClusterError

#: Popen objects of children started by this Python process, so they can be reaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    start_ticks: int
    argv: list[str]
    log: str

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks and _state(self.pid) not in ("Z", "X", None)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses; fields after the last ')' are fixed.
    return raw[raw.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def spawn(name: str, argv: list[str], *, state: Path, env: dict[str, str] | None = None) -> ProcessRecord:
    """Start ``argv`` in its own session (it outlives the CLI), logging to ``logs/<name>.log``."""
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=state,
            )
        except OSError as err:
            raise ClusterError(f"expected to start {name} ({argv[0]}), got {err}") from err
    _CHILDREN[proc.pid] = proc
    record = ProcessRecord(name, proc.pid, _start_ticks(proc.pid) or 0, argv, str(log_path))
    pids = state / "pids"
    pids.mkdir(exist_ok=True)
    (pids / f"{name}.json").write_text(json.dumps(asdict(record)))
    return record


def records(state: Path) -> list[ProcessRecord]:
    out = []
    for path in sorted((state / "pids").glob("*.json")):
        with contextlib.suppress(ValueError, TypeError, OSError):
            out.append(ProcessRecord(**json.loads(path.read_text())))
    return sorted(out, key=lambda r: r.start_ticks)  # start order; teardown walks it backwards


def _reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.1)


def stop(record: ProcessRecord, *, grace: float = 10.0) -> bool:
    """SIGTERM the record's process group, SIGKILL after ``grace`` seconds. True if it was running."""
    if not record.alive():
        _reap(record.pid)
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            child = _CHILDREN.get(record.pid)
            if child is not None and child.poll() is not None:
                _CHILDREN.pop(record.pid, None)
            if not record.alive():
                _reap(record.pid)
                return True
            time.sleep(0.05)
    raise ClusterError(f"expected {record.name} (pid {record.pid}) to exit after SIGKILL, it is still running")


def exited(record: ProcessRecord) -> bool:
    """True when a process we started has already died (its log says why)."""
    child = _CHILDREN.get(record.pid)
    if child is not None:
        return child.poll() is not None
    return not record.alive()


def log_tail(record: ProcessRecord, lines: int = 1) -> str:
    try:
        text = Path(record.log).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# --- ports -----------------------------------------------------------------------------------


def _socket_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                local, st = cols[1], cols[3]
                if int(local.rsplit(":", 1)[1], 16) == port and (st == "0A" or "udp" in table):
                    inodes.add(cols[9])
    return inodes


def port_owner(port: int) -> str:
    """Describe who holds ``port`` ("pid 123 (etcd)"), best effort."""
    inodes = _socket_inodes(port)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    comm = (proc / "comm").read_text().strip()
                    return f"pid {proc.name} ({comm})"
    return "another process"


def port_free(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
