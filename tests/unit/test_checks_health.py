"""The sweep that counts unhealthy ordinals answers exactly as asking each pod at each moment would."""

from __future__ import annotations

import random

import pytest
from factories import Recording

from ordinal.checks.health import Question, unhealthy_counts
from ordinal.observe.timeline import Incarnation, Mark


def _directly(pods: dict[int, list[Incarnation]], q: Question, mrs: float, slack: float) -> int:
    """The definition: the first live incarnation of each ordinal in range, asked at the mark."""
    count = 0
    for ordinal in range(q.lo, q.hi):
        inc = next((i for i in pods.get(ordinal, ()) if i.live_at(q.mark)), None)
        count += inc is None or not inc.healthy_at(q.mark, mrs, slack)
    return count


def _random_recording(seed: int, replicas: int) -> Recording:
    """Creations, readiness flips, deletions and force deletes (overlapping lives) in random order."""
    rng = random.Random(seed)
    rec = Recording()
    for _ in range(12 * replicas):
        n = rng.randrange(replicas)
        births = rec._pods.get(n)
        newest = births[max(births)] if births else None
        live = newest is not None and newest["metadata"].get("deletionTimestamp") is None
        choice = rng.random()
        if not births or choice < 0.15:
            rec.create(n)  # a second live incarnation when the newest is still there: a force-delete race
        elif choice < 0.55 and live:
            rec.ready(n, rng.random() < 0.8)
        elif choice < 0.75 and live:
            rec.delete(n)
        elif choice < 0.9:
            rec.gone(n, birth=rng.choice(sorted(births)))
        else:
            rec.wait(rng.choice([0.5, 1.0, 2.5]))
    return rec


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(("mrs", "slack"), [(0.0, 1.0), (0.0, 0.0), (1.0, 0.0), (2.0, 0.5)])
def test_unhealthy_counts_match_asking_each_pod(seed: int, mrs: float, slack: float) -> None:
    replicas = 2 + seed % 5
    rec = _random_recording(seed, replicas)
    pods = rec.timeline.set_incarnations("web")
    rng = random.Random(1000 + seed)
    entries = len(rec.timeline)
    questions = []
    for _ in range(60):
        seq = rng.randrange(-1, entries + 1)
        t = rng.uniform(0, rec.t + 1)
        lo = rng.randrange(replicas + 1)
        questions.append(Question(Mark(seq, t), lo, rng.randrange(lo, replicas + 2)))
    # Marks as the checks ask them: each entry's own, and "just before" it at its time.
    for entry in rec.timeline.of_kind("Pod"):
        questions.append(Question(entry.mark, 0, replicas))
        questions.append(Question(Mark(entry.mark.seq - 1, entry.mark.t), 0, replicas))
    # Random marks out of time order take the direct path; the checks' own marks are in time order,
    # so the sweep answers them.
    assert unhealthy_counts(pods, questions, mrs, slack) == [_directly(pods, q, mrs, slack) for q in questions]
    asked = questions[60:]
    times = [q.mark.t for q in sorted(asked, key=lambda q: q.mark)]
    assert times == sorted(times)
    assert unhealthy_counts(pods, asked, mrs, slack) == [_directly(pods, q, mrs, slack) for q in asked]


def test_no_questions_no_answers() -> None:
    assert unhealthy_counts({}, []) == []


def test_an_absent_ordinal_counts_as_unhealthy() -> None:
    rec = Recording().up(0)
    pods = rec.timeline.set_incarnations("web")
    assert unhealthy_counts(pods, [Question(Mark(99, 99.0), 0, 3)]) == [2]
