"""The suite against the oldest pinned release (``cluster up --kubernetes v1.33``): it lacks what 1.37 has.

A server that really lacks a feature is the only honest check of the version and feature-gate
logic: on 1.33 ``MaxUnavailableStatefulSet`` is alpha and off, so the tests that need it must
skip naming the gate, and nothing may fail because the suite assumed a newer server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from junit_cases import broken, cases, vague_skips

from ordinal.localcluster import cluster, paths
from ordinal.localcluster.versions import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def oldest() -> Iterator[dict[str, Any]]:
    releases = load(paths.source_dir()).kubernetes_older
    if not releases:
        pytest.skip("needs: an older release pinned in cluster/versions.json (kubernetes_older)")
    where = Path(f"{paths.state_dir()}-oldest")
    offset = int(os.environ.get("ORDINAL_PORT_OFFSET") or 0) + 4000
    data = cluster.up(
        nodes=3, zones=3, real_nodes=1, port_offset=offset, state_dir=where, kubernetes=releases[-1], log=print
    )
    yield data
    cluster.down(state_dir=where, log=print)


def test_the_suite_on_the_oldest_release_skips_what_it_lacks_and_fails_nothing(
    oldest: dict[str, Any], tmp_path: Path
) -> None:
    """On v1.33 every test MUST pass or skip naming the version or gate it needs; the gate tests MUST skip."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") and k != "KUBECONFIG"}
    env |= {"KUBECONFIG": oldest["kubeconfig"], "ORDINAL_IMAGE": oldest["images"]["busybox"], "PYTHONUNBUFFERED": "1"}
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "conformance",
            f"--junitxml={junit}",
            "-rs",
            "--allow-disruptive=yes",
            "-n",
            "4",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    print(result.stdout[-4000:])
    assert f"server: {oldest['kubernetes']}" in result.stdout
    found = cases(junit)
    assert not broken(found), broken(found)
    assert not vague_skips(found), vague_skips(found)
    skipped = sorted({c.message for c in found if c.outcome == "skipped"})
    assert "needs: feature gate MaxUnavailableStatefulSet" in skipped, skipped
    assert result.returncode == 0 and len(found) >= 50, result.stdout[-2000:]
    print(f"v1.33: {len(found)} tests, {sum(c.outcome == 'passed' for c in found)} passed, skipped: {skipped}")
