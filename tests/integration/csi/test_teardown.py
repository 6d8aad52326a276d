"""Runs last in the package: ``down`` of the CSI cluster, with a real node still stopped, leaves nothing."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from host_traces import traces

from ordinal.localcluster import cgroups, cluster
from ordinal.localcluster.nodes import real


def test_down_thaws_a_stopped_node_and_leaves_no_process_mount_socket_or_cgroup(
    csi_cluster: dict[str, Any], user_env: dict[str, str]
) -> None:
    """`down` with a node still stopped MUST thaw it, stop every CSI process, leave no mount, socket or cgroup."""
    if csi_cluster["dedicated"] is None:
        pytest.skip("the session's own cluster runs the driver; it is stopped by the session, not here")
    where = Path(csi_cluster["dedicated"])
    record = real.load(where)
    assert record is not None
    node = csi_cluster["real_nodes"][0]
    subprocess.run(shlex.split(user_env["ORDINAL_NODE_STOP_COMMAND"].replace("{node}", node)), env=user_env, check=True)
    assert real.stopped_nodes(where) == [node]
    assert any(t.startswith("socket") for t in traces(where))  # something to remove: the check is not vacuous
    assert cluster.down(state_dir=where)
    assert traces(where) == []
    assert cgroups.pids(record["cgroup_root"]) == set()
    assert not cgroups.freezer_dir(record["cgroup_root"]).exists()
    assert not where.exists()
