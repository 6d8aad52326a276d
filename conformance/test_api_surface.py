"""API surface: the scale and status subresources, label-selected collections, and the fields that may
(and may not) change on a live StatefulSet."""

from __future__ import annotations

import time

import pytest

from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.kube import objects as o
from ordinal.kube.manifests import pvc_template
from ordinal.kube.rest import STATEFULSETS, ApiError, Kube
from ordinal.observe.recorder import Recorder
from ordinal.types import Obj

pytestmark = pytest.mark.promise("API surface")

#: Field → a merge patch that changes it. Only these may change on a live set (catalog §2.5).
MUTABLE: dict[str, Obj] = {
    "replicas": {"spec": {"replicas": 4}},
    "template": {"spec": {"template": {"metadata": {"annotations": {"ordinal.dev/template": "v9"}}}}},
    "updateStrategy": {"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": None}}},
    "revisionHistoryLimit": {"spec": {"revisionHistoryLimit": 3}},
    "persistentVolumeClaimRetentionPolicy": {
        "spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"}}
    },
    "minReadySeconds": {"spec": {"minReadySeconds": 5}},
    "ordinals": {"spec": {"ordinals": {"start": 1}}},
}
IMMUTABLE: dict[str, Obj] = {
    "serviceName": {"spec": {"serviceName": "another"}},
    "podManagementPolicy": {"spec": {"podManagementPolicy": "Parallel"}},
    "volumeClaimTemplates": {"spec": {"volumeClaimTemplates": [pvc_template("other")]}},
    "selector": {"spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "web", "extra": "x"}}}},
}


def _dry_run_patch(kube: Kube, namespace: str, name: str, body: Obj) -> Obj:
    """A merge patch with ``dryRun=All``: judged by the server, stored nowhere."""
    result: Obj = kube.request(
        "PATCH",
        STATEFULSETS.path(namespace, name),
        query={"dryRun": "All"},
        body=body,
        content_type="application/merge-patch+json",
    )
    return result


@pytest.mark.promise(feature="Scale subresource")
def test_scale_subresource_reads_and_writes_replicas(workload: Workload, recorder: Recorder) -> None:
    """GET, PUT and PATCH of statefulsets/<name>/scale MUST read and write spec.replicas."""
    with step("Create the set with 1 replica and wait until Ready"):
        workload.deploy(replicas=1)
    with step("GET /scale: it must report 1 replica"):
        scale = workload.kube.get(STATEFULSETS, f"{workload.name}/scale", workload.namespace)
        assert (scale.get("kind"), o.spec(scale).get("replicas")) == ("Scale", 1), scale
    with step("PUT /scale with 2 replicas: the set's spec.replicas must follow"):
        scale["spec"]["replicas"] = 2
        workload.record_sent({"spec": {"replicas": 2}})
        workload.kube.replace(STATEFULSETS, scale, workload.namespace, sub="scale")
        assert o.spec(workload.sts()).get("replicas") == 2
    with step("PATCH /scale to 3 replicas and wait until 3 are Ready"):
        workload.record_sent({"spec": {"replicas": 3}})
        workload.kube.patch(STATEFULSETS, workload.name, {"spec": {"replicas": 3}}, workload.namespace, sub="scale")
        workload.wait_ready(3)
        scale = workload.kube.get(STATEFULSETS, f"{workload.name}/scale", workload.namespace)
        assert (o.spec(scale).get("replicas"), o.status(scale).get("replicas")) == (3, 3), scale


@pytest.mark.promise(feature="Status subresource")
def test_status_subresource_takes_status_writes_and_the_main_endpoint_ignores_them(
    workload: Workload, recorder: Recorder
) -> None:
    """Writes to /status MUST change status; status in a write to the main endpoint MUST be ignored."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    condition = {"type": "OrdinalProbe", "status": "True", "reason": "Test", "message": "set via /status"}
    with step("Create the set and wait until Ready"):
        workload.deploy(replicas=1)
    with step("GET /status"):
        status = workload.kube.get(STATEFULSETS, f"{workload.name}/status", workload.namespace)
        assert o.status(status).get("replicas") == 1, o.status(status)
    with step("Merge-patch a condition through /status: the answer must carry it"):
        body = {"status": {"conditions": [{**condition, "lastTransitionTime": now}]}}
        written = workload.kube.patch(STATEFULSETS, workload.name, body, workload.namespace, sub="status")
        assert o.condition(written, "OrdinalProbe") is not None, o.status(written)
    with step("Patch status.conditions through the main endpoint: the answer must not carry it"):
        body = {"status": {"conditions": [{**condition, "type": "OrdinalMain", "lastTransitionTime": now}]}}
        written = workload.kube.patch(STATEFULSETS, workload.name, body, workload.namespace)
        assert o.condition(written, "OrdinalMain") is None, o.status(written)


@pytest.mark.promise(feature="Collections")
def test_sets_are_listed_patched_and_deleted_as_a_collection_by_label(workload: Workload, recorder: Recorder) -> None:
    """A label selector MUST find the set across namespaces, and DeleteCollection by label MUST remove it."""
    selector = f"ordinal.dev/collection={workload.namespace}"
    with step("Create the set carrying a label unique to this test"):
        manifest = workload.manifest(replicas=1)
        manifest["metadata"].setdefault("labels", {})["ordinal.dev/collection"] = workload.namespace
        workload.deploy(manifest=manifest)
    with step("List StatefulSets in all namespaces by that label: exactly this one"):
        found, _ = workload.kube.list(STATEFULSETS, label_selector=selector)
        assert [o.ref(s) for s in found] == [f"{workload.namespace}/{workload.name}"], [o.ref(s) for s in found]
    with step("Patch a label on it and find it by the new label"):
        workload.patch({"metadata": {"labels": {"ordinal.dev/patched": "yes"}}})
        found, _ = workload.kube.list(STATEFULSETS, workload.namespace, label_selector="ordinal.dev/patched=yes")
        assert [o.name(s) for s in found] == [workload.name]
    with step("DeleteCollection by the label, then list again: none"):
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        workload.kube.request(
            "DELETE", STATEFULSETS.path(workload.namespace), query={"labelSelector": selector}, body=body
        )
        workload.wait_deleted()
        found, _ = workload.kube.list(STATEFULSETS, label_selector=selector)
        assert found == [], [o.ref(s) for s in found]


@pytest.mark.promise(feature="Field mutability")
def test_immutable_fields_are_rejected_with_422(workload: Workload, recorder: Recorder) -> None:
    """Changing selector, serviceName, volumeClaimTemplates or podManagementPolicy MUST be refused with 422."""
    with step("Create the set and wait until Ready"):
        workload.deploy(replicas=1)
    outcomes: dict[str, str] = {}
    for field, body in IMMUTABLE.items():
        with step(f"Try to change {field} (dry run)"):
            try:
                _dry_run_patch(workload.kube, workload.namespace, workload.name, body)
                outcomes[field] = "accepted"
            except ApiError as err:
                outcomes[field] = "422" if err.status == 422 else f"HTTP {err.status} {err.reason}: {err.message}"
    wrong = {field: seen for field, seen in outcomes.items() if seen != "422"}
    assert not wrong, f"expected 422 for every immutable field, saw {wrong}"


@pytest.mark.promise(feature="Field mutability")
def test_mutable_fields_are_accepted(workload: Workload, recorder: Recorder) -> None:
    """Changes to every field the API lists as mutable MUST be accepted.

    Those are replicas, template, updateStrategy, revisionHistoryLimit,
    persistentVolumeClaimRetentionPolicy, minReadySeconds and ordinals.
    """
    with step("Create the set and wait until Ready"):
        workload.deploy(replicas=1)
    refused: dict[str, str] = {}
    for field, body in MUTABLE.items():
        with step(f"Change {field} (dry run)"):
            try:
                _dry_run_patch(workload.kube, workload.namespace, workload.name, body)
            except ApiError as err:
                refused[field] = f"HTTP {err.status} {err.reason}: {err.message}"
    assert not refused, f"expected every mutable field to be accepted, refused: {refused}"
