"""One local cluster for the whole test session: reused when already up, else started and stopped here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ordinal.act.namespaces import create_namespace, delete_namespace, new_run_id
from ordinal.kube.rest import Kube
from ordinal.localcluster import cluster, paths, state
from ordinal.target import Target, connect


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[dict[str, Any]]:
    started_here = False
    if not state.is_running():
        # ORDINAL_PORT_OFFSET lets a developer's own cluster and the test session's run side by side.
        offset = int(os.environ.get("ORDINAL_PORT_OFFSET") or 0)
        cluster.up(nodes=3, zones=3, real_nodes=0, port_offset=offset, log=print)  # real ones: test_real_nodes
        started_here = True
    data = state.read()
    assert data is not None
    yield data
    if started_here:
        cluster.down(log=print)


@pytest.fixture(scope="session")
def kube(local_cluster: dict[str, Any]) -> Iterator[Kube]:
    target = Target(local_cluster["kubeconfig"], None, "local cluster", local=True)
    client = connect(target)
    yield client
    client.close()


@pytest.fixture(scope="session")
def run_id() -> str:
    return new_run_id()


@pytest.fixture
def namespace(kube: Kube, run_id: str) -> Iterator[str]:
    name = create_namespace(kube, run_id, prefix="ordtest")
    yield name
    errors = delete_namespace(kube, name)
    assert not errors, f"cleanup of {name} left: {errors}"


@pytest.fixture
def dns_server(local_cluster: dict[str, Any]) -> tuple[str, int]:
    host, port = local_cluster["dns"].rsplit(":", 1)
    return host, int(port)


@pytest.fixture
def state_dir() -> Path:
    return Path(paths.state_dir())
