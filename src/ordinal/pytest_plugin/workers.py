"""Parallel runs with pytest-xdist: one run for every worker, node locks, and what workers hand back.

Every xdist worker is a pytest session of its own, with its own client, capability discovery
and probe pod (session-scoped fixtures are per worker). What must be one per run comes from
the controller in ``workerinput``: the run id (every namespace carries one label, so
``ordinal cleanup --run-id`` and the leak check find them all) and a lock directory.

Node locks keep tests that change nodes apart from the tests they would break. Two ``flock``
files in the lock directory, always taken in this order, each released by the kernel when its
process ends (an interrupted or killed worker never keeps one):

- ``nodes``: every test that uses the cluster holds it shared; a test that loses a node
  (``chaos``, ``needs("node-loss")``) holds it exclusively, because every pod on a lost node
  turns not-Ready, whichever test it belongs to;
- ``schedulable``: a test that cordons or drains (``disruptive``, ``needs("nodes:…")``) holds it
  exclusively; a test that needs every node schedulable (``needs("zones:…")``) and capability
  discovery (which counts schedulable nodes and zones) hold it shared.

A node-loss test marked ``isolates_node`` loses a node that hosts only its own pods: a simulated
node it adds for itself, tainted for its namespace (:func:`ordinal.act.nodes.add_simulated_node`),
or one it cordons and waits to clear (:func:`ordinal.act.node_loss.isolate_node`). The loss then
reaches nobody else's pods, so it takes what a drain takes and overlaps ordinary tests. (Clearing
a shared node can wait on a test whose pod must come back there on a node-pinned claim, which
waits for the uncordon in turn: the wait ends in a skip, so an added node is the better way.)

A drain only evicts pods of its own namespace, so ordinary tests run beside it; one of their
pods bound to a node-pinned volume on the cordoned node waits until the uncordon.

Where the tests run (default ``--dist load`` only; another ``--dist`` is left as xdist has it):
``flock`` lets new readers in while a writer waits, so an exclusive test waits until nobody holds
the lock shared. Spread over the workers, drains would run one after another at the end with the
other workers idle. So the tests that take ``schedulable`` (all-nodes, then drains) are one work
unit that one worker runs first, in order, while the other workers run the ordinary tests beside
them; the tests that lose a node come last (they overlap nothing, so they cost the same anywhere,
and last they only wait for the run's final ordinary tests). The controller collects nothing
itself: each worker writes the access of every test to the lock directory before it reports its
collection, and the scheduler reads it (see :func:`run_order` and the scheduler in :mod:`.schedule`).
The locks, not the schedule, are what keep tests apart: a missing file only costs time.

Each worker hands the controller what it kept, what its cleanup could not remove, the
capability summary and its API calls (``workeroutput``); the controller sweeps the run once
every worker is down, so a worker killed mid-test leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from ordinal.kube.permissions import Call

Access = Literal["none", "shared", "all-nodes", "drain", "alone"]
Mode = Literal["shared", "exclusive"]
#: What each access takes, in the one order every process takes them (no deadlock).
LOCKS: Mapping[Access, tuple[tuple[str, Mode], ...]] = {
    "none": (),
    "shared": (("nodes", "shared"),),
    "all-nodes": (("nodes", "shared"), ("schedulable", "shared")),
    "drain": (("nodes", "shared"), ("schedulable", "exclusive")),
    "alone": (("nodes", "exclusive"), ("schedulable", "exclusive")),
}
RUN_ID_KEY, LOCK_DIR_KEY, OUTPUT_KEY = "ordinal_run_id", "ordinal_lock_dir", "ordinal"
#: In ``workerinput``: the controller runs the scheduler of :mod:`.schedule` (a worker's own ``dist`` is "no").
SCHEDULE_KEY = "ordinal_schedule"
#: A file in the lock directory: some worker connected to the cluster (the controller must sweep).
USED_CLUSTER = "used-cluster"


def worker_id(config: pytest.Config) -> str | None:
    """``gw0``, ``gw1``, … in an xdist worker; None in the controller or a run without workers."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else None


