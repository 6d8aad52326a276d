"""Figures: measured times a test reports (reattach time, Ready→resolvable, suite vs cluster time).

Each goes three ways: a JUnit property, an allure attachment, and one line of
``figures.jsonl`` (``{"test", "name", "seconds"}``) that a later report reads without parsing XML.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    test: str
    name: str
    seconds: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class FigureLog:
    """Append-only JSON lines file; ``path=None`` keeps figures in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.figures: list[Figure] = []
        self._lock = threading.Lock()

    def add(self, figure: Figure) -> None:
        with self._lock:
            self.figures.append(figure)
            if self.path is not None:
                append_line(self.path, json.dumps(figure.to_json()))


def append_line(path: Path, line: str) -> None:
    """Append one line so that processes writing the same file (xdist workers) never interleave.

    One ``write`` on an ``O_APPEND`` descriptor under an exclusive ``flock``: no line is split,
    whatever its length.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = (line + "\n").encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)  # releases the flock


def read(path: Path) -> list[Figure]:
    """Figures written by earlier runs (blank and malformed lines skipped)."""
    found = []
    for line in path.read_text().splitlines() if path.is_file() else ():
        try:
            data = json.loads(line)
            found.append(Figure(str(data["test"]), str(data["name"]), float(data["seconds"])))
        except (ValueError, KeyError, TypeError):
            continue
    return found
