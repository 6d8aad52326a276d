from __future__ import annotations

import pytest

from ordinal.errors import InvalidScenario
from ordinal.kube.manifests import (
    DEFAULT_IMAGE,
    DEFAULT_UID,
    READY_FILE,
    headless_service_manifest,
    parse_claim_ordinal,
    parse_ordinal,
    parse_run_as_user,
    pdb_manifest,
    pod_name,
    pvc_name,
    restricted_security,
    run_labels,
    selector_labels,
    statefulset_manifest,
)


@pytest.mark.parametrize(
    ("name", "set_name", "want"),
    [
        ("web-0", "web", 0),
        ("web-1", "web", 1),
        ("web-10", "web", 10),
        ("web-10", "web-1", None),
        ("web-1-0", "web-1", 0),
        ("web-1-0", "web", None),
        ("web-db-0", "web", None),
        ("web-db-0", "web-db", 0),
        ("web-01", "web", None),
        ("web-", "web", None),
        ("web", "web", None),
        ("web--1", "web", None),
        ("web-+1", "web", None),
        ("web-١", "web", None),
        ("xweb-1", "web", None),
    ],
    ids=lambda v: repr(v),
)
def test_parse_ordinal_reads_only_names_the_set_would_use(name: str, set_name: str, want: int | None) -> None:
    """parse_ordinal MUST NOT confuse web-1 with web-10, nor set web with web-db-0."""
    assert parse_ordinal(name, set_name) == want


def test_names_round_trip() -> None:
    """Pod and claim names MUST follow <set>-<ordinal> and <template>-<set>-<ordinal>."""
    assert pod_name("web", 10) == "web-10"
    assert pvc_name("data", "web", 10) == "data-web-10"
    assert parse_ordinal(pod_name("web", 12), "web") == 12
    assert parse_claim_ordinal("data-web-12", "data", "web") == 12
    assert parse_claim_ordinal("data-web-db-1", "data", "web") is None
    assert parse_claim_ordinal("logs-web-1", "data", "web") is None


def test_run_labels_mark_everything_for_cleanup() -> None:
    """Everything ordinal creates MUST carry created-by and run-id labels."""
    assert run_labels("r-123") == {"app.kubernetes.io/created-by": "ordinal", "ordinal/run": "r-123"}
    with pytest.raises(InvalidScenario, match="run id"):
        run_labels("bad id!")


def test_statefulset_manifest_defaults() -> None:
    """The default set MUST be OrderedReady/RollingUpdate, default class, with a readiness-file probe."""
    sts = statefulset_manifest("web", "ns", labels=run_labels("r1"))
    spec = sts["spec"]
    assert sts["metadata"] == {"name": "web", "namespace": "ns", "labels": run_labels("r1")}
    assert spec["replicas"] == 3
    assert spec["serviceName"] == "web"
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["selector"] == {"matchLabels": selector_labels("web")}
    assert spec["template"]["metadata"]["labels"] == {**run_labels("r1"), **selector_labels("web")}
    assert "ordinals" not in spec
    assert "persistentVolumeClaimRetentionPolicy" not in spec
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"] == {"name": "data", "labels": run_labels("r1")}
    assert "storageClassName" not in claim["spec"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Mi"}}
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == DEFAULT_IMAGE
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert container["readinessProbe"]["exec"]["command"] == ["test", "-e", READY_FILE]
    assert f"touch {READY_FILE}" in container["command"][-1]
    assert "trap 'exit 0' TERM" in container["command"][-1]
    assert container["ports"] == [{"name": "peer", "containerPort": 8080, "protocol": "TCP"}]


def test_statefulset_manifest_options() -> None:
    """Every option MUST land in its API field, and only when given."""
    sts = statefulset_manifest(
        "db",
        "ns",
        replicas=5,
        service_name="db-hl",
        image="mirror.local/busybox:1",
        storage_class="fast",
        claim_size="2Mi",
        pod_management="Parallel",
        partition=2,
        max_unavailable="40%",
        min_ready_seconds=3,
        ordinals_start=5,
        retention=("Delete", "Retain"),
        termination_grace=1,
        start_ready=False,
    )
    spec = sts["spec"]
    assert spec["serviceName"] == "db-hl"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 2, "maxUnavailable": "40%"},
    }
    assert spec["minReadySeconds"] == 3
    assert spec["ordinals"] == {"start": 5}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Mi"
    pod_spec = spec["template"]["spec"]
    assert pod_spec["terminationGracePeriodSeconds"] == 1
    assert pod_spec["containers"][0]["image"] == "mirror.local/busybox:1"
    assert "touch" not in pod_spec["containers"][0]["command"][-1]


