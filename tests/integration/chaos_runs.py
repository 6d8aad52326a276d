"""`chaos run` as users and CI start it, and what the integration tests judge a finished run by."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ordinal.act.nodes import ledger
from ordinal.kube import objects as o
from ordinal.kube.rest import NAMESPACES, NODES, Kube
from ordinal.labels import RUN_LABEL

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
CHAOS = Path(sys.executable).with_name("chaos")
RUN_TIMEOUT = 300


@dataclass
class Run:
    """One finished `chaos run`: its exit code, journal, output and wall time."""

    returncode: int
    journal: dict[str, Any]
    output: str
    seconds: float
    reports: Path

    @property
    def section(self) -> dict[str, Any]:
        section: dict[str, Any] = self.journal.get("ordinal") or {}
        return section

    def method(self, name: str) -> dict[str, Any]:
        run: dict[str, Any] = next(r for r in self.journal["run"] if r["activity"]["name"] == name)
        return run

    def probe(self, phase: str, name: str) -> dict[str, Any]:
        probes = (self.journal["steady_states"][phase] or {}).get("probes") or []
        found: dict[str, Any] = next(p for p in probes if p["activity"]["name"] == name)
        return found

    def explain(self) -> str:
        section = {k: v for k, v in self.section.items() if k not in ("figures", "targets")}
        return (
            f"exit {self.returncode}, status {self.journal.get('status')}: {json.dumps(section)}\n{self.output[-3000:]}"
        )


def chaos_run(
    experiment: Path, env: dict[str, str], reports: Path, variables: Sequence[str] = (), name: str = ""
) -> Run:
    journal = reports / f"journal-{name or experiment.stem}.json"
    command = [str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal)]
    for var in variables:
        command += ["--var", var]
    start = time.monotonic()
    done = subprocess.run(
        [*command, str(experiment)], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=ROOT
    )
    seconds = time.monotonic() - start
    assert journal.is_file(), f"no journal written; exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return Run(done.returncode, json.loads(journal.read_text()), done.stdout + done.stderr, seconds, reports)


def assert_left_nothing(kube: Kube, run: Run) -> None:
    """No node of the cluster cordoned or carrying this run's ledger; the run's namespace gone."""
    run_id = run.section["run_id"]
    nodes, _ = kube.list(NODES)
    cordoned = [o.name(n) for n in nodes if o.spec(n).get("unschedulable")]
    ledgers = {o.name(n): ledger(n) for n in nodes if ledger(n)}
    tainted = [o.name(n) for n in nodes if "node.kubernetes.io/out-of-service" in o.taint_keys(n)]
    assert (cordoned, ledgers, tainted) == ([], {}, []), run.explain()
    namespaces, _ = kube.list(NAMESPACES, label_selector=f"{RUN_LABEL}={run_id}")
    assert [o.name(n) for n in namespaces] == [], run.explain()
    if run.section.get("namespace"):
        assert kube.get_or_none(NAMESPACES, run.section["namespace"]) is None


def assert_held(run: Run) -> None:
    """Every probe that can run here passed, before and after; what cannot run is *not checked*, never held.

    Where the sample could go onto nodes that run containers (the journal's placement names no
    reason), the run holds: completed, not deviated, every probe passed, the data tokens too.
    Where it could not (simulated nodes only; a drain with fewer real nodes than replicas),
    data-token-intact answers not-checked after the fault, the hypothesis is not met and the
    journal's verdict is not-checked with the reason; every other probe ran and passed.
    """
    journal = run.journal
    why = run.section["placement"]["unchecked"]
    for phase in ("before", "after"):
        statuses = {p["activity"]["name"]: p["output"]["status"] for p in journal["steady_states"][phase]["probes"]}
        data = statuses.pop("data-token-intact")
        assert set(statuses.values()) == {"passed"}, run.explain()  # the local cluster's DNS is reachable
        assert data == ("not-checked" if why and phase == "after" else "passed"), run.explain()
    if not why:
        assert (run.returncode, journal["status"], journal["deviated"]) == (0, "completed", False), run.explain()
        assert run.section["verdict"] == "held" and run.section["not_checked"] == [], run.explain()
        assert run.probe("after", "data-token-intact")["output"]["details"]["compared"] is True
    else:
        assert why.startswith("needs: exec into pods"), why
        assert (journal["status"], journal["deviated"]) == ("completed", True), run.explain()
        assert run.section["verdict"] == "not-checked", run.explain()
        (unchecked,) = run.section["not_checked"]
        assert (unchecked["phase"], unchecked["probe"]) == ("after", "data-token-intact"), run.explain()
        assert unchecked["reason"].startswith("needs: exec into pods"), unchecked
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"] * len(journal["rollbacks"])
    junit = ET.parse(
        run.reports / f"junit-chaos-{journal['experiment']['controls'][0]['provider']['arguments']['report_name']}.xml"
    )
    suite = junit.getroot()
    assert (suite.attrib["failures"], suite.attrib["errors"]) == ("0", "0"), ET.tostring(suite)[:2000]
    (after,) = [
        c
        for c in suite.iter("testcase")
        if c.attrib["name"] == "data-token-intact" and c.attrib["classname"].endswith(".hypothesis-after")
    ]
    skipped = after.find("skipped")
    if why:
        assert skipped is not None and skipped.attrib["message"].startswith("not checked: needs: exec into pods")
    else:
        assert skipped is None, ET.tostring(after)
