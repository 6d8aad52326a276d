"""Judge against the request: a spec the server stored differently from what was sent MUST be reported.

The stored objects here are what a mutating webhook or policy engine would leave: the manifest
as ordinal's builders make it, then one field rewritten (or added) by someone else.
"""

from __future__ import annotations

import copy

import pytest
from factories import NS, statefulset

from ordinal.checks.request import (
    ABSENT,
    apply_json_patch,
    as_requested,
    check_spec_as_sent,
    differences,
    merge_patch,
)
from ordinal.kube.manifests import statefulset_manifest
from ordinal.types import Obj


def sent() -> Obj:
    return statefulset_manifest("web", NS, replicas=3, partition=1, min_ready_seconds=0, retention=("Delete", "Retain"))


def stored_from(manifest: Obj) -> Obj:
    """What the server hands back for ``manifest``: its fields, plus defaults and status."""
    stored = copy.deepcopy(manifest)
    stored["metadata"].update(uid="uid-sts-web", generation=1, resourceVersion="10")
    spec = stored["spec"]
    spec.pop("minReadySeconds")  # 0 is omitted from the JSON (omitempty)
    spec["revisionHistoryLimit"] = 10
    container = spec["template"]["spec"]["containers"][0]
    container |= {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    container["readinessProbe"]["timeoutSeconds"] = 1
    spec["template"]["spec"] |= {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}
    spec["volumeClaimTemplates"][0] |= {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {}}
    stored["status"] = {"observedGeneration": 1, "replicas": 3}
    return stored


def test_server_defaults_are_not_rewrites() -> None:
    """Fields the request left out (defaults) and zero values the API omits MUST NOT count as rewritten."""
    assert check_spec_as_sent(sent(), stored_from(sent())) == []


@pytest.mark.parametrize(
    ("rewrite", "path", "was", "now"),
    [
        pytest.param(lambda s: s["spec"].update(minReadySeconds=7), "spec.minReadySeconds", 0, 7, id="scalar"),
        pytest.param(
            lambda s: s["spec"].update(podManagementPolicy="Parallel"),
            "spec.podManagementPolicy",
            "OrderedReady",
            "Parallel",
            id="policy",
        ),
        pytest.param(
            lambda s: s["spec"]["updateStrategy"]["rollingUpdate"].update(partition=0),
            "spec.updateStrategy.rollingUpdate.partition",
            1,
            0,
            id="partition",
        ),
        pytest.param(
            lambda s: s["spec"]["template"]["metadata"]["labels"].update(injected="yes"),
            "spec.template.metadata.labels.injected",
            ABSENT,
            "yes",
            id="label-added",
        ),
        pytest.param(
            lambda s: s["spec"]["template"]["spec"]["containers"][0].update(image="evil:1"),
            "spec.template.spec.containers[name=main].image",
            "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
            "evil:1",
            id="image",
        ),
        pytest.param(
            lambda s: s["spec"].pop("persistentVolumeClaimRetentionPolicy"),
            "spec.persistentVolumeClaimRetentionPolicy",
            {"whenDeleted": "Delete", "whenScaled": "Retain"},
            ABSENT,
            id="dropped",
        ),
    ],
)
def test_a_rewritten_field_is_reported_with_what_was_sent_and_what_is_stored(
    rewrite: object, path: str, was: object, now: object
) -> None:
    """A field the server stores differently MUST be an api.spec-rewritten finding naming field, sent, stored."""
    stored = stored_from(sent())
    rewrite(stored)  # type: ignore[operator]
    (finding,) = check_spec_as_sent(sent(), stored)
    assert (finding.rule, finding.subject, finding.path) == ("api.spec-rewritten", f"statefulset {NS}/web", path)
    assert (finding.expected, finding.seen) == (was, now)


def test_an_added_sidecar_is_reported() -> None:
    """A container the request did not have (an injected sidecar) MUST be reported."""
    stored = stored_from(sent())
    stored["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    (finding,) = check_spec_as_sent(sent(), stored)
    assert finding.path == "spec.template.spec.containers[name=sidecar]" and finding.expected == ABSENT


def test_ignored_fields_count_as_the_servers() -> None:
    """Fields another actor may change (replicas scaled by a third-party action) MUST be judged as stored."""
    stored = stored_from(sent())
    stored["spec"]["replicas"] = 1
    assert check_spec_as_sent(sent(), stored, ignore={"replicas"}) == []
    assert as_requested(sent(), stored, ignore={"replicas"})["spec"]["replicas"] == 1
    assert as_requested(sent(), stored)["spec"]["replicas"] == 3


def test_the_judged_set_carries_the_request_and_the_servers_status() -> None:
    """Checks MUST see the spec that was sent, with the server's identity and status."""
    stored = stored_from(sent())
    stored["spec"]["minReadySeconds"] = 30
    view = as_requested(sent(), stored)
    assert view["spec"]["minReadySeconds"] == 0 and view["spec"]["revisionHistoryLimit"] == 10
    assert view["metadata"]["uid"] == "uid-sts-web" and view["status"] == stored["status"]


def test_patches_sent_become_the_request() -> None:
    """A merge patch (null removes) and a JSON patch MUST change what the set is judged against."""
    start = statefulset_manifest("web", NS, ordinals_start=3)
    patch = {"spec": {"ordinals": None, "minReadySeconds": 3600}}
    assert "ordinals" not in merge_patch(start, patch)["spec"]
    moved = merge_patch(start, patch, keep_nulls=True)  # the request remembers it asked for removal
    assert moved["spec"]["ordinals"] is None and moved["spec"]["minReadySeconds"] == 3600
    assert start["spec"]["ordinals"] == {"start": 3}  # the original is left as it was
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}
    replaced = apply_json_patch(start, [{"op": "replace", "path": "/spec/template", "value": template}])
    assert replaced["spec"]["template"] == template
    stored = stored_from(statefulset_manifest("web", NS, ordinals_start=3))
    assert sorted(d[:2] for d in differences(moved["spec"], stored["spec"])) == [
        ("spec.minReadySeconds", 3600),
        ("spec.ordinals", ABSENT),
    ]
    assert "ordinals" not in as_requested(moved, stored)["spec"]


def test_factory_sets_judge_clean_against_their_manifest() -> None:
    """The unit tests' own server-shaped sets MUST be what their manifest asked for."""
    sts = statefulset(partition=2)
    manifest = statefulset_manifest("web", NS, partition=2)
    assert check_spec_as_sent(manifest, sts) == []
