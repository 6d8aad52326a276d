"""Runs last in the package: ``down`` of the CSI cluster leaves no process, mount or socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ordinal.localcluster import cluster


def _traces(where: Path) -> list[str]:
    """Processes, mounts and sockets of the cluster at ``where`` still on the host."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(where) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(f"process {proc.name}")
            except OSError:
                pass
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if str(where) in line.split()[4]:
            found.append(f"mount {line.split()[4]}")
    if where.exists():
        found += [f"socket {p}" for p in where.rglob("*") if p.is_socket()]
    return found


def test_down_leaves_no_process_mount_or_socket(csi_cluster: dict[str, Any]) -> None:
    """`down` MUST stop every CSI process and leave no mount or socket of the cluster behind."""
    if csi_cluster["dedicated"] is None:
        pytest.skip("the session's own cluster runs the driver; it is stopped by the session, not here")
    where = Path(csi_cluster["dedicated"])
    assert any(t.startswith("socket") for t in _traces(where))  # something to remove: the check is not vacuous
    assert cluster.down(state_dir=where)
    assert _traces(where) == []
    assert not where.exists()
