"""``ordinal report`` end to end with the cluster, pytest and chaos faked: bad input is one line, exit 2,
and leaves nothing behind; a run writes a checkable report and exits 1 when a promise failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeKube
from report_samples import STORAGE_CLASS, write_run

from ordinal import cli, runs
from ordinal.errors import InvalidScenario
from ordinal.report import run as report_run
from ordinal.report import schema, sums
from ordinal.runs import ExperimentOutcome
from ordinal.target import Target

REPORT_ID = "20261201t0700-beef"


def cluster() -> FakeKube:
    """A cluster holding the sample StorageClass and a second one."""
    shared = {"kind": "StorageClass", "metadata": {"name": "ordinal-shared"}, "provisioner": "ordinal.dev/hostpath"}
    return FakeKube({"kind": "StorageClass", **STORAGE_CLASS}, shared)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """A checkout with two experiments, a cluster holding two StorageClasses, and fake pytest and chaos runs."""
    root = tmp_path / "checkout"
    (root / "conformance").mkdir(parents=True)
    (root / "experiments").mkdir()
    for name in ("drain", "pod-kill"):
        (root / "experiments" / f"{name}.json").write_text("{}")
    seen: dict[str, Any] = {"pytest": [], "chaos": [], "root": root}

    def fake_pytest(command: list[str], cwd: Path, log: Any) -> int:
        seen["pytest"].append(command)
        junit = Path(next(a for a in command if a.startswith("--junitxml=")).split("=", 1)[1])
        write_run(junit.parent)
        return 1

    def fake_experiment(name: str, *, reports_dir: Path, variables: dict[str, str], timeout: float) -> Any:
        seen["chaos"].append((Path(name).stem, variables))
        reports_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(name).stem
        journal = reports_dir / f"journal-{stem}.json"
        journal.write_text(json.dumps({"status": "completed", "experiment": {"title": stem}, "ordinal": {}}))
        (reports_dir / f"junit-chaos-{stem}.xml").write_text('<testsuite><testcase name="outcome"/></testsuite>')
        return ExperimentOutcome(0, "completed", False, None, journal, reports_dir / f"junit-chaos-{stem}.xml")

    monkeypatch.setattr(runs, "suite", lambda: runs.Suite(root, "conformance", root / "experiments"))
    monkeypatch.setattr(runs, "run_pytest", fake_pytest)
    monkeypatch.setattr(runs, "run_experiment", fake_experiment)
    monkeypatch.setattr(report_run, "resolve", lambda *a: Target("/k", None, "local cluster", local=True))
    monkeypatch.setattr(report_run, "connect", lambda target: cluster())
    monkeypatch.setattr(report_run, "new_run_id", lambda: REPORT_ID)
    return seen


def test_a_quick_run_writes_a_checkable_report_and_exits_1_on_a_failed_promise(
    world: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    """The report MUST be schema-valid with SHA256SUMS over every file; exit 1 because one promise failed."""
    out = tmp_path / "out"
    code = cli.main(["report", "--storage-class", "ordinal-local", "--out", str(out), "--", "-k", "test_storage"])
    assert code == 1
    (command,) = world["pytest"]
    assert command[3:] == [
        "conformance",
        f"--junitxml={out / 'junit.xml'}",
        f"--alluredir={out / 'allure-results'}",
        "--storage-class=ordinal-local",
        "-k",
        "test_storage",
    ]
    assert world["chaos"] == []
    report = json.loads((out / "report.json").read_text())
    schema.validate(report)
    sums.verify(out)
    assert (out / "index.html").read_text().startswith("<!DOCTYPE html>")
    assert report["run"]["pytest_args"] == ["-k", "test_storage"] and report["id"] == REPORT_ID
    stdout = capsys.readouterr().out.splitlines()
    assert "Data integrity: skip (needs: exec into pods)" in stdout
    assert stdout[-1] == f"verdict: fail; report {out / 'index.html'}"


def test_full_runs_the_named_experiments_with_the_storage_class(world: dict[str, Any], tmp_path: Path) -> None:
    """--profile full MUST run each experiment with --var storage_class=NAME and file its journal."""
    out = tmp_path / "out"
    cli.main(
        [
            "report",
            "--storage-class",
            "ordinal-shared",
            "--profile",
            "full",
            "--experiments",
            "pod-kill",
            "--out",
            str(out),
        ]
    )
    assert world["chaos"] == [("pod-kill", {"storage_class": "ordinal-shared"})]
    report = json.loads((out / "report.json").read_text())
    assert [(x["name"], x["verdict"], x["journal"]) for x in report["experiments"]] == [
        ("pod-kill", "pass", "chaos/journal-pod-kill.json")
    ]
    assert "chaos/journal-pod-kill.json" in (out / "SHA256SUMS").read_text()


def test_full_without_names_runs_every_experiment(world: dict[str, Any], tmp_path: Path) -> None:
    cli.main(["report", "--storage-class", "ordinal-local", "--profile", "full", "--out", str(tmp_path / "out")])
    assert [name for name, _ in world["chaos"]] == ["drain", "pod-kill"]


def test_the_default_out_is_reports_run_id_in_the_checkout(world: dict[str, Any]) -> None:
    cli.main(["report", "--storage-class", "ordinal-local"])
    assert (world["root"] / "reports" / REPORT_ID / "SHA256SUMS").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--storage-class", "nope"],
            "expected StorageClass 'nope' on local cluster, found only: ordinal-local, ordinal-shared",
        ),
        (["--storage-class", "ordinal-local", "--profile", "huge"], "expected --profile quick or full, found 'huge'"),
        (
            ["--storage-class", "ordinal-local", "--experiments", "drain"],
            "expected --profile full with --experiments (quick runs no chaos), found --profile quick",
        ),
        (
            ["--storage-class", "ordinal-local", "--profile", "full", "--experiments", "drain,typo"],
            "expected an experiment file {root}/experiments/typo.json (known: drain, pod-kill), found none",
        ),
        ([], "expected --storage-class NAME (the class to report on), found none"),
        (["compare", "a", "b", "--storage-class", "x"], "expected no run options with compare, found --storage-class"),
        (["compare", "a"], "expected `ordinal report compare OLD NEW`, found 1 path"),
        (
            ["compare", "missing-a", "missing-b"],
            "expected a report directory or its report.json, found nothing at missing-a",
        ),
    ],
    ids=[
        "unknown-class",
        "unknown-profile",
        "experiments-without-full",
        "unknown-experiment",
        "no-class",
        "compare-with-run-options",
        "compare-one-path",
        "compare-missing",
    ],
)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    world: dict[str, Any], tmp_path: Path, capsys: Any, argv: list[str], message: str
) -> None:
    """Bad input MUST print ``expected …, found …`` once, exit 2, create no directory and run nothing."""
    out = tmp_path / "out"
    with_out = argv if not argv or argv[0] == "compare" else [*argv, "--out", str(out)]
    assert cli.main(["report", *with_out]) == 2
    assert capsys.readouterr().err == f"ordinal report: {message.format(root=world['root'])}\n"
    assert not out.exists() and not (world["root"] / "reports").exists()
    assert world["pytest"] == [] and world["chaos"] == []


def test_an_out_dir_that_holds_files_is_refused(world: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    assert cli.main(["report", "--storage-class", "ordinal-local", "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err
        == f"ordinal report: expected --out to be a new or empty directory, found 1 entries in {out}\n"
    )
    assert [p.name for p in out.iterdir()] == ["old.txt"] and world["pytest"] == []


def test_no_cluster_is_one_line(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    def nothing(*args: object) -> Target:
        raise InvalidScenario(
            "expected a cluster: set KUBECONFIG or start one with `ordinal cluster up`; found neither"
        )

    monkeypatch.setattr(report_run, "resolve", nothing)
    assert cli.main(["report", "--storage-class", "ordinal-local", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("ordinal report: expected a cluster")
    assert not (tmp_path / "out").exists()


def test_help_documents_outputs_exit_codes_and_noise(capsys: Any) -> None:
    """--help MUST say what noise is for compare, and which exit code means what."""
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "changed by more than 25% and more than 0.5 s" in text
    assert "Exit 1 on a regression" in text and "2 on bad input" in text
    assert "SHA256SUMS" in text and "--var storage_class=NAME" in text


def test_an_interrupted_experiment_stops_the_rest(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an experiment ends interrupted (a SIGTERM passed on to it) no further experiment MUST start."""
    fake = runs.run_experiment

    def interrupted(name: str, **kwargs: Any) -> Any:
        done = fake(name, **kwargs)
        return ExperimentOutcome(1, "interrupted", False, None, done.journal, done.junit)

    monkeypatch.setattr(runs, "run_experiment", interrupted)
    code = cli.main(["report", "--storage-class", "ordinal-local", "--profile", "full", "--out", str(tmp_path / "out")])
    assert code == 1 and [name for name, _ in world["chaos"]] == ["drain"]
