"""A journal becomes JUnit XML in which every hypothesis probe is a test case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ordinal.chaos.junit import journal_to_junit, main

PROBES = ["statefulset-ready", "dns-records-match", "data-token-intact", "no-duplicate-identity"]


def probe_run(
    name: str, status: str = "passed", *, tolerance_met: bool = True, summary: str = "held"
) -> dict[str, Any]:
    return {
        "activity": {"name": name},
        "status": "succeeded",
        "duration": 0.25,
        "output": {"status": status, "summary": summary, "findings": [], "details": {}},
        "tolerance_met": tolerance_met,
    }


def journal(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "experiment": {
            "title": "Drain the node under one ordinal",
            "steady-state-hypothesis": {"probes": [{"name": n} for n in PROBES]},
            "method": [{"name": "drain-node-of-ordinal"}, {"name": "wait-for-identity-restored"}],
            "rollbacks": [{"name": "restore-nodes"}],
        },
        "start": "2026-11-25T10:00:00+00:00",
        "status": "completed",
        "deviated": False,
        "duration": 12.5,
        "steady_states": {
            "before": {"steady_state_met": True, "probes": [probe_run(n) for n in PROBES]},
            "after": {"steady_state_met": True, "probes": [probe_run(n) for n in PROBES]},
            "during": [],
        },
        "run": [
            {"activity": {"name": "drain-node-of-ordinal"}, "status": "succeeded", "duration": 0.1, "output": {}},
            {"activity": {"name": "wait-for-identity-restored"}, "status": "succeeded", "duration": 3.0, "output": {}},
        ],
        "rollbacks": [{"activity": {"name": "restore-nodes"}, "status": "succeeded", "duration": 0.01, "output": {}}],
        "ordinal": {"run_id": "r1", "caught_by": None, "problems": [], "figures": {"wall_seconds": 12.5}},
    }
    base.update(overrides)
    return base


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {f"{c.attrib['classname'].split('.', 1)[1]}/{c.attrib['name']}": c for c in root.iter("testcase")}


def test_each_hypothesis_probe_is_a_test_case_before_and_after() -> None:
    root = journal_to_junit(journal(), name="drain")
    names = list(cases(root))
    assert names == [
        *(f"hypothesis-before/{n}" for n in PROBES),
        "method/drain-node-of-ordinal",
        "method/wait-for-identity-restored",
        *(f"hypothesis-after/{n}" for n in PROBES),
        "rollbacks/restore-nodes",
        "run/outcome",
    ]
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["name"] == "drain"
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["errors"]) == ("12", "0", "0")


def test_a_probe_outside_its_tolerance_is_a_failure_carrying_the_findings() -> None:
    after = [probe_run(n) for n in PROBES[:1]] + [
        probe_run("dns-records-match", "failed", tolerance_met=False, summary="[dns.per-pod-a-record] web-1 …")
    ]
    data = journal(deviated=True, steady_states={"before": None, "after": {"steady_state_met": False, "probes": after}})
    found = cases(journal_to_junit(data))
    failure = found["hypothesis-after/dns-records-match"].find("failure")
    assert failure is not None and failure.attrib["message"] == "[dns.per-pod-a-record] web-1 …"
    assert json.loads(failure.text or "{}")["findings"] == []
    skipped = found["hypothesis-after/no-duplicate-identity"].find("skipped")
    assert skipped is not None and "earlier probe" in skipped.attrib["message"]
    outcome = found["run/outcome"].find("failure")
    assert outcome is not None and outcome.attrib["message"] == "status completed, deviated"


def test_a_probe_not_checked_is_skipped_with_its_reason_never_passed() -> None:
    """A probe that could not run MUST show as "not checked: <reason>" (skipped), never as passed."""
    before = [
        probe_run(n) if n != "data-token-intact" else probe_run(n, "not-checked", summary="needs: exec into pods")
        for n in PROBES
    ]
    data = journal(steady_states={"before": {"steady_state_met": True, "probes": before}, "after": None})
    found = cases(journal_to_junit(data))
    skipped = found["hypothesis-before/data-token-intact"].find("skipped")
    assert skipped is not None and skipped.attrib["message"] == "not checked: needs: exec into pods"
    not_run = found["hypothesis-after/statefulset-ready"].find("skipped")
    assert not_run is not None and "before the method completed" in not_run.attrib["message"]


def test_a_failed_activity_is_an_error_and_a_failed_run_fails_the_outcome() -> None:
    run = [
        {
            "activity": {"name": "drain-node-of-ordinal"},
            "status": "failed",
            "duration": 0.2,
            "exception": [
                "Traceback\n",
                "chaoslib.exceptions.ActivityFailed: drain_node_of: expected node, found none\n",
            ],
        }
    ]
    section = {"caught_by": "method action 'drain-node-of-ordinal'", "problems": ["method action …: expected node"]}
    found = cases(journal_to_junit(journal(status="failed", run=run, ordinal=section)))
    error = found["method/drain-node-of-ordinal"].find("error")
    assert error is not None and error.attrib["message"].endswith("expected node, found none")
    assert found["method/wait-for-identity-restored"].find("skipped") is not None
    outcome = found["run/outcome"].find("failure")
    assert outcome is not None
    assert outcome.attrib["message"] == "status failed; caught by method action 'drain-node-of-ordinal'"


def test_the_command_writes_the_report_beside_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal-drain.json"
    path.write_text(json.dumps(journal()))
    assert main([str(path)]) == 0
    out = tmp_path / "junit-chaos-drain.xml"
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.attrib["tests"] == "12"


def test_the_command_says_what_it_expected_when_the_journal_is_not_json(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "journal.json"
    path.write_text("not json")
    assert main([str(path)]) == 2
    assert "expected a JSON journal" in capsys.readouterr().err
