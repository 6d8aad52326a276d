"""A run's artefacts as the plugin writes them, made from code, for the report's unit tests.

One run on a fake three-node cluster: identity and storage pass (with a recorded pod
timeline and a reattach figure), data integrity skips for ``needs: exec into pods``, one
ordering test fails with an expected/seen message, a rollout and a DNS figure are measured,
retention passes, and no API-surface test ran.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ordinal.artefacts import environment, results
from ordinal.artefacts.figures import Figure
from ordinal.capabilities import ClusterInfo, CsiInfo, DnsAccess, StorageInfo
from ordinal.errors import InvariantViolated
from ordinal.observe.timeline import Timeline
from ordinal.report import model

STARTED = 1_790_000_000.0
NS = "ord-test"


def pod(name: str, uid: str, phase: str | None, ready: bool, node: str | None, rv: str, deleting: bool = False) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid, "resourceVersion": rv}
    meta["ownerReferences"] = [{"kind": "StatefulSet", "name": "web", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {"phase": phase, "conditions": conditions},
    }


def scale_up_timeline(replace: bool = False) -> Timeline:
    """web-0..2 created in order, each Ready 1 s after creation; with ``replace`` web-1 is deleted and comes back."""
    timeline = Timeline(t0=100.0)
    t, rv = 100.0, 1
    for i in range(3):
        uid = f"uid-{i}-aaaaaaaa"
        for phase, ready, node in ((None, False, None), ("Pending", False, f"n{i}"), ("Running", True, f"n{i}")):
            timeline.record(
                "ADDED" if phase is None else "MODIFIED", pod(f"web-{i}", uid, phase, ready, node, str(rv)), t
            )
            rv, t = rv + 1, t + 0.5
    if replace:
        old = "uid-1-aaaaaaaa"
        timeline.record("MODIFIED", pod("web-1", old, "Running", True, "n1", str(rv), deleting=True), t)
        timeline.record("DELETED", pod("web-1", old, "Running", False, "n1", str(rv + 1), deleting=True), t + 0.5)
        new = "uid-1-bbbbbbbb"
        timeline.record("ADDED", pod("web-1", new, None, False, None, str(rv + 2)), t + 0.6)
        timeline.record("MODIFIED", pod("web-1", new, "Pending", False, "n2", str(rv + 3)), t + 0.8)
        timeline.record("MODIFIED", pod("web-1", new, "Running", True, "n2", str(rv + 4)), t + 1.9)
    timeline.record("MODIFIED", {"kind": "Node", "metadata": {"name": "n1", "resourceVersion": "90"}}, 100.0)
    return timeline


def phases(outcome: str, reason: str = "", when: str = "call", xfail: bool = False) -> dict[str, results.Phase]:
    found = {"setup": results.Phase("passed", 0.1)}
    if when == "setup":
        return {"setup": results.Phase(outcome, 0.0, reason, xfail), "teardown": results.Phase("passed", 0.0)}
    found["call"] = results.Phase(outcome, 2.0, reason, xfail)
    found["teardown"] = results.Phase("passed", 0.1)
    return found


FAILURE = InvariantViolated(
    "scale-up 0→3: 1 broken promise; first: ordering.created-after-ready pod ord-test/web-2: "
    "expected after web-1 Ready",
    ["ordering.created-after-ready pod ord-test/web-2 expected web-1 Ready first, saw web-1 phase=Pending"],
    "3 of 3 entries, seconds from t0=100.000\n  +0.000s ADDED Pod ord-test/web-2",
)


def records() -> list[dict[str, Any]]:
    rows = [
        (
            "conformance/test_identity.py::test_pods_carry_their_ordinal_identity",
            "Identity",
            "Names",
            phases("passed"),
            scale_up_timeline(),
            None,
        ),
        (
            "conformance/test_storage.py::test_pod_keeps_its_pvc_after_reschedule[delete]",
            "Storage reattachment",
            "The same volume after a disruption",
            phases("passed"),
            scale_up_timeline(replace=True),
            None,
        ),
        (
            "conformance/test_storage.py::test_data_written_to_the_volume_survives_reschedule",
            "Data integrity",
            "Data survives",
            phases("skipped", "needs: exec into pods", when="setup"),
            None,
            None,
        ),
        (
            "conformance/test_scaling.py::test_ordered_ready_creates_pods_in_ascending_order[min-ready-0s]",
            "Ordering",
            "OrderedReady scale-up",
            phases("failed"),
            scale_up_timeline(),
            FAILURE,
        ),
        (
            "conformance/test_rolling_update.py::test_rolling_update_replaces_pods_from_the_highest_ordinal",
            "Rollout and partition",
            "Rolling update",
            phases("passed"),
            scale_up_timeline(),
            None,
        ),
        (
            "conformance/test_retention.py::test_default_policy_keeps_claims_after_the_set_is_deleted",
            "Retention",
            "Default: Retain/Retain",
            phases("passed"),
            None,
            None,
        ),
        (
            "conformance/test_dns.py::test_per_pod_record_follows_the_pod_after_reschedule",
            "DNS",
            "Records follow the pod",
            phases("passed"),
            None,
            None,
        ),
    ]
    return [
        results.record(
            test=test,
            title=f"{test.split('::')[1].split('[')[0].replace('_', ' ')} MUST hold",
            labels={"epic": epic, "feature": feature},
            phases=ph,
            started=STARTED + i * 10,
            error=error,
            timeline=timeline,
        )
        for i, (test, epic, feature, ph, timeline, error) in enumerate(rows)
    ]


FIGURES = [
    Figure(
        "conformance/test_storage.py::test_pod_keeps_its_pvc_after_reschedule[delete]", "reattach-after-delete", 2.4
    ),
    Figure("conformance/test_storage.py::test_pod_keeps_its_pvc_after_reschedule[evict]", "reattach-after-evict", 2.8),
    Figure("conformance/test_dns.py::test_per_pod_record_follows_the_pod_after_reschedule", "ready-to-resolvable", 0.6),
    Figure(
        "conformance/test_rolling_update.py::test_rolling_update_replaces_pods_from_the_highest_ordinal",
        "rollout-rolling-update",
        4.2,
    ),
]

STORAGE_CLASS = {
    "metadata": {"name": "ordinal-local", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "ordinal.dev/hostpath",
    "volumeBindingMode": "WaitForFirstConsumer",
    "reclaimPolicy": "Delete",
    "parameters": {"nodePinned": "true"},
}


CSI_STORAGE_CLASS = {
    "metadata": {"name": "ordinal-csi"},
    "provisioner": "csi.ordinal.dev",
    "volumeBindingMode": "WaitForFirstConsumer",
    "reclaimPolicy": "Delete",
    "allowVolumeExpansion": False,
}
CSI_FIGURES = [
    Figure("conformance/test_volumes.py::test_volume_attachment_follows_its_pod[delete]", "attach-after-delete", 0.8),
    Figure("conformance/test_volumes.py::test_volume_attachment_follows_its_pod[delete]", "detach-after-delete", 1.6),
    Figure("conformance/test_volumes.py::test_volume_attachment_follows_its_pod[evict]", "attach-after-evict", 0.9),
    Figure("conformance/test_volumes.py::test_volume_attachment_follows_its_pod[evict]", "detach-after-evict", 1.9),
]


def csi_cluster_info() -> ClusterInfo:
    """The local cluster with the ordinal-csi class: a CSI driver that attaches, zonal, on two real nodes."""
    csi = CsiInfo(
        driver="csi.ordinal.dev",
        evidence="CSIDriver object, CSINode of 2 nodes",
        attach_required=True,
        pod_info_on_mount=True,
        fs_group_policy="File",
        storage_capacity=False,
        topology_keys=("topology.csi.ordinal.dev/zone",),
        nodes=("n1", "n2"),
        version="0.1.0",
        version_source="CSIDriver csi.ordinal.dev label app.kubernetes.io/version",
    )
    storage = StorageInfo(
        "ordinal-csi", "csi.ordinal.dev", "WaitForFirstConsumer", True, "zone", "CSINode topology", csi=csi
    )
    return replace(cluster_info(), storage=storage, volume_attachments=True, volume_attachments_why_not="")


def cluster_info() -> ClusterInfo:
    return ClusterInfo(
        target="local cluster: /tmp/kubeconfig",
        local=True,
        version=(1, 37, 0),
        git_version="v1.37.0",
        gates={"MaxUnavailableStatefulSet": True},
        schedulable_nodes=("n0", "n1", "n2"),
        zones=("zone-a", "zone-b", "zone-c"),
        simulated_nodes=("n0", "n1", "n2"),
        storage=StorageInfo(
            "ordinal-local", "ordinal.dev/hostpath", "WaitForFirstConsumer", True, "node", "parameter nodePinned=true"
        ),
        storage_missing="",
        exec_pods=False,
        exec_why_not="only simulated nodes: containers do not run",
        dns=DnsAccess("direct", where="127.0.0.1:1053"),
    )


def node(name: str, zone: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone, "ordinal.dev/node-kind": "kwok"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.37.0"}},
    }


def write_run(directory: Path, *, with_environment: bool = True, csi: bool = False) -> Path:
    """Write results.jsonl, figures.jsonl, environment.json and session.json as a conformance run would.

    ``csi``: the run was on the ordinal-csi class, with attach and detach figures.
    """
    directory.mkdir(parents=True, exist_ok=True)
    log = results.ResultLog(directory / results.RESULTS_FILE)
    for line in records():
        log.add(line)
    figures = FIGURES + (CSI_FIGURES if csi else [])
    (directory / "figures.jsonl").write_text("".join(json.dumps(f.to_json()) + "\n" for f in figures))
    if with_environment:
        env = {
            "cluster": (csi_cluster_info() if csi else cluster_info()).to_json(),
            "storage_class": environment.storage_class_record(CSI_STORAGE_CLASS if csi else STORAGE_CLASS),
            "nodes": [environment.node_record(node(f"n{i}", z)) for i, z in enumerate(("zone-a", "zone-b", "zone-c"))],
            "errors": [],
        }
        environment.write(directory / environment.ENVIRONMENT_FILE, env)
    environment.write(
        directory / environment.SESSION_FILE, environment.session_record("20261201t0700-abcd", [], [], {})
    )
    (directory / "junit.xml").write_text("<testsuites/>\n")
    (directory / "allure-results").mkdir(exist_ok=True)
    (directory / "allure-results" / "x-result.json").write_text("{}\n")
    return directory


def run_info(**changes: Any) -> model.RunInfo:
    values: dict[str, Any] = {
        "id": "20261201t0700-abcd",
        "profile": "quick",
        "storage_class": "ordinal-local",
        "started": STARTED,
        "finished": STARTED + 300,
        "suite_version": "0.1.0",
        "git_revision": "0123456789abcdef0123456789abcdef01234567",
        "pytest_exit": 1,
    }
    return model.RunInfo(**{**values, **changes})


def sample_report(directory: Path, *, csi: bool = False, **changes: Any) -> dict[str, Any]:
    if csi:
        changes.setdefault("storage_class", "ordinal-csi")
    return model.build(model.load(write_run(directory, csi=csi)), run_info(**changes))
