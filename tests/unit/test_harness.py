"""The harness's pure parts: scaled deadlines, the bounded DNS settle, and figures read from a timeline."""

from __future__ import annotations

from factories import Recording

from ordinal.harness import Timeouts, replacement_seconds, settle_dns
from ordinal.types import DnsAnswers, Finding


def test_timeouts_scale_every_deadline() -> None:
    slow = Timeouts(2.5)
    assert (slow.ready, slow.pod, slow.hold) == (300.0, 225.0, 12.5)
    assert Timeouts().of(10) == 10


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
    answers, findings, seconds = settle_dns(resolver, {"A": ["web-0"]}, _check, timeout=30, interval=0, clock=clock)
    assert (findings, resolver.asked, seconds) == ([], 3, 3.0)
    assert answers.a == {"web-0": ["10.0.0.1"]}


def test_settle_dns_returns_the_last_findings_at_the_deadline() -> None:
    clock = Clock()
    resolver = Resolver(clock, lag=100)
    _, findings, seconds = settle_dns(resolver, {"A": ["web-0"]}, _check, timeout=5, interval=0, clock=clock)
    assert [f.rule for f in findings] == ["dns.per-pod-a-record"] and seconds == 5.0


def test_replacement_time_runs_from_deletion_to_the_successor_being_ready() -> None:
    rec = Recording().up(0, 1)
    rec.wait(1.0).delete(1).gone(1).wait(2.0).create(1).wait(0.5).ready(1)
    old = rec.timeline.incarnations("web-1")[0]
    seconds = replacement_seconds(rec.timeline, "web-1", old.uid)
    assert seconds is not None and abs(seconds - 2.8) < 1e-9
    assert replacement_seconds(rec.timeline, "web-1", "no-such-uid") is None
