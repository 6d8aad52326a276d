"""Figures: measured times a test reports (reattach time, Ready→resolvable, suite vs cluster time).

Each goes three ways: a JUnit property, an allure attachment, and one line of
``figures.jsonl`` (``{"test", "name", "seconds"}``) that a later report reads without parsing XML.
"""

from __future__ import annotations

import json
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
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as out:
                    out.write(json.dumps(figure.to_json()) + "\n")


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
