"""``ordinal report compare OLD NEW``: both reports verified first; a promise that went from pass to
fail is a regression (exit 1); figures moved beyond the documented noise are listed; tampering exits 2."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from report_samples import sample_report

from ordinal import cli
from ordinal.report import compare, run, sums

PASSING = "conformance/test_identity.py::test_pods_carry_their_ordinal_identity"


@pytest.fixture
def old(tmp_path: Path) -> Path:
    directory = tmp_path / "old"
    run.write(directory, sample_report(directory))
    return directory


def doctored(old: Path, target: Path, change: Any) -> Path:
    """A copy of ``old`` with report.json edited by ``change`` and its checksums written anew (a new run)."""
    shutil.copytree(old, target)
    report = json.loads((target / "report.json").read_text())
    change(report)
    (target / "report.json").write_text(json.dumps(report))
    sums.write(target)
    return target


def fail(report: dict[str, Any], pid: str = PASSING) -> None:
    for area in report["areas"]:
        for promise in area["promises"]:
            if promise["id"] == pid:
                promise.update(outcome="failed", verdict="fail")
                area["verdict"] = "fail"


def test_a_promise_that_went_from_pass_to_fail_is_a_regression(old: Path, tmp_path: Path, capsys: Any) -> None:
    """compare MUST name the promise that now fails and exit 1."""
    new = doctored(old, tmp_path / "new", fail)
    assert cli.main(["report", "compare", str(old), str(new / "report.json")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"  REGRESSION: [identity] pass → fail  {PASSING}  test pods carry their ordinal identity MUST hold" in out
    assert "verdict changes: 1" in out
    assert out[-1] == "result: 1 regression (now failing)"


def test_the_same_report_twice_has_no_regression(old: Path, capsys: Any) -> None:
    assert cli.main(["report", "compare", str(old), str(old)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "verdict changes: 0" in out and out[-1] == "result: no regression"


def test_fixed_and_lost_coverage_are_reported_without_failing(old: Path, tmp_path: Path) -> None:
    failing = "conformance/test_scaling.py::test_ordered_ready_creates_pods_in_ascending_order[min-ready-0s]"

    def change(report: dict[str, Any]) -> None:
        for area in report["areas"]:
            for promise in area["promises"]:
                if promise["id"] == failing:
                    promise.update(outcome="passed", verdict="pass")
                if promise["id"] == PASSING:
                    promise.update(outcome="skipped", verdict="skip", reason="needs: 2 zones")

    result = compare.compare(compare.load(old), compare.load(doctored(old, tmp_path / "new", change)))
    assert sorted((c.kind, c.id) for c in result.verdicts) == [("fixed", failing), ("lost coverage", PASSING)]
    assert result.exit_code() == 0


def test_a_tampered_report_is_refused_before_comparing(old: Path, tmp_path: Path, capsys: Any) -> None:
    """A report edited after its SHA256SUMS was written MUST be named as such; exit 2, nothing compared."""
    new = tmp_path / "new"
    shutil.copytree(old, new)
    report = json.loads((new / "report.json").read_text())
    fail(report)
    (new / "report.json").write_text(json.dumps(report))
    assert cli.main(["report", "compare", str(old), str(new)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"ordinal report: expected {new} to match its SHA256SUMS, found files changed report.json\n"


def test_a_report_off_the_schema_is_refused(old: Path, tmp_path: Path, capsys: Any) -> None:
    new = doctored(old, tmp_path / "new", lambda r: r.pop("figures"))
    assert cli.main(["report", "compare", str(old), str(new)]) == 2
    assert "expected field 'figures'" in capsys.readouterr().err


def test_figures_move_only_beyond_both_noise_bounds() -> None:
    """A figure MUST count as moved only past 25 % and 0.5 s together."""
    assert compare.beyond_noise(2.0, 3.0)  # +50 %, +1 s
    assert not compare.beyond_noise(2.0, 2.4)  # +20 %
    assert not compare.beyond_noise(0.2, 0.6)  # +200 % but 0.4 s
    assert compare.beyond_noise(4.0, 2.0)  # faster counts too


def test_slower_figures_are_listed_and_fail_only_when_strict(old: Path, tmp_path: Path, capsys: Any) -> None:
    def slower(report: dict[str, Any]) -> None:
        for stat in report["figures"]["stats"]:
            if stat["name"] == "rollout-rolling-update":
                stat["p50"] = 9.0

    new = doctored(old, tmp_path / "new", slower)
    assert cli.main(["report", "compare", str(old), str(new)]) == 0
    assert "  slower: rollout-rolling-update (median) 4.20s → 9.00s (+114%)" in capsys.readouterr().out.splitlines()
    assert cli.main(["report", "compare", str(old), str(new), "--strict-figures"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "result: 1 figure slower beyond noise"


def test_environment_differences_are_noted(old: Path, tmp_path: Path) -> None:
    def other_class(report: dict[str, Any]) -> None:
        report["run"]["storage_class"] = "ordinal-shared"

    result = compare.compare(compare.load(old), compare.load(doctored(old, tmp_path / "new", other_class)))
    assert result.notes == ["StorageClass differs: ordinal-local → ordinal-shared"]


def test_a_new_failing_promise_is_a_regression_too(old: Path, tmp_path: Path) -> None:
    def add(report: dict[str, Any]) -> None:
        promise = copy.deepcopy(report["areas"][0]["promises"][0])
        promise.update(id="conformance/test_identity.py::test_new", outcome="failed", verdict="fail")
        report["areas"][0]["promises"].append(promise)

    result = compare.compare(compare.load(old), compare.load(doctored(old, tmp_path / "new", add)))
    assert [(c.kind, c.old, c.new) for c in result.verdicts] == [("regression", "absent", "fail")]
