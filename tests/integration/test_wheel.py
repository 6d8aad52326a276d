"""The wheel, as a user installs it: built from the clone's files, installed into a fresh venv outside
the clone, and run from a temporary directory with no checkout above it.

``ordinal cluster up`` must find the Go modules and pins in the wheel (and, with a warm cache, the
builds a checkout made: the cache key covers the same bytes), ``chaos run "$(ordinal experiments
path pod-kill)"`` must run the carried experiment, and ``ordinal run`` one module of the carried
suite, with reports written where the run starts, never into site-packages.

The cluster here is a second one (its own state directory, ports at the session's offset + 2000,
simulated nodes only), so the session's cluster may run beside it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: From the session's offset; 1000, 3000 and 4000 above it belong to the other second clusters.
OFFSET_STEP = 2000


def _files_of_the_clone(destination: Path) -> None:
    """Copy what git tracks or would track (not ignored): what a fresh clone builds the wheel from."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            target.write_bytes(source.read_bytes())


def _run(command: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"expected `{shlex.join(map(str, command))}` to succeed, exit {done.returncode}:\n" + (output[-4000:])
    )
    return output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source, out = tmp_path_factory.mktemp("wheel-source"), tmp_path_factory.mktemp("wheel")
    _files_of_the_clone(source)
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, source],
        cwd=out,
        env=dict(os.environ),
        timeout=600,
    )
    (built,) = out.glob("ordinal_k8s-*.whl")
    print(f"wheel {built.name}: {built.stat().st_size / 1024:.0f} KiB")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the clone with the wheel (and its dependencies) installed: its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", venv], cwd=venv, env=dict(os.environ), timeout=120)
    _run([venv / "bin" / "pip", "install", "-q", wheel], cwd=venv, env=dict(os.environ), timeout=600)
    return venv / "bin"


def test_the_wheel_carries_the_cluster_sources_experiments_suite_and_schema(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    clone = {
        f"ordinal/_cluster/{p.relative_to(ROOT / 'cluster')}" for p in (ROOT / "cluster").rglob("*") if p.is_file()
    }
    experiments = {f"ordinal/_experiments/{p.name}" for p in (ROOT / "experiments").glob("*.json")}
    suite = {f"ordinal/conformance/{p.name}" for p in (ROOT / "conformance").glob("*.py")}
    wanted = clone | experiments | suite | {"ordinal/report/schema/report-v1.schema.json", "ordinal/py.typed"}
    assert wanted <= names, f"expected the wheel to carry {sorted(wanted - names)}"
    assert not [n for n in names if n.startswith(("tests/", "reports/", "cluster/", "experiments/"))]


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working directory with no checkout above it."""
    where = tmp_path_factory.mktemp("user")
    assert not any((parent / "pyproject.toml").exists() for parent in [where, *where.parents])
    return where


@pytest.fixture(scope="module")
def wheel_cluster(installed: Path, user_dir: Path) -> Iterator[dict[str, str]]:
    """`ordinal cluster up` from the installed wheel; yields the environment after `eval "$(ordinal cluster env)"`."""
    offset = int(os.environ.get("ORDINAL_PORT_OFFSET") or 0) + OFFSET_STEP
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") and k != "KUBECONFIG"}
    env |= {
        "ORDINAL_CLUSTER_DIR": str(user_dir.parent / "wheel-cluster"),
        "ORDINAL_PORT_OFFSET": str(offset),
        "PATH": f"{installed}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    started = time.monotonic()
    try:
        output = _run([installed / "ordinal", "cluster", "up", "--real-nodes", "0"], cwd=user_dir, env=env, timeout=900)
        print(f"cluster up from the wheel in {time.monotonic() - started:.0f}s")
        assert "building" not in output, f"expected the warm cache to be found from the wheel, it built:\n{output}"
        exports = _run([installed / "ordinal", "cluster", "env"], cwd=user_dir, env=env, timeout=60)
        for line in exports.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0] if value else ""
        yield env
    finally:
        down = subprocess.run(
            [str(installed / "ordinal"), "cluster", "down"], cwd=user_dir, env=env, capture_output=True, text=True
        )
        assert down.returncode == 0, down.stdout + down.stderr


def test_an_experiment_runs_from_the_wheel(installed: Path, user_dir: Path, wheel_cluster: dict[str, str]) -> None:
    path = _run([installed / "ordinal", "experiments", "path", "pod-kill"], cwd=user_dir, env=wheel_cluster, timeout=60)
    experiment = Path(path.strip())
    assert experiment.is_file() and installed.parent in experiment.parents
    journal = user_dir / "journal-pod-kill.json"
    chaos = [installed / "chaos", "--no-log-file", "run", "--journal-path", journal, experiment]
    done = subprocess.run([str(c) for c in chaos], cwd=user_dir, env=wheel_cluster, capture_output=True, text=True)
    ran = json.loads(journal.read_text())
    verdict = (ran.get("ordinal") or {}).get("verdict")
    # Simulated nodes only: the data probe cannot run there, so the honest verdict is "not checked"
    # (chaos exits 1), never "held"; every other probe must have held.
    unchecked = (ran.get("ordinal") or {}).get("not_checked") or []
    assert verdict == "not-checked" and done.returncode != 0, (verdict, done.returncode, done.stdout[-2000:])
    assert [u.get("probe") for u in unchecked] == ["data-token-intact"], unchecked
    assert all("exec into pods" in str(u.get("reason")) for u in unchecked), unchecked


def test_a_conformance_module_runs_from_the_wheel(
    installed: Path, user_dir: Path, wheel_cluster: dict[str, str]
) -> None:
    """``ordinal run`` takes the installed suite (one module here) and writes reports where it starts."""
    run = [installed / "ordinal", "run", "--no-experiments", "--", "-q", "-k", "test_identity"]
    output = _run(run, cwd=user_dir, env=wheel_cluster, timeout=600)
    assert " passed" in output
    junit = user_dir / "reports" / "junit.xml"
    assert junit.is_file(), f"expected the suite's reports in the working directory, found {sorted(user_dir.iterdir())}"
    assert "conformance/test_identity.py" in output or "test_identity" in junit.read_text()
    site = next(installed.parent.glob("lib/python*/site-packages"))
    assert not (site / "ordinal" / "conformance" / "reports").exists(), "the suite wrote reports into site-packages"
    assert not (site / "ordinal" / "reports").exists(), "the suite wrote reports into site-packages"
