"""``ordinal report``: check the request, run the suite (and experiments), write the report.

Every check that can fail on bad input runs before anything is created — profile,
experiment names, the output directory, the cluster and the StorageClass on it — so a typo
leaves no directory and no namespace behind. The suite then runs in a child process exactly
as ``ordinal run`` runs it (same helper, same signal forwarding), writing its JUnit XML,
allure results and record files into the report directory; the experiments follow, each
with ``--var storage_class=NAME``. The report is built from those files only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ordinal import runs
from ordinal.act.namespaces import new_run_id
from ordinal.artefacts.environment import storage_class_record
from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.experiments import experiment_path
from ordinal.kube.rest import STORAGE_CLASSES, ApiError
from ordinal.report import audit, html, model, schema, sums
from ordinal.target import connect, resolve, workers_for
from ordinal.version import __version__

PROFILES = ("quick", "full")
#: Upper bound for one experiment (node-loss waits out a 300 s toleration); its own deadlines are shorter.
EXPERIMENT_TIMEOUT = 1800.0
Log = Callable[[str], None]


@dataclass(frozen=True)
class Request:
    storage_class: str
    profile: str = "quick"
    experiments: tuple[str, ...] = ()
    out: Path | None = None
    pytest_args: tuple[str, ...] = ()
    #: xdist workers; None = from the cluster's size (``target.auto_workers``), 0 = one process.
    workers: int | None = None


@dataclass(frozen=True)
class Plan:
    """A checked request: where the report goes and what runs."""

    request: Request
    suite: runs.Suite
    out: Path
    experiments: tuple[Path, ...]
    storage_class: dict[str, Any]
    report_id: str
    workers: int = 0


def experiment_names(text: str | None) -> tuple[str, ...]:
    """``--experiments drain,pod-kill`` → ("drain", "pod-kill"); blanks dropped."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def check_local(request: Request, suite: runs.Suite, report_id: str) -> tuple[Path, tuple[Path, ...]]:
    """The checks that need no cluster: profile, experiments, output directory."""
    if request.profile not in PROFILES:
        raise InvalidScenario(f"expected --profile quick or full, found {request.profile!r}")
    if request.experiments and request.profile != "full":
        raise InvalidScenario(
            f"expected --profile full with --experiments (quick runs no chaos), found --profile {request.profile}"
        )
    directory = suite.experiments
    names = request.experiments or (
        tuple(sorted(p.stem for p in directory.glob("*.json"))) if request.profile == "full" else ()
    )
    paths = tuple(experiment_path(name, directory) for name in names)
    out = request.out if request.out is not None else suite.cwd / "reports" / report_id
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "a file" if not out.is_dir() else f"{sum(1 for _ in out.iterdir())} entries"
        raise InvalidScenario(f"expected --out to be a new or empty directory, found {what} in {out}")
    return out.resolve(), paths


def check_cluster(storage_class: str) -> dict[str, Any]:
    """The StorageClass as the target cluster holds it; one-line errors when there is no cluster or class."""
    target = resolve()
    with connect(target) as kube:
        try:
            classes, _ = kube.list(STORAGE_CLASSES)
        except (ApiError, OrdinalError) as err:
            raise InvalidScenario(
                f"expected to read StorageClasses from {target.source}, found {str(err).splitlines()[0]}"
            ) from err
    found = next((c for c in classes if (c.get("metadata") or {}).get("name") == storage_class), None)
    if found is None:
        names = ", ".join(sorted(str((c.get("metadata") or {}).get("name")) for c in classes)) or "none"
        raise InvalidScenario(f"expected StorageClass {storage_class!r} on {target.source}, found only: {names}")
    return storage_class_record(found)


def plan(request: Request) -> Plan:
    report_id = new_run_id()
    suite = runs.suite()
    out, experiments = check_local(request, suite, report_id)
    storage_class = check_cluster(request.storage_class)
    workers = request.workers
    if workers is None:
        with connect(resolve()) as kube:
            workers = workers_for(kube)
    return Plan(request, suite, out, experiments, storage_class, report_id, workers)


