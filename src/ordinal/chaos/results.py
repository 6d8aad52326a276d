"""What activities return: JSON-able TypedDicts, and the probe verdict the tolerances read.

Hypothesis probes return a :class:`ProbeVerdict` whose ``status`` is ``passed``, ``failed`` or
``not-checked``. chaoslib compares a list tolerance against a dict result's ``status`` key
(``"tolerance": ["passed"]``), so experiments need no JSONPath extra. Every tolerance is
``["passed"]``: a probe that could not run here (data tokens on simulated nodes, DNS out of
reach) answers ``not-checked`` with the reason, the hypothesis is then not met, and the
journal, ``ordinal run`` and the JUnit view say *not checked* and why, never that it held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypedDict

from ordinal.checks.rules import blocking, informational
from ordinal.errors import InvalidScenario
from ordinal.kube.manifests import parse_ordinal
from ordinal.observe.timeline import Timeline
from ordinal.types import Finding

Status = Literal["passed", "failed", "not-checked"]

#: The status of a probe that could not run here; its summary names the capability it needs.
NOT_CHECKED: Status = "not-checked"


class ProbeVerdict(TypedDict):
    """A hypothesis probe's answer: a status for the tolerance, the findings that explain it."""

    status: Status
    check: str  # probe name
    subject: str  # "statefulset ns/web"
    summary: str  # one line: what failed first, why it was not checked, or what held
    findings: list[dict[str, Any]]  # blocking findings, as Finding.to_json()
    notes: list[dict[str, Any]]  # info findings: seen and reported, not failing
    details: dict[str, Any]


class Touched(TypedDict):
    """What an action did to the cluster, by name and UID."""

    action: str
    namespace: str
    targets: list[dict[str, Any]]
    details: dict[str, Any]


class Snapshot(TypedDict):
    """The baseline ``snapshot_identity`` takes, as the journal keeps it."""

    statefulset: str
    uid: str
    replicas: int
    currentRevision: str | None
    updateRevision: str | None
    pods: dict[str, dict[str, Any]]
    claims: dict[str, dict[str, Any]]


class Waited(TypedDict):
    """A method probe that waited for something: how long, what it saw, and the figures it took."""

    probe: str
    subject: str
    seconds: float
    details: dict[str, Any]


def verdict(
    check: str,
    subject: str,
    findings: Iterable[Finding],
    *,
    held: str,
    details: dict[str, Any] | None = None,
    timeline: Timeline | None = None,
) -> ProbeVerdict:
    """Turn findings into a verdict; ``held`` is the summary when nothing blocking was found."""
    found = list(findings)
    errors, notes = blocking(found), informational(found)
    extra = dict(details or {})
    if errors and timeline is not None and len(timeline):
        names = _subjects(errors)
        extra["timeline"] = timeline.excerpt(names=names or None, limit=30).splitlines()
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        summary = f"{errors[0]}{more}"
    else:
        summary = held + (f"; {len(notes)} note(s): {notes[0]}" if notes else "")
    return ProbeVerdict(
        status="failed" if errors else "passed",
        check=check,
        subject=subject,
        summary=summary,
        findings=[f.to_json() for f in errors],
        notes=[f.to_json() for f in notes],
        details=extra,
    )


def not_checked(check: str, subject: str, reason: str, details: dict[str, Any] | None = None) -> ProbeVerdict:
    """Could not run here (a missing capability): the reason names it, e.g. ``needs: exec into pods``."""
    return ProbeVerdict(
        status=NOT_CHECKED, check=check, subject=subject, summary=reason, findings=[], notes=[], details=details or {}
    )


def _subjects(findings: Sequence[Finding]) -> set[str]:
    names: set[str] = set()
    for finding in findings:
        _, _, ref = finding.subject.partition(" ")
        names.add(ref.rsplit("/", 1)[-1])
    return names


# -- which ordinals ----------------------------------------------------------------------------


def select_ordinals(spec: str, window: Iterable[int], disrupted: Iterable[int]) -> set[int]:
    """Read an ordinal selection: ``disrupted``, ``none``, ``all``, ``1,2`` or ``>=1`` (combinable).

    Experiments say which ordinals a fault is expected to replace this way, e.g.
    ``">=${scale_to}"`` after a scale-down.
    """
    window = list(window)
    chosen: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item or item == "none":
            continue
        if item == "disrupted":
            chosen.update(disrupted)
        elif item == "all":
            chosen.update(window)
        elif item.startswith(">="):
            chosen.update(i for i in window if i >= _int(item[2:], spec))
        else:
            chosen.add(_int(item, spec))
    return chosen


def _int(text: str, spec: str) -> int:
    if not text.strip().isdigit():
        raise InvalidScenario(
            f"expected an ordinal selection like 'disrupted', 'none', 'all', '1,2' or '>=1', got {spec!r}"
        )
    return int(text)


def ordinals_of(pods: Iterable[str], set_name: str) -> set[int]:
    return {n for n in (parse_ordinal(p, set_name) for p in pods) if n is not None}
