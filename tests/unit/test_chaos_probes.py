"""Probes and actions on a fake API: verdicts from the pure checks, exact targets, honest skips."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed
from factories import NS, endpoint_slice, node, pod, pods, pv, pvc, pvcs, service, statefulset
from fakes import FakeKube

from ordinal.chaos.session import Session, close_session, install
from ordinal.chaos.statefulset import actions, probes
from ordinal.target import Target


def cluster(**pod_kw: Any) -> FakeKube:
    sts = statefulset()
    claims = pvcs(3)
    svc = service()
    members = pods(3, **pod_kw)
    return FakeKube(
        sts,
        svc,
        *members,
        *claims,
        *(pv(c) for c in claims),
        endpoint_slice(svc, members),
        node("node-1"),
    )


@pytest.fixture
def session() -> Iterator[Session]:
    yield install(Session("20261125t0000-abcd", phase="hypothesis-before"))
    close_session()


def bind(session: Session, kube: FakeKube) -> FakeKube:
    session.fixed = (Target("/k", "ordinal-local", "local cluster", local=True), kube)  # type: ignore[assignment]
    return kube


def test_kill_ordinal_hits_exactly_that_ordinal_and_never_a_longer_name(session: Session) -> None:
    """web-1 MUST NOT match web-10: with only web-10 there, killing ordinal 1 is an error."""
    kube = bind(session, FakeKube(statefulset(), pod(10)))
    with pytest.raises(ActivityFailed, match=r"expected pod ord-test/web-1 \(ordinal 1 of web\), found none"):
        actions.kill_ordinal("web", 1, NS)
    assert kube.deleted == []


def test_kill_ordinal_deletes_by_uid_and_remembers_the_fault(session: Session) -> None:
    kube = bind(session, cluster())
    out = actions.kill_ordinal("web", "1", NS, grace_period="0")  # type: ignore[arg-type]  # as --var passes them
    assert out["targets"] == [{"pod": "web-1", "uid": "uid-web-1-a", "node": "node-1"}]
    assert kube.deleted == [("Pod", "web-1", {"grace_seconds": 0, "uid": "uid-web-1-a"})]
    assert session.disrupted(NS, "web") == {"web-1": "uid-web-1-a"}


def test_statefulset_ready_passes_at_rest_and_names_the_pod_that_is_not(session: Session) -> None:
    kube = bind(session, cluster())
    assert probes.statefulset_ready("web", NS)["status"] == "passed"
    kube.put(pod(2, ready=False))
    verdict = probes.statefulset_ready("web", NS)
    assert verdict["status"] == "failed"
    assert verdict["findings"][0]["subject"] == f"pod {NS}/web-2"
    assert verdict["findings"][0]["seen"] == "phase=Running ready=False"


def test_statefulset_ready_on_a_missing_set_fails_saying_so(session: Session) -> None:
    bind(session, FakeKube())
    verdict = probes.statefulset_ready("web", NS)
    assert verdict["status"] == "failed" and verdict["summary"].endswith("saw 'no such StatefulSet'")


def test_identity_before_the_method_judges_structure_only(session: Session) -> None:
    bind(session, cluster())
    verdict = probes.identity_matches_snapshot("web", NS)
    assert verdict["status"] == "passed" and verdict["details"]["compared"] is False


def test_identity_after_the_method_without_a_baseline_is_a_finding(session: Session) -> None:
    bind(session, cluster())
    session.phase = "hypothesis-after"
    verdict = probes.identity_matches_snapshot("web", NS)
    assert verdict["status"] == "failed" and verdict["findings"][0]["rule"] == "chaos.baseline"


def test_identity_expects_new_uids_exactly_for_the_disrupted_ordinals(session: Session) -> None:
    kube = bind(session, cluster())
    actions.snapshot_identity("web", NS)
    actions.kill_ordinal("web", 1, NS)
    kube.put(pod(1, uid="uid-web-1-b"))
    session.phase = "hypothesis-after"
    assert probes.identity_matches_snapshot("web", NS)["status"] == "passed"
    kube.put(pod(2, uid="uid-web-2-b"))  # a bystander restarted too
    verdict = probes.identity_matches_snapshot("web", NS)
    assert [f["rule"] for f in verdict["findings"]] == ["identity.bystander-kept"]
    assert probes.identity_matches_snapshot("web", NS, replaced="1,2")["status"] == "passed"


def test_claims_must_come_back_with_the_same_uids(session: Session) -> None:
    kube = bind(session, cluster())
    actions.snapshot_identity("web", NS)
    session.phase = "hypothesis-after"
    assert probes.claims_reattached("web", NS)["status"] == "passed"
    fresh = pvc(1, uid="uid-fresh", volume="pvc-fresh")
    kube.put(fresh)
    kube.put(pv(fresh))
    verdict = probes.claims_reattached("web", NS)
    assert "storage.reattached-claim" in [f["rule"] for f in verdict["findings"]]
    assert probes.claims_reattached("web", NS, renewed="1")["status"] == "passed"


def test_a_missing_headless_service_fails_dns_without_asking_dns(session: Session) -> None:
    """A set whose serviceName names no Service breaks the per-pod DNS promise, found from the API alone."""
    kube = bind(session, cluster())
    del kube.objects[("Service", NS, "web")]
    verdict = probes.dns_records_match("web", NS, timeout=0)
    assert verdict["status"] == "failed"
    assert {f["rule"] for f in verdict["findings"]} == {"dns.per-pod-a-record"}
    assert "no such Service" in verdict["summary"]


def test_dns_is_not_checked_only_when_unreachable_and_the_api_side_holds(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDINAL_DNS", raising=False)
    bind(session, cluster())
    session.fixed = (Target("/k", "staging", "flag", local=False), session.fixed[1])  # type: ignore[index]
    verdict = probes.dns_records_match("web", NS, timeout=0)
    assert verdict["status"] == "not-checked" and verdict["summary"].startswith("needs: DNS reachable")


def test_data_token_on_simulated_nodes_is_not_checked_naming_the_capability(session: Session) -> None:
    """Before the fault nothing is compared; after it, pods where nothing can be exec'd MUST give "not checked"."""
    kube = bind(session, cluster())
    kwok = node("node-1")
    kwok["metadata"]["annotations"] = {"kwok.x-k8s.io/node": "fake"}
    kube.put(kwok)
    before = probes.data_token_intact("web", NS)
    assert before["status"] == "passed" and before["details"] == {"compared": False}
    session.phase = "hypothesis-after"
    verdict = probes.data_token_intact("web", NS)
    assert verdict["status"] == "not-checked"
    assert verdict["summary"].startswith("needs: exec into pods")


def test_data_token_not_written_before_the_fault_is_not_checked_not_missing(session: Session) -> None:
    """Tokens the method could not write MUST make the probe "not checked" with that reason, not a pass."""
    bind(session, cluster())
    baseline = actions.snapshot_identity("web", NS)
    assert baseline["pods"]
    session.baseline(
        NS, "web"
    ).tokens_not_written = "needs: exec into pods (pod ord-test/web-0 runs on simulated node n)"  # type: ignore[union-attr]
    session.phase = "hypothesis-after"
    verdict = probes.data_token_intact("web", NS)
    assert verdict["status"] == "not-checked"
    assert verdict["summary"] == (
        "needs: exec into pods (pod ord-test/web-0 runs on simulated node n) (so no token was written before the fault)"
    )


def test_no_duplicate_identity_without_a_recording_after_the_method_is_a_finding(session: Session) -> None:
    bind(session, cluster())
    assert probes.no_duplicate_identity("web", NS)["status"] == "passed"
    session.phase = "hypothesis-after"
    verdict = probes.no_duplicate_identity("web", NS)
    assert verdict["status"] == "failed" and verdict["findings"][0]["rule"] == "chaos.recorded"
