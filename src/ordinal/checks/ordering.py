"""Ordering promises read from a timeline: scale-up, scale-down, rolling updates, Parallel.

The controller decides from its informer cache, which sees pod events in the same
resourceVersion order our pod watch does. So "pod 1 was created only after pod 0 was
Ready" is judged on event order, never on wall-clock gaps; only ``minReadySeconds`` is
measured in seconds, with ``slack`` for observation lag. Each check takes a window
(``since``/``until`` in recorder seconds) so a spec can judge one phase of a test.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from ordinal.checks.health import Question, unhealthy_counts
from ordinal.checks.recorded import check_caught_up
from ordinal.kube.manifests import pod_name
from ordinal.observe.timeline import Incarnation, Mark, Timeline
from ordinal.types import Finding


def check_ordered_scale_up(
    timeline: Timeline,
    set_name: str,
    *,
    namespace: str | None = None,
    start: int = 0,
    min_ready_seconds: float = 0.0,
    since: float | None = None,
    until: float | None = None,
    slack: float = 1.0,
) -> list[Finding]:
    """OrderedReady: pods appear in ascending order, each only once all lower ordinals are available.

    The second rule also covers "halts behind an unhealthy pod": nothing above an
    unready ordinal may be created. Empty slots below it may be refilled.
    """
    pods = timeline.set_incarnations(set_name, namespace)
    created = sorted(
        ((n, i) for n, incs in pods.items() for i in incs if _within(i.first_seen, since, until)),
        key=lambda pair: pair[1].first_seen,
    )
    findings: list[Finding] = []
    for (prev_n, prev), (n, inc) in pairwise(created):
        if n <= prev_n:
            findings.append(
                Finding(
                    "ordering.created-ascending",
                    _subject(inc),
                    "creation order",
                    f"an ordinal above {prev_n} after {prev.name}",
                    f"{inc.name} created at {_rel(timeline, inc.first_seen)}, "
                    f"after {prev.name} at {_rel(timeline, prev.first_seen)}",
                )
            )
    counts = unhealthy_counts(
        pods, [Question(inc.first_seen, start, n) for n, inc in created], min_ready_seconds, slack
    )
    for (n, inc), count in zip(created, counts, strict=True):
        if count:
            unhealthy = [
                _describe(pods, lower, inc.first_seen, set_name)
                for lower in range(start, n)
                if not _healthy(pods, lower, inc.first_seen, min_ready_seconds, slack)
            ]
            findings.append(
                Finding(
                    "ordering.created-after-ready",
                    _subject(inc),
                    "creation",
                    f"ordinals {start}..{n - 1} Running+Ready{_for(min_ready_seconds)} before {inc.name} is created",
                    f"at {_rel(timeline, inc.first_seen)}: " + "; ".join(unhealthy),
                )
            )
    return findings + check_caught_up(timeline)


def check_ordered_scale_down(
    timeline: Timeline,
    set_name: str,
    *,
    replicas: int,
    namespace: str | None = None,
    start: int = 0,
    min_ready_seconds: float = 0.0,
    since: float | None = None,
    until: float | None = None,
    slack: float = 1.0,
) -> list[Finding]:
    """OrderedReady scale-down to ``replicas``: highest first, one at a time, never past an unhealthy pod.

    An unhealthy condemned pod may go only if it is the lowest unhealthy one; any
    unhealthy in-range pod halts deletion entirely.
    """
    pods = timeline.set_incarnations(set_name, namespace)
    in_range = range(start, start + replicas)
    deleted = _deletions(pods, since, until, lambda n: n >= in_range.stop)
    findings = _descending(timeline, deleted, "ordering.deleted-descending")
    for (_, prev), (_, inc) in pairwise(deleted):
        asked = _asked(inc)
        if prev.gone is None or prev.gone > asked:
            gone = _rel(timeline, prev.gone) if prev.gone else "never"
            findings.append(
                Finding(
                    "ordering.deleted-one-at-a-time",
                    _subject(inc),
                    "metadata.deletionTimestamp",
                    f"{prev.name} gone before {inc.name} is deleted",
                    f"{inc.name} deleted at {_rel(timeline, asked)}; {prev.name} gone at {gone}",
                )
            )
    counts = _counts_at_deletions(pods, deleted, in_range, min_ready_seconds, slack)
    for (n, inc), (in_range_unhealthy, own_unhealthy) in zip(deleted, counts, strict=True):
        before = _just_before(_asked(inc))
        blockers = (
            [
                _describe(pods, i, before, set_name)
                for i in in_range
                if not _healthy(pods, i, before, min_ready_seconds, slack)
            ]
            if in_range_unhealthy
            else []
        )
        if own_unhealthy:
            lower_unhealthy = [
                i
                for i in range(start, n)
                if i not in in_range
                and _live(pods, i, before)
                and not _healthy(pods, i, before, min_ready_seconds, slack)
            ]
            blockers += [_describe(pods, i, before, set_name) for i in lower_unhealthy]
        if blockers:
            findings.append(
                Finding(
                    "ordering.halted-behind-unhealthy",
                    _subject(inc),
                    "metadata.deletionTimestamp",
                    f"no deletion of {inc.name} while a pod it waits for is unhealthy",
                    f"{inc.name} deleted at {_rel(timeline, _asked(inc))} while " + "; ".join(blockers),
                )
            )
    return findings + check_caught_up(timeline)


def check_rolling_update(
    timeline: Timeline,
    set_name: str,
    *,
    replicas: int,
    update_revision: str | None = None,
    partition: int = 0,
    max_unavailable: int = 1,
    namespace: str | None = None,
    start: int = 0,
    min_ready_seconds: float = 0.0,
    since: float | None = None,
    until: float | None = None,
    slack: float = 1.0,
) -> list[Finding]:
    """RollingUpdate: outdated pods deleted highest first, within the budget, never below the partition.

    A deletion counts as part of the rollout when the pod was not at ``update_revision``
    (every deletion in the window when it is None). ``max_unavailable`` is 1 unless the
    server honours ``maxUnavailable``; the budget counts every other unavailable pod in range.
    """
    pods = timeline.set_incarnations(set_name, namespace)
    in_range = range(start, start + replicas)
    deleted = [
        (n, inc)
        for n, inc in _deletions(pods, since, until, lambda n: n in in_range)
        if update_revision is None or inc.revision != update_revision
    ]
    findings = _descending(timeline, deleted, "ordering.update-descending")
    floor = start + partition
    counts = _counts_at_deletions(pods, deleted, in_range, min_ready_seconds, slack)
    for (n, inc), (in_range_unhealthy, own_unhealthy) in zip(deleted, counts, strict=True):
        asked = _asked(inc)
        if n < floor:
            findings.append(
                Finding(
                    "ordering.update-below-partition",
                    _subject(inc),
                    "metadata.deletionTimestamp",
                    f"only ordinals ≥ {floor} (start {start} + partition {partition}) replaced",
                    f"{inc.name} at revision {inc.revision} deleted at {_rel(timeline, asked)}",
                )
            )
        others = in_range_unhealthy - (own_unhealthy if n in in_range else 0)
        if others >= max_unavailable:
            before = _just_before(asked)
            unavailable = [
                _describe(pods, i, before, set_name)
                for i in in_range
                if i != n and not _healthy(pods, i, before, min_ready_seconds, slack)
            ]
            findings.append(
                Finding(
                    "ordering.update-one-at-a-time",
                    _subject(inc),
                    "metadata.deletionTimestamp",
                    f"fewer than {max_unavailable} other pods unavailable when {inc.name} is deleted",
                    f"at {_rel(timeline, asked)}: " + "; ".join(unavailable),
                )
            )
    return findings + check_caught_up(timeline)


def check_parallel_not_serialized(
    timeline: Timeline,
    set_name: str,
    *,
    namespace: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[Finding]:
    """Parallel: report (as info) a burst in which every pod waited for the previous one to be Ready.

    Info only: on fast (simulated) nodes pods may be Ready before the next sync anyway.
    """
    pods = timeline.set_incarnations(set_name, namespace)
    created = sorted(
        (i for incs in pods.values() for i in incs if _within(i.first_seen, since, until)),
        key=lambda i: i.first_seen,
    )
    waits = []
    for prev, inc in pairwise(created):
        ready = prev.ready_at
        if ready is None or ready > inc.first_seen:
            return []
        waits.append(f"{inc.name} created at {_rel(timeline, inc.first_seen)} after {prev.name} Ready")
    if not waits:
        return []
    namespace = namespace if namespace is not None else created[0].namespace
    return [
        Finding(
            "ordering.parallel-serialized",
            f"statefulset {namespace}/{set_name}" if namespace else f"statefulset {set_name}",
            "pod creations",
            "creations that do not wait for readiness",
            waits,
        )
    ]


def _for(min_ready_seconds: float) -> str:
    return f" for ≥{min_ready_seconds:g}s" if min_ready_seconds else ""


def _within(mark: Mark, since: float | None, until: float | None) -> bool:
    return (since is None or mark.t >= since) and (until is None or mark.t <= until)


def _asked(inc: Incarnation) -> Mark:
    """When deletion was requested (or, without a terminating phase, when the pod went)."""
    mark = inc.deletion_requested or inc.gone
    if mark is None:
        raise ValueError(f"pod {inc.name} uid {inc.uid} was never deleted")
    return mark


def _just_before(mark: Mark) -> Mark:
    """The state the controller acted on: everything recorded before ``mark``, measured at ``mark``."""
    return Mark(mark.seq - 1, mark.t)


def _deletions(
    pods: dict[int, list[Incarnation]],
    since: float | None,
    until: float | None,
    wanted: Callable[[int], bool],
) -> list[tuple[int, Incarnation]]:
    found = [
        (n, inc)
        for n, incs in pods.items()
        if wanted(n)
        for inc in incs
        if (inc.deletion_requested or inc.gone) is not None and _within(_asked(inc), since, until)
    ]
    return sorted(found, key=lambda pair: _asked(pair[1]))


def _descending(timeline: Timeline, deleted: list[tuple[int, Incarnation]], rule: str) -> list[Finding]:
    findings = []
    for (prev_n, prev), (n, inc) in pairwise(deleted):
        if n >= prev_n:
            findings.append(
                Finding(
                    rule,
                    _subject(inc),
                    "deletion order",
                    f"an ordinal below {prev_n} after {prev.name}",
                    f"{inc.name} deleted at {_rel(timeline, _asked(inc))}, "
                    f"after {prev.name} at {_rel(timeline, _asked(prev))}",
                )
            )
    return findings


def _counts_at_deletions(
    pods: dict[int, list[Incarnation]],
    deleted: list[tuple[int, Incarnation]],
    in_range: range,
    min_ready_seconds: float,
    slack: float,
) -> list[tuple[int, int]]:
    """Per deletion, just before it was asked: unhealthy ordinals in range, and whether the deleted one was."""
    questions = []
    for n, inc in deleted:
        before = _just_before(_asked(inc))
        questions += [Question(before, in_range.start, in_range.stop), Question(before, n, n + 1)]
    counts = unhealthy_counts(pods, questions, min_ready_seconds, slack)
    return list(zip(counts[0::2], counts[1::2], strict=True))


def _live_incarnation(pods: dict[int, list[Incarnation]], ordinal: int, mark: Mark) -> Incarnation | None:
    return next((i for i in pods.get(ordinal, ()) if i.live_at(mark)), None)


def _live(pods: dict[int, list[Incarnation]], ordinal: int, mark: Mark) -> bool:
    return _live_incarnation(pods, ordinal, mark) is not None


def _healthy(
    pods: dict[int, list[Incarnation]], ordinal: int, mark: Mark, min_ready_seconds: float, slack: float
) -> bool:
    inc = _live_incarnation(pods, ordinal, mark)
    return inc is not None and inc.healthy_at(mark, min_ready_seconds, slack)


def _describe(pods: dict[int, list[Incarnation]], ordinal: int, mark: Mark, set_name: str) -> str:
    inc = _live_incarnation(pods, ordinal, mark)
    if inc is None:
        return f"{pod_name(set_name, ordinal)} absent"
    since = inc.ready_since(mark)
    if since is not None:
        return f"{inc.name} Ready for only {mark.t - since.t:.3f}s"
    return inc.describe_at(mark)


def _subject(inc: Incarnation) -> str:
    return f"pod {inc.namespace}/{inc.name}" if inc.namespace else f"pod {inc.name}"


def _rel(timeline: Timeline, mark: Mark) -> str:
    return f"{mark.t - timeline.t0:+.3f}s"
