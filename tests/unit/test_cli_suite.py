"""``ordinal run`` and ``ordinal cleanup``: target selection, the order of work, output and exit codes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeKube

from ordinal import cli, runs, target
from ordinal.act import namespaces
from ordinal.act.nodes import NodeCommands
from ordinal.localcluster import cluster
from ordinal.runs import ExperimentOutcome
from ordinal.target import Target


class FakeChild:
    def __init__(self, code: int) -> None:
        self.code = code

    def wait(self) -> int:
        return self.code

    def send_signal(self, signum: int) -> None:
        pass


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """A checkout with conformance/ and experiments/, a fake local cluster and a fake pytest child."""
    (tmp_path / "conformance").mkdir()
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "drain.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    for name in ("KUBECONFIG", "ORDINAL_KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    seen: dict[str, Any] = {"events": [], "running": False, "code": 0}

    def up(**_: Any) -> dict[str, Any]:
        seen["events"].append("up")
        seen["running"] = True
        return {}

    def down(**_: Any) -> bool:
        seen["events"].append("down")
        return True

    def popen(command: list[str], cwd: Path, env: dict[str, str]) -> FakeChild:
        seen["events"].append(("pytest", command[3:], cwd))
        seen["progress"] = env.get("ORDINAL_PROGRESS")
        return FakeChild(seen["code"])

    monkeypatch.setattr(cluster, "up", up)
    monkeypatch.setattr(cluster, "down", down)
    monkeypatch.setattr(runs, "local_cluster_running", lambda: seen["running"])
    monkeypatch.setattr(runs, "resolve", lambda *a: Target("/k", None, "local cluster", local=True))
    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(runs, "wait_schedulable", lambda target, log: seen["events"].append("schedulable"))
    monkeypatch.setattr(runs, "worker_count", lambda target, wanted: 0 if wanted is None else wanted)

    def run_experiment(name: str, reports_dir: Path) -> ExperimentOutcome:
        seen["events"].append(("chaos", Path(name).name, reports_dir))
        code = seen.get("chaos_code", 0)
        journal = reports_dir / f"journal-{Path(name).stem}.json"
        extra = seen.get("outcome", {})
        return ExperimentOutcome(code, "completed", bool(code), None, journal, reports_dir / "junit.xml", **extra)

    monkeypatch.setattr(runs, "run_experiment", run_experiment)
    return seen


def test_run_starts_the_local_cluster_when_there_is_no_target_and_stops_it(world: dict[str, Any]) -> None:
    """With neither KUBECONFIG nor a running local cluster, run MUST start one, run the suite, stop it."""
    world["code"] = 1
    assert cli.main(["run", "--experiment", "drain", "--", "-k", "dns"]) == 1
    chaos = ("chaos", "drain.json", Path.cwd() / "reports")
    suite_run = ("pytest", ["conformance", "-k", "dns"], Path.cwd())
    assert world["events"] == ["up", "schedulable", chaos, suite_run, "down"]
    assert world["progress"] == "1"  # tests done of the total in the suite's output


def test_run_uses_a_running_cluster_and_leaves_it_up(world: dict[str, Any]) -> None:
    """By default the main job MUST run the drain experiment, then the conformance suite."""
    world["running"] = True
    assert cli.main(["run"]) == 0
    assert world["events"] == [("chaos", "drain.json", Path.cwd() / "reports"), ("pytest", ["conformance"], Path.cwd())]


def test_run_uses_kubeconfig_without_starting_anything(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/somewhere/config")
    assert cli.main(["run", "--no-experiments"]) == 0
    assert world["events"] == [("pytest", ["conformance"], Path.cwd())]


def test_workers_go_to_pytest_unless_the_pytest_arguments_choose(world: dict[str, Any]) -> None:
    """``--workers N`` MUST become ``-n N``; pytest arguments that pick workers themselves win."""
    world["running"] = True
    assert cli.main(["run", "--no-experiments", "--workers", "3"]) == 0
    assert cli.main(["run", "--no-experiments", "--workers", "3", "--", "-n", "1"]) == 0
    assert cli.main(["run", "--no-experiments", "--workers", "0"]) == 0
    assert [e[1] for e in world["events"]] == [["conformance", "-n", "3"], ["conformance", "-n", "1"], ["conformance"]]


def test_bad_workers_is_one_line(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--workers", "many"]) == 1
    assert capsys.readouterr().err == "ordinal: expected --workers to be a whole number >= 0 or auto, got 'many'\n"
    assert world["events"] == []


def test_auto_workers_follow_the_cluster_size() -> None:
    """Two workers per schedulable node, at most 8 and at most 4 per CPU of the machine running them; none below 2."""
    assert [target.auto_workers(n, cpus=2) for n in (0, 1, 3, 10)] == [0, 2, 6, 8]
    assert target.auto_workers(10, cpus=1) == 4


def test_a_failed_experiment_fails_the_run_but_the_suite_still_runs(world: dict[str, Any]) -> None:
    world["running"] = True
    world["chaos_code"] = 1
    assert cli.main(["run"]) == 1
    assert [e[0] for e in world["events"]] == ["chaos", "pytest"]


def test_a_probe_not_checked_is_printed_as_such_and_breaks_no_promise(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An experiment whose only problem is a probe that could not run MUST say NOT CHECKED with the reason."""
    world["running"] = True
    world["chaos_code"] = 1
    reason = "needs: exec into pods (pod ns/web-0 runs on simulated node n1)"
    world["outcome"] = {"verdict": "not-checked", "not_checked": (("after", "data-token-intact", reason),)}
    assert cli.main(["run"]) == 0
    out = capsys.readouterr()
    assert f"drain: NOT CHECKED, not held: data-token-intact (after): {reason}" in out.out + out.err
    assert "held;" not in out.out + out.err