def git_revision(root: Path | None) -> str:
    """``<commit>`` of the checkout, ``<commit>+dirty`` with tracked changes; "unknown" outside git or installed."""
    if root is None:
        return "unknown"
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+dirty" if dirty else "")) if head else "unknown"


def pytest_command(out: Path, storage_class: str, extra: Sequence[str], conformance: str = "conformance") -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        conformance,
        f"--junitxml={out / 'junit.xml'}",
        f"--alluredir={out / 'allure-results'}",
        f"--storage-class={storage_class}",
        *extra,
    ]


def execute(checked: Plan, log: Log) -> dict[str, Any]:
    """Run the suite and the experiments into the report directory; write and return the report."""
    request, out = checked.request, checked.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    log(f"ordinal report: {request.profile} report {checked.report_id} on StorageClass {request.storage_class} → {out}")
    suite = checked.suite
    extra = [*suite.pytest_extra, *runs.with_workers(request.pytest_args, checked.workers)]
    command = pytest_command(out, request.storage_class, extra, suite.conformance)
    pytest_exit = runs.run_pytest(command, suite.cwd, log)
    done: list[model.ExperimentRun] = []
    if pytest_exit == 2 and checked.experiments:
        log("ordinal report: the suite was interrupted; no chaos experiments run")
    else:
        chaos_dir = out / "chaos"
        for path in checked.experiments:
            log(f"ordinal report: chaos run {path} (storage_class={request.storage_class})")
            result = runs.run_experiment(
                str(path),
                reports_dir=chaos_dir,
                variables={"storage_class": request.storage_class},
                timeout=EXPERIMENT_TIMEOUT,
            )
            log(f"ordinal report: experiment {result.summary()}")
            interrupted = result.status == "interrupted"
            timeline = chaos_dir / f"timeline-chaos-{path.stem}.json"
            done.append(
                model.ExperimentRun(
                    path.stem,
                    result.returncode,
                    result.journal.relative_to(out).as_posix(),
                    result.junit.relative_to(out).as_posix(),
                    timeline.relative_to(out).as_posix() if timeline.is_file() else None,
                )
            )
            if interrupted:  # a SIGTERM reached the experiment (the runner passed it on): stop here
                log("ordinal report: the experiment was interrupted; no further experiments run")
                break
    info = model.RunInfo(
        id=checked.report_id,
        profile=request.profile,
        storage_class=request.storage_class,
        started=started,
        finished=time.time(),
        suite_version=__version__,
        git_revision=git_revision(None if checked.suite.pytest_extra else checked.suite.cwd),
        pytest_args=request.pytest_args,
        pytest_exit=pytest_exit,
        experiments=done,
        storage_class_record=checked.storage_class,
        audit=suite_shape(request.storage_class, log),
    )
    return write(out, model.build(model.load(out, done), info))


def suite_shape(storage_class: str, log: Log) -> dict[str, Any] | None:
    """The audit of the sample's shape for the class under test; None (and a log line) if the cluster is gone."""
    target = resolve()
    try:
        with connect(target) as kube:
            return audit.suite_shape(kube, storage_class, target.source)
    except (ApiError, OrdinalError) as err:
        log(f"ordinal report: could not audit the sample's shape: {str(err).splitlines()[0]}")
        return None


def write(out: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Validate, then write report.json, index.html and (last, over everything) SHA256SUMS."""
    schema.validate(report)
    (out / "report.json").write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    (out / "index.html").write_text(html.render(report))
    sums.write(out)
    return report


def summary_lines(report: dict[str, Any], out: Path) -> list[str]:
    lines = [
        f"{a['title']}: {a['verdict']}" + (f" ({'; '.join(a['reasons'])})" if a["reasons"] else "")
        for a in report["areas"]
    ]
    lines += [f"problem: {p}" for p in report["problems"]]
    lines.append(f"verdict: {report['verdict']}; report {out / 'index.html'}")
    return lines


def run(request: Request, log: Log = print) -> int:
    """0 when every promise that ran held and the run had no problems; 1 otherwise."""
    checked = plan(request)
    report = execute(checked, log)
    for line in summary_lines(report, checked.out):
        print(line)
    return 0 if report["verdict"] == "pass" else 1
