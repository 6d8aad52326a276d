"""Bad input to `ordinal cluster`: one line saying expected vs found, a non-zero exit, nothing left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from host_traces import processes_under

from ordinal.localcluster import process

ORDINAL = [sys.executable, "-m", "ordinal.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORDINAL, *args], capture_output=True, text=True, env=env, timeout=600)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {text!r}"
    return lines[0]


@pytest.fixture
def other_state(tmp_path: Path, local_cluster: dict[str, Any]) -> dict[str, str]:
    """Environment for a second, independent launcher: its own state directory, the session's ports."""
    offset = local_cluster["ports"]["etcd"] - 2379
    return {**os.environ, "ORDINAL_CLUSTER_DIR": str(tmp_path / "second"), "ORDINAL_PORT_OFFSET": str(offset)}


def test_second_up_while_one_runs_fails_and_leaves_the_first_alone(local_cluster: dict[str, Any]) -> None:
    before = {r.pid for r in process.records(Path(local_cluster["kubeconfig"]).parents[1])}
    result = run("cluster", "up")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "expected no local cluster running, found one up since" in line
    after = {r.pid for r in process.records(Path(local_cluster["kubeconfig"]).parents[1]) if r.alive()}
    assert after == before


def test_up_with_a_port_in_use_names_the_port_and_its_owner(
    local_cluster: dict[str, Any], other_state: dict[str, str], tmp_path: Path
) -> None:
    # The session's cluster holds every default port; a second launcher must refuse before starting anything.
    result = run("cluster", "up", env=other_state)
    assert result.returncode == 1
    line = one_line(result.stderr.replace("\r", ""))
    assert f"expected 127.0.0.1:{local_cluster['ports']['etcd']}/tcp free for etcd, found it in use by pid" in line
    assert not (tmp_path / "second").exists()
    assert processes_under(tmp_path / "second") == []


def test_up_with_a_port_held_by_a_stranger_says_so(tmp_path: Path) -> None:
    # A launcher on otherwise free ports (offset 20000) whose apiserver port a plain socket holds.
    offset = 20000
    env = {**os.environ, "ORDINAL_CLUSTER_DIR": str(tmp_path / "third"), "ORDINAL_PORT_OFFSET": str(offset)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 6443 + offset))
        sock.listen()
        result = run("cluster", "up", env=env)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"expected 127.0.0.1:{6443 + offset}/tcp free for apiserver, found it in use by pid {os.getpid()}" in line
    assert not (tmp_path / "third").exists()
    assert processes_under(tmp_path / "third") == []


def test_build_without_go_says_a_toolchain_is_expected(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # nothing cached: a build is needed
        "ORDINAL_CLUSTER_DIR": str(tmp_path / "state"),
        "PATH": os.path.dirname(sys.executable),  # python, but no go
    }
    for args in (("cluster", "build"), ("cluster", "up")):
        result = run(*args, env=env)
        assert result.returncode == 1, result
        assert "expected a Go toolchain >= go1.26 on PATH" in one_line(result.stderr)
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    "args",
    [("cluster", "up", "--bogus"), ("cluster", "up", "--nodes", "x"), ("cluster", "explode"), ("nonsense",)],
    ids=["unknown-flag", "bad-number", "unknown-action", "unknown-command"],
)
def test_unknown_flags_are_refused_in_one_line(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "expected ordinal" in one_line(result.stderr)


@pytest.mark.parametrize(("nodes", "zones"), [("0", "1"), ("2", "3")], ids=["no-nodes", "more-zones-than-nodes"])
def test_impossible_topologies_are_refused(nodes: str, zones: str, other_state: dict[str, str]) -> None:
    result = run("cluster", "up", "--nodes", nodes, "--zones", zones, env=other_state)
    assert result.returncode == 1
    assert "expected" in one_line(result.stderr)


def test_down_with_nothing_running_is_a_no_op(other_state: dict[str, str]) -> None:
    result = run("cluster", "down", env=other_state)
    assert result.returncode == 0
    assert "nothing to stop" in result.stdout


def test_env_prints_kubeconfig_and_dns_exports(local_cluster: dict[str, Any]) -> None:
    result = run("cluster", "env")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"export KUBECONFIG={local_cluster['kubeconfig']}",
        f"export ORDINAL_DNS=direct:{local_cluster['dns']}",
    ]


def test_env_without_a_cluster_fails_in_one_line(other_state: dict[str, str]) -> None:
    result = run("cluster", "env", env=other_state)
    assert result.returncode == 1
    assert "expected a running local cluster, found none" in one_line(result.stderr)


def test_status_and_logs_describe_the_running_cluster(local_cluster: dict[str, Any]) -> None:
    status = run("cluster", "status")
    assert status.returncode == 0
    assert '"running": true' in status.stdout
    logs = run("cluster", "logs", "kube-apiserver")
    assert logs.returncode == 0 and logs.stdout
    bad = run("cluster", "logs", "nope")
    assert bad.returncode == 1
    assert "expected a component name, one of" in one_line(bad.stderr)