def test_experiment_and_no_experiments_together_are_refused(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    world["running"] = True
    assert cli.main(["run", "--no-experiments", "--experiment", "drain"]) == 1
    assert "expected --experiment or --no-experiments, got both" in capsys.readouterr().err
    assert world["events"] == []


def test_unknown_experiment_fails_in_one_line_before_the_suite(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    world["running"] = True
    assert cli.main(["run", "--experiment", "meteor"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ordinal: expected an experiment file ") and "meteor.json (known: drain)" in err
    assert world["events"] == []


def test_cleanup_prints_what_it_removed_and_fails_on_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """cleanup MUST list every removal, give each error one line, and exit non-zero if anything stayed."""
    calls: list[str | None] = []

    def sweep(kube: Any, run_id: str | None = None, commands: Any = None) -> tuple[list[str], list[str]]:
        calls.append(run_id)
        assert commands == NodeCommands("x {node}", "y {node}")  # nodes a run stopped are started again
        return ["namespace/ord-1a2b-x", "changes on node/n1"], ["namespace/ord-1a2b-y: timed out\nmore detail"]

    monkeypatch.setattr(target, "resolve", lambda *a: Target("/k", None, "flag"))
    monkeypatch.setattr(target, "connect", lambda target: FakeKube())
    monkeypatch.setattr(namespaces, "sweep", sweep)
    monkeypatch.setenv("ORDINAL_NODE_STOP_COMMAND", "x {node}")
    monkeypatch.setenv("ORDINAL_NODE_START_COMMAND", "y {node}")
    assert cli.main(["cleanup", "--run-id", "20261125t1705-3f9a"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == ["removed namespace/ord-1a2b-x", "removed changes on node/n1"]
    assert err.splitlines() == ["ordinal cleanup: namespace/ord-1a2b-y: timed out"]
    assert calls == ["20261125t1705-3f9a"]


def test_cleanup_with_nothing_left_succeeds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(target, "resolve", lambda *a: Target("/k", None, "flag"))
    monkeypatch.setattr(target, "connect", lambda target: FakeKube())
    monkeypatch.setattr(namespaces, "sweep", lambda kube, run_id=None, commands=None: ([], []))
    assert cli.main(["cleanup"]) == 0
    assert capsys.readouterr().out.strip() == "nothing to clean up"


def test_cleanup_rejects_a_malformed_run_id_before_touching_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cleanup", "--run-id", "not a label!"]) == 1
    assert "expected run id to be a non-empty label value" in capsys.readouterr().err


def test_experiments_list_and_path_name_the_carried_files(capsys: pytest.CaptureFixture[str]) -> None:
    """``experiments path NAME`` MUST print an absolute file chaos can run from any directory; list names them all."""
    from ordinal import experiments

    assert cli.main(["experiments", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(p.stem for p in experiments.EXPERIMENTS.glob("*.json")) and "drain" in listed
    assert cli.main(["experiments", "path", "drain"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed.is_absolute() and printed.is_file() and printed.name == "drain.json"
    assert cli.main(["experiments", "path", "meteor"]) == 1
    assert capsys.readouterr().err.startswith("ordinal: expected an experiment file ")


def test_an_installed_suite_runs_from_the_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Outside a checkout, runs MUST take the wheel's suite and experiments and write reports where they start."""
    from ordinal import resources

    carried = {"conformance": tmp_path / "site" / "conformance", "experiments": tmp_path / "site" / "experiments"}
    monkeypatch.setattr(resources, "folder", lambda name: carried.get(name))
    monkeypatch.setattr(resources, "installed", lambda: True)
    monkeypatch.chdir(tmp_path)
    extra = ("-p", "no:cacheprovider", "--rootdir", str(tmp_path / "site"))
    expected = runs.Suite(tmp_path, str(carried["conformance"]), carried["experiments"], extra)
    assert runs.suite() == expected
