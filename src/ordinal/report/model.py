"""The report's data, built from what a run wrote: per-test records, figures, environment, journals.

Reading (:func:`load`) is kept apart from building (:func:`build`), so the builder is a pure
function over plain data and unit tests hand it fixtures. The shape is report.json's (see
``schema/report-v1.schema.json``); the HTML is rendered from it alone.
"""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ordinal.artefacts import environment as environment_files
from ordinal.artefacts import figures as figure_files
from ordinal.artefacts import results as result_files
from ordinal.observe.timeline import Timeline
from ordinal.report import REPORT_VERSION

Data = dict[str, Any]


@dataclass(frozen=True)
class Area:
    id: str
    title: str
    promise: str


#: The promise areas every report lists, in this order, even when none of their tests ran.
AREAS: tuple[Area, ...] = (
    Area("identity", "Identity", "each pod keeps its name, ordinal labels and hostname; one live pod per identity"),
    Area("dns", "DNS", "per-pod and Service records exist for Ready pods only and follow the pod"),
    Area("storage-reattachment", "Storage reattachment", "each ordinal gets its own claim back after a disruption"),
    Area("data-integrity", "Data integrity", "bytes written to an ordinal's volume read back after it returns"),
    Area("ordering", "Ordering", "OrderedReady creates upward and deletes downward, halting behind unhealthy pods"),
    Area("rollout-partition", "Rollout and partition", "updates go highest ordinal first; partition pins the rest"),
    Area("retention", "Retention", "claims are kept or deleted exactly as the retention policy says"),
    Area("api-surface", "API surface", "scale and status subresources, collections and field mutability"),
)
#: Which area a chaos experiment's hypothesis belongs to (by experiment file stem).
EXPERIMENT_AREAS: Mapping[str, str] = {
    "pod-kill": "identity",
    "node-loss": "identity",
    "real-node-loss": "identity",
    "drain": "storage-reattachment",
    "delete-statefulset": "storage-reattachment",
    "scale-down-up": "retention",
    "rolling-update-partition": "rollout-partition",
}
VERDICT_OF: Mapping[str, str] = {
    "passed": "pass",
    "xpassed": "pass",
    "failed": "fail",
    "error": "fail",
    "skipped": "skip",
    "xfailed": "skip",
}
#: Figure name prefixes and the chart group they belong to.
FIGURE_GROUPS: tuple[tuple[str, str], ...] = (
    ("reattach-", "reattach"),
    ("attach-", "attach"),
    ("detach-", "detach"),
    ("ready-to-resolvable", "dns"),
    ("rollout-", "rollout"),
    ("scale-up-", "scale-up"),
    ("node-loss-", "node-loss"),
)


@dataclass(frozen=True)
class ExperimentRun:
    """One chaos experiment as the report command ran it; paths relative to the report directory."""

    name: str
    returncode: int
    journal: str
    junit: str
    timeline: str | None = None


@dataclass(frozen=True)
class RunInfo:
    """What only the report command knows: how it was asked, when, with which suite."""

    id: str
    profile: str
    storage_class: str
    started: float
    finished: float
    suite_version: str
    git_revision: str
    pytest_args: Sequence[str] = ()
    pytest_exit: int | None = None
    experiments: Sequence[ExperimentRun] = ()
    #: The StorageClass as read before the run (used when the suite wrote no environment).
    storage_class_record: Mapping[str, Any] | None = None
    #: The audit of the suite's own workload shape (``ordinal.report.audit.suite_shape``).
    audit: Mapping[str, Any] | None = None


@dataclass
class Artefacts:
    """Everything read from a run's output directory."""

    results: list[Data] = field(default_factory=list)
    figures: list[figure_files.Figure] = field(default_factory=list)
    environment: Data | None = None
    session: Data | None = None
    #: Experiment name → (journal, JUnit test cases, timeline by namespace).
    journals: dict[str, tuple[Data, list[Data], Data]] = field(default_factory=dict)


# -- reading ----------------------------------------------------------------------------------


