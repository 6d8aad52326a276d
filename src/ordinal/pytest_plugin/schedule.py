"""The xdist scheduler of a parallel run: the tests that take ``schedulable`` run first, on one worker.

Why, and what the order is: see :mod:`.workers`. Imported only by the hook that makes the scheduler,
so the plugin loads without xdist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from ordinal.pytest_plugin.workers import NODE_CHANGES_UNIT, read_accesses, together


class NodeChangesScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's load scheduling, one test per unit, except one unit for every test in :func:`together`.

    Units go out in collection order, which each worker sorted by :func:`run_order`; with xdist's
    default ``--loadscope-reorder`` (largest unit first) the schedulable unit still comes first.
    """

    def __init__(self, config: pytest.Config, log: Any, lock_dir: Path) -> None:
        super().__init__(config, log)
        self._lock_dir = lock_dir
        self._together: frozenset[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._together is None:  # first asked once every worker has reported its collection
            self._together = together(read_accesses(self._lock_dir))
        return NODE_CHANGES_UNIT if nodeid in self._together else nodeid


def make(config: pytest.Config, log: Any, lock_dir: Path) -> NodeChangesScheduling:
    return NodeChangesScheduling(config, log, lock_dir)
