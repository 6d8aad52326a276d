"""Tests done of the total for CI logs: a plain line at most every 10 s, a heartbeat while a test runs
long, failures counted once per test, and the total from the workers' collection under xdist."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ordinal.pytest_plugin.progress import TestProgress

pytest_plugins = ["pytester"]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def report(nodeid: str, when: str, failed: bool = False) -> Any:
    return SimpleNamespace(nodeid=nodeid, when=when, failed=failed)


def test_lines_come_at_most_every_ten_seconds_with_done_total_and_left() -> None:
    clock, lines = Clock(), []
    shown = TestProgress(lines.append, clock=clock)
    shown.pytest_xdist_node_collection_finished(None, [f"t{i}" for i in range(10)])
    for i in range(8):
        clock.t = 4.0 * (i + 1)
        shown.pytest_runtest_logreport(report(f"t{i}", "call", failed=i == 2))
        shown.pytest_runtest_logreport(report(f"t{i}", "teardown", failed=i == 2))
    assert lines == [
        "ordinal: 3/10 tests done (1 failed), 12s elapsed, about 28s left",
        "ordinal: 6/10 tests done (1 failed), 24s elapsed, about 16s left",
    ]


def test_the_heartbeat_speaks_while_one_test_runs_long() -> None:
    clock, lines = Clock(), []
    shown = TestProgress(lines.append, clock=clock)
    assert not shown.tick()  # nothing in the first 10 s
    clock.t = 10.0
    assert shown.tick() and lines == ["ordinal: 0/? tests done, 10s elapsed"]
    clock.t = 15.0
    assert not shown.tick()
    clock.t = 20.0
    assert shown.tick()


def test_ordinal_progress_prints_through_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ORDINAL_PROGRESS=1 a plain run prints the line; without it, nothing."""
    pytester.makepyfile("import time\n\ndef test_fast():\n    pass\n\ndef test_slow():\n    time.sleep(0.2)\n")
    monkeypatch.setattr(TestProgress, "__init__", _fast_init)
    monkeypatch.setenv("ORDINAL_PROGRESS", "1")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert any(line.startswith("ordinal: 1/2 tests done") for line in result.outlines), result.outlines
    monkeypatch.delenv("ORDINAL_PROGRESS")
    quiet = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert not any("tests done" in line for line in quiet.outlines)


_REAL_INIT = TestProgress.__init__


def _fast_init(self: TestProgress, write: Any, **kwargs: Any) -> None:
    _REAL_INIT(self, write, every=0.05)
