"""The one way a spec fails on findings: every broken promise in one message, plus the timeline.

Tests call :func:`assert_no_findings` after running the checks for a phase. Listing every
finding (not the first) and the events around the subjects is what lets a failure on a
shared cluster be diagnosed from the report alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ordinal.checks.recorded import check_caught_up
from ordinal.checks.rules import blocking, informational
from ordinal.errors import InvariantViolated
from ordinal.observe.timeline import Timeline
from ordinal.types import Finding

_KINDS_WITH_NAMES = ("pod", "pvc", "pv", "statefulset", "node")


def assert_no_findings(
    findings: Iterable[Finding], *, what: str, timeline: Timeline | str | None = None, limit: int = 40
) -> list[Finding]:
    """Raise :class:`InvariantViolated` if any finding is blocking; return the ``info`` ones.

    ``what`` names the promise and its target ("StatefulSet ns/web scales up in order");
    the first line of the error adds the count and the first finding, because Chaos
    Toolkit journals keep only that line. ``timeline`` (a Timeline or a ready excerpt)
    is cut down to entries about the subjects of the findings.
    """
    lag = check_caught_up(timeline if isinstance(timeline, Timeline) else None)
    found = _unique([*findings, *lag])
    errors = blocking(found)
    if not errors:
        return informational(found)
    notes = informational(found)
    head = f"{what}: {len(errors)} broken promise{'s' if len(errors) != 1 else ''}; first: {errors[0]}"
    excerpt = timeline if isinstance(timeline, str) else _excerpt(timeline, errors, limit)
    raise InvariantViolated(head, errors + notes, excerpt)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """Each finding once, in order (checks sharing a timeline each report its lag)."""
    seen: set[str] = set()
    kept = []
    for finding in findings:
        if str(finding) not in seen:
            seen.add(str(finding))
            kept.append(finding)
    return kept


def _excerpt(timeline: Timeline | None, findings: list[Finding], limit: int) -> str:
    """Entries about the findings' subjects and every object their expected/seen text names."""
    if timeline is None or len(timeline) == 0:
        return ""
    known = {e.name for e in timeline.entries}
    names: set[str] = set()
    for finding in findings:
        kind, _, ref = finding.subject.partition(" ")
        if kind == "statefulset":
            set_name = ref.rsplit("/", 1)[-1]
            names.add(set_name)
            names.update(timeline.pods(set_name))
        elif kind in _KINDS_WITH_NAMES:
            names.add(ref.rsplit("/", 1)[-1])
        elif "/" in finding.path:  # DNS findings carry the pod as ``ns/name`` in the path
            names.add(finding.path.rsplit("/", 1)[-1])
        text = f"{finding.expected} {finding.seen}"
        names.update(n for n in known if re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", text))
    return timeline.excerpt(names=names if names & known else None, limit=limit)
