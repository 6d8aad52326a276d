"""Scale figures without a cluster (``make bench`` / ``python scripts/bench.py --scale``): prints, never asserts.

For 3, 10 and 50 replicas, a set's pod watch as the controller makes it (OrderedReady scale-up, then a
rolling update of every ordinal) is played into a :class:`~ordinal.observe.timeline.Timeline` with the
unit tests' event builders; then the ordering, rollout and identity checks run over it. The table gives
the events, the memory the timeline holds after recording them (tracemalloc) and each check's time (best of 5).
Linear means the per-replica columns stay flat as the replica count grows.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from factories import REV1, REV2, Recording, statefulset

from ordinal.checks.identity import check_pod_identity
from ordinal.checks.ordering import check_ordered_scale_up, check_rolling_update
from ordinal.observe.timeline import Timeline

SIZES = (3, 10, 50)


class _Capture:
    """Stands in for the recording's timeline: keeps the events, so only the real one is measured."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, float]] = []

    def record(self, event_type: str, obj: Any, t: float) -> None:
        self.events.append((event_type, obj, t))


def play(replicas: int) -> tuple[Recording, list[tuple[str, Any, float]], float]:
    """Scale-up 0..N-1, then a rolling update from the top ordinal down: the recording, its events, ``since``."""
    rec = Recording()
    capture = _Capture()
    rec.timeline = capture  # type: ignore[assignment]
    rec.up(*range(replicas), revision=REV1)
    since = rec.t
    for i in reversed(range(replicas)):
        rec.delete(i).gone(i).create(i, revision=REV2).ready(i)
    return rec, capture.events, since


def best_of(fn: Callable[[], Any], times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def figures(replicas: int) -> dict[str, float]:
    rec, events, since = play(replicas)
    tracemalloc.start()
    timeline = Timeline(t0=0.0)
    for event_type, obj, t in events:
        timeline.record(event_type, obj, t)
    timeline_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pods = [births[max(births)] for births in rec._pods.values()]
    sts = statefulset(replicas=replicas, current=REV2)
    found = (
        check_ordered_scale_up(timeline, "web", until=since)
        + check_rolling_update(timeline, "web", replicas=replicas, update_revision=REV2, since=since)
        + check_pod_identity(sts, pods)
    )
    assert not found, f"expected a clean play at {replicas} replicas, checks found {found}"
    return {
        "events": len(timeline),
        "timeline_kib": timeline_bytes / 1024,
        "scale_up_ms": 1000 * best_of(lambda: check_ordered_scale_up(timeline, "web", until=since)),
        "rollout_ms": 1000
        * best_of(lambda: check_rolling_update(timeline, "web", replicas=replicas, update_revision=REV2, since=since)),
        "identity_ms": 1000 * best_of(lambda: check_pod_identity(sts, pods)),
    }


def main() -> None:
    rows = {n: figures(n) for n in SIZES}
    header = f"{'replicas':>8} {'events':>7} {'timeline KiB':>12} {'KiB/replica':>11} "
    header += f"{'scale-up ms':>11} {'rollout ms':>10} {'identity ms':>11} {'ms/replica (all)':>16}"
    print(header)
    for n, f in rows.items():
        checks = f["scale_up_ms"] + f["rollout_ms"] + f["identity_ms"]
        print(
            f"{n:>8} {f['events']:>7.0f} {f['timeline_kib']:>12.0f} {f['timeline_kib'] / n:>11.1f} "
            f"{f['scale_up_ms']:>11.2f} {f['rollout_ms']:>10.2f} {f['identity_ms']:>11.2f} {checks / n:>16.3f}"
        )


if __name__ == "__main__":
    main()
