"""One cluster with the CSI stack for every test in this package, started once and stopped after the last.

The CSI stack runs only with real nodes, and a zonal ordinal-csi volume moves only between real
nodes of one zone. The package uses the session's local cluster if it already has two real nodes in
one zone and the driver; otherwise it starts its own: 5 nodes, 4 of them real over 2 zones (two
real nodes per zone, so a volume can move and a node can be lost with a sibling to take over), Pod
Security ``restricted`` enforced, state ``<state dir>-csi``, ports at the session's offset + 5000 (or
``ORDINAL_CSI_PORT_OFFSET``). ``test_teardown.py`` runs last and stops it, checking that ``down``
leaves nothing; the fixture stops it too if that test did not run.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ordinal.act.namespaces import create_namespace, delete_namespace
from ordinal.kube.rest import Kube
from ordinal.localcluster import cluster, paths, state
from ordinal.target import Target, connect

#: The package's own cluster: 5 nodes, 4 of them real, 2 zones (2 real nodes per zone).
NODES, REAL_NODES, ZONES = 5, 4, 2


def _offset() -> int:
    explicit = os.environ.get("ORDINAL_CSI_PORT_OFFSET")
    if explicit:
        return int(explicit)
    return int(os.environ.get("ORDINAL_PORT_OFFSET") or 0) + 5000


def _fits(data: dict[str, Any]) -> bool:
    """Two real nodes in one zone with the driver: a volume can move between kubelets."""
    if not (data.get("csi") or {}).get("driver"):
        return False
    real = data.get("real_nodes") or []
    zones = [i % int(data.get("zones") or 1) for i, name in enumerate(data.get("nodes") or []) if name in real]
    return any(zones.count(z) >= 2 for z in zones)


@pytest.fixture(scope="package")
def csi_cluster() -> Iterator[dict[str, Any]]:
    running = state.read() if state.is_running() else None
    if running and _fits(running):
        yield {**running, "dedicated": None, "where": str(paths.state_dir())}
        return
    where = Path(f"{paths.state_dir()}-csi")
    data = cluster.up(
        nodes=NODES,
        real_nodes=REAL_NODES,
        zones=ZONES,
        port_offset=_offset(),
        state_dir=where,
        pod_security="restricted",
        log=print,
    )
    yield {**data, "dedicated": str(where), "where": str(where)}
    cluster.down(state_dir=where, log=print)  # idempotent: test_teardown may have done it


@pytest.fixture(scope="package")
def kube(csi_cluster: dict[str, Any]) -> Iterator[Kube]:
    client = connect(Target(csi_cluster["kubeconfig"], None, "local cluster", local=True))
    yield client
    client.close()


@pytest.fixture
def ns(kube: Kube, run_id: str) -> Iterator[str]:
    name = create_namespace(kube, run_id, prefix="ordcsi")
    yield name
    errors = delete_namespace(kube, name)
    assert not errors, f"cleanup of {name} left: {errors}"


@pytest.fixture(scope="package")
def user_env(csi_cluster: dict[str, Any]) -> dict[str, str]:
    """The environment after ``eval "$(ordinal cluster env)"`` for this cluster, and no other ordinal settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") and k != "KUBECONFIG"}
    base["ORDINAL_CLUSTER_DIR"] = str(csi_cluster["where"])
    printed = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "cluster", "env"],
        env=base,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for line in printed.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        base[key] = shlex.split(value)[0]
    assert "{node}" in base["ORDINAL_NODE_STOP_COMMAND"] and "{node}" in base["ORDINAL_NODE_START_COMMAND"]
    return base
