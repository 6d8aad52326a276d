"""The shared fake API behaves like the server where the unit tests lean on it."""

from __future__ import annotations

import json

import pytest
from factories import NS, node, pod, pods, service, statefulset
from fakes import FakeKube

from ordinal.errors import TransientApiError
from ordinal.kube.rest import NODES, PODS, SERVICES, STATEFULSETS, ApiError, Gone
from ordinal.labels import POD_NAME_LABEL
from ordinal.types import Obj


def names(items: list[Obj]) -> list[str]:
    return [i["metadata"]["name"] for i in items]


def test_get_answers_copies_and_a_404_like_the_server() -> None:
    kube = FakeKube(statefulset())
    sts = kube.get(STATEFULSETS, "web", NS)
    sts["spec"]["replicas"] = 9
    assert kube.get(STATEFULSETS, "web", NS)["spec"]["replicas"] == 3
    with pytest.raises(ApiError) as err:
        kube.get(STATEFULSETS, "db", NS)
    assert (err.value.status, err.value.reason, err.value.path) == (
        404,
        "NotFound",
        f"/apis/apps/v1/namespaces/{NS}/statefulsets/db",
    )
    assert kube.get_or_none(STATEFULSETS, "db", NS) is None
    assert kube.get_or_none(STATEFULSETS, "web", "elsewhere") is None


def test_list_filters_by_namespace_and_selectors_in_name_order() -> None:
    elsewhere = pod(0, namespace="default")
    kube = FakeKube(*reversed(pods(3)), elsewhere, pod(0, "db", node="node-2"), node("n1"), revision=41)
    items, version = kube.list(PODS, NS)
    assert names(items) == ["db-0", "web-0", "web-1", "web-2"] and version == "41"
    assert names(kube.list(PODS)[0]) == ["web-0", "db-0", "web-0", "web-1", "web-2"]  # all namespaces: by (ns, name)
    assert names(kube.list(PODS, NS, label_selector=f"app.kubernetes.io/name=web,{POD_NAME_LABEL}=web-1")[0]) == [
        "web-1"
    ]
    assert names(kube.list(PODS, NS, field_selector="spec.nodeName=node-2")[0]) == ["db-0"]
    assert names(kube.list(PODS, NS, field_selector="metadata.name==web-2")[0]) == ["web-2"]
    assert names(kube.list(NODES, NS)[0]) == ["n1"]  # a namespace means nothing to cluster-scoped kinds
    assert all(i["kind"] == "Pod" and i["apiVersion"] == "v1" for i in items)


@pytest.mark.parametrize(
    ("labels", "fields"), [("app!=web", ""), ("app in (web)", ""), ("app", ""), ("", "status.phase=Running")]
)
def test_selectors_the_fake_cannot_judge_are_refused_not_ignored(labels: str, fields: str) -> None:
    with pytest.raises((NotImplementedError, KeyError)):
        FakeKube(pod(0)).list(PODS, NS, label_selector=labels, field_selector=fields)


def test_create_stores_with_uid_and_version_and_refuses_a_second() -> None:
    kube = FakeKube(revision=7)
    made = kube.create(SERVICES, {"metadata": {"name": "web"}, "spec": {}}, NS)
    assert made["metadata"] == {"name": "web", "namespace": NS, "uid": "uid-service-web", "resourceVersion": "8"}
    assert kube.get(SERVICES, "web", NS) == made and kube.list(SERVICES)[1] == "8"
    with pytest.raises(ApiError, match="409 AlreadyExists"):
        kube.create_object(service())
    kube.create(STATEFULSETS, statefulset("db"), NS, dry_run=True)
    assert kube.get_or_none(STATEFULSETS, "db", NS) is None
    kept = kube.create_object(statefulset("db"))
    assert kept["metadata"]["uid"] == "uid-sts-db" and kept["metadata"]["resourceVersion"] == "1000"


