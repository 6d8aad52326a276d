"""`ordinal run` starts experiments as `chaos run` would, and reads the verdict back from the journal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ordinal.errors import InvalidScenario
from ordinal.experiments import experiment_path
from ordinal.runs import chaos_command, run_experiment


def test_an_experiment_is_named_by_stem_or_by_path() -> None:
    assert experiment_path("drain").name == "drain.json"
    assert experiment_path(str(experiment_path("node-loss"))).name == "node-loss.json"
    with pytest.raises(InvalidScenario, match=r"expected an experiment file .*nope\.json \(known: .*drain"):
        experiment_path("nope")


def test_the_command_is_chaos_run_with_the_journal_and_variables() -> None:
    command = chaos_command(Path("experiments/drain.json"), Path("reports/journal-drain.json"), {"ordinal": "2"})
    assert command == [
        sys.executable,
        "-m",
        "chaostoolkit",
        "--no-log-file",
        "run",
        "--journal-path",
        "reports/journal-drain.json",
        "--var",
        "ordinal=2",
        "experiments/drain.json",
    ]


def test_the_verdict_comes_from_the_journal(tmp_path: Path) -> None:
    """A cluster-free experiment stands in for the real ones: exit code, status and journal path come back."""
    experiment = tmp_path / "noop.json"
    experiment.write_text(
        json.dumps({"version": "1.0.0", "title": "nothing", "description": "does nothing", "method": []})
    )
    run = run_experiment(str(experiment), reports_dir=tmp_path / "reports", timeout=120)
    assert (run.returncode, run.status, run.deviated) == (0, "completed", False)
    assert run.journal == tmp_path / "reports" / "journal-noop.json" and run.journal.is_file()
    assert run.summary().startswith("noop: held")
