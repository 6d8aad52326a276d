"""``ordinal run`` and the child runs ``ordinal report`` starts: experiments and the suite, as users run them.

1. Pick the cluster: ``KUBECONFIG``/``ORDINAL_KUBECONFIG`` if set, else the running local
   cluster; if neither, start the local cluster here and stop it at the end.
2. Run the chaos experiments (``drain`` unless others are named), then the conformance
   suite with pytest; journals and reports go into ``reports/``.
3. Exit non-zero if anything failed.

Each experiment runs in a child process exactly as ``chaos run`` would run it by hand, so its
controls, signals and exit code behave the same; this module builds the command, puts the
journal under the reports directory and reads back the verdict. pytest too runs in a child:
its own signal handling (SIGINT/SIGTERM → cleanup of the run's namespaces) must get to finish,
so an interrupt here waits for the child instead of killing it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ordinal import resources
from ordinal.errors import InvalidScenario
from ordinal.experiments import experiment_path
from ordinal.kube import objects as o
from ordinal.kube.rest import NODES
from ordinal.localcluster import cluster
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.target import Target, connect, local_cluster_running, resolve, workers_for
from ordinal.types import Obj

Log = Callable[[str], None]


@dataclass(frozen=True)
class Suite:
    """Where a run takes the suite and the experiments from, and where it runs (``reports/`` goes there)."""

    cwd: Path
    #: pytest's argument: ``conformance`` in a checkout, the installed folder otherwise.
    conformance: str
    experiments: Path
    #: An installed suite: no ``.pytest_cache`` written into site-packages, test ids as in a checkout.
    pytest_extra: tuple[str, ...] = ()


def suite() -> Suite:
    """The working directory's checkout, else the checkout ordinal runs from, else what the wheel carries."""
    cwd = Path.cwd()
    if (cwd / "conformance").is_dir():
        return Suite(cwd, "conformance", cwd / "experiments")
    conformance, experiments = resources.folder("conformance"), resources.folder("experiments")
    if not resources.installed() and conformance is not None:
        return Suite(resources.CHECKOUT, "conformance", resources.CHECKOUT / "experiments")
    if conformance is None or experiments is None:
        raise InvalidScenario(
            f"expected a conformance/ directory in {cwd} or the suite installed with ordinal-k8s, found neither"
        )
    # rootdir above the installed suite: test ids read `conformance/test_x.py::…` as in a checkout, so
    # reports from a wheel and from a clone compare test by test.
    return Suite(cwd, str(conformance), experiments, ("-p", "no:cacheprovider", "--rootdir", str(conformance.parent)))


def parse_workers(text: str | None) -> int | None:
    """``--workers``/``ORDINAL_WORKERS``: a count (0 = one process, no xdist) or ``auto``/unset (None)."""
    word = (text or "").strip().lower()
    if word in ("", "auto"):
        return None
    if not word.isdigit():
        raise InvalidScenario(f"expected --workers to be a whole number >= 0 or auto, got {text!r}")
    return int(word)


def worker_count(target: Target, wanted: int | None) -> int:
    """``wanted`` if given, else from the cluster's size."""
    if wanted is not None:
        return wanted
    with connect(target) as kube:
        return workers_for(kube)


def with_workers(pytest_args: Sequence[str], workers: int) -> list[str]:
    """``-n N`` in front of the user's pytest arguments, unless they chose workers (or no xdist) themselves."""
    chosen = any(
        a in ("-n", "--numprocesses", "--dist", "no:xdist") or a.startswith(("-n", "--numprocesses=", "--dist="))
        for a in pytest_args
    )
    if chosen or workers <= 0:
        return list(pytest_args)
    return ["-n", str(workers), *pytest_args]


def run(
    *,
    experiments: Sequence[str] = (),
    pytest_args: Sequence[str] = (),
    workers: int | None = None,
    log: Log = print,
) -> int:
    where = suite()
    # Resolved once, here: a typo fails before any cluster is started.
    files = [experiment_path(name, where.experiments) for name in experiments]
    explicit = os.environ.get("ORDINAL_KUBECONFIG") or os.environ.get("KUBECONFIG")
    started_here = False
    if not explicit and not local_cluster_running():
        log("ordinal run: no KUBECONFIG and no local cluster running; starting the local cluster")
        cluster.up(nodes=cluster.DEFAULT_NODES, real_nodes=cluster.default_real_nodes(), log=log)
        started_here = True
    try:
        target = resolve()
        log(f"ordinal run: target {target.source}: {target.kubeconfig or 'in-cluster'}")
        if started_here:
            wait_schedulable(target, log)
        chaos_code = run_experiments(files, where.cwd / "reports", log)
        args = [*where.pytest_extra, *with_workers(pytest_args, worker_count(target, workers))]
        suite_code = run_pytest([sys.executable, "-m", "pytest", where.conformance, *args], where.cwd, log)
    finally:
        if started_here:
            log("ordinal run: stopping the local cluster this run started")
            cluster.down(log=log)
    if chaos_code:
        log(f"ordinal run: chaos experiments failed (exit {chaos_code})")
    return chaos_code or suite_code


