"""Real node loss: a real node stopped (frozen), the conformance test and the experiment on ordinal-csi.

On the package's CSI cluster (see ``conftest.py``: 4 real nodes in 2 zones, so an ``ordinal-csi``
volume can leave a stopped node). The suite and the experiment run as users run them, as
subprocesses with the environment ``ordinal cluster env`` prints (its node-stop and node-start
commands among it). After each: no node stopped, tainted or in a ledger, no namespace or PV of
ordinal's left. Figures go to ``reports/node-loss-figures.json``. ``test_teardown.py`` stops the
cluster with a node still stopped.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from chaos_runs import CHAOS, ROOT
from host_traces import record_figure
from junit_cases import broken, cases

from ordinal.act.nodes import ledger
from ordinal.artefacts.figures import read as read_figures
from ordinal.kube import objects as o
from ordinal.kube.rest import NAMESPACES, NODES, PVS, Kube
from ordinal.labels import CREATED_BY_LABEL, CREATED_BY_VALUE, OUT_OF_SERVICE_TAINT
from ordinal.localcluster import cgroups
from ordinal.localcluster.nodes import real

ORDINAL = (sys.executable, "-m", "ordinal.cli")
TEST = "conformance/test_node_loss.py"
RUN_TIMEOUT = 900
FIGURES = "node-loss-figures.json"


def _pytest(junit: Path) -> list[str]:
    """The node-loss test on ordinal-csi, writing its JUnit XML (and figures.jsonl beside it) to ``junit``."""
    flags = ["--storage-class", "ordinal-csi", "--junitxml", str(junit), "--alluredir", str(junit.parent / "allure")]
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", TEST, *flags, "-q"]


def assert_nothing_left(kube: Kube, where: str | Path) -> None:
    """Every node Ready, running (not frozen), untainted by us and out of any ledger; no namespace or PV of ours."""
    nodes, _ = kube.list(NODES)
    changed = {o.name(n): ledger(n) for n in nodes if ledger(n)}
    tainted = [o.name(n) for n in nodes if OUT_OF_SERVICE_TAINT in o.taint_keys(n)]
    not_ready = [o.name(n) for n in nodes if o.node_ready(n) != "True"]
    assert (changed, tainted, not_ready, real.stopped_nodes(Path(where))) == ({}, [], [], [])
    namespaces, _ = kube.list(NAMESPACES, label_selector=f"{CREATED_BY_LABEL}={CREATED_BY_VALUE}")
    pvs, _ = kube.list(PVS)
    assert ([o.name(n) for n in namespaces], [o.name(p) for p in pvs]) == ([], [])


def test_a_real_node_stops_and_starts_and_the_cli_refuses_others_in_one_line(
    csi_cluster: dict[str, Any], user_env: dict[str, str], kube: Kube
) -> None:
    """`cluster node stop` MUST freeze every process of a real node and `start` thaw them; others fail in one line."""
    node = csi_cluster["real_nodes"][-1]
    simulated = next(n for n in csi_cluster["nodes"] if n not in csi_cluster["real_nodes"])
    stop = shlex.split(user_env["ORDINAL_NODE_STOP_COMMAND"].replace("{node}", node))
    start = shlex.split(user_env["ORDINAL_NODE_START_COMMAND"].replace("{node}", node))
    try:
        done = subprocess.run(stop, env=user_env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.startswith(f"stopped node {node}: "), done.stdout + done.stderr
        assert real.stopped_nodes(Path(csi_cluster["where"])) == [node]
        frozen = cgroups.freezer_dir(f"{real.load(Path(csi_cluster['where']))['cgroup_root']}/{node}")  # type: ignore[index]
        assert cgroups.freezer_state(frozen) == cgroups.FROZEN
    finally:
        done = subprocess.run(start, env=user_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith(f"started node {node}: "), done.stdout + done.stderr
    assert real.stopped_nodes(Path(csi_cluster["where"])) == []
    for name, expected in (
        (simulated, f"ordinal: expected a real node to stop ({', '.join(csi_cluster['real_nodes'])}), got {simulated}"),
        ("no-such-node", "ordinal: expected a node of the local cluster ("),
    ):
        refused = subprocess.run(
            [*ORDINAL, "cluster", "node", "stop", name], env=user_env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert refused.stderr.startswith(expected), refused.stderr
    assert_nothing_left(kube, csi_cluster["where"])


def test_the_conformance_test_passes_on_ordinal_csi_with_its_figures(
    csi_cluster: dict[str, Any], user_env: dict[str, str], kube: Kube, tmp_path: Path, record_property: Any
) -> None:
    """The node-loss promise MUST pass on ordinal-csi, reporting time to NotReady, to replacement Ready, to attach."""
    junit = tmp_path / "junit.xml"
    done = subprocess.run(
        _pytest(junit),
        env=user_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    print(done.stdout[-4000:])
    found = cases(junit)
    assert not broken(found), broken(found)
    assert [c.outcome for c in found] == ["passed"], found
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    figures = {f.name: f.seconds for f in read_figures(tmp_path / "figures.jsonl")}
    wanted = ("node-loss-to-not-ready", "node-loss-to-replacement-ready", "attach-after-node-loss")
    assert set(wanted) <= set(figures), figures
    for name, seconds in sorted(figures.items()):
        record_figure(record_property, FIGURES, f"suite-{name}", seconds)
    assert figures["node-loss-to-not-ready"] < figures["node-loss-to-replacement-ready"]
    assert_nothing_left(kube, csi_cluster["where"])


def test_without_node_commands_the_test_skips_naming_the_capability(user_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in user_env.items() if not k.startswith("ORDINAL_NODE_")}
    junit = tmp_path / "junit.xml"
    subprocess.run(
        _pytest(junit),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    [case] = cases(junit)
    assert (case.outcome, case.message) == (
        "skipped",
        "needs: a command that stops and starts a real node (--node-stop-command)",
    )


def _chaos(user_env: dict[str, str], reports: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    journal = reports / "journal-real-node-loss.json"
    env = {**user_env, "ORDINAL_REPORTS_DIR": str(reports), "PYTHONUNBUFFERED": "1"}
    command = [str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal), "--var", "storage_class=ordinal-csi"]
    done = subprocess.run(
        [*command, *extra, str(ROOT / "experiments" / "real-node-loss.json")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert journal.is_file(), f"no journal; exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    return done.returncode, json.loads(journal.read_text()), done.stdout + done.stderr


def test_the_experiment_holds_on_ordinal_csi(
    csi_cluster: dict[str, Any], user_env: dict[str, str], kube: Kube, tmp_path: Path, record_property: Any
) -> None:
    """`chaos run experiments/real-node-loss.json` MUST hold on ordinal-csi, every probe checked, nothing left."""
    code, journal, output = _chaos(user_env, tmp_path)
    section = journal.get("ordinal") or {}
    explain = f"exit {code}, status {journal.get('status')}: {json.dumps(section.get('problems'))}\n{output[-3000:]}"
    assert (code, journal["status"], journal["deviated"], section.get("verdict")) == (0, "completed", False, "held")
    assert section["not_checked"] == [], explain
    [fault] = section["faults"]
    assert fault["action"] == "stop_node_of" and fault["node"] in csi_cluster["real_nodes"], explain
    after = {p["activity"]["name"]: p["output"] for p in journal["steady_states"]["after"]["probes"]}
    assert {name: out["status"] for name, out in after.items()} == dict.fromkeys(after, "passed"), explain
    [lost] = after["lost-node-held"]["details"]["lost"]
    assert lost["attachments"] == "judged" and lost["pv"], lost
    assert after["data-token-intact"]["details"]["compared"] is True
    [row] = section["figures"]["restoration"]
    for name in ("node-loss-to-not-ready", "to_ready", "attach-after-node-loss"):
        assert isinstance(row.get(name), float), row
        record_figure(record_property, FIGURES, f"chaos-{name}", row[name])
    assert_nothing_left(kube, csi_cluster["where"])


def test_without_node_commands_the_experiment_is_not_checked_and_changes_nothing(
    csi_cluster: dict[str, Any], user_env: dict[str, str], kube: Kube, tmp_path: Path
) -> None:
    """A cluster whose nodes ordinal cannot stop MUST make the run "not checked", never held, never a deviation."""
    env = {k: v for k, v in user_env.items() if not k.startswith("ORDINAL_NODE_")}
    code, journal, output = _chaos(env, tmp_path)
    section = journal.get("ordinal") or {}
    assert code != 0 and section.get("verdict") == "not-checked", output[-3000:]
    [step] = section["not_checked"]
    assert step["phase"] == "method" and step["probe"] == "stop-node"
    assert step["reason"].startswith("needs: a command that stops and starts a real node"), step
    assert_nothing_left(kube, csi_cluster["where"])
