"""What a stopped (or failed) local cluster may still leave on the host, and the figures tests keep.

Shared by the modules that start clusters of their own: each checks, by the cluster's state
directory, that no process, mount or socket of it is left.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def processes_under(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (a stray process of a failed start would)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(path) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def mounts_under(path: Path) -> list[str]:
    """Mount points below ``path`` in this process's mount namespace."""
    points = (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return [p for p in points if str(path) in p]


def traces(path: Path) -> list[str]:
    """Processes, mounts and sockets of the cluster whose state directory is ``path``, as found now."""
    found = [f"process {pid}" for pid in processes_under(path)]
    found += [f"mount {point}" for point in mounts_under(path)]
    if path.exists():
        found += [f"socket {p}" for p in path.rglob("*") if p.is_socket()]
    return found


def record_figure(record_property: Any, file: str, name: str, value: float, unit: str = "s") -> None:
    """A figure in the JUnit properties and in ``reports/<file>`` (kept across runs, newest value wins)."""
    record_property(name, round(value, 3))
    path = REPORTS / file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = {"value": round(value, 3), "unit": unit, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(data, indent=2))
    print(f"figure {name}: {value:.3f}{unit}")
