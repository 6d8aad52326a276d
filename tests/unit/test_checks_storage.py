from __future__ import annotations

from factories import NS, node, pod, pods, pv, pvc, pvcs, rules, statefulset

from ordinal.checks.storage import (
    check_claims,
    check_pod_on_volume_node,
    check_reattached,
    check_tokens,
    snapshot_claims,
)


def test_claim_per_ordinal_passes() -> None:
    """Each ordinal MUST have its Bound claim on its own PV, mounted by its pod."""
    claims = pvcs(3)
    assert check_claims(statefulset(), pods(3), claims, [pv(c) for c in claims]) == []


def test_missing_and_unbound_claims_are_reported() -> None:
    """A missing data-web-1 and a Pending data-web-2 MUST each be reported by name."""
    claims = [pvc(0), pvc(2, phase="Pending", volume=None)]
    findings = check_claims(statefulset(), pods(3), claims)
    assert [(f.rule, f.subject, f.expected, f.seen) for f in findings] == [
        ("storage.claim-per-ordinal", f"pvc {NS}/data-web-1", "data-web-1", None),
        ("storage.claim-bound", f"pvc {NS}/data-web-2", "Bound", "Pending"),
    ]


def test_claim_of_web_10_does_not_stand_in_for_web_1() -> None:
    """data-web-10 MUST NOT satisfy ordinal 1."""
    findings = check_claims(statefulset(replicas=2), pods(2), [pvc(0), pvc(10)])
    assert rules(findings) == ["storage.claim-per-ordinal"]
    assert findings[0].subject == f"pvc {NS}/data-web-1"


def test_two_claims_on_one_volume_are_reported() -> None:
    """Two ordinals bound to the same PV MUST be reported."""
    claims = [pvc(0, volume="pv-shared"), pvc(1, volume="pv-shared"), pvc(2)]
    (finding,) = check_claims(statefulset(), pods(3), claims)
    assert finding.rule == "storage.distinct-volume"
    assert finding.subject == f"pvc {NS}/data-web-1"
    assert finding.seen == "pv-shared, also bound by data-web-0"


def test_pod_mounting_another_ordinals_claim_is_reported() -> None:
    """web-0 mounting data-web-1 (claims swapped between pods) MUST be reported on both pods."""
    swapped = pods(3)
    swapped[0]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "data-web-1"
    swapped[1]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "data-web-0"
    findings = check_claims(statefulset(), swapped, pvcs(3))
    assert [(f.rule, f.subject, f.expected, f.seen) for f in findings] == [
        ("storage.pod-mounts-own-claim", f"pod {NS}/web-0", "data-web-0", "data-web-1"),
        ("storage.pod-mounts-own-claim", f"pod {NS}/web-1", "data-web-1", "data-web-0"),
    ]
    assert findings[0].path == "spec.volumes[name=data].persistentVolumeClaim.claimName"


def test_pv_claim_ref_must_name_the_claim() -> None:
    """A PV whose claimRef points at another claim UID MUST be reported."""
    claims = pvcs(2)
    volumes = [pv(claims[0]), pv(claims[1])]
    volumes[1]["spec"]["claimRef"]["uid"] = "uid-old-claim"
    (finding,) = check_claims(statefulset(replicas=2), pods(2), claims, volumes)
    assert finding.rule == "storage.volume-claim-ref"
    assert finding.subject == "pv pvc-data-web-1"
    assert finding.seen["uid"] == "uid-old-claim"
    assert rules(check_claims(statefulset(replicas=2), pods(2), claims, volumes[:1])) == ["storage.volume-claim-ref"]


def test_reattached_claims_pass() -> None:
    """After a pod is rescheduled its ordinal MUST keep the same PVC UID and PV."""
    before = snapshot_claims(statefulset(), pvcs(3))
    assert [s.claim for s in before.values()] == ["data-web-0", "data-web-1", "data-web-2"]
    assert check_reattached(before, pvcs(3), namespace=NS) == []


