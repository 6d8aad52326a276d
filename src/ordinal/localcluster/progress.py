"""Progress of a cold build (reported through :class:`ordinal.progress.Reporter`).

The total is what ``go list -deps`` marks stale (what this build must compile: cached packages
are not stale); the count is what ``go build -v`` prints, one import path per package as it is
compiled. From the two and the elapsed time comes a remaining estimate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ordinal.progress import Reporter, duration, remaining

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
