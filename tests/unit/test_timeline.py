from __future__ import annotations

import json

from factories import NS, Recording, endpoint_slice, event, node, pod, pv, pvc, service, statefulset

from ordinal.observe.timeline import Mark, Timeline


def test_record_keeps_compact_per_kind_detail() -> None:
    """Entries MUST keep the fields the checks read, per kind."""
    tl = Timeline(t0=10.0)
    tl.record("ADDED", pod(1, phase="Running", ready=True, node="n1"), 10.5)
    claim = pvc(1)
    tl.record("ADDED", claim, 10.6)
    tl.record("ADDED", pv(claim), 10.7)
    tl.record("MODIFIED", statefulset(update="web-new"), 10.8)
    tl.record("ADDED", node("n1", ready="Unknown", taints=["node.kubernetes.io/unreachable"]), 10.9)
    tl.record("ADDED", endpoint_slice(service(), [pod(1)]), 11.0)
    tl.record(
        "ADDED",
        event("SuccessfulCreate", statefulset(), "create Pod web-1 in StatefulSet web successful"),
        11.1,
    )
    p, c, v, s, n, eps, ev = (e.detail for e in tl.entries)
    assert p["phase"] == "Running" and p["ready"] is True and p["node"] == "n1"
    assert p["ip"] == "10.244.0.11" and p["rev"] and p["set"] == "web" and p["ordinal"] == 1
    assert c == {"phase": "Bound", "volume": "pvc-data-web-1", "deleting": False, "owners": []}
    assert v["claim"] == f"{NS}/data-web-1"
    assert s["updateRevision"] == "web-new" and s["replicas"] == 3
    assert n == {"ready": "Unknown", "unschedulable": False, "taints": ["node.kubernetes.io/unreachable"]}
    assert eps["service"] == "web" and eps["endpoints"] == [["web-1", "10.244.0.11", True]]
    assert ev["reason"] == "SuccessfulCreate" and ev["object"] == "StatefulSet/web"


def test_record_skips_bookmarks_and_replays() -> None:
    """A replayed resourceVersion MUST NOT be recorded twice; BOOKMARK/ERROR are not events."""
    tl = Timeline()
    p = pod(0)
    assert tl.record("ADDED", p, 1.0) is not None
    assert tl.record("ADDED", p, 2.0) is None
    assert tl.record("MODIFIED", p, 2.0) is None  # a re-list delivers the same state again
    assert tl.record("BOOKMARK", p, 3.0) is None
    assert len(tl) == 1


def test_incarnations_and_live_intervals() -> None:
    """Each UID of a pod name MUST be one incarnation: first seen, Ready, deletion asked, gone."""
    rec = Recording().up(0).delete(0).gone(0).create(0).ready(0)
    first, second = rec.timeline.incarnations("web-0")
    assert first.uid == "uid-web-0-1" and second.uid == "uid-web-0-2"
    assert first.ready_at is not None and first.deletion_requested is not None and first.gone is not None
    assert first.first_seen < first.ready_at < first.deletion_requested < first.gone < second.first_seen
    assert second.gone is None and second.deletion_grace is None
    assert first.deletion_grace == 0
    intervals = rec.timeline.live_intervals("web-0")
    assert intervals == [(first.uid, first.first_seen, first.gone), (second.uid, second.first_seen, None)]
    assert rec.timeline.pods("web") == ["web-0"]


def test_ready_since_follows_flapping_readiness() -> None:
    """Availability MUST be measured from the start of the current Ready stretch, not the first one."""
    rec = Recording().up(0).wait(5).unready(0).ready(0)
    (inc,) = rec.timeline.incarnations("web-0")
    end = Mark(len(rec.timeline) - 1, rec.t)
    assert inc.healthy_at(end)
    assert not inc.healthy_at(end, min_ready_seconds=2)
    assert inc.ready_since(end) == rec.timeline.entries[-1].mark


def test_pods_filter_by_set_name() -> None:
    """pods(set) MUST list only names that set would use (not web-db-0 for web)."""
    tl = Timeline()
    tl.record("ADDED", pod(0, "web"), 1.0)
    tl.record("ADDED", pod(0, "web-db"), 1.1)
    tl.record("ADDED", pod(10, "web"), 1.2)
    assert tl.pods() == ["web-0", "web-db-0", "web-10"]
    assert tl.pods("web") == ["web-0", "web-10"]
    assert list(tl.set_incarnations("web")) == [0, 10]


