"""What the plugin writes beside the JUnit XML for ``ordinal report``, and what it attaches on failure.

``results.jsonl`` (one line per test, at teardown), ``environment.json`` and ``session.json``
(at session end), figures (``figures.jsonl``, JUnit properties, allure), and the failure dump.
The side channel must never change a test's outcome: write errors are logged, not raised.
"""

from __future__ import annotations

import logging
import time

import pytest
from _pytest._code.code import TerminalRepr

from ordinal.artefacts import allure as allure_report
from ordinal.artefacts import diagnostics
from ordinal.artefacts import environment as environment_report
from ordinal.artefacts import results as results_report
from ordinal.artefacts.figures import Figure, FigureLog
from ordinal.pytest_plugin.session import (
    ERRORS_KEY,
    FIGURES_KEY,
    NAMESPACE_KEY,
    RECORDER_KEY,
    REPORTS_KEY,
    RESULTS_KEY,
    SuiteSession,
    figures_path,
    session_of,
)

log = logging.getLogger("ordinal.plugin")

# -- records for `ordinal report` (results.jsonl, environment.json, session.json) --------------


def results_log(config: pytest.Config) -> results_report.ResultLog | None:
    """The per-test record file beside ``figures.jsonl``; None when the run writes no reports."""
    if RESULTS_KEY not in config.stash:
        path = figures_path(config)
        config.stash[RESULTS_KEY] = (
            results_report.ResultLog(path.parent / results_report.RESULTS_FILE) if path else None
        )
    return config.stash[RESULTS_KEY]


def _phase(report: pytest.TestReport) -> results_report.Phase:
    reason = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = results_report.skip_reason(str(report.longrepr[2]))
    xfail = getattr(report, "wasxfail", None)
    if xfail is not None:
        reason = str(xfail)
    return results_report.Phase(report.outcome, report.duration, reason, xfail is not None)


def record_result(item: pytest.Item) -> None:
    """One line of ``results.jsonl`` per test, written at teardown once every phase has reported."""
    results = results_log(item.config)
    if results is None:
        return
    reports = item.stash.get(REPORTS_KEY, {})
    errors = item.stash.get(ERRORS_KEY, {})
    failed = next((r for r in reports.values() if r.failed), None)
    recorder = item.stash.get(RECORDER_KEY, None)
    callspec = getattr(item, "callspec", None)
    labels = promise_labels(item)
    labels.setdefault("story", callspec.id if callspec else "")
    try:
        line = results_report.record(
            test=item.nodeid,
            title=first_doc_line(item) or item.name,
            labels=labels,
            phases={when: _phase(r) for when, r in reports.items()},
            started=min((r.start for r in reports.values()), default=time.time()),
            error=next(iter(errors.values()), None),
            failure_text=failed.longreprtext if failed is not None else "",
            timeline=recorder.timeline if recorder is not None else None,
        )
        results.add(line)
    except Exception as err:  # the side channel must never turn a test's result into an internal error
        log.warning("could not write the result of %s to %s: %s", item.nodeid, results.path, err)


def write_environment(config: pytest.Config, state: SuiteSession) -> None:
    """``environment.json`` while the client is still open (before the session cleans up)."""
    path, info, kube = figures_path(config), state.info_or_none, state.kube_or_none
    if path is not None and info is not None and kube is not None:
        try:
            environment_report.write(
                path.parent / environment_report.ENVIRONMENT_FILE, environment_report.collect(kube, info)
            )
        except Exception as err:  # cleanup runs next and must not be skipped for a report file
            log.warning("could not write %s: %s", environment_report.ENVIRONMENT_FILE, err)


def write_session(config: pytest.Config, state: SuiteSession) -> None:
    path = figures_path(config)
    if path is not None and not config.option.collectonly:
        record = environment_report.session_record(
            state.run_id, state.leaks, state.cleanup_errors, state.kept_namespaces, state.api_calls_of_run()
        )
        environment_report.write(path.parent / environment_report.SESSION_FILE, record)


def first_doc_line(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def promise_labels(item: pytest.Item) -> dict[str, str]:
    labels: dict[str, str] = {}
    for mark in item.iter_markers("promise"):  # closest first
        values = dict(zip(("epic", "feature", "story"), mark.args, strict=False)) | dict(mark.kwargs)
        for key, value in values.items():
            labels.setdefault(key, str(value))
    return labels


def attach_failure(item: pytest.Item, report: pytest.TestReport) -> None:
    """Timeline excerpt into the failure text; timeline JSON and a state dump into allure."""
    recorder = item.stash.get(RECORDER_KEY, None)
    sections: dict[str, str] = {}
    if recorder is not None and len(recorder.timeline):
        sections["ordinal timeline"] = recorder.timeline.excerpt()
        allure_report.attach_json("timeline", recorder.timeline.to_json())
        if recorder.errors:
            sections["ordinal recorder errors"] = "\n".join(recorder.errors[-10:])
    namespace = item.stash.get(NAMESPACE_KEY, None)
    state = session_of(item.config)
    if namespace and state.kube_or_none is not None:
        for title, text in diagnostics.dump(state.kube_or_none, namespace).items():
            sections[f"ordinal {title} in {namespace}"] = text
            allure_report.attach_text(f"{title} ({namespace})", text)
    longrepr = report.longrepr
    for title, text in sections.items():
        if isinstance(longrepr, TerminalRepr) and hasattr(longrepr, "addsection"):
            longrepr.addsection(title, text)
        else:
            report.sections.append((title, text))


class Figures:
    """Record measured times for this test: JUnit property, allure attachment, ``figures.jsonl``."""

    def __init__(self, node: pytest.Item, log: FigureLog) -> None:
        self._node, self._log = node, log

    def record(self, name: str, seconds: float) -> None:
        figure = Figure(self._node.nodeid, name, round(seconds, 3))
        self._node.stash.setdefault(FIGURES_KEY, []).append(figure)
        self._log.add(figure)
        allure_report.attach_json(f"figure {name}", figure.to_json())
        log.info("figure %s: %.3fs", name, seconds)

    def note(self, name: str, text: str) -> None:
        """An observation that is not a time (e.g. whether a known upstream trap showed): a JUnit property."""
        self._node.user_properties.append((name, text))
        allure_report.attach_text(name, text)
        log.info("note %s: %s", name, text)
