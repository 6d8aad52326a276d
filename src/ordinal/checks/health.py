"""How many ordinals of a set were unhealthy at given moments, in one sweep over the recording.

The ordering checks ask, at every creation or deletion, "was every lower ordinal (every other
ordinal in range) Running+Ready for ``minReadySeconds``?". Asking each ordinal at each moment
costs replicas² walks of pod states; at 50 replicas that is most of a check's time. Here the
questions are answered offline: each ordinal's healthy stretches are turned into intervals of
question indices, and a Fenwick tree over ordinals counts the healthy ones per question. The cost
is linear in events and questions (times log replicas). The checks then describe the unhealthy
ordinals only where a count says a promise broke, so a clean run never pays for the words.

"Healthy at ``mark``" is exactly :meth:`Incarnation.healthy_at` of the first live incarnation of
the ordinal (the one the checks' former per-pod walk used): liveness and pod state are compared
as marks, and only the ``minReadySeconds`` threshold is in seconds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from ordinal.observe.timeline import Incarnation, Mark

Pods = dict[int, list[Incarnation]]


@dataclass(frozen=True)
class Question:
    """At ``mark``, how many ordinals in ``[lo, hi)`` were not healthy?"""

    mark: Mark
    lo: int
    hi: int


def unhealthy_counts(
    pods: Pods, questions: Sequence[Question], min_ready_seconds: float = 0.0, slack: float = 0.0
) -> list[int]:
    """One count per question, in the order asked."""
    if not questions:
        return []
    order = sorted(range(len(questions)), key=lambda i: questions[i].mark)
    marks = [questions[i].mark for i in order]
    times = [m.t for m in marks]
    if any(b < a for a, b in pairwise(times)):
        # Marks out of time order (a hand-made timeline): the threshold is no longer a suffix.
        return [_count_directly(pods, q, min_ready_seconds, slack) for q in questions]
    threshold = min_ready_seconds - slack
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for ordinal, incarnations in pods.items():
        for a, b in _healthy_spans(incarnations, marks, times, threshold):
            starts.setdefault(a, []).append(ordinal)
            ends.setdefault(b, []).append(ordinal)
    top = 1 + max([*pods, *(q.hi for q in questions)], default=0)
    tree = _Fenwick(top)
    answers = [0] * len(questions)
    for index, asked in enumerate(order):
        for ordinal in ends.pop(index, ()):
            tree.add(ordinal, -1)
        for ordinal in starts.pop(index, ()):
            tree.add(ordinal, 1)
        q = questions[asked]
        lo, hi = max(q.lo, 0), max(q.hi, 0)
        answers[asked] = max(hi - lo, 0) - tree.range_sum(lo, hi)
    return answers


def _healthy_spans(
    incarnations: list[Incarnation], marks: list[Mark], times: list[float], threshold: float
) -> list[tuple[int, int]]:
    """Question-index intervals ``[a, b)`` in which the ordinal is healthy (first live incarnation rules)."""
    live: list[tuple[int, int]] = []
    healthy: list[list[tuple[int, int]]] = []
    for inc in incarnations:
        born = bisect_left(marks, inc.first_seen)
        died = len(marks) if inc.gone is None else bisect_left(marks, inc.gone)
        live.append((born, died))
        spans = []
        for since, until in _ready_stretches(inc):
            a = max(bisect_left(marks, since), _first_after(times, since.t, threshold), born)
            b = min(died, len(marks) if until is None else bisect_left(marks, until))
            if a < b:
                spans.append((a, b))
        healthy.append(spans)
    if len(incarnations) == 1:
        return healthy[0]
    # Overlapping lives (a force delete): between any two boundaries one incarnation rules.
    cuts = sorted({0, len(marks), *(x for span in live for x in span), *(x for s in healthy for sp in s for x in sp)})
    out: list[tuple[int, int]] = []
    for a, b in pairwise(cuts):
        ruler = next((j for j, (born, died) in enumerate(live) if born <= a < died), None)
        if ruler is not None and any(x <= a < y for x, y in healthy[ruler]):
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def _first_after(times: list[float], since: float, threshold: float) -> int:
    """First index whose time is ``threshold`` or more after ``since``, computed as the check states it."""
    i = bisect_left(times, since + threshold)
    while i < len(times) and times[i] - since < threshold:
        i += 1
    while i > 0 and times[i - 1] - since >= threshold:
        i -= 1
    return i


def _ready_stretches(inc: Incarnation) -> list[tuple[Mark, Mark | None]]:
    """``(since, until)`` per Running+Ready stretch: ``until`` is the first state that ends it (or None)."""
    out: list[tuple[Mark, Mark | None]] = []
    since: Mark | None = None
    for seen, state in inc.states:
        ok = state.running_ready and not state.deleting
        if ok and since is None:
            since = seen
        elif not ok and since is not None:
            out.append((since, seen))
            since = None
    if since is not None:
        out.append((since, None))
    return out


def _count_directly(pods: Pods, q: Question, min_ready_seconds: float, slack: float) -> int:
    count = 0
    for ordinal in range(q.lo, q.hi):
        inc = next((i for i in pods.get(ordinal, ()) if i.live_at(q.mark)), None)
        if inc is None or not inc.healthy_at(q.mark, min_ready_seconds, slack):
            count += 1
    return count


class _Fenwick:
    """Prefix sums over ordinals ``0..size-1`` with point updates, both in O(log size)."""

    def __init__(self, size: int) -> None:
        self._tree = [0] * (size + 1)

    def add(self, index: int, delta: int) -> None:
        i = index + 1
        while i < len(self._tree):
            self._tree[i] += delta
            i += i & -i

    def _prefix(self, end: int) -> int:
        total, i = 0, min(end, len(self._tree) - 1)
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total

    def range_sum(self, lo: int, hi: int) -> int:
        return self._prefix(hi) - self._prefix(lo) if hi > lo else 0
