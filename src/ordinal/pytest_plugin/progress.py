"""Tests done of the total while a run goes, for logs: ``ordinal run`` and ``ordinal report`` turn it on
(``ORDINAL_PROGRESS=1`` in the suite's environment).

pytest's own counter is live on a terminal, but in a CI log a slow test prints nothing for minutes.
This prints a plain line at most every ``every`` seconds, and a heartbeat keeps it coming while one
test runs long. In an xdist controller the total comes from the workers' collection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ordinal.progress import duration, remaining

#: The environment variable that turns the lines on.
ENV = "ORDINAL_PROGRESS"


def terminal_writer(config: pytest.Config) -> Callable[[str], None]:
    """Write through pytest's terminal reporter (looked up when writing: it registers after this plugin)."""

    def write(text: str) -> None:
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(text)
        else:
            print(text, flush=True)

    return write


class TestProgress:
    """Counts finished tests (their teardown report) and failed ones, and says so every ``every`` seconds."""

    __test__ = False  # not a test class, whatever pytest's name rules think

    def __init__(
        self, write: Callable[[str], None], *, every: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.write, self.every, self.clock = write, every, clock
        self.total: int | None = None
        self.done = 0
        self.failed: set[str] = set()
        self.started = clock()
        self._last: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def line(self) -> str:
        total = "?" if self.total is None else str(self.total)
        elapsed = self.clock() - self.started
        text = f"ordinal: {self.done}/{total} tests done"
        text += f" ({len(self.failed)} failed)" if self.failed else ""
        text += f", {duration(elapsed)} elapsed"
        left = remaining(self.done, self.total, elapsed, at_least=3)
        return text + (f", about {duration(left)} left" if left is not None else "")

    def tick(self) -> bool:
        """Write the line if ``every`` seconds passed since the last one; True when written."""
        with self._lock:
            now = self.clock()
            if self._last is not None and now - self._last < self.every:
                return False
            if self._last is None and now - self.started < self.every:
                return False
            self._last = now
            text = self.line()
        self.write(text)
        return True

    # -- pytest hooks -----------------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items:
            self.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = len(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid)
        if report.when == "teardown":
            self.done += 1
            self.tick()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        threading.Thread(target=self._heartbeat, name="ordinal-progress", daemon=True).start()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._stop.set()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.every / 2):
            self.tick()
