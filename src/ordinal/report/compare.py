"""``ordinal report compare OLD NEW``: what changed between two reports, for a nightly CI gate.

Both reports are checked first (SHA256SUMS, then the schema): a comparison against an edited
report would be worthless. Then:

- **Verdicts.** Every promise (pytest node id or ``chaos:<experiment>``) whose verdict
  changed. A *regression* is a promise that fails now and did not before (pass, skip or
  absent → fail); it makes the exit code 1. Fixed promises and lost coverage (pass → skip or
  absent) are printed but do not fail the gate.
- **Figures.** Medians of each named figure, of time-to-Ready per ordinal, and the reattach
  p50/p90. A figure *moved beyond noise* when it changed by more than both
  :data:`RELATIVE_NOISE` of the old value and :data:`ABSOLUTE_NOISE` seconds: timings on a
  shared cluster jitter by tens of percent at sub-second scale, so either bound alone would
  flag noise. Slower figures fail the gate only with ``strict_figures``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ordinal.errors import InvalidScenario
from ordinal.report import schema, sums

RELATIVE_NOISE = 0.25
ABSOLUTE_NOISE = 0.5
NOISE_TEXT = f"more than {RELATIVE_NOISE:.0%} and more than {ABSOLUTE_NOISE} s"


@dataclass(frozen=True)
class VerdictChange:
    id: str
    title: str
    area: str
    old: str  # pass, fail, skip or absent
    new: str

    @property
    def kind(self) -> str:
        if self.new == "fail" and self.old != "fail":
            return "regression"
        if self.old == "fail":
            return "fixed" if self.new == "pass" else "no longer failing"
        if self.old == "pass":
            return "lost coverage"
        return "newly checked" if self.new == "pass" else "changed"


@dataclass(frozen=True)
class FigureChange:
    name: str
    old: float
    new: float

    @property
    def slower(self) -> bool:
        return self.new > self.old

    @property
    def relative(self) -> float:
        return (self.new - self.old) / self.old if self.old else float("inf")


@dataclass
class Comparison:
    old: dict[str, Any]
    new: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    verdicts: list[VerdictChange] = field(default_factory=list)
    figures: list[FigureChange] = field(default_factory=list)

    @property
    def regressions(self) -> list[VerdictChange]:
        return [v for v in self.verdicts if v.kind == "regression"]

    @property
    def slower(self) -> list[FigureChange]:
        return [f for f in self.figures if f.slower]

    def exit_code(self, strict_figures: bool = False) -> int:
        return 1 if self.regressions or (strict_figures and self.slower) else 0


def report_dir(path: Path) -> Path:
    """A report directory, or the one holding the named report.json."""
    if path.is_dir():
        return path
    if path.name == "report.json" and path.is_file():
        return path.parent
    found = "a different file" if path.exists() else "nothing"
    raise InvalidScenario(f"expected a report directory or its report.json, found {found} at {path}")


def load(path: Path) -> dict[str, Any]:
    """Verify a report's checksums, then read and validate its report.json."""
    directory = report_dir(path)
    sums.verify(directory)
    try:
        data = json.loads((directory / "report.json").read_text())
    except (OSError, ValueError) as err:
        raise schema.ReportInvalid(f"expected a JSON report at {directory / 'report.json'}, found {err}") from None
    schema.validate(data, str(directory / "report.json"))
    return dict(data)


def _promises(report: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {p["id"]: (p["verdict"], p["title"], area["id"]) for area in report["areas"] for p in area["promises"]}


def _figure_values(report: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    figures = report["figures"]
    for stat in figures["stats"]:
        yield f"{stat['name']} (median)", float(stat["p50"])
    for row in figures["time_to_ready"]:
        yield f"time to Ready, ordinal {row['ordinal']} (median)", float(row["p50"])
    if figures["reattach"]:
        yield "reattach latency p50", float(figures["reattach"]["p50"])
        yield "reattach latency p90", float(figures["reattach"]["p90"])


def beyond_noise(old: float, new: float) -> bool:
    change = abs(new - old)
    return change > ABSOLUTE_NOISE and change > RELATIVE_NOISE * abs(old)


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    result = Comparison(old, new)
    for label, get in (
        ("StorageClass", lambda r: r["run"]["storage_class"]),
        ("Kubernetes", lambda r: r["environment"]["kubernetes"]["git_version"]),
        ("suite revision", lambda r: r["suite"]["git_revision"]),
        ("profile", lambda r: r["run"]["profile"]),
        ("selection", lambda r: " ".join(r["run"]["pytest_args"]) or "whole suite"),
    ):
        if get(old) != get(new):
            result.notes.append(f"{label} differs: {get(old)} → {get(new)}")
    before, after = _promises(old), _promises(new)
    for pid in [*before, *(p for p in after if p not in before)]:
        was, now = before.get(pid), after.get(pid)
        old_verdict, new_verdict = (was[0] if was else "absent"), (now[0] if now else "absent")
        if old_verdict != new_verdict:
            title, area = (now or was or ("", "", ""))[1:]
            result.verdicts.append(VerdictChange(pid, title, area, old_verdict, new_verdict))
    old_figures = dict(_figure_values(old))
    for name, value in _figure_values(new):
        if name in old_figures and beyond_noise(old_figures[name], value):
            result.figures.append(FigureChange(name, old_figures[name], value))
    return result


def lines(result: Comparison, strict_figures: bool = False) -> list[str]:
    """What ``compare`` prints: header, notes, verdict changes, figures beyond noise, a result line."""
    out = [
        f"old: {result.old['id']} ({result.old['run']['storage_class']}, {result.old['verdict']}, "
        f"{result.old['run']['started']})",
        f"new: {result.new['id']} ({result.new['run']['storage_class']}, {result.new['verdict']}, "
        f"{result.new['run']['started']})",
    ]
    out += [f"note: {n}" for n in result.notes]
    out.append(f"verdict changes: {len(result.verdicts)}")
    order = {"regression": 0, "fixed": 1, "no longer failing": 2, "lost coverage": 3, "newly checked": 4, "changed": 5}
    for change in sorted(result.verdicts, key=lambda c: (order[c.kind], c.area, c.id)):
        out.append(
            f"  {change.kind.upper() if change.kind == 'regression' else change.kind}: [{change.area}] "
            f"{change.old} → {change.new}  {change.id}  {change.title}"
        )
    out.append(f"figures beyond noise ({NOISE_TEXT}): {len(result.figures)}")
    for fig in sorted(result.figures, key=lambda f: (not f.slower, f.name)):
        way = "slower" if fig.slower else "faster"
        out.append(f"  {way}: {fig.name} {fig.old:.2f}s → {fig.new:.2f}s ({fig.relative:+.0%})")
    failing = len(result.regressions)
    slow = len(result.slower) if strict_figures else 0
    if failing or slow:
        why = [f"{failing} regression{'s' if failing != 1 else ''} (now failing)"] if failing else []
        why += [f"{slow} figure{'s' if slow != 1 else ''} slower beyond noise"] if slow else []
        out.append(f"result: {' and '.join(why)}")
    else:
        out.append("result: no regression")
    return out
