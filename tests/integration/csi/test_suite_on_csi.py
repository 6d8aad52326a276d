"""The suite's storage promises and the drain experiment on ordinal-csi: what a storage vendor would certify.

The storage, data-integrity, retention and volume modules run against the package's CSI cluster
with ``--storage-class ordinal-csi``, as a user runs them (a pytest subprocess, the environment
``ordinal cluster env`` prints); then ``drain.json`` with ``--var storage_class=ordinal-csi``. Every
test passes or skips naming a capability; the attachment promises and the drain's data token are
really judged here, never skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chaos_runs import EXPERIMENTS, ROOT, assert_held, assert_left_nothing, chaos_run
from junit_cases import broken, cases, vague_skips

from ordinal.kube.rest import Kube
from ordinal.localcluster import csi

MODULES = ("test_storage.py", "test_data_integrity.py", "test_retention.py", "test_volumes.py")
#: The class has no node-pinned volumes and allows no expansion: these two skip, naming that.
EXPECTED_SKIPS = {
    "conformance.test_storage::test_node_pinned_volume_brings_the_pod_back_to_its_node": "needs: a node-pinned",
    "conformance.test_volumes::test_expanding_an_ordinals_claim_grows_what_the_pod_sees_and_keeps_the_data": (
        "needs: a StorageClass that allows volume expansion"
    ),
}
SUITE_TIMEOUT = 1200


def test_storage_promises_hold_on_ordinal_csi(user_env: dict[str, str], tmp_path: Path) -> None:
    """Storage, data integrity, retention and volumes MUST pass on ordinal-csi, attachment judged for real."""
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "4", "-rs"]
    command += [f"conformance/{m}" for m in MODULES]
    command += ["--storage-class", csi.STORAGE_CLASS, "--allow-disruptive", "yes", f"--junitxml={junit}"]
    done = subprocess.run(command, cwd=ROOT, env=user_env, capture_output=True, text=True, timeout=SUITE_TIMEOUT)
    print(done.stdout[-6000:])
    found = cases(junit)
    assert not broken(found), broken(found) + "\n" + done.stdout[-4000:]
    assert not vague_skips(found), vague_skips(found)
    skipped = {c.id: c.message for c in found if c.outcome == "skipped"}
    assert set(skipped) == set(EXPECTED_SKIPS), skipped
    for case, reason in EXPECTED_SKIPS.items():
        assert skipped[case].startswith(reason), skipped[case]
    attachment = [c for c in found if "test_volume_attachment_follows_its_pod" in c.id]
    assert len(attachment) == 2 and {c.outcome for c in attachment} == {"passed"}, attachment
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_drain_holds_on_ordinal_csi_with_its_data_read_back(
    user_env: dict[str, str], kube: Kube, tmp_path: Path
) -> None:
    """drain.json on ordinal-csi MUST hold with every probe run, the data token included."""
    env = user_env | {"ORDINAL_REPORTS_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    run = chaos_run(EXPERIMENTS / "drain.json", env, tmp_path, (f"storage_class={csi.STORAGE_CLASS}",), "drain-csi")
    assert run.section["placement"]["unchecked"] in (None, ""), run.explain()  # real nodes: data is checked
    assert_held(run)
    assert_left_nothing(kube, run)