def from_controller(config: pytest.Config) -> tuple[str | None, Path | None]:
    """(run id, lock directory) the controller handed this worker; (None, None) elsewhere."""
    workerinput = getattr(config, "workerinput", None) or {}
    lock_dir = workerinput.get(LOCK_DIR_KEY)
    return workerinput.get(RUN_ID_KEY), Path(lock_dir) if lock_dir else None


def scheduled(config: pytest.Config) -> bool:
    """True in an xdist worker whose controller runs the scheduler in :mod:`.schedule`."""
    return bool((getattr(config, "workerinput", None) or {}).get(SCHEDULE_KEY))


def distributed(config: pytest.Config) -> bool:
    """True in an xdist controller that starts workers (``-n N`` with N > 0)."""
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


#: The lock directory's file that tells the controller's scheduler what every test takes.
ACCESS_FILE = "access.json"
#: The one work unit of the tests that take ``schedulable`` (run on one worker, in order).
NODE_CHANGES_UNIT = "ordinal:schedulable"
#: Run order by access (lower first): the schedulable unit, ordinary tests, node loss.
_RANK: Mapping[Access, int] = {"all-nodes": 0, "drain": 1, "shared": 2, "none": 2, "alone": 3}


def run_order(accesses: Iterable[tuple[str, Access]]) -> list[str]:
    """Node ids in the order a parallel run hands them out (stable within each rank, see the module doc)."""
    ranked = sorted(enumerate(accesses), key=lambda pair: (_RANK[pair[1][1]], pair[0]))
    return [nodeid for _, (nodeid, _access) in ranked]


def together(accesses: Mapping[str, Access]) -> frozenset[str]:
    """The tests one worker runs as one unit: those that take ``schedulable`` but not ``nodes`` exclusively."""
    return frozenset(nodeid for nodeid, access in accesses.items() if access in ("all-nodes", "drain"))


def write_accesses(directory: Path, accesses: Mapping[str, Access]) -> None:
    """Every worker writes the same content; the rename makes each write whole for the reader."""
    tmp = directory / f".{ACCESS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(dict(accesses)))
    os.replace(tmp, directory / ACCESS_FILE)


def read_accesses(directory: Path) -> dict[str, Access]:
    """What a worker wrote; empty when none did (then every test is a unit of its own)."""
    try:
        data = json.loads((directory / ACCESS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if v in LOCKS} if isinstance(data, dict) else {}


def access_of(item: pytest.Item, uses_cluster: bool) -> Access:
    """Which node locks a test takes, from its markers (no test file names a lock)."""
    needs = {str(c) for mark in item.iter_markers("needs") for c in mark.args}
    if item.get_closest_marker("chaos") or "node-loss" in needs:
        return "drain" if item.get_closest_marker("isolates_node") else "alone"
    if item.get_closest_marker("disruptive") or any(c.startswith("nodes:") for c in needs):
        return "drain"
    if any(c.startswith("zones:") for c in needs):
        return "all-nodes"
    return "shared" if uses_cluster else "none"


class NodeLocks:
    """The run's two lock files; re-entrant per process (a lock this process holds is not taken twice)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, int] = {}

    def holding(self, name: str) -> bool:
        return name in self._held

    @contextmanager
    def hold(self, access: Access) -> Iterator[None]:
        taken: list[str] = []
        try:
            for name, mode in LOCKS[access]:
                if name in self._held:
                    continue
                fd = os.open(self.directory / name, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH)
                except BaseException:
                    os.close(fd)
                    raise
                self._held[name] = fd
                taken.append(name)
            yield
        finally:
            for name in reversed(taken):
                os.close(self._held.pop(name))  # closing the descriptor releases its flock


def make_lock_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ordinal-locks-"))


def remove_lock_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class WorkerOutput:
    """What one worker hands the controller at its end (JSON-able through execnet)."""

    used_cluster: bool = False
    kept_namespaces: dict[str, str] = field(default_factory=dict)
    cleanup_errors: list[str] = field(default_factory=list)
    cleanup_requests: int = 0
    summary: list[str] = field(default_factory=list)
    api_calls: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerOutput:
        known = {k: data[k] for k in vars(cls()) if k in data}
        return cls(**known)

    def calls(self) -> list[Call]:
        return [Call(**c) for c in self.api_calls]
