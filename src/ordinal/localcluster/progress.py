"""Progress of a cold build, so minutes of compiling never look like a hang.

The total is what ``go list -deps`` marks stale (what this build must compile: cached packages
are not stale); the count is what ``go build -v`` prints, one import path per package as it is
compiled. From the two and the elapsed time comes a remaining estimate. On a terminal the line
is rewritten in place; elsewhere (CI logs) a plain line at most every ``every`` seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

#: An import path as ``go build -v`` prints it: one token, no ``#`` (compiler errors) or ``go:`` prefix.
_PACKAGE = re.compile(r"^[A-Za-z0-9_.~+-]+(/[A-Za-z0-9_.~+-]+)*$")


def stale_packages(list_output: str) -> list[str]:
    """The packages ``go list -deps -f '{{.ImportPath}} {{.Stale}}'`` says a build will compile."""
    stale = []
    for line in list_output.splitlines():
        path, _, flag = line.strip().rpartition(" ")
        if flag == "true" and path:
            stale.append(path)
    return stale


def is_package_line(line: str) -> bool:
    """True for a line of ``go build -v`` that names a package being compiled."""
    text = line.strip()
    return bool(text) and not text.isdigit() and _PACKAGE.match(text) is not None


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short, fixed-width enough for a live line."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def remaining(done: int, total: int | None, elapsed: float) -> float | None:
    """Seconds left at the rate so far; None until a few packages are done or without a total."""
    if total is None or done < 5 or elapsed <= 0:
        return None
    return elapsed * max(0, total - done) / done


def describe(name: str, done: int, total: int | None, elapsed: float) -> str:
    """``building kube: 812/2140 packages (38%), 3m05s elapsed, about 5m02s left``."""
    if total:
        done = min(done, total)
        count = f"{done}/{total} packages ({100 * done // total}%)"
    else:
        count = f"{done} packages"
    text = f"building {name}: {count}, {duration(elapsed)} elapsed"
    left = remaining(done, total, elapsed)
    return text + (f", about {duration(left)} left" if left is not None else "")


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


@dataclass
class BuildProgress:
    """One artifact's build: feed it ``go build -v`` lines; it reports through ``reporter``."""

    name: str
    total: int | None
    reporter: Reporter
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def feed(self, line: str) -> None:
        if is_package_line(line):
            self.done += 1
            self.reporter.update(describe(self.name, self.done, self.total, self.clock() - self.started))

    def finish(self) -> None:
        self.reporter.finish()
