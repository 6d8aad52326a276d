"""A Chaos Toolkit journal as JUnit XML, so CI shows every hypothesis probe as a test case.

One ``<testsuite>`` per journal. Test cases, in run order: each steady-state probe before
the method (``hypothesis-before``), each method activity, each probe after the method
(``hypothesis-after``), each rollback, and one ``outcome`` case carrying the run's status.
Probes the run never reached (the hypothesis stops at its first failing probe; an
interrupted run skips the second hypothesis) are listed as skipped with the reason, so
the set of test cases is the same on every run. A probe whose verdict is ``not-checked``
(a missing capability) is skipped with "not checked: <reason>", never reported as passed, and
so is the outcome of a run whose only problems are such probes (journal verdict ``not-checked``).

Also a command: ``python -m ordinal.chaos.junit reports/journal-drain.json -o reports/junit-chaos-drain.xml``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET


def journal_to_junit(journal: Mapping[str, Any], *, name: str = "") -> ET.Element:
    """Build the ``<testsuites>`` element for one journal."""
    experiment = journal.get("experiment") or {}
    suite_name = name or str(experiment.get("title") or "experiment")
    suite = ET.Element("testsuite", {"name": suite_name, "timestamp": str(journal.get("start") or "")})
    props = ET.SubElement(suite, "properties")
    section = journal.get("ordinal") or {}
    for key, value in (
        ("title", experiment.get("title")),
        ("status", journal.get("status")),
        ("deviated", journal.get("deviated")),
        ("run_id", section.get("run_id")),
        ("caught_by", section.get("caught_by")),
    ):
        ET.SubElement(props, "property", {"name": key, "value": "" if value is None else str(value)})

    hypothesis = experiment.get("steady-state-hypothesis") or {}
    declared = [p.get("name", "?") for p in hypothesis.get("probes") or []]
    states = journal.get("steady_states") or {}
    cases: list[ET.Element] = []
    cases += _hypothesis(suite_name, "hypothesis-before", declared, states.get("before"), journal)
    cases += _activities(suite_name, "method", experiment.get("method") or [], journal.get("run") or [])
    cases += _hypothesis(suite_name, "hypothesis-after", declared, states.get("after"), journal)
    cases += _activities(suite_name, "rollbacks", experiment.get("rollbacks") or [], journal.get("rollbacks") or [])
    cases.append(_outcome(suite_name, journal))
    suite.extend(cases)

    counts = {k: sum(1 for c in cases if c.find(k) is not None) for k in ("failure", "error", "skipped")}
    duration = float(journal.get("duration") or 0.0)
    suite.attrib.update(
        tests=str(len(cases)),
        failures=str(counts["failure"]),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"]),
        time=f"{duration:.3f}",
    )
    root = ET.Element("testsuites", {"name": "ordinal chaos"})
    root.attrib.update({k: suite.attrib[k] for k in ("tests", "failures", "errors", "skipped", "time")})
    root.append(suite)
    return root


def write_junit(journal: Mapping[str, Any], path: Path, *, name: str = "") -> Path:
    root = journal_to_junit(journal, name=name)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
    return path


# -- cases -------------------------------------------------------------------------------------


def _case(suite: str, phase: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.Element("testcase", {"classname": f"{suite}.{phase}", "name": name, "time": f"{seconds:.3f}"})


def _hypothesis(
    suite: str, phase: str, declared: Sequence[str], state: Mapping[str, Any] | None, journal: Mapping[str, Any]
) -> list[ET.Element]:
    runs = {(r.get("activity") or {}).get("name"): r for r in (state or {}).get("probes") or []}
    cases = []
    for name in declared:
        run = runs.get(name)
        case = _case(suite, phase, name, float((run or {}).get("duration") or 0.0))
        if run is None:
            reason = _not_run_reason(phase, state, journal)
            ET.SubElement(case, "skipped", {"message": reason})
        else:
            _judge_probe(case, run)
        cases.append(case)
    return cases


def _not_run_reason(phase: str, state: Mapping[str, Any] | None, journal: Mapping[str, Any]) -> str:
    if state is not None:
        return "not run: an earlier probe of this hypothesis did not hold"
    if phase == "hypothesis-after":
        return f"not run: the run ended {journal.get('status')} before the method completed"
    return "not run"


def _judge_probe(case: ET.Element, run: Mapping[str, Any]) -> None:
    output = run.get("output")
    verdict = output if isinstance(output, Mapping) else {}
    if run.get("status") == "failed":
        _error(case, run)
    elif verdict.get("status") == "not-checked":
        ET.SubElement(case, "skipped", {"message": f"not checked: {verdict.get('summary') or 'no reason given'}"})
    elif run.get("tolerance_met") is False:
        failure = ET.SubElement(
            case, "failure", {"type": "tolerance", "message": str(verdict.get("summary") or "tolerance not met")}
        )
        failure.text = json.dumps(
            {"findings": verdict.get("findings"), "details": verdict.get("details")} if verdict else output,
            indent=1,
            default=str,
        )
    _out(case, output)


def _activities(
    suite: str, phase: str, declared: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]
) -> list[ET.Element]:
    cases = []
    for index, activity in enumerate(declared):
        name = str(activity.get("name") or activity.get("ref") or f"#{index}")
        run = runs[index] if index < len(runs) else None
        case = _case(suite, phase, name, float((run or {}).get("duration") or 0.0))
        if run is None:
            ET.SubElement(case, "skipped", {"message": "not run"})
        elif run.get("status") == "failed" and (needs := missing_capability(run)):
            ET.SubElement(case, "skipped", {"message": f"not checked: {needs}"})
        elif run.get("status") == "failed":
            _error(case, run)
            _out(case, run.get("output"))
        else:
            _out(case, run.get("output"))
        cases.append(case)
    return cases


def _outcome(suite: str, journal: Mapping[str, Any]) -> ET.Element:
    case = _case(suite, "run", "outcome", float(journal.get("duration") or 0.0))
    status, deviated = journal.get("status"), bool(journal.get("deviated"))
    section = journal.get("ordinal") or {}
    if section.get("verdict") == "not-checked":
        unchecked = section.get("not_checked") or []
        reasons = "; ".join(f"{u.get('phase')} {u.get('probe')}: {u.get('reason')}" for u in unchecked)
        ET.SubElement(case, "skipped", {"message": f"not checked: {reasons or 'a probe could not run'}"})
    elif status != "completed" or deviated:
        problems = section.get("problems") or []
        message = f"status {status}" + (", deviated" if deviated else "")
        if section.get("caught_by"):
            message += f"; caught by {section['caught_by']}"
        failure = ET.SubElement(case, "failure", {"type": str(status), "message": message})
        failure.text = "\n".join(problems)
    figures = section.get("figures")
    if figures:
        _out(case, figures)
    return case


#: In an activity's error, what a missing capability reads as (ordinal's CapabilityMissing).
NEEDS = "needs: "


def missing_capability(run: Mapping[str, Any]) -> str | None:
    """``needs: …`` when a failed activity failed for a capability the cluster lacks (not a broken promise)."""
    lines = "".join(str(x) for x in run.get("exception") or []).strip().splitlines()
    last = lines[-1] if lines else ""
    at = last.find(NEEDS)
    return last[at:] if at >= 0 and last[:at].rstrip().endswith(":") else None


def _error(case: ET.Element, run: Mapping[str, Any]) -> None:
    lines = [str(x) for x in run.get("exception") or []]
    last = "".join(lines).strip().splitlines()
    error = ET.SubElement(case, "error", {"type": "ActivityFailed", "message": last[-1] if last else "failed"})
    error.text = "".join(lines)


def _out(case: ET.Element, output: Any) -> None:
    if output is None:
        return
    out = ET.SubElement(case, "system-out")
    out.text = json.dumps(output, indent=1, default=str)


# -- command -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ordinal.chaos.junit", description=__doc__.splitlines()[0])
    parser.add_argument("journal", type=Path, help="a journal written by `chaos run --journal-path`")
    parser.add_argument(
        "-o", "--output", type=Path, help="where to write (default: junit-<journal name>.xml beside it)"
    )
    parser.add_argument("--name", default="", help="test suite name (default: the experiment title)")
    args = parser.parse_args(argv)
    try:
        journal = json.loads(args.journal.read_text())
    except (OSError, ValueError) as err:
        print(f"ordinal: expected a JSON journal at {args.journal}, got: {err}", file=sys.stderr)
        return 2
    stem = args.journal.stem.removeprefix("journal-")
    output = args.output or args.journal.with_name(f"junit-chaos-{stem}.xml")
    write_junit(journal, output, name=args.name or stem)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
