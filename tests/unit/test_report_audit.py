"""The workload-shape audit in ``ordinal report``: the sample's shape for the class, the live audit each
experiment journal holds, both valid against report-v1 and shown in index.html."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import FakeKube
from report_samples import run_info, sample_report, write_run

from ordinal.chaos import sample
from ordinal.report import audit, html, model, schema

CLASS = {"kind": "StorageClass", "metadata": {"name": "ordinal-local"}, "reclaimPolicy": "Delete"}


def test_the_suite_s_own_workload_shape_audits_clean_of_errors_and_warnings() -> None:
    """The sample for the class under test, judged as before a drain, MUST carry nothing above info."""
    doc = audit.suite_shape(FakeKube(CLASS), "ordinal-local", "local cluster")  # type: ignore[arg-type]
    assert doc["counts"] == {"error": 0, "warning": 0, "info": 1} and doc["exit_code"] == 0
    (only,) = doc["statefulsets"][0]["findings"]
    assert only["rule"] == "audit.data-on-delete"
    assert "StorageClass ordinal-local reclaimPolicy Delete" in only["expected"]


def test_the_report_carries_the_suite_audit_and_each_experiment_s(tmp_path: Path) -> None:
    suite = audit.suite_shape(FakeKube(CLASS), "ordinal-local", "local cluster")  # type: ignore[arg-type]
    taken = {"statefulset": "ns/web", "before": "a drain", "found": True, "unreadable": {}, "mode": "error"}
    taken["findings"] = [
        {
            "rule": "audit.pdb-blocks-drain",
            "severity": "error",
            "subject": "pdb ns/web",
            "path": "status.disruptionsAllowed",
            "expected": ">= 1",
            "seen": "0 (minAvailable 3 of 3 replicas)",
            "promise": "p",
            "why": "the drain would hang",
        }
    ]
    journal = tmp_path / "chaos" / "journal-drain.json"
    journal.parent.mkdir()
    journal.write_text(json.dumps({"status": "failed", "ordinal": {"audit": taken}}))
    (tmp_path / "chaos" / "junit-chaos-drain.xml").write_text("<testsuite/>")
    runs = [model.ExperimentRun("drain", 1, "chaos/journal-drain.json", "chaos/junit-chaos-drain.xml")]
    report = model.build(model.load(write_run(tmp_path), runs), run_info(audit=suite, experiments=runs))
    schema.validate(json.loads(json.dumps(report)))
    assert report["audit"]["suite"]["scope"] == "the sample's manifests"
    assert report["audit"]["experiments"][0]["experiment"] == "drain"
    page = html.render(report)
    assert "Workload shape (ordinal audit)" in page and "audit.pdb-blocks-drain" in page
    assert "Before drain: ns/web (audit=error)" in page


def test_a_report_without_an_audit_stays_valid(tmp_path: Path) -> None:
    report = sample_report(tmp_path)
    assert "audit" not in report
    schema.validate(report)


def test_the_sample_control_records_its_audit_in_the_journal() -> None:
    sample._audited[:] = [{"statefulset": "ns/web", "findings": []}]
    state: dict[str, object] = {}
    sample.after_experiment_control({}, state=state)
    assert state["ordinal"] == {"sample": {"removed": [], "errors": []}, "audit": sample._audited[0]}
