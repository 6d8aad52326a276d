"""``ordinal run``: the README's main job, from target selection to an exit code.

1. Pick the cluster: ``KUBECONFIG``/``ORDINAL_KUBECONFIG`` if set, else the running local
   cluster; if neither, start the local cluster here and stop it at the end.
2. Run the chaos experiments (``drain`` unless others are named), then the conformance
   suite with pytest; journals and reports go into ``reports/``.
3. Exit non-zero if anything failed.

pytest runs in a child process: its own signal handling (SIGINT/SIGTERM → cleanup of the run's
namespaces) must get to finish, so an interrupt here waits for the child instead of killing it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from ordinal.errors import InvalidScenario
from ordinal.kube.client import Target
from ordinal.types import Obj

Log = Callable[[str], None]


def checkout_root() -> Path:
    """The directory holding ``conformance/``: the working directory, else the checkout ordinal runs from."""
    cwd = Path.cwd()
    if (cwd / "conformance").is_dir():
        return cwd
    from ordinal.localcluster import paths

    root = paths.source_dir().parent
    if not (root / "conformance").is_dir():
        raise InvalidScenario(f"expected a conformance/ directory in {cwd} or {root}, found none")
    return root


def run(*, experiments: Sequence[str] = (), pytest_args: Sequence[str] = (), log: Log = print) -> int:
    from ordinal.chaos import runner
    from ordinal.kube.client import resolve
    from ordinal.localcluster import cluster, state

    root = checkout_root()
    # Resolved once, here: a typo fails before any cluster is started.
    paths = [runner.experiment_path(name, root / "experiments") for name in experiments]
    explicit = os.environ.get("ORDINAL_KUBECONFIG") or os.environ.get("KUBECONFIG")
    started_here = False
    if not explicit and not state.is_running():
        log("ordinal run: no KUBECONFIG and no local cluster running; starting the local cluster")
        cluster.up(real_nodes=cluster.default_real_nodes(), log=log)
        started_here = True
    try:
        target = resolve()
        log(f"ordinal run: target {target.source}: {target.kubeconfig or 'in-cluster'}")
        if started_here:
            wait_schedulable(target, log)
        chaos_code = run_experiments(paths, root / "reports", log)
        suite_code = _pytest([sys.executable, "-m", "pytest", "conformance", *pytest_args], root, log)
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
    from ordinal import capabilities
    from ordinal.kube.client import api_client
    from ordinal.kube.rest import NODES, Kube
    from ordinal.waiting import Query, Verdict, wait_for

    def judge(nodes: list[Obj]) -> Verdict[str]:
        waiting = sorted(str(n["metadata"]["name"]) for n in nodes if not capabilities.schedulable(n))
        return Verdict(bool(nodes) and not waiting, f"not yet schedulable: {waiting or 'no nodes'}")

    with Kube(api_client(target)) as kube:
        wait_for(kube, Query(NODES), judge, expect="every node schedulable", timeout=timeout)
    log("ordinal run: every node takes pods")


#: What ``ordinal run`` breaks when no ``--experiment`` is named: the node drain, the fault
#: platform teams meet every maintenance window (and the one that moves a pod between nodes).
DEFAULT_EXPERIMENTS = ("drain",)


def run_experiments(paths: Sequence[Path], reports_dir: Path, log: Log) -> int:
    """Run each chaos experiment the way ``chaos run`` does; 0 if every one held.

    Journals, timelines and their JUnit XML go to ``reports_dir``.
    """
    from ordinal.chaos import runner

    code = 0
    for path in paths:
        log(f"ordinal run: chaos run {path}")
        result = runner.run_experiment(str(path), reports_dir=reports_dir)
        log(f"ordinal run: experiment {result.summary()}")
        code = code or result.returncode
    return code


def _pytest(command: list[str], cwd: Path, log: Log) -> int:
    log(f"ordinal run: {' '.join(command)} (in {cwd})")
    child = subprocess.Popen(command, cwd=cwd)

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
