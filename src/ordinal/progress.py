"""Progress of long work, so minutes of waiting never look like a hang.

On a terminal a line is rewritten in place; elsewhere (CI logs) a plain line at most every
``every`` seconds. The cold build (:mod:`ordinal.localcluster.progress`) and the suite's
tests-done line (the pytest plugin) both report through :class:`Reporter`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short, fixed-width enough for a live line."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def remaining(done: int, total: int | None, elapsed: float, *, at_least: int = 5) -> float | None:
    """Seconds left at the rate so far; None without a total or before ``at_least`` are done."""
    if total is None or done < at_least or elapsed <= 0:
        return None
    return elapsed * max(0, total - done) / done


@dataclass
class Reporter:
    """Where progress lines go: rewritten in place on a TTY, else printed at most every ``every`` seconds."""

    stream: TextIO
    tty: bool
    every: float = 10.0
    clock: Callable[[], float] = time.monotonic
    #: A TTY line is redrawn at most this often (a fast build prints thousands of packages a minute).
    redraw: float = 0.2
    _last: float | None = field(default=None, init=False)
    _width: int = field(default=0, init=False)

    @classmethod
    def for_stream(cls, stream: TextIO) -> Reporter:
        isatty = getattr(stream, "isatty", None)
        return cls(stream, bool(isatty and isatty()))

    def update(self, text: str) -> bool:
        """Show ``text`` if it is time to; True when it was shown."""
        now = self.clock()
        if self._last is not None and now - self._last < (self.redraw if self.tty else self.every):
            return False
        self._last = now
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        return True

    def finish(self) -> None:
        """End a live line so the next message starts on a fresh one."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0
