"""Per-test records for ``ordinal report``: ``results.jsonl`` beside the JUnit XML.

JUnit XML loses what a report needs (the promise area, the docstring's MUST sentence, the
skip reason as written, the pod timeline), and parsing it back is fragile; so the plugin
writes one JSON line per test at teardown, in the same side channel as ``figures.jsonl``.
This module turns plain values into that line. It never imports pytest (the plugin hands
in what it read from the reports) and it decides nothing: outcomes are pytest's.

Line shape (all keys always present)::

    {"test", "title", "area", "feature", "story", "outcome", "reason", "duration",
     "started", "message", "excerpt", "timeline": {"end", "pods", "nodes", "truncated"} | null}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ordinal.artefacts.figures import append_line
from ordinal.observe.timeline import Entry, Timeline

Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
#: Lines of a failure message kept (the expected/seen head and its findings, not the traceback).
MESSAGE_LINES = 24
#: Pod incarnations per test kept for the charts; a test with more says so (``truncated``).
TRACK_LIMIT = 60
RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True)
class Phase:
    """What pytest reported for one of setup, call, teardown."""

    outcome: str  # "passed", "failed" or "skipped"
    duration: float
    #: Skip reason, or xfail reason when ``xfail`` is set.
    reason: str = ""
    xfail: bool = False


def outcome_of(phases: Mapping[str, Phase]) -> tuple[Outcome, str]:
    """The test's outcome as JUnit counts it, and the reason for a skip or an expected failure."""
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    if setup is not None and setup.outcome == "failed":
        return "error", ""
    if setup is not None and setup.outcome == "skipped":
        return ("xfailed", setup.reason) if setup.xfail else ("skipped", setup.reason)
    if call is not None and call.xfail:
        return ("xfailed", call.reason) if call.outcome == "skipped" else ("xpassed", call.reason)
    if call is not None and call.outcome == "failed":
        return "failed", ""
    if call is not None and call.outcome == "skipped":
        return "skipped", call.reason
    if teardown is not None and teardown.outcome == "failed":
        return "error", ""
    return "passed", ""


def skip_reason(text: str) -> str:
    """``Skipped: needs: exec into pods`` (pytest's longrepr wording) → ``needs: exec into pods``."""
    return text.strip().removeprefix("Skipped: ").strip()


def split_failure(error: BaseException | None, fallback: str = "") -> tuple[str, str]:
    """(message, timeline excerpt) of a failure: the expected/seen lines apart from the timeline.

    ``InvariantViolated`` and ``WaitTimeout`` carry their excerpt in ``timeline``; their
    ``str`` repeats it, so it is cut off the message here. ``fallback`` stands in when there
    is no exception object (pytest's own longrepr text).
    """
    if error is None:
        return _head(fallback), ""
    excerpt = getattr(error, "timeline", "")
    text = str(error)
    if isinstance(excerpt, str) and excerpt and excerpt in text:
        text = text[: text.index(excerpt)].rstrip().removesuffix("timeline:").rstrip()
    name = type(error).__name__
    message = text if text.startswith(name) or not text else f"{name}: {text}"
    return _head(message), excerpt if isinstance(excerpt, str) else ""


def _head(text: str) -> str:
    lines = text.strip().splitlines()
    kept = lines[:MESSAGE_LINES]
    if len(lines) > MESSAGE_LINES:
        kept.append(f"… {len(lines) - MESSAGE_LINES} more lines")
    return "\n".join(kept)


def pod_state(entry: Entry) -> str:
    """One word per pod state a chart colours: pending, running, ready, terminating, succeeded, failed."""
    d = entry.detail
    if d.get("deleting"):
        return "terminating"
    phase = d.get("phase")
    if phase == "Running":
        return "ready" if d.get("ready") else "running"
    if phase in ("Succeeded", "Failed"):
        return str(phase).lower()
    return "pending"


