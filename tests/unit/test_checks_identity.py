from __future__ import annotations

import pytest
from factories import NS, Recording, pod, pods, rules, set_ref, statefulset

from ordinal.checks.identity import check_at_most_one_live, check_pod_identity, check_replaced, snapshot_uids


def test_identity_of_a_settled_set_passes() -> None:
    """Pods of a settled set MUST carry name, hostname, subdomain, labels and controller ref."""
    assert check_pod_identity(statefulset(), pods(3)) == []


def test_identity_follows_the_start_ordinal() -> None:
    """With ordinals.start=2 the pods MUST be web-2..web-4 and pod-index MUST be the ordinal."""
    sts = statefulset(start=2)
    assert check_pod_identity(sts, [pod(i) for i in (2, 3, 4)]) == []
    (finding,) = check_pod_identity(sts, pods(3))
    assert finding.rule == "identity.ordinal-window"
    assert finding.subject == f"statefulset {NS}/web"
    assert finding.expected == ["web-2", "web-3", "web-4"]
    assert finding.seen == ["web-0", "web-1", "web-2"]


def test_missing_ordinal_is_reported_not_web_10_for_web_1() -> None:
    """A missing web-1 MUST be reported even when web-10 exists."""
    (finding,) = check_pod_identity(statefulset(replicas=3), [pod(0), pod(10), pod(2)])
    assert finding.rule == "identity.ordinal-window"
    assert finding.seen == ["web-0", "web-2", "web-10"]


def test_unsettled_set_skips_the_window() -> None:
    """Mid-scale the window MUST NOT be judged, but each pod still is."""
    assert check_pod_identity(statefulset(replicas=3), pods(2), settled=False) == []


