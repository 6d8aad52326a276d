"""Scaled deadlines, the bounded DNS settle, replacement figures read from a timeline, and recorder catch-up."""

from __future__ import annotations

import pytest
from factories import Recording
from fakes import FakeKube

from ordinal.act.workload import Timeouts
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_at_most_one_live
from ordinal.errors import InvariantViolated
from ordinal.observe.dnsquery import settle
from ordinal.observe.recorder import synced
from ordinal.observe.timeline import Timeline
from ordinal.types import DnsAnswers, Finding


def test_timeouts_scale_every_deadline() -> None:
    slow = Timeouts(2.5)
    assert (slow.ready, slow.pod, slow.hold) == (300.0, 225.0, 12.5)
    assert Timeouts().of(10) == 10


def test_set_wide_deadlines_grow_with_the_replicas_one_pod_waits_do_not() -> None:
    """A 50-replica set is created and rolled one pod at a time: its set-wide waits MUST allow for that."""
    big, few = Timeouts(1.0, 50), Timeouts(1.0, 2)
    assert (big.ready, big.gone, big.pod, big.hold) == (2000.0, 2000.0, 90.0, 5.0)
    assert (few.ready, few.gone) == (120.0, 120.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Resolver:
    """Answers NXDOMAIN for the first ``lag`` queries, then the record; each query takes 1 s of fake time."""

    def __init__(self, clock: Clock, lag: int) -> None:
        self.clock, self.lag, self.asked = clock, lag, 0

    def query(self, name: str, rdtype: str) -> list[str] | None:
        self.asked += 1
        self.clock.now += 1.0
        return ["10.0.0.1"] if self.asked > self.lag else None


def _check(answers: DnsAnswers) -> list[Finding]:
    seen = answers.a.get("web-0")
    return [] if seen == ["10.0.0.1"] else [Finding("dns.per-pod-a-record", "dns web-0 A", "", ["10.0.0.1"], seen)]


def test_settle_dns_stops_as_soon_as_the_check_passes() -> None:
    clock = Clock()
    resolver = Resolver(clock, lag=2)
    answers, findings, seconds = settle(resolver, {"A": ["web-0"]}, _check, timeout=30, interval=0, clock=clock)
    assert (findings, resolver.asked, seconds) == ([], 3, 3.0)
    assert answers.a == {"web-0": ["10.0.0.1"]}


def test_settle_dns_returns_the_last_findings_at_the_deadline() -> None:
    clock = Clock()
    resolver = Resolver(clock, lag=100)
    _, findings, seconds = settle(resolver, {"A": ["web-0"]}, _check, timeout=5, interval=0, clock=clock)
    assert [f.rule for f in findings] == ["dns.per-pod-a-record"] and seconds == 5.0


def test_replacement_time_runs_from_deletion_to_the_successor_being_ready() -> None:
    rec = Recording().up(0, 1)
    rec.wait(1.0).delete(1).gone(1).wait(2.0).create(1).wait(0.5).ready(1)
    old = rec.timeline.incarnations("web-1")[0]
    seconds = rec.timeline.replacement("web-1", old.uid).seconds_to_ready()
    assert seconds is not None and abs(seconds - 2.8) < 1e-9
    assert rec.timeline.replacement("web-1", "no-such-uid").seconds_to_ready() is None


class FakeRecorder:
    """A recorder whose timeline a test fills by hand, and whose ``kube`` holds fixed pods."""

    def __init__(self, listed: list[dict[str, object]]) -> None:
        self.namespace = "ns"
        self.timeline = Timeline(t0=0.0)
        self.kube = FakeKube(*listed, revision=99)
        self.errors: list[str] = []


def _pod(uid: str, rv: str) -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": f"web-{uid}", "namespace": "ns", "uid": uid, "resourceVersion": rv}}


def test_synced_waits_for_the_recorder_to_reach_the_listed_versions() -> None:
    """The timeline MUST only be judged once it holds what a fresh list holds (no pod still live, none behind)."""
    rec = FakeRecorder([_pod("a", "12")])
    rec.timeline.record("ADDED", _pod("a", "10"), 0.1)
    rec.timeline.record("ADDED", _pod("b", "11"), 0.2)
    clock = Clock()

    def tick() -> float:
        clock.now += 0.5
        if clock.now >= 1.0:  # the recorder's watch delivers the missing events
            rec.timeline.record("MODIFIED", _pod("a", "12"), 0.3)
            rec.timeline.record("DELETED", _pod("b", "13"), 0.4)
        return clock.now

    assert synced(rec, timeout=5, clock=tick) is rec.timeline  # type: ignore[arg-type]


def test_synced_never_lets_an_incomplete_recording_pass() -> None:
    """A recording that cannot catch up MUST still be judged, and MUST fail with its lag after any finding."""
    rec = FakeRecorder([_pod("a", "12")])
    rec.timeline.record("ADDED", _pod("a", "10"), 0.1)
    clock = Clock()

    def tick() -> float:
        clock.now += 1.0
        return clock.now

    timeline = synced(rec, timeout=3, clock=tick)  # type: ignore[arg-type]
    assert timeline.lag is not None and "behind on pods ['web-a']" in timeline.lag
    findings = check_at_most_one_live(timeline)
    assert [f.rule for f in findings] == ["timeline.caught-up"]
    with pytest.raises(InvariantViolated, match=r"first: \[timeline.caught-up\] timeline pods"):
        assert_no_findings([], what="a clean check", timeline=timeline)