def test_node_unreachable_at() -> None:
    """Node reachability MUST be judged from the latest node event at that moment."""
    rec = Recording().node("n1").up(0).node("n1", ready="Unknown", taints=["node.kubernetes.io/unreachable"])
    tl = rec.timeline
    assert tl.node_unreachable_at("n1", Mark(1, 0.0)) is False
    assert tl.node_unreachable_at("n1", Mark(len(tl) - 1, rec.t)) is True
    assert tl.node_unreachable_at("n2", Mark(len(tl) - 1, rec.t)) is None


def test_relist_synthesizes_deletes_for_vanished_objects() -> None:
    """After a re-list, objects missing from it MUST be closed so successors do not look like duplicates."""
    rec = Recording().up(0, 1)
    survivor = rec.timeline.live("Pod")[0]
    replacement = pod(1, uid="uid-web-1-2", ip="10.244.9.9")
    replacement["metadata"]["resourceVersion"] = "9999"
    still_there = pod(0, uid=survivor.uid)
    still_there["metadata"]["resourceVersion"] = survivor.resource_version
    added = rec.timeline.relist("Pod", [still_there, replacement], 9.0)
    assert [(e.event, e.name, e.uid) for e in added] == [
        ("DELETED", "web-1", "uid-web-1-1"),
        ("ADDED", "web-1", "uid-web-1-2"),
    ]
    assert added[0].detail["synthetic"] is True
    first, second = rec.timeline.incarnations("web-1")
    assert first.gone is not None and first.gone < second.first_seen


def test_excerpt_is_readable_and_filtered() -> None:
    """The excerpt MUST show one line per entry with relative seconds, filtered to the named pods."""
    rec = Recording().up(0, 1, 2)
    rec.emit("ADDED", pvc(1))
    rec.emit("ADDED", event("Killing", pod(1), "Stopping container main"))
    text = rec.timeline.excerpt(names=["web-1"])
    lines = text.splitlines()
    assert lines[0].startswith("4 of 4 entries")
    assert "ADDED    Pod ord-test/web-1 uid=uid-web-1-1 rv=5003 phase=Pending ready=False node=node-1" in lines[1]
    assert lines[1].lstrip().startswith("+0.300s")
    assert "ready=True" in lines[2]
    assert "PersistentVolumeClaim ord-test/data-web-1" in lines[3]
    assert "reason=Killing" in lines[4] and "object=Pod/web-1" in lines[4]
    assert "web-0" not in text and "web-2" not in text


def test_excerpt_limits_around_a_moment() -> None:
    """A long timeline MUST be cut to ``limit`` entries around the moment asked for, saying what was cut."""
    rec = Recording().up(*range(10))
    text = rec.timeline.excerpt(around=1.0, limit=4)
    lines = text.splitlines()
    assert lines[0] == "4 of 20 entries, seconds from t0=0.000"
    assert lines[1] == "  … 7 earlier entries"
    assert [line.split()[0] for line in lines[2:6]] == ["+0.800s", "+0.900s", "+1.000s", "+1.100s"]
    assert lines[-1] == "  … 9 later entries"
    assert rec.timeline.excerpt(limit=2).splitlines()[1] == "  … 18 earlier entries"


def test_excerpt_shortens_server_uids() -> None:
    """Server UUIDs MUST be cut to their first block to keep one entry per line."""
    tl = Timeline()
    tl.record("ADDED", pod(0, uid="3f2a9c1e-7d4b-4c2a-9e1f-0a1b2c3d4e5f"), 1.0)
    assert " uid=3f2a9c1e rv=" in tl.excerpt()


def test_json_round_trip() -> None:
    """A saved timeline MUST load back to the same entries (recorded runs become fixtures)."""
    rec = Recording().up(0, 1).delete(1).gone(1)
    data = json.loads(json.dumps(rec.timeline.to_json()))
    again = Timeline.from_json(data)
    assert again.entries == rec.timeline.entries
    assert again.t0 == 0.0
    assert again.record("DELETED", {"kind": "Pod", "metadata": {"name": "x", "uid": "uid-web-1-1"}}, 1) is not None
