"""The waiter: list, judge, watch, re-judge; deadline by our own clock; early stop on known-bad states."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeKube

from ordinal.errors import InvariantViolated, TransientApiError, WaitTimeout
from ordinal.kube.rest import PODS, Gone
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj


def pod(name: str, rv: str, ready: bool = False) -> Obj:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


LISTED_AT = 10  # the resourceVersion the fake's list reports; every watch request then costs one fake second


def ready_count(n: int):  # type: ignore[no-untyped-def]
    def judge(items: list[Obj]) -> Verdict[int]:
        ready = sum(1 for i in items if i["status"]["conditions"][0]["status"] == "True")
        return Verdict(ready >= n, f"{ready} ready", ready)

    return judge


def run(kube: FakeKube, judge: Any, timeout: float = 10.0) -> Any:
    return wait_for(kube, Query(PODS, "ns"), judge, expect="pods ready", timeout=timeout, clock=kube.clock)  # type: ignore[arg-type]


def test_returns_at_once_when_the_list_already_satisfies() -> None:
    kube = FakeKube(pod("a", "1", True), revision=LISTED_AT)
    assert run(kube, ready_count(1)) == 1
    assert kube.watches == []


def test_watches_from_the_list_version_and_judges_every_event() -> None:
    kube = FakeKube(
        pod("a", "1"),
        batches=[[("MODIFIED", pod("a", "11", True)), ("ADDED", pod("b", "12", True))]],
        revision=LISTED_AT,
    )
    assert run(kube, ready_count(2)) == 2
    assert kube.watches == ["10"]


def test_resumes_after_a_dropped_watch_from_the_last_version_seen() -> None:
    kube = FakeKube(
        pod("a", "1"),
        batches=[[("MODIFIED", pod("a", "11"))], TransientApiError("reset"), [("MODIFIED", pod("a", "12", True))]],
        revision=LISTED_AT,
    )
    assert run(kube, ready_count(1)) == 1
    assert kube.watches == ["10", "11", "11"]
    assert kube.calls["list"] == 1


def test_relists_after_gone() -> None:
    kube = FakeKube(pod("a", "1"), batches=[Gone("too old"), [("MODIFIED", pod("a", "13", True))]], revision=LISTED_AT)
    assert run(kube, ready_count(1)) == 1
    assert kube.calls["list"] == 2


def test_deletions_leave_the_judged_set() -> None:
    kube = FakeKube(pod("a", "1"), pod("b", "2"), batches=[[("DELETED", pod("b", "11"))]], revision=LISTED_AT)

    def gone(items: list[Obj]) -> Verdict[list[str]]:
        names = [i["metadata"]["name"] for i in items]
        return Verdict(names == ["a"], str(names), names)

    assert run(kube, gone) == ["a"]


def test_deadline_is_our_clock_and_the_message_says_what_was_seen() -> None:
    kube = FakeKube(pod("a", "1"), batches=[[("MODIFIED", pod("a", "11"))]] * 20, revision=LISTED_AT)
    with pytest.raises(WaitTimeout, match=r"expected pods ready \(pods in ns\), saw 0 ready after 5\.0s"):
        run(kube, ready_count(1), timeout=5.0)
    assert len(kube.watches) == 5


def test_a_known_bad_state_stops_the_wait_early() -> None:
    kube = FakeKube(pod("a", "1"), batches=[[("MODIFIED", pod("a", "11"))]], revision=LISTED_AT)

    def judge(items: list[Obj]) -> Verdict[int]:
        deleted = items[0]["metadata"]["resourceVersion"] == "11"
        return Verdict(False, "0 ready", failed="pod a was deleted" if deleted else None)

    with pytest.raises(
        InvariantViolated, match=r"^pod a was deleted; seen while waiting for pods ready \(pods in ns\)"
    ):
        run(kube, judge)


def test_the_wait_returns_the_value_and_times_out_naming_what_it_saw() -> None:
    """A judge's value is what the wait returns; its words are what a timeout says (no casts after waits)."""
    kube = FakeKube(pod("a", "1", True), revision=LISTED_AT)

    def first(items: list[Obj]) -> Verdict[Obj]:
        return Verdict(bool(items), f"{len(items)} pods", items[0] if items else None)

    found = run(kube, first)
    assert found["metadata"]["name"] == "a"