def tracks(timeline: Timeline, limit: int = TRACK_LIMIT) -> dict[str, Any]:
    """Compact chart data: per pod incarnation the (t, state, node) changes; node state changes.

    Seconds are relative to the timeline's origin (the recorder starts as the test does).
    A DELETED event ends a track (``gone``) rather than adding a state.
    """
    t0 = timeline.t0
    by_uid: dict[str, dict[str, Any]] = {}
    last: dict[str, tuple[str, str | None]] = {}
    for entry in timeline.of_kind("Pod"):
        key = entry.uid or f"{entry.namespace}/{entry.name}"
        track = by_uid.get(key)
        if track is None:
            if len(by_uid) >= limit:
                continue
            track = by_uid[key] = {
                "pod": entry.name,
                "uid": entry.uid[:8],
                "set": entry.detail.get("set"),
                "ordinal": entry.detail.get("ordinal"),
                "changes": [],
                "gone": None,
            }
        t = round(entry.mark.t - t0, 3)
        if entry.event == "DELETED":
            track["gone"] = t
            continue
        node = entry.detail.get("node")
        now = (pod_state(entry), str(node) if node else None)
        if last.get(key) != now:
            track["changes"].append([t, now[0], now[1]])
            last[key] = now
        if track["set"] is None and entry.detail.get("set"):
            track["set"], track["ordinal"] = entry.detail.get("set"), entry.detail.get("ordinal")
    pods = sum(1 for _ in {e.uid or e.name for e in timeline.of_kind("Pod")})
    end = round(max(e.mark.t for e in timeline.entries) - t0, 3) if len(timeline) else 0.0
    return {
        "end": max(end, 0.0),
        "pods": list(by_uid.values()),
        "nodes": _node_changes(timeline),
        "truncated": pods > limit,
    }


def _node_changes(timeline: Timeline) -> list[dict[str, Any]]:
    """Nodes whose schedulability or readiness changed while the test ran (drains, node loss)."""
    t0 = timeline.t0
    seen: dict[str, list[list[Any]]] = {}
    for entry in timeline.of_kind("Node"):
        d = entry.detail
        if entry.event == "DELETED":
            state = "gone"
        elif d.get("ready") != "True":
            state = "not-ready"
        elif d.get("unschedulable"):
            state = "cordoned"
        else:
            state = "ready"
        changes = seen.setdefault(entry.name, [])
        if not changes or changes[-1][1] != state:
            changes.append([round(entry.mark.t - t0, 3), state])
    return [{"node": name, "changes": changes} for name, changes in sorted(seen.items()) if len(changes) > 1]


def record(
    *,
    test: str,
    title: str,
    labels: Mapping[str, str],
    phases: Mapping[str, Phase],
    started: float,
    error: BaseException | None = None,
    failure_text: str = "",
    timeline: Timeline | None = None,
) -> dict[str, Any]:
    """The JSON line for one test (``started``: wall-clock epoch seconds of its setup)."""
    outcome, reason = outcome_of(phases)
    message, excerpt = ("", "")
    if outcome in ("failed", "error"):
        message, excerpt = split_failure(error, failure_text)
        if not excerpt and timeline is not None and len(timeline):
            excerpt = timeline.excerpt()
    return {
        "test": test,
        "title": title,
        "area": labels.get("epic", ""),
        "feature": labels.get("feature", ""),
        "story": labels.get("story", ""),
        "outcome": outcome,
        "reason": reason,
        "duration": round(sum(p.duration for p in phases.values()), 3),
        "started": round(started, 3),
        "message": message,
        "excerpt": excerpt,
        "timeline": tracks(timeline) if timeline is not None and len(timeline) else None,
    }


class ResultLog:
    """Append-only JSON lines, safe across xdist workers; ``reset()`` at the run's start so a file never mixes runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)

    def add(self, line: Mapping[str, Any]) -> None:
        with self._lock:
            append_line(self.path, json.dumps(line, default=str))


def read(path: Path) -> list[dict[str, Any]]:
    """Records written by a run (blank and malformed lines skipped, as for figures)."""
    found = []
    for line in path.read_text().splitlines() if path.is_file() else ():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "test" in data and data.get("outcome") in OUTCOMES:
            found.append(data)
    return found
