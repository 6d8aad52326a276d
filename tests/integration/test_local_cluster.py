"""The local cluster is real enough for the suite: the StatefulSet promises show through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype

from ordinal.act.nodes import cordon, uncordon
from ordinal.errors import TransientApiError
from ordinal.kube import objects as o
from ordinal.kube.manifests import (
    headless_service_manifest,
    pdb_manifest,
    pod_name,
    pvc_name,
    selector_labels,
    statefulset_manifest,
)
from ordinal.kube.rest import EVENTS, NODES, PODS, PVCS, PVS, STATEFULSETS, Kube
from ordinal.observe.recorder import Recorder
from ordinal.observe.waiting import Query, Verdict, wait_for, wait_for_endpoints, wait_for_gone, wait_for_set_ready

SET = "web"
TIMEOUT = 120


def deploy(kube: Kube, namespace: str, *, replicas: int = 3, storage_class: str | None = None, **kw: Any) -> None:
    kube.create_object(headless_service_manifest(SET, namespace, selector_labels(SET)))
    kube.create_object(statefulset_manifest(SET, namespace, replicas=replicas, storage_class=storage_class, **kw))


def pods_by_name(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    items, _ = kube.list(PODS, namespace)
    return {o.name(p): p for p in items}


def claims_by_name(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    items, _ = kube.list(PVCS, namespace)
    return {o.name(c): c for c in items}


def query(server: tuple[str, int], name: str, rdtype: str = "A") -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), server[0], port=server[1], timeout=3)


def a_records(server: tuple[str, int], name: str) -> list[str]:
    answer = query(server, name)
    return sorted(r.address for rrset in answer.answer if rrset.rdtype == dns.rdatatype.A for r in rrset)


def test_apiserver_reports_the_pinned_kubernetes_version(kube: Kube, local_cluster: dict[str, Any]) -> None:
    version = json.loads(kube.raw_get("/version"))
    assert version["gitVersion"] == local_cluster["versions"]["kubernetes"], version


def test_nodes_are_ready_and_spread_over_zones(kube: Kube, local_cluster: dict[str, Any]) -> None:
    nodes, _ = kube.list(NODES)
    zones = {o.labels(n).get("topology.kubernetes.io/zone") for n in nodes}
    assert sorted(o.name(n) for n in nodes) == sorted(local_cluster["nodes"])
    assert all(o.node_ready(n) == "True" for n in nodes), [(o.name(n), o.node_ready(n)) for n in nodes]
    assert len(zones) == local_cluster["zones"], zones


def test_statefulset_pods_are_created_in_ordinal_order(kube: Kube, namespace: str) -> None:
    """Pods MUST be created 0→N-1, each only after its predecessor is Running and Ready."""
    with Recorder(kube, namespace, kinds=[PODS]) as rec:
        deploy(kube, namespace)
        wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    timeline = rec.timeline
    added = [e.name for e in timeline.of_kind("Pod") if e.event == "ADDED"]
    assert added == ["web-0", "web-1", "web-2"], timeline.excerpt()
    for ordinal in (1, 2):
        created = timeline.incarnations(pod_name(SET, ordinal))[0].first_seen
        before = timeline.incarnations(pod_name(SET, ordinal - 1))[0].ready_at
        assert before is not None and before < created, (
            f"expected {pod_name(SET, ordinal)} created after {pod_name(SET, ordinal - 1)} was Ready\n"
            + timeline.excerpt()
        )


def test_each_ordinal_gets_its_own_bound_claim_and_volume(kube: Kube, namespace: str) -> None:
    deploy(kube, namespace)
    wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    claims = claims_by_name(kube, namespace)
    pods = pods_by_name(kube, namespace)
    volumes = set()
    for ordinal in range(3):
        claim = claims[pvc_name("data", SET, ordinal)]
        assert o.status(claim).get("phase") == "Bound", claim
        volumes.add(claim["spec"]["volumeName"])
        pod_claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pods[pod_name(SET, ordinal)]["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ]
        assert pod_claims == [pvc_name("data", SET, ordinal)]
    assert len(volumes) == 3, volumes
    pvs = {o.name(pv): pv for pv in kube.list(PVS)[0]}
    for ordinal in range(3):
        claim = claims[pvc_name("data", SET, ordinal)]
        pv = pvs[claim["spec"]["volumeName"]]
        assert pv["spec"]["claimRef"]["uid"] == o.uid(claim)
        # ordinal-local (the default class) pins each volume to the node of first use.
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        node = pods_by_name(kube, namespace)[pod_name(SET, ordinal)]["spec"]["nodeName"]
        assert terms[0]["matchExpressions"][0]["values"] == [node]


def test_coredns_answers_per_pod_and_service_records(kube: Kube, namespace: str, dns_server: tuple[str, int]) -> None:
    deploy(kube, namespace)
    wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    pods = pods_by_name(kube, namespace)
    ips = sorted(o.pod_ip(p) or "" for p in pods.values())
    # EndpointSlices trail pod readiness slightly; wait on the slice, then ask DNS.
    wait_for_endpoints(kube, namespace, SET, ready=3, timeout=60)
    for name, pod in pods.items():
        fqdn = f"{name}.{SET}.{namespace}.svc.cluster.local"
        assert a_records(dns_server, fqdn) == [o.pod_ip(pod)], fqdn
    assert a_records(dns_server, f"{SET}.{namespace}.svc.cluster.local") == ips


def _evict(kube: Kube, name: str, namespace: str) -> int:
    try:
        kube.evict(name, namespace)
        return 201
    except TransientApiError as err:
        assert err.status == 429, err
        return 429


def _pod_recreated(kube: Kube, namespace: str, name: str, old_uid: str, judge_extra: Any) -> dict[str, Any]:
    def judge(items: list[dict[str, Any]]) -> Verdict[Any]:
        for pod in items:
            if o.uid(pod) != old_uid and not o.terminating(pod):
                done, seen = judge_extra(pod)
                return Verdict(done, str(seen), pod)
        return Verdict(False, "old pod still present or no replacement yet")

    return wait_for(
        kube,
        Query(PODS, namespace, field_selector=f"metadata.name={name}"),
        judge,
        expect=f"pod {namespace}/{name} recreated with a new UID",
        timeout=TIMEOUT,
    )


def _drain_setup(kube: Kube, namespace: str, storage_class: str) -> tuple[dict[str, Any], str]:
    deploy(kube, namespace, storage_class=storage_class)
    kube.create_object(pdb_manifest(SET, namespace, selector_labels(SET), min_available=2))
    wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    target = pods_by_name(kube, namespace)["web-1"]
    return target, target["spec"]["nodeName"]


def test_drain_honours_the_pdb_and_the_pod_returns_elsewhere_with_its_claim(kube: Kube, namespace: str) -> None:
    """With network-like storage an evicted ordinal MUST come back, same name and claim, on another node."""

    target, node = _drain_setup(kube, namespace, "ordinal-shared")
    claim_uid = o.uid(claims_by_name(kube, namespace)["data-web-1"])
    assert cordon(kube, node, "test")
    try:
        assert _evict(kube, "web-1", namespace) == 201
        # The budget is now spent: one more eviction MUST be refused until web-1 is back.
        other = next(n for n in ("web-0", "web-2") if n != "web-1")
        assert _evict(kube, other, namespace) == 429

        def on_other_node(pod: dict[str, Any]) -> tuple[bool, str]:
            where = pod["spec"].get("nodeName")
            return bool(where and where != node and o.pod_running_ready(pod)), f"node {where}, ready {o.pod_ready(pod)}"

        _pod_recreated(kube, namespace, "web-1", o.uid(target), on_other_node)
        assert o.uid(claims_by_name(kube, namespace)["data-web-1"]) == claim_uid
        wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    finally:
        uncordon(kube, node)


def test_drain_leaves_a_node_pinned_pod_pending_until_its_node_returns(kube: Kube, namespace: str) -> None:
    """With local-disk-like storage an evicted ordinal MUST wait for its own node."""

    target, node = _drain_setup(kube, namespace, "ordinal-local")
    claim_uid = o.uid(claims_by_name(kube, namespace)["data-web-1"])
    assert cordon(kube, node, "test")
    try:
        assert _evict(kube, "web-1", namespace) == 201

        # The scheduler must try and refuse: a FailedScheduling event for the new pod.
        def refused(items: list[dict[str, Any]]) -> Verdict[str]:
            hits = [
                e
                for e in items
                if e.get("reason") == "FailedScheduling" and e["involvedObject"].get("uid") != o.uid(target)
            ]
            return Verdict(bool(hits), hits[-1]["message"] if hits else "no FailedScheduling yet")

        wait_for(
            kube,
            Query(EVENTS, namespace, field_selector="involvedObject.kind=Pod,involvedObject.name=web-1"),
            refused,
            expect="FailedScheduling for the replacement of web-1",
            timeout=TIMEOUT,
        )
        pending = pods_by_name(kube, namespace)["web-1"]
        assert o.status(pending).get("phase") == "Pending" and not pending["spec"].get("nodeName"), pending["status"]
    finally:
        uncordon(kube, node)

    def on_own_node(pod: dict[str, Any]) -> tuple[bool, str]:
        where = pod["spec"].get("nodeName")
        return bool(where == node and o.pod_running_ready(pod)), f"node {where}"

    _pod_recreated(kube, namespace, "web-1", o.uid(target), on_own_node)
    assert o.uid(claims_by_name(kube, namespace)["data-web-1"]) == claim_uid


def test_deleting_the_statefulset_keeps_its_claims(kube: Kube, namespace: str) -> None:
    deploy(kube, namespace)
    wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    before = {n: o.uid(c) for n, c in claims_by_name(kube, namespace).items()}
    kube.delete(STATEFULSETS, SET, namespace, propagation="Background")
    wait_for_gone(kube, PODS, namespace, [pod_name(SET, i) for i in range(3)], timeout=TIMEOUT)
    after = {n: o.uid(c) for n, c in claims_by_name(kube, namespace).items()}
    assert after == before


def test_retention_policy_delete_removes_the_claims(kube: Kube, namespace: str) -> None:
    deploy(kube, namespace, retention=("Delete", "Delete"))
    wait_for_set_ready(kube, namespace, SET, 3, timeout=TIMEOUT)
    claims = [pvc_name("data", SET, i) for i in range(3)]
    assert sorted(claims_by_name(kube, namespace)) == claims
    kube.delete(STATEFULSETS, SET, namespace, propagation="Background")
    wait_for_gone(kube, PVCS, namespace, claims, timeout=TIMEOUT)


def test_state_dir_holds_no_stray_files_outside_the_cluster(state_dir: Path, local_cluster: dict[str, Any]) -> None:
    assert Path(local_cluster["kubeconfig"]).is_relative_to(state_dir)