def wait_schedulable(target: Target, log: Log, *, timeout: float = 120.0) -> None:
    """Wait (by watch) until every node of a cluster started here takes pods.

    A node reports Ready a moment before the node lifecycle controller lifts its
    ``node.kubernetes.io/not-ready`` taint; capability discovery in that moment would count
    too few schedulable nodes and skip tests that could run.
    """

    def judge(nodes: list[Obj]) -> Verdict[None]:
        waiting = sorted(o.name(n) for n in nodes if not o.node_schedulable(n))
        return Verdict(bool(nodes) and not waiting, f"not yet schedulable: {waiting or 'no nodes'}")

    with connect(target) as kube:
        wait_for(kube, Query(NODES), judge, expect="every node schedulable", timeout=timeout)
    log("ordinal run: every node takes pods")


#: What ``ordinal run`` breaks when no ``--experiment`` is named: the node drain, the fault
#: platform teams meet every maintenance window (and the one that moves a pod between nodes).
DEFAULT_EXPERIMENTS = ("drain",)


def run_experiments(paths: Sequence[Path], reports_dir: Path, log: Log) -> int:
    """Run each chaos experiment the way ``chaos run`` does; 0 if none broke a promise.

    Journals, timelines and their JUnit XML go to ``reports_dir``.
    A run whose only problems are probes that could not run here is *not checked*: said so,
    with the reasons, and not counted as a broken promise (as a conformance test skipped for a
    missing capability); it is never reported as held.
    """
    code = 0
    for path in paths:
        log(f"ordinal run: chaos run {path}")
        result = run_experiment(str(path), reports_dir=reports_dir)
        log(f"ordinal run: experiment {result.summary()}")
        code = code or (0 if result.unchecked_only else result.returncode)
    return code


def run_pytest(command: list[str], cwd: Path, log: Log) -> int:
    """Run pytest in a child; SIGTERM is passed on and Ctrl-C waits, so the suite cleans up after itself."""
    log(f"ordinal run: {' '.join(command)} (in {cwd})")
    # Tests done of the total every ~10 s in logs (the plugin's progress lines), unless the user chose.
    env = {"ORDINAL_PROGRESS": "1", **os.environ}
    child = subprocess.Popen(command, cwd=cwd, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                log("ordinal run: interrupted; waiting for the suite to clean up")
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- one experiment, as `chaos run` runs it ------------------------------------------------------


@dataclass(frozen=True)
class ExperimentOutcome:
    """How a run ended: exit code, journal status, what caught a deviation, and where the reports are."""

    returncode: int
    status: str
    deviated: bool
    caught_by: str | None
    journal: Path
    junit: Path
    #: The journal's verdict: held, not-checked, deviated, failed… ("" when the journal has none).
    verdict: str = ""
    #: Probes that could not run: (phase, probe, reason).
    not_checked: tuple[tuple[str, str, str], ...] = ()

    @property
    def unchecked_only(self) -> bool:
        """Nothing broke, but part of the hypothesis could not be checked here."""
        return self.verdict == "not-checked"

    def summary(self) -> str:
        name = self.journal.stem.removeprefix("journal-")
        if self.unchecked_only:
            reasons = "; ".join(f"{probe} ({phase}): {reason}" for phase, probe, reason in self.not_checked)
            return f"{name}: NOT CHECKED, not held: {reasons}; journal {self.journal}"
        verdict = "held" if self.returncode == 0 else f"{self.status}{', deviated' if self.deviated else ''}"
        where = f" (caught by {self.caught_by})" if self.caught_by else ""
        unchecked = f"; not checked: {', '.join(p for _, p, _ in self.not_checked)}" if self.not_checked else ""
        return f"{name}: {verdict}{where}{unchecked}; journal {self.journal}"


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
) -> ExperimentOutcome:
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
    return ExperimentOutcome(
        returncode=returncode,
        status=str(data.get("status") or "no journal"),
        deviated=bool(data.get("deviated")),
        caught_by=section.get("caught_by"),
        journal=journal,
        junit=reports_dir / f"junit-chaos-{path.stem}.xml",
        verdict=str(section.get("verdict") or ""),
        not_checked=tuple(
            (str(u.get("phase")), str(u.get("probe")), str(u.get("reason"))) for u in section.get("not_checked") or []
        ),
    )