def test_patch_is_a_json_merge_patch() -> None:
    kube = FakeKube(statefulset())
    body = {
        "metadata": {"labels": {"extra": "yes", "app.kubernetes.io/name": None}},
        "spec": {"replicas": 5, "updateStrategy": None},
    }
    patched = kube.patch(STATEFULSETS, "web", body, NS)
    assert patched == kube.get(STATEFULSETS, "web", NS)
    assert patched["metadata"]["labels"]["extra"] == "yes"
    assert "app.kubernetes.io/name" not in patched["metadata"]["labels"]
    assert patched["spec"]["replicas"] == 5 and "updateStrategy" not in patched["spec"]
    assert patched["spec"]["selector"] == statefulset()["spec"]["selector"]  # untouched keys stay
    volumes = [{"name": "only"}]
    again = kube.patch(STATEFULSETS, "web", {"spec": {"template": {"spec": {"volumes": volumes}}}}, NS)
    assert again["spec"]["template"]["spec"]["volumes"] == volumes  # lists are replaced whole
    assert int(again["metadata"]["resourceVersion"]) > int(patched["metadata"]["resourceVersion"])
    with pytest.raises(ApiError, match="404"):
        kube.patch(STATEFULSETS, "db", {}, NS)
    with pytest.raises(NotImplementedError):
        kube.patch(STATEFULSETS, "web", [{"op": "remove", "path": "/spec"}], NS, patch_type="json")  # type: ignore[arg-type]


def test_delete_and_evict_remove_and_write_down_the_options() -> None:
    kube = FakeKube(*pods(2))
    gone = kube.delete(PODS, "web-0", NS, grace_seconds=0, uid="uid-web-0-a")
    assert gone is not None and gone["metadata"]["name"] == "web-0"
    assert kube.delete(PODS, "web-0", NS) is None
    with pytest.raises(ApiError, match="404"):
        kube.delete(PODS, "web-0", NS, missing_ok=False)
    assert kube.deleted[0] == ("Pod", "web-0", {"grace_seconds": 0, "uid": "uid-web-0-a"})
    assert kube.evict("web-1", NS)["status"] == "Success"
    assert kube.list(PODS, NS)[0] == []
    with pytest.raises(ApiError, match="404"):
        kube.evict("web-1", NS)


def test_requests_are_counted_by_verb_as_the_real_client_counts_them() -> None:
    kube = FakeKube(statefulset(), batches=[[]])
    kube.get(STATEFULSETS, "web", NS)
    kube.list(PODS, NS)
    list(kube.watch(PODS, NS, resource_version="1", timeout_seconds=5))
    kube.raw_get("/version")
    kube.create_object(pod(0))
    kube.evict("web-0", NS)
    kube.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, NS)
    kube.delete(STATEFULSETS, "web", NS)
    assert kube.requests == {"GET": 4, "POST": 2, "PATCH": 1, "DELETE": 1}
    assert kube.calls["list"] == 1 and kube.calls["watch"] == 1


def test_raw_get_serves_the_configured_version() -> None:
    kube = FakeKube(git_version="v1.31.3")
    assert json.loads(kube.raw_get("/version")) == {"major": "1", "minor": "31", "gitVersion": "v1.31.3"}
    with pytest.raises(ApiError, match="404"):
        kube.raw_get("/metrics")


def test_watch_serves_one_scripted_batch_per_request_into_the_store() -> None:
    ready, unready = pod(0), pod(0, ready=False)
    kube = FakeKube(
        unready,
        pod(1),
        batches=[[("MODIFIED", ready), ("DELETED", pod(1))], Gone("too old"), TransientApiError("reset")],
    )
    events = list(kube.watch(PODS, NS, resource_version="5", timeout_seconds=10))
    assert events == [("MODIFIED", ready), ("DELETED", pod(1))]
    assert kube.get(PODS, "web-0", NS) == ready and kube.get_or_none(PODS, "web-1", NS) is None
    with pytest.raises(Gone):
        list(kube.watch(PODS, NS, resource_version="6", timeout_seconds=10))
    with pytest.raises(TransientApiError):
        list(kube.watch(PODS, NS, resource_version="6", timeout_seconds=10))
    assert list(kube.watch(PODS, NS, resource_version="7", timeout_seconds=10)) == []  # the script has run out
    assert kube.watches == ["5", "6", "6", "7"] and kube.clock() == 4.0


def test_the_fake_is_a_context_manager_that_closes() -> None:
    with FakeKube() as kube:
        assert not kube.closed
    assert kube.closed