def test_hostname_subdomain_and_labels_are_checked() -> None:
    """A pod with the wrong hostname, subdomain or identity labels MUST produce one finding each."""
    bad = pod(1)
    bad["spec"]["hostname"] = "other"
    bad["spec"]["subdomain"] = "nope"
    bad["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = "web-2"
    bad["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = "01"
    findings = check_pod_identity(statefulset(), [pod(0), bad, pod(2)])
    assert rules(findings) == [
        "identity.hostname",
        "identity.subdomain",
        "identity.pod-name-label",
        "identity.pod-index-label",
    ]
    assert all(f.subject == f"pod {NS}/web-1" for f in findings)
    assert [(f.expected, f.seen) for f in findings] == [
        ("web-1", "other"),
        ("web", "nope"),
        ("web-1", "web-2"),
        ("1", "01"),
    ]
    assert findings[3].path == "metadata.labels['apps.kubernetes.io/pod-index']"


def test_pod_index_label_only_when_the_server_sets_it() -> None:
    """Without the PodIndexLabel capability a missing pod-index label MUST NOT be a finding."""
    old = pods(3)
    for p in old:
        del p["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
    assert check_pod_identity(statefulset(), old, pod_index_label=False) == []
    assert rules(check_pod_identity(statefulset(), old)) == ["identity.pod-index-label"] * 3


@pytest.mark.parametrize(
    "refs",
    [
        [],
        [
            {
                "kind": "StatefulSet",
                "apiVersion": "apps/v1",
                "name": "web",
                "uid": "stale-uid",
                "controller": True,
            }
        ],
        [
            {
                "kind": "StatefulSet",
                "apiVersion": "apps/v1",
                "name": "web",
                "uid": "uid-sts-web",
                "controller": False,
            }
        ],
    ],
    ids=["orphan", "stale-uid", "not-controller"],
)
def test_controller_ref_must_point_at_the_set(refs: list[dict[str, object]]) -> None:
    """Each pod MUST have exactly one controller ref to the set (kind, name, uid)."""
    stray = pod(1)
    stray["metadata"]["ownerReferences"] = refs
    findings = check_pod_identity(statefulset(), [pod(0), stray, pod(2)], settled=False)
    if refs and refs[0]["uid"] == "stale-uid":
        assert findings == []  # owned by another object: not this set's pod at all
        return
    (finding,) = findings
    assert finding.rule == "identity.controller-ref"
    assert finding.expected == [{k: v for k, v in set_ref(statefulset()).items() if k != "blockOwnerDeletion"}]


def test_owned_pod_with_a_foreign_name_is_reported() -> None:
    """A pod the set controls MUST be named <set>-<ordinal>."""
    odd = pod(0)
    odd["metadata"]["name"] = "web-db-0"
    findings = check_pod_identity(statefulset(replicas=1), [odd, pod(0)])
    assert rules(findings) == ["identity.pod-name"]
    assert findings[0].seen == "web-db-0"


def test_replacement_keeps_name_with_new_uid() -> None:
    """A deleted pod MUST return with the same name and a new UID; others MUST keep theirs."""
    before = snapshot_uids(pods(3))
    after = [pod(0), pod(1, uid="uid-web-1-b"), pod(2)]
    assert check_replaced(before, after, ["web-1"], namespace=NS) == []


def test_replacement_failures_name_the_pod() -> None:
    """Same UID, missing replacement and a disturbed bystander MUST each be reported."""
    before = snapshot_uids(pods(3))
    after = [pod(0, uid="uid-web-0-b"), pod(1)]
    findings = check_replaced(before, after, ["web-1", "web-2"], namespace=NS)
    assert [(f.rule, f.subject) for f in findings] == [
        ("identity.bystander-kept", f"pod {NS}/web-0"),
        ("identity.replaced-new-uid", f"pod {NS}/web-1"),
        ("identity.replaced-same-name", f"pod {NS}/web-2"),
    ]
    assert findings[0].expected == "uid-web-0-a" and findings[0].seen == "uid-web-0-b"


def test_sequential_incarnations_pass() -> None:
    """A pod replaced after its predecessor is gone MUST NOT be reported."""
    rec = Recording().up(0, 1).delete(1).gone(1).create(1).ready(1)
    assert check_at_most_one_live(rec.timeline, set_name="web") == []


def test_two_live_pods_for_one_identity_are_reported() -> None:
    """Two incarnations of web-1 overlapping in time MUST be a finding naming both UIDs."""
    rec = Recording().up(0, 1).delete(1).create(1).gone(1, birth=1)
    (finding,) = check_at_most_one_live(rec.timeline, set_name="web")
    assert finding.rule == "identity.at-most-one-live"
    assert finding.subject == f"pod {NS}/web-1"
    assert finding.expected == "uid uid-web-1-1 gone before uid uid-web-1-2 appears"
    assert "uid uid-web-1-1 live from +0.300s until +0.700s" in finding.seen
    assert "uid uid-web-1-2 appeared at +0.600s" in finding.seen


def test_never_seen_gone_counts_as_still_live() -> None:
    """If the old incarnation was never seen deleted, a new UID for its name MUST be reported."""
    rec = Recording().up(0)
    rec.create(0)
    (finding,) = check_at_most_one_live(rec.timeline)
    assert "never seen gone" in finding.seen


def test_force_delete_on_unreachable_node_is_reported_as_info() -> None:
    """A force delete while the node is unreachable MUST be reported under its own info rule."""
    rec = Recording().node("node-1").up(0, 1)
    rec.node("node-1", ready="Unknown", taints=["node.kubernetes.io/unreachable"])
    rec.delete(1, grace=30).wait(300).gone(1, grace=0).create(1, node="node-2").ready(1)
    (finding,) = check_at_most_one_live(rec.timeline, set_name="web")
    assert finding.rule == "identity.overlap-after-force-delete"
    assert "force-deleted (grace 0)" in finding.seen and "node node-1 was unreachable" in finding.seen
    assert "on node node-2" in finding.seen


def test_graceful_delete_on_a_healthy_node_is_not_a_force_delete() -> None:
    """The kubelet's own grace-0 final delete on a Ready node MUST NOT be mistaken for a force delete."""
    rec = Recording().node("node-1").up(0).delete(0).gone(0, grace=0).create(0)
    assert check_at_most_one_live(rec.timeline) == []
