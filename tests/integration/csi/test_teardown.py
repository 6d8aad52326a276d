"""Runs last in the package: ``down`` of the CSI cluster leaves no process, mount or socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from host_traces import traces

from ordinal.localcluster import cluster


def test_down_leaves_no_process_mount_or_socket(csi_cluster: dict[str, Any]) -> None:
    """`down` MUST stop every CSI process and leave no mount or socket of the cluster behind."""
    if csi_cluster["dedicated"] is None:
        pytest.skip("the session's own cluster runs the driver; it is stopped by the session, not here")
    where = Path(csi_cluster["dedicated"])
    assert any(t.startswith("socket") for t in traces(where))  # something to remove: the check is not vacuous
    assert cluster.down(state_dir=where)
    assert traces(where) == []
    assert not where.exists()