def _json_or_none(path: Path) -> Data | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def junit_cases(path: Path) -> list[Data]:
    """Test cases of a JUnit file as {name, outcome, message}; an unreadable file has none."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    cases = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = child.get("message", "") or (child.text or "").strip()
        cases.append({"name": str(case.get("name", "")), "outcome": outcome, "message": message[:500]})
    return cases


def load(directory: Path, experiments: Sequence[ExperimentRun] = ()) -> Artefacts:
    """Read a run's artefacts; missing files give empty parts (the builder reports them as problems)."""
    found = Artefacts(
        results=result_files.read(directory / result_files.RESULTS_FILE),
        figures=figure_files.read(directory / "figures.jsonl"),
        environment=_json_or_none(directory / environment_files.ENVIRONMENT_FILE),
        session=_json_or_none(directory / environment_files.SESSION_FILE),
    )
    for run in experiments:
        journal = _json_or_none(directory / run.journal) or {}
        timeline = _json_or_none(directory / run.timeline) if run.timeline else None
        found.journals[run.name] = (journal, junit_cases(directory / run.junit), timeline or {})
    return found


# -- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``q`` in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("expected at least one value, found none")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def stats(values: Sequence[float]) -> Data:
    return {
        "n": len(values),
        "min": round(min(values), 3),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": round(max(values), 3),
        "mean": round(sum(values) / len(values), 3),
    }


def figure_group(name: str) -> str:
    return next((group for prefix, group in FIGURE_GROUPS if name.startswith(prefix)), "other")


# -- building ---------------------------------------------------------------------------------


def area_of(label: str) -> str:
    """The area id for a ``promise(epic)`` label: matched by title, else a slug of it."""
    for area in AREAS:
        if label.strip().lower() in (area.title.lower(), area.id):
            return area.id
    slug = "-".join("".join(c if c.isalnum() else " " for c in label.lower()).split())
    return slug or "unlabelled"


def _promise(record: Mapping[str, Any], figures: Sequence[figure_files.Figure]) -> Data:
    outcome = str(record["outcome"])
    return {
        "id": str(record["test"]),
        "title": str(record.get("title") or record["test"]),
        "feature": str(record.get("feature") or ""),
        "story": str(record.get("story") or ""),
        "source": "conformance",
        "outcome": outcome,
        "verdict": VERDICT_OF[outcome],
        "reason": str(record.get("reason") or ""),
        "duration": float(record.get("duration") or 0.0),
        "figures": [{"name": f.name, "seconds": f.seconds} for f in figures if f.test == record["test"]],
    }


def _experiment_promise(run: ExperimentRun, journal: Mapping[str, Any], cases: Sequence[Data]) -> Data:
    section = journal.get("ordinal") or {}
    experiment = journal.get("experiment") or {}
    hypothesis = (experiment.get("steady-state-hypothesis") or {}).get("title") or ""
    reason = ""
    unchecked = section.get("verdict") == "not-checked"
    if unchecked:
        reason = "; ".join(
            f"not checked: {u.get('probe')} ({u.get('phase')}): {u.get('reason')}"
            for u in section.get("not_checked") or []
        )
    elif run.returncode != 0:
        problems = [str(p) for p in section.get("problems") or []]
        caught = section.get("caught_by")
        reason = "; ".join(
            [*([f"caught by {caught}"] if caught else []), *problems[:3]]
            or [f"chaos run exited {run.returncode} (journal status {journal.get('status') or 'missing'})"]
        )
    skipped = [c for c in cases if c["outcome"] == "skipped" and c["message"].startswith("needs: ")]
    outcome = "skipped" if unchecked else "passed" if run.returncode == 0 else "failed"
    return {
        "id": f"chaos:{run.name}",
        "title": str(hypothesis or experiment.get("title") or run.name),
        "feature": str(experiment.get("title") or ""),
        "story": run.name,
        "source": "chaos",
        "outcome": outcome,
        "verdict": VERDICT_OF[outcome],
        "reason": reason or "; ".join(sorted({f"{c['name']}: {c['message']}" for c in skipped})),
        "duration": round(float(journal.get("duration") or 0.0), 3),
        "figures": [],
    }


def _area_verdict(promises: Sequence[Data]) -> str:
    verdicts = {p["verdict"] for p in promises}
    for verdict in ("fail", "pass", "skip"):
        if verdict in verdicts:
            return verdict
    return "not-run"


