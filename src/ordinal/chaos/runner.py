"""Run one experiment the way users do (``chaos run``), for ``ordinal run`` and CI.

The experiment runs in a child process, exactly as ``chaos run`` would run it by hand, so
its controls, signals and exit code behave the same; this module only builds the command,
puts the journal under the reports directory and reads back the verdict.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import InvalidScenario

#: The checkout's experiments (an editable install, as ``make run`` uses).
EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


@dataclass(frozen=True)
class ExperimentRun:
    """How a run ended: exit code, journal status, what caught a deviation, and where the reports are."""

    returncode: int
    status: str
    deviated: bool
    caught_by: str | None
    journal: Path
    junit: Path

    def summary(self) -> str:
        verdict = "held" if self.returncode == 0 else f"{self.status}{', deviated' if self.deviated else ''}"
        where = f" (caught by {self.caught_by})" if self.caught_by else ""
        return f"{self.journal.stem.removeprefix('journal-')}: {verdict}{where}; journal {self.journal}"


def experiment_path(name: str, directory: Path = EXPERIMENTS) -> Path:
    """``drain`` or ``experiments/drain.json`` → the file; a clear error when there is none."""
    path = Path(name)
    if not path.suffix and (Path.cwd() / "experiments" / f"{name}.json").is_file():
        directory = Path.cwd() / "experiments"
    if not path.suffix:
        path = directory / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json")))
        raise InvalidScenario(f"expected an experiment file {path} (known: {known}), found none")
    return path


def chaos_command(experiment: Path, journal: Path, variables: Mapping[str, str] | None = None) -> list[str]:
    """``python -m chaostoolkit --no-log-file run --journal-path … [--var k=v …] <experiment>``."""
    command = [sys.executable, "-m", "chaostoolkit", "--no-log-file", "run", "--journal-path", str(journal)]
    for key, value in (variables or {}).items():
        command += ["--var", f"{key}={value}"]
    return [*command, str(experiment)]


def _run_forwarding_sigterm(command: list[str], env: Mapping[str, str], timeout: float | None) -> int:
    """Run the child; a SIGTERM to us is passed on, so chaos plays its rollbacks before we exit."""
    child = subprocess.Popen(command, env=dict(env))
    forwarding = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda signum, _: child.send_signal(signum)) if forwarding else None
    try:
        return child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)  # let its rollbacks run, then make sure it is gone
        try:
            return child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
    finally:
        if forwarding:
            signal.signal(signal.SIGTERM, previous)


def run_experiment(
    name: str,
    *,
    reports_dir: Path = Path("reports"),
    variables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> ExperimentRun:
    """Run one experiment; the journal, timeline and JUnit XML land in ``reports_dir``."""
    path = experiment_path(name)
    reports_dir.mkdir(parents=True, exist_ok=True)
    journal = reports_dir / f"journal-{path.stem}.json"
    child_env = {**(env if env is not None else os.environ), "ORDINAL_REPORTS_DIR": str(reports_dir)}
    returncode = _run_forwarding_sigterm(chaos_command(path, journal, variables), child_env, timeout)
    try:
        data = json.loads(journal.read_text())
    except (OSError, ValueError):
        data = {}
    section = data.get("ordinal") or {}
    return ExperimentRun(
        returncode=returncode,
        status=str(data.get("status") or "no journal"),
        deviated=bool(data.get("deviated")),
        caught_by=section.get("caught_by"),
        journal=journal,
        junit=reports_dir / f"junit-chaos-{path.stem}.xml",
    )
