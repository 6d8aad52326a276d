"""``ordinal rbac``'s table: requests read as RBAC reads them, refusals name the rule, the YAML grants the table."""

from __future__ import annotations

import pytest

from ordinal import cli
from ordinal.kube import permissions
from ordinal.kube.permissions import Call, call_of
from ordinal.kube.rest import Forbidden, _error_from


@pytest.mark.parametrize(
    ("method", "path", "query", "want"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", None, Call("list", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, Call("watch", "", "pods", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods/web-0", None, Call("get", "", "pods", "ns")),
        ("POST", "/api/v1/namespaces/ns/pods/web-0/eviction", None, Call("create", "", "pods/eviction", "ns")),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/statefulsets/web/scale",
            None,
            Call("patch", "apps", "statefulsets/scale", "ns"),
        ),
        ("DELETE", "/api/v1/namespaces/ord-1", None, Call("delete", "", "namespaces", "")),
        ("GET", "/api/v1/namespaces", None, Call("list", "", "namespaces", "")),
        ("PATCH", "/api/v1/nodes/n1", None, Call("patch", "", "nodes", "")),
        ("EXEC", "/api/v1/namespaces/ns/pods/web-0/exec", None, Call("create", "", "pods/exec", "ns")),
        ("GET", "/version", None, None),
    ],
    ids=["list", "watch", "get", "eviction", "scale", "namespace", "namespaces", "node", "exec", "non-resource"],
)
def test_a_request_reads_as_the_call_rbac_authorises(
    method: str, path: str, query: dict[str, str] | None, want: Call | None
) -> None:
    assert call_of(method, path, query) == want


def test_every_call_the_suite_makes_routinely_is_in_the_table() -> None:
    routine = [
        Call("create", "", "namespaces", ""),
        Call("watch", "", "serviceaccounts", "ord-1"),
        Call("create", "apps", "statefulsets", "ord-1"),
        Call("create", "", "pods/portforward", "kube-system"),
    ]
    assert permissions.uncovered(routine) == []
    assert permissions.uncovered([Call("create", "", "pods/portforward", "default")]) == [
        Call("create", "", "pods/portforward", "default")
    ]


def test_a_403_is_one_line_naming_the_verb_resource_namespace_and_rule() -> None:
    body = b'{"reason": "Forbidden", "message": "serviceaccounts is forbidden: User \\"ci\\" cannot list ..."}'
    err = _error_from("GET", "/api/v1/namespaces/ord-1/serviceaccounts", 403, body)
    assert isinstance(err, Forbidden)
    assert str(err) == (
        "forbidden: list serviceaccounts in namespace ord-1 needs the ClusterRole rule "
        'apiGroups [""], resources ["serviceaccounts"], verbs ["list"] (see `ordinal rbac`)'
    )
    assert "optional: without it, tests skip with 'needs: exec into pods'" in permissions.advice(
        "create", "", "pods/exec", "x"
    )


def test_disruptive_rules_come_only_with_disruptive() -> None:
    plain = {(r["resources"][0], v) for r in _rules(disruptive=False) for v in r["verbs"]}
    full = {(r["resources"][0], v) for r in _rules(disruptive=True) for v in r["verbs"]}
    assert ("nodes", "patch") in full - plain and ("nodes", "list") in plain


def _rules(*, disruptive: bool) -> list[dict[str, list[str]]]:
    objects = permissions.manifests(subject={"kind": "User", "name": "ci"}, disruptive=disruptive)
    return [r for o in objects if o["kind"] == "ClusterRole" for r in o["rules"] if "resources" in r]


def test_rbac_prints_a_clusterrole_its_binding_and_the_kube_system_role(capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    assert cli.main(["rbac", "--disruptive", "--service-account", "ci/ordinal"]) == 0
    out = capsys.readouterr().out
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    assert docs[1]["subjects"] == [{"kind": "ServiceAccount", "name": "ordinal", "namespace": "ci"}]
    assert docs[2]["metadata"]["namespace"] == "kube-system" and out.startswith("# Least-privilege RBAC")


def test_rbac_refuses_a_malformed_service_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["rbac", "--service-account", "nobody"]) == 1
    assert "expected --service-account NAMESPACE/NAME, got 'nobody'" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """`ordinal … | head` MUST end quietly (no BrokenPipeError traceback) when the reader leaves."""
    import subprocess
    import sys

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ordinal import cli; import sys; sys.exit(sum(cli.main(['rbac']) for _ in range(200)))",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdout.read(10)
    child.stdout.close()  # the reader leaves, as `head` does
    _, err = child.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()[-500:]


def test_csi_reads_are_optional_rules_that_name_the_skip() -> None:
    """VolumeAttachments, CSIDrivers and CSINodes MUST be readable by the ClusterRole, as optional rules."""
    plain = {
        (r["apiGroups"][0], res, v) for r in _rules(disruptive=False) for res in r["resources"] for v in r["verbs"]
    }
    for resource in ("volumeattachments", "csidrivers", "csinodes"):
        assert {("storage.k8s.io", resource, v) for v in ("get", "list", "watch")} <= plain
    assert permissions.uncovered([Call("watch", "storage.k8s.io", "volumeattachments", "")]) == []
    assert "optional: without it, tests skip with 'needs: VolumeAttachments (CSI attach)'" in permissions.advice(
        "watch", "storage.k8s.io", "volumeattachments", ""
    )
    header = permissions.header("ord", disruptive=False)
    assert "#   volumeattachments get/list/watch: VolumeAttachments (CSI attach)" in header
    assert "#   csidrivers, csinodes get/list/watch:" in header