def _counts(outcomes: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(result_files.OUTCOMES, 0)
    for outcome in outcomes:
        counts[outcome] += 1
    return counts


def _areas(promises_by_area: Mapping[str, list[Data]], deselected: str) -> list[Data]:
    listed = [(a.id, a.title, a.promise) for a in AREAS]
    known = {a.id for a in AREAS}
    listed += [(aid, aid.replace("-", " ").capitalize(), "") for aid in promises_by_area if aid not in known]
    areas = []
    for aid, title, promise in listed:
        promises = promises_by_area.get(aid, [])
        reasons = sorted({p["reason"] for p in promises if p["verdict"] == "skip" and p["reason"]})
        if not promises:
            reasons = [deselected]
        areas.append(
            {
                "id": aid,
                "title": title,
                "promise": promise,
                "verdict": _area_verdict(promises),
                "counts": _counts(p["outcome"] for p in promises),
                "reasons": reasons,
                "promises": promises,
            }
        )
    return areas


def _timeline(source: str, test: str, title: str, area: str, outcome: str, data: Mapping[str, Any]) -> Data:
    return {
        "test": test,
        "title": title,
        "area": area,
        "outcome": outcome,
        "source": source,
        "end": float(data.get("end") or 0.0),
        "pods": list(data.get("pods") or []),
        "nodes": list(data.get("nodes") or []),
        "truncated": bool(data.get("truncated")),
    }


def _chaos_timelines(run: ExperimentRun, area: str, outcome: str, by_namespace: Mapping[str, Any]) -> list[Data]:
    found = []
    for namespace, raw in sorted(by_namespace.items()):
        if not isinstance(raw, dict):
            continue
        try:
            timeline = Timeline.from_json(raw)
        except (KeyError, TypeError, ValueError):
            continue
        if len(timeline):
            title = f"chaos experiment {run.name} ({namespace})"
            found.append(_timeline("chaos", f"chaos:{run.name}", title, area, outcome, result_files.tracks(timeline)))
    return found


def time_to_ready(timelines: Sequence[Data]) -> list[Data]:
    """Per ordinal: seconds to first Ready, from the pod's own creation and from its set's first pod.

    Only the first incarnation of each (test, set, ordinal) counts, so replacements (which
    the reattach figures measure) do not mix in; pods that never became Ready are left out.
    "From the set's first pod" shows the OrderedReady chain: ordinal n waits for 0..n-1.
    """
    own: dict[int, list[float]] = {}
    chained: dict[int, list[float]] = {}
    for timeline in timelines:
        if timeline["source"] != "conformance":
            continue
        first: dict[tuple[str, int], list[Any]] = {}
        for track in timeline["pods"]:
            ordinal, changes = track.get("ordinal"), track.get("changes") or []
            if isinstance(ordinal, int) and changes:
                first.setdefault((str(track.get("set")), ordinal), changes)
        set_start: dict[str, float] = {}
        for (set_name, _), changes in first.items():
            set_start[set_name] = min(set_start.get(set_name, math.inf), float(changes[0][0]))
        for (set_name, ordinal), changes in first.items():
            ready = next((float(c[0]) for c in changes if c[1] == "ready"), None)
            if ready is not None:
                own.setdefault(ordinal, []).append(max(0.0, ready - float(changes[0][0])))
                chained.setdefault(ordinal, []).append(max(0.0, ready - set_start[set_name]))
    return [{"ordinal": n, **stats(own[n]), "from_set": stats(chained[n])} for n in sorted(own)]


def _figures(figures: Sequence[figure_files.Figure], restoration: Sequence[Data], timelines: Sequence[Data]) -> Data:
    by_name: dict[str, list[float]] = {}
    for figure in figures:
        by_name.setdefault(figure.name, []).append(figure.seconds)
    reattach = [f.seconds for f in figures if figure_group(f.name) == "reattach"]
    reattach += [float(r["to_ready"]) for r in restoration if isinstance(r.get("to_ready"), int | float)]
    return {
        "samples": [
            {"test": f.test, "name": f.name, "group": figure_group(f.name), "seconds": f.seconds} for f in figures
        ],
        "stats": [{"name": name, "group": figure_group(name), **stats(v)} for name, v in sorted(by_name.items())],
        "time_to_ready": time_to_ready(timelines),
        "reattach": stats(reattach) if reattach else None,
        "restoration": [dict(r) for r in restoration],
    }


def _environment(env: Mapping[str, Any] | None, run: RunInfo) -> Data:
    cluster = (env or {}).get("cluster") or {}
    storage = cluster.get("storage") or {}
    dns = cluster.get("dns") or {}
    nodes = list((env or {}).get("nodes") or [])
    storage_class = (env or {}).get("storage_class") or (
        dict(run.storage_class_record) if run.storage_class_record else None
    )
    errors = list((env or {}).get("errors") or [])
    if env is None:
        errors.append("the suite wrote no environment.json (did it reach the cluster?)")
    exec_detail = "" if cluster.get("exec_pods") else str(cluster.get("exec_why_not") or "")
    attach = cluster.get("csi_attach") or {}
    return {
        "target": str(cluster.get("target") or ""),
        "local": bool(cluster.get("local")),
        "kubernetes": {
            "version": str(cluster.get("version") or ""),
            "git_version": str(cluster.get("git_version") or ""),
        },
        "nodes": nodes,
        "zones": sorted({str(n.get("zone")) for n in nodes if n.get("zone")}) or list(cluster.get("zones") or []),
        "storage_class": storage_class,
        "volume_topology": {
            "node_pinned": storage.get("node_pinned") if storage else None,
            "pinned_to": storage.get("topology") if storage else None,
            "because": str(storage.get("pinned_because") or cluster.get("storage_missing") or "not discovered"),
        },
        "cluster_domain": {
            "name": str(cluster.get("cluster_domain") or ""),
            "found": str(cluster.get("domain_source") or "not discovered"),
        },
        "capabilities": [
            {"name": "exec into pods", "available": bool(cluster.get("exec_pods")), "detail": exec_detail},
            {
                "name": "DNS from the test runner",
                "available": dns.get("mode", "none") != "none",
                "detail": str(dns.get("where") or dns.get("why_not") or ""),
            },
            {
                "name": "control over pod readiness",
                "available": bool(cluster.get("readiness_control")),
                "detail": f"{len(cluster.get('simulated_nodes') or [])} simulated nodes",
            },
            *(
                [
                    {
                        "name": "VolumeAttachments (CSI attach)",
                        "available": bool(attach.get("available")),
                        "detail": str(attach.get("detail") or ""),
                    }
                ]
                if attach
                else []
            ),
            *(
                [
                    {
                        "name": "stop and start a real node",
                        "available": bool(cluster.get("node_stop")),
                        "detail": str(cluster.get("node_stop_why_not") or ""),
                    }
                ]
                if "node_stop" in cluster
                else []
            ),
        ],
        "feature_gates": dict(cluster.get("gates") or {}),
        "errors": errors,
        "csi": _csi(storage),
    }


def _csi(storage: Mapping[str, Any]) -> Data | None:
    """The class's CSI driver as the run saw it (None for a class whose provisioner is no CSI driver)."""
    csi = storage.get("csi") if storage else None
    if not isinstance(csi, dict):
        return None
    attaches = storage.get("attaches") or {}
    return {
        "driver": str(csi.get("driver") or ""),
        "evidence": str(csi.get("evidence") or ""),
        "version": str(csi.get("version") or ""),
        "version_source": str(csi.get("version_source") or "unknown"),
        "attach_required": csi.get("attach_required"),
        "pod_info_on_mount": csi.get("pod_info_on_mount"),
        "fs_group_policy": csi.get("fs_group_policy"),
        "storage_capacity": csi.get("storage_capacity"),
        "topology_keys": [str(k) for k in csi.get("topology_keys") or ()],
        "nodes": [str(n) for n in csi.get("nodes") or ()],
        "attaches": str(attaches.get("why") or ""),
        "unreadable": str(csi.get("unreadable") or ""),
    }


def _problems(artefacts: Artefacts, run: RunInfo) -> list[str]:
    problems = []
    if run.pytest_exit not in (0, 1, None):
        problems.append(f"the conformance run ended with pytest exit code {run.pytest_exit} (interrupted or not run)")
    if not artefacts.results and run.pytest_exit is not None:
        problems.append("the conformance run wrote no results.jsonl")
    session = artefacts.session or {}
    problems += [f"leaked: {leak}" for leak in session.get("leaks") or []]
    problems += [f"cleanup error: {error}" for error in session.get("cleanup_errors") or []]
    for run_ in run.experiments:
        if run_.name in artefacts.journals and not artefacts.journals[run_.name][0]:
            problems.append(f"chaos experiment {run_.name} wrote no journal (exit {run_.returncode})")
    return problems


def _audit(artefacts: Artefacts, run: RunInfo) -> Data | None:
    """The suite's workload-shape audit, and the live one each experiment took before its fault."""
    taken = []
    for exp in run.experiments:
        journal = artefacts.journals.get(exp.name, ({}, [], {}))[0]
        record = (journal.get("ordinal") or {}).get("audit")
        if isinstance(record, dict):
            taken.append({"experiment": exp.name, **record})
    if run.audit is None and not taken:
        return None
    return {"suite": dict(run.audit) if run.audit is not None else None, "experiments": taken}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def build(artefacts: Artefacts, run: RunInfo) -> Data:
    """report.json's content (schema version :data:`~ordinal.report.REPORT_VERSION`)."""
    by_area: dict[str, list[Data]] = {}
    timelines: list[Data] = []
    failures: list[Data] = []
    for record in artefacts.results:
        area = area_of(str(record.get("area") or "unlabelled"))
        promise = _promise(record, artefacts.figures)
        by_area.setdefault(area, []).append(promise)
        if record.get("timeline"):
            timelines.append(
                _timeline("conformance", promise["id"], promise["title"], area, promise["outcome"], record["timeline"])
            )
        if promise["verdict"] == "fail":
            failures.append(
                {
                    "id": promise["id"],
                    "title": promise["title"],
                    "area": area,
                    "outcome": promise["outcome"],
                    "message": str(record.get("message") or ""),
                    "excerpt": str(record.get("excerpt") or ""),
                }
            )
    experiments: list[Data] = []
    restoration: list[Data] = []
    for exp in run.experiments:
        journal, cases, by_namespace = artefacts.journals.get(exp.name, ({}, [], {}))
        area = EXPERIMENT_AREAS.get(exp.name, "chaos")
        promise = _experiment_promise(exp, journal, cases)
        by_area.setdefault(area, []).append(promise)
        section = journal.get("ordinal") or {}
        rows = [dict(r, experiment=exp.name) for r in (section.get("figures") or {}).get("restoration") or []]
        restoration += rows
        timelines += _chaos_timelines(exp, area, promise["outcome"], by_namespace)
        experiments.append(
            {
                "name": exp.name,
                "title": str((journal.get("experiment") or {}).get("title") or exp.name),
                "area": area,
                "verdict": promise["verdict"],
                "status": str(journal.get("status") or "no journal"),
                "deviated": bool(journal.get("deviated")),
                "caught_by": section.get("caught_by"),
                "returncode": exp.returncode,
                "duration": promise["duration"],
                "cases": cases,
                "journal": exp.journal,
                "junit": exp.junit,
            }
        )
        if promise["verdict"] == "fail":
            failures.append(
                {
                    "id": promise["id"],
                    "title": promise["title"],
                    "area": area,
                    "outcome": "failed",
                    "message": promise["reason"],
                    "excerpt": "\n".join(f"{c['name']}: {c['outcome']} {c['message']}".rstrip() for c in cases),
                }
            )
    selected = " ".join(run.pytest_args)
    deselected = "no test of this area ran" + (f" (selected with: {selected})" if selected else "")
    if run.profile == "quick" and not run.experiments:
        deselected += "; chaos experiments run only with --profile full"
    areas = _areas(by_area, deselected)
    promises = [p for a in areas for p in a["promises"]]
    problems = _problems(artefacts, run)
    verdict = "fail" if failures else ("error" if problems else "pass")
    shape = _audit(artefacts, run)
    return {
        "report_version": REPORT_VERSION,
        "id": run.id,
        "verdict": verdict,
        "run": {
            "id": run.id,
            "profile": run.profile,
            "storage_class": run.storage_class,
            "started": _iso(run.started),
            "finished": _iso(run.finished),
            "seconds": round(run.finished - run.started, 1),
            "pytest_args": list(run.pytest_args),
            "pytest_exit": run.pytest_exit,
            "experiments": [e.name for e in run.experiments],
            "conformance_run_id": (artefacts.session or {}).get("run_id"),
        },
        "suite": {"version": run.suite_version, "git_revision": run.git_revision},
        "environment": _environment(artefacts.environment, run),
        "summary": {"total": len(promises), **_counts(p["outcome"] for p in promises)},
        "areas": areas,
        "failures": failures,
        "figures": _figures(artefacts.figures, restoration, timelines),
        "timelines": timelines,
        "experiments": experiments,
        "problems": problems,
        **({"audit": shape} if shape is not None else {}),
        "files": {
            "junit": "junit.xml",
            "allure_results": "allure-results",
            "journals": [e.journal for e in run.experiments],
            "checksums": "SHA256SUMS",
        },
    }