def test_statefulset_manifest_without_storage_or_probe() -> None:
    """claim_template=None and readiness_file=None MUST drop the volume and the probe."""
    sts = statefulset_manifest("web", "ns", claim_template=None, readiness_file=None, update_strategy="OnDelete")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert "volumeClaimTemplates" not in sts["spec"]
    assert "volumeMounts" not in container
    assert "readinessProbe" not in container
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"replicas": -1}, "replicas >= 0"),
        ({"partition": -1}, "partition >= 0"),
        ({"max_unavailable": 0}, "maxUnavailable >= 1"),
        ({"max_unavailable": "0%"}, "percentage"),
        ({"max_unavailable": "150%"}, "percentage"),
        ({"max_unavailable": "two"}, "percentage"),
        ({"ordinals_start": -2}, "ordinals.start"),
        ({"update_strategy": "OnDelete", "partition": 1}, "need RollingUpdate"),
    ],
    ids=[
        "replicas",
        "partition",
        "max-unavailable-int",
        "zero-percent",
        "over-100",
        "word",
        "start",
        "ondelete",
    ],
)
def test_statefulset_manifest_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    """Invalid scenarios MUST fail before anything touches the cluster."""
    with pytest.raises(InvalidScenario, match=match):
        statefulset_manifest("web", "ns", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "w" * 53, ""])
def test_statefulset_manifest_rejects_bad_names(name: str) -> None:
    """Set names MUST be DNS labels short enough for the revision label."""
    with pytest.raises(InvalidScenario):
        statefulset_manifest(name, "ns")


def test_headless_service_manifest() -> None:
    """The governing Service MUST be headless with named ports."""
    svc = headless_service_manifest("web", "ns", selector_labels("web"), {"peer": 8080, "admin": 9000}, True)
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["selector"] == selector_labels("web")
    assert [p["name"] for p in svc["spec"]["ports"]] == ["peer", "admin"]
    with pytest.raises(InvalidScenario, match="selector"):
        headless_service_manifest("web", "ns", {})


def test_pdb_manifest() -> None:
    """A PDB MUST carry exactly one budget."""
    pdb = pdb_manifest(
        "web", "ns", selector_labels("web"), min_available=2, unhealthy_pod_eviction_policy="AlwaysAllow"
    )
    assert pdb["spec"] == {
        "selector": {"matchLabels": selector_labels("web")},
        "minAvailable": 2,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    with pytest.raises(InvalidScenario, match="exactly one"):
        pdb_manifest("web", "ns", selector_labels("web"))
    with pytest.raises(InvalidScenario, match="exactly one"):
        pdb_manifest("web", "ns", selector_labels("web"), min_available=1, max_unavailable=1)


def test_every_pod_meets_pod_security_restricted() -> None:
    """The suite's pods MUST be admitted under Pod Security "restricted": non-root, seccomp, no capabilities."""
    spec = statefulset_manifest("web", "ns")["spec"]["template"]["spec"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsUser": DEFAULT_UID,
        "runAsGroup": DEFAULT_UID,
        "fsGroup": DEFAULT_UID,
    }
    (container,) = spec["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_a_platform_that_assigns_uids_gets_none_fixed() -> None:
    """With ``platform`` (OpenShift's restricted SCC) the pod MUST ask for non-root without naming a UID."""
    pod_security, _ = restricted_security(parse_run_as_user("platform"))
    assert pod_security == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert parse_run_as_user("1000") == 1000


@pytest.mark.parametrize("text", ["0", "root", "-1", ""])
def test_run_as_user_refuses_root_and_garbage(text: str) -> None:
    with pytest.raises(InvalidScenario, match="expected a non-root UID"):
        parse_run_as_user(text)
