"""Pure parts of the launcher: certificates, process records, ports, cache keys, the CLI's errors."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ordinal import cli
from ordinal.errors import ClusterError, InvalidScenario
from ordinal.localcluster import build, cluster, pki, process
from ordinal.localcluster.nodes import zone_name
from ordinal.localcluster.versions import Versions


def test_pki_signs_every_identity_with_one_ca(tmp_path: Path) -> None:
    pki.make_pki(tmp_path, apiserver_ips=("127.0.0.1",), apiserver_url="https://127.0.0.1:6443")
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    serving = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes())
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    for ident in pki.IDENTITIES:
        cert = x509.load_pem_x509_certificate((tmp_path / f"{ident.name}.crt").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ident.user
        orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        assert orgs == list(ident.groups)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
        config = yaml.safe_load((tmp_path / f"{ident.name}.kubeconfig").read_text())
        assert config["current-context"] == pki.CONTEXT
        assert (tmp_path / f"{ident.name}.key").stat().st_mode & 0o077 == 0


def test_spawned_process_is_recorded_and_stopped_by_pid(tmp_path: Path) -> None:
    record = process.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], state=tmp_path)
    assert record.alive()
    assert [r.pid for r in process.records(tmp_path)] == [record.pid]
    assert process.stop(record, grace=5)
    assert not record.alive()
    assert not process.stop(record)  # idempotent


def test_a_record_whose_pid_was_reused_is_never_signalled(tmp_path: Path) -> None:
    record = process.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], state=tmp_path)
    stale = process.ProcessRecord(record.name, record.pid, record.start_ticks + 1, record.argv, record.log)
    assert not stale.alive()
    assert not process.stop(stale)
    assert record.alive()
    process.stop(record)


def test_port_owner_names_the_listening_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not process.port_free("127.0.0.1", port)
        assert process.port_owner(port).startswith("pid ")


def test_cache_key_changes_with_the_module_and_the_go_version(tmp_path: Path) -> None:
    module = tmp_path / "kube"
    module.mkdir()
    (module / "go.mod").write_text("module x\n")
    art = build.Artifact("kube", ("kube",), "kube", ".")
    key = build.cache_key(art, tmp_path, "go1.26.8")
    assert build.cache_key(art, tmp_path, "go1.26.9") != key
    (module / "main.go").write_text("package main\n")
    assert build.cache_key(art, tmp_path, "go1.26.8") != key


def test_kube_binary_is_version_stamped_for_both_version_packages() -> None:
    v = Versions("1.26", "v1.37.2", "v3.6.16", "v1.15.0", "v0.8.0", "lib@v1")
    kube = next(a for a in build.artifacts(v) if a.name == "kube")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.37.2" in kube.ldflags
        assert f"-X {pkg}.gitMinor=37" in kube.ldflags
    assert v.staging == "v0.37.2"
    assert "kubectl" in kube.aliases and "kube-apiserver" in kube.aliases


def test_an_older_release_builds_from_its_own_module_and_reports_its_version() -> None:
    """--kubernetes v1.33 MUST pick the pinned v1.33.x, build it from cluster/kube-v1.33, stamp it v1.33.x."""
    v = Versions("1.26", "v1.37.2", "v3.6.16", "v1.15.0", "v0.8.0", "lib@v1", kubernetes_older=("v1.33.13",))
    assert v.release(None) == "v1.37.2" and v.release("v1.33") == v.release("1.33") == "v1.33.13"
    old = next(a for a in build.artifacts(v, "v1.33.13") if a.name.startswith("kube"))
    assert (old.name, old.module_dir) == ("kube-v1.33", "kube-v1.33")
    assert "-X k8s.io/component-base/version.gitVersion=v1.33.13" in old.ldflags
    with pytest.raises(InvalidScenario, match=r"expected --kubernetes one of v1\.37, v1\.33 .*got 'v1\.20'"):
        v.release("v1.20")


def test_the_pinned_older_releases_have_their_wrapper_modules() -> None:
    from ordinal.localcluster import paths
    from ordinal.localcluster.versions import kube_module, load

    v = load(paths.source_dir())
    for release in v.kubernetes_older:
        module = paths.source_dir() / kube_module(release, v.kubernetes)
        assert (module / "go.mod").is_file() and (module / "release.go").is_file()
        assert (module / "main.go").resolve() == (paths.source_dir() / "kube" / "main.go").resolve()


def test_missing_go_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClusterError, match=r"expected a Go toolchain >= go1\.26 on PATH"):
        build.go_version()


def test_zones_are_assigned_round_robin() -> None:
    assert [zone_name(i, 3) for i in range(5)] == ["zone-a", "zone-b", "zone-c", "zone-a", "zone-b"]


@pytest.mark.parametrize(
    "argv",
    [
        ["cluster", "up", "--bogus"],
        ["cluster", "up", "--nodes", "many"],
        ["cluster"],
        ["frobnicate"],
        ["cluster", "node", "pause", "ordinal-node-1"],
        ["cluster", "node", "stop"],
    ],
)
def test_cli_rejects_bad_input_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "(expected ordinal" in err


def test_cli_down_with_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDINAL_CLUSTER_DIR", str(tmp_path / "none"))
    assert cli.main(["cluster", "down"]) == 0
    assert "nothing to stop" in capsys.readouterr().out


@pytest.mark.parametrize("power", ["stop", "start"])
def test_cli_node_stop_without_a_cluster_is_one_line(
    power: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopping or starting a node with no cluster running MUST fail in one line and create nothing."""
    monkeypatch.setenv("ORDINAL_CLUSTER_DIR", str(tmp_path / "none"))
    assert cli.main(["cluster", "node", power, "ordinal-node-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"ordinal: expected a running local cluster, found none (state {tmp_path / 'none'}); run `ordinal cluster up`"
    ]
    assert not (tmp_path / "none").exists()


def test_node_commands_name_the_cluster_and_the_executable_and_survive_the_shell() -> None:
    """The exported commands MUST be self-contained (state dir, executable) and keep ``{node}`` for the suite."""
    stop, start = cluster.node_commands(Path("/tmp/a dir/cluster"), "/venv/bin/ordinal")
    assert shlex.split(stop) == [
        "env",
        "ORDINAL_CLUSTER_DIR=/tmp/a dir/cluster",
        "/venv/bin/ordinal",
        "cluster",
        "node",
        "stop",
        "{node}",
    ]
    assert shlex.split(start)[-2:] == ["start", "{node}"]
    exported = subprocess.run(
        ["sh", "-c", f'export X={shlex.quote(stop)}; printf %s "$X"'], capture_output=True, text=True, check=True
    )
    assert exported.stdout == stop


def test_clusters_get_three_real_nodes_of_five_unless_told_otherwise() -> None:
    """Three real nodes by default (data, exec, in-pod DNS and the drain's data checked), never more than --nodes."""
    from ordinal.localcluster.cluster import DEFAULT_NODES, default_real_nodes

    assert (DEFAULT_NODES, default_real_nodes({})) == (5, 3)
    assert default_real_nodes({}, nodes=2) == 2
    assert default_real_nodes({"ORDINAL_REAL_NODES": "0"}) == 0
    assert default_real_nodes({"ORDINAL_REAL_NODES": " 2 "}) == 2
    with pytest.raises(InvalidScenario, match=r"expected ORDINAL_REAL_NODES to be a whole number >= 0, got 'many'"):
        default_real_nodes({"ORDINAL_REAL_NODES": "many"})


def test_pod_security_is_enforced_in_every_namespace_by_default() -> None:
    """--pod-security restricted MUST enforce (and audit and warn) the level everywhere, exempting nothing."""
    import yaml

    from ordinal.localcluster.components import admission_config

    config = yaml.safe_load(admission_config("restricted"))
    (plugin,) = config["plugins"]
    assert plugin["name"] == "PodSecurity"
    defaults = plugin["configuration"]["defaults"]
    assert {defaults[m] for m in ("enforce", "audit", "warn")} == {"restricted"}
    assert plugin["configuration"]["exemptions"] == {"usernames": [], "runtimeClasses": [], "namespaces": []}


def test_the_cluster_domain_reaches_coredns_and_the_token_issuer(tmp_path: Path) -> None:
    from ordinal.localcluster.components import corefile
    from ordinal.localcluster.context import Context

    ctx = Context(
        state=tmp_path, bins={"kube-apiserver": Path("/x"), "coredns": Path("/y")}, cluster_domain="corp.test"
    )
    assert "corp.test:1053" in corefile(ctx) and "kubernetes corp.test in-addr.arpa" in corefile(ctx)
    assert ctx.issuer == "https://kubernetes.default.svc.corp.test"


def test_simulated_pods_terminate_like_a_kubelet_shows_it() -> None:
    """A deleting simulated pod MUST turn not Ready at once, be removed only after min(grace, cap) and only
    without finalizers: a pod a finalizer holds stays Terminating and not Ready."""
    from ordinal.localcluster.nodes import kwok_stages

    by_name = {s["metadata"]["name"]: s["spec"] for s in kwok_stages.stages() if s["kind"] == "Stage"}
    terminating, delete = by_name["ordinal-pod-terminating"], by_name["ordinal-pod-delete"]
    assert {"key": ".metadata.deletionTimestamp", "operator": "Exists"} in terminating["selector"]["matchExpressions"]
    assert 'type: Ready, status: "False"' in terminating["next"]["statusTemplate"]
    assert "podIP" not in terminating["next"]["statusTemplate"]
    keys = {e["key"]: e["operator"] for e in delete["selector"]["matchExpressions"]}
    assert keys[".metadata.finalizers"] == "DoesNotExist" and delete["next"] == {"delete": True}
    # kwok deletes by name: a stage played for a pod already at grace 0 could remove its successor.
    assert keys["(.metadata.deletionGracePeriodSeconds // 0) > 0"] == "In"
    grace = delete["delay"]["durationFrom"]["expressionFrom"]
    assert "deletionGracePeriodSeconds" in grace and f"{kwok_stages.TERMINATION_CAP_SECONDS}] | min" in grace
    for name, spec in by_name.items():
        if name in ("ordinal-pod-ready", "ordinal-pod-unready"):
            assert {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"} in spec["selector"][
                "matchExpressions"
            ]