def test_pvc_swapped_between_ordinals_is_reported() -> None:
    """data-web-0 ending up on web-1's PV (and a recreated data-web-2) MUST be reported."""
    before = snapshot_claims(statefulset(), pvcs(3))
    after = [pvc(0, volume="pvc-data-web-1"), pvc(1, volume="pvc-data-web-0"), pvc(2, uid="uid-new")]
    findings = check_reattached(before, after, namespace=NS)
    assert [(f.rule, f.subject, f.expected, f.seen) for f in findings] == [
        ("storage.reattached-volume", f"pvc {NS}/data-web-0", "pvc-data-web-0", "pvc-data-web-1"),
        ("storage.reattached-volume", f"pvc {NS}/data-web-1", "pvc-data-web-1", "pvc-data-web-0"),
        ("storage.reattached-claim", f"pvc {NS}/data-web-2", "uid-data-web-2", "uid-new"),
    ]
    assert rules(check_reattached(before, after, namespace=NS, ordinals=[2])) == ["storage.reattached-claim"]


def test_pod_returns_to_its_pinned_volume_node() -> None:
    """On a node-pinned class the pod MUST run on the node its PV is pinned to."""
    claims = pvcs(2)
    volumes = [pv(claims[0], node="node-1"), pv(claims[1], node="node-2")]
    placed = [pod(0, node="node-1"), pod(1, node="node-2")]
    assert check_pod_on_volume_node(statefulset(replicas=2), placed, claims, volumes) == []
    moved = [pod(0, node="node-1"), pod(1, node="node-3")]
    (finding,) = check_pod_on_volume_node(statefulset(replicas=2), moved, claims, volumes)
    assert finding.rule == "storage.pod-on-volume-node"
    assert finding.subject == f"pod {NS}/web-1"
    assert finding.seen == "node-3"


def test_volume_node_affinity_reads_node_labels_when_given() -> None:
    """Affinity on a zone label MUST be judged against the node's labels."""
    claim = pvc(0)
    volume = pv(claim)
    volume["spec"]["nodeAffinity"] = {
        "required": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}
            ]
        }
    }
    zone_a, zone_b = node("node-1"), node("node-2")
    zone_a["metadata"]["labels"] = {"topology.kubernetes.io/zone": "a"}
    zone_b["metadata"]["labels"] = {"topology.kubernetes.io/zone": "b"}
    sts = statefulset(replicas=1)
    assert check_pod_on_volume_node(sts, [pod(0, node="node-1")], [claim], [volume], [zone_a, zone_b]) == []
    found = check_pod_on_volume_node(sts, [pod(0, node="node-2")], [claim], [volume], [zone_a, zone_b])
    assert rules(found) == ["storage.pod-on-volume-node"]


def test_unpinned_volume_and_unscheduled_pod_are_not_judged() -> None:
    """Network volumes (no nodeAffinity) and pods without a node MUST NOT produce findings."""
    claims = pvcs(2)
    assert (
        check_pod_on_volume_node(statefulset(replicas=2), [pod(0), pod(1, node=None)], claims, [pv(c) for c in claims])
        == []
    )


def test_a_token_that_changed_or_vanished_is_named_with_what_was_written() -> None:
    """Every written token MUST read back unchanged; a pod not asked is left to the identity checks."""
    sts = statefulset(replicas=3)
    written = {"web-0": "web-0:aa", "web-1": "web-1:bb", "web-2": "web-2:cc"}
    findings = check_tokens(sts, written, {"web-0": "web-0:aa", "web-1": None})
    assert [(f.rule, f.subject, f.expected, f.seen) for f in findings] == [
        ("storage.data-token", f"pod {NS}/web-1", "web-1:bb", None)
    ]
    assert check_tokens(sts, written, {"web-2": "web-0:aa"})[0].seen == "web-0:aa"


def test_a_pin_names_the_node_or_zone_a_volume_admits() -> None:
    from ordinal.checks.storage import Pin, pin_of_pv

    def pv(key: str, value: str) -> dict[str, object]:
        term = {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
        return {"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [term]}}}}

    zone = pin_of_pv(pv("topology.kubernetes.io/zone", "zone-b"))
    assert zone == Pin("zone", "topology.kubernetes.io/zone", "zone-b")
    assert zone.admits({"metadata": {"name": "n2", "labels": {"topology.kubernetes.io/zone": "zone-b"}}})
    assert not zone.admits({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}})
    node = pin_of_pv(pv("kubernetes.io/hostname", "n1"))
    assert node is not None and node.kind == "node" and node.admits({"metadata": {"name": "n1", "labels": {}}})
    assert pin_of_pv({"spec": {}}) is None
