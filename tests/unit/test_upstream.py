"""Pure parts of the upstream e2e cross-check and of `cluster up --feature-gates`."""

from __future__ import annotations

import re
import sys
import tarfile
from pathlib import Path

import pytest

from ordinal import cli
from ordinal.errors import ClusterError, InvalidScenario
from ordinal.localcluster import build, images, upstream
from ordinal.localcluster.context import Context, feature_gates_flag, parse_feature_gates
from ordinal.localcluster.versions import Versions

LISTING = """\
registry.k8s.io/e2e-test-images/agnhost:2.66.1
registry.k8s.io/e2e-test-images/agnhost:2.55
gcr.io/k8s-authenticated-test/agnhost:2.6
registry.k8s.io/e2e-test-images/busybox:1.37.0-2
registry.k8s.io/e2e-test-images/busybox:1.36.1-1
registry.k8s.io/pause:3.10.2
registry.k8s.io/e2e-test-images/httpd:2.4.39-4
"""

SPECS = [
    "[sig-apps] StatefulSet Basic StatefulSet functionality [StatefulSetBasic] should provide basic identity",
    "[sig-apps] StatefulSet StatefulSet Recreate Update Strategy should recreate all pods when the update strategy "
    "is Recreate [FeatureGate:StatefulSetRecreateStrategy] [Alpha]",
    "[sig-apps] StatefulSet Basic StatefulSet functionality [StatefulSetBasic] should perform rolling updates with "
    "maxUnavailable [FeatureGate:MaxUnavailableStatefulSet] [Beta]",
    "[sig-apps] StatefulSet Deploy clustered applications [Feature:StatefulSet] [Slow] should creating a working "
    "CockroachDB cluster",
    "[sig-storage] CSI Volumes ... StatefulSet",
]


def test_feature_gates_parse_as_the_components_spell_them() -> None:
    assert parse_feature_gates("StatefulSetRecreateStrategy=true, MaxUnavailableStatefulSet=False") == {
        "StatefulSetRecreateStrategy": True,
        "MaxUnavailableStatefulSet": False,
    }
    assert parse_feature_gates("") == {}
    assert feature_gates_flag({"B": False, "A": True}) == ["--feature-gates=A=true,B=false"]
    assert feature_gates_flag({}) == []


@pytest.mark.parametrize("raw", ["Foo", "Foo=yes", "foo=true", "=true", "A=true,B"])
def test_a_malformed_feature_gate_is_one_line_naming_it(raw: str) -> None:
    with pytest.raises(InvalidScenario, match=r"expected --feature-gates as Name=true\|false"):
        parse_feature_gates(raw)


def test_cli_up_rejects_a_malformed_gate_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cluster", "up", "--feature-gates", "Recreate=on"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'Recreate=on'" in err


def test_feature_gates_reach_the_control_plane_and_every_kubelet(tmp_path: Path) -> None:
    from ordinal.localcluster import components, pki
    from ordinal.localcluster.network import ClusterNet
    from ordinal.localcluster.nodeconfig import NodeLayout, kubelet_config

    gates = {"StatefulSetRecreateStrategy": True}
    bins = {n: Path("/x") for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")}
    ctx = Context(state=tmp_path, bins=bins, feature_gates=gates)
    pki.make_pki(ctx.pki, apiserver_ips=("127.0.0.1",), apiserver_url=ctx.apiserver_url)
    for make in (components.apiserver, components.controller_manager, components.scheduler):
        assert "--feature-gates=StatefulSetRecreateStrategy=true" in make(ctx).argv
    plain = Context(state=tmp_path, bins=bins)
    assert not any(a.startswith("--feature-gates") for a in components.apiserver(plain).argv)
    node = NodeLayout(tmp_path, "n1", 1, ClusterNet(0))
    config = kubelet_config(node, ca=tmp_path, cgroup_root="/x", cluster_dns="10.0.0.1", cluster_domain="c.l")
    assert "featureGates" not in config
    config = kubelet_config(
        node, ca=tmp_path, cgroup_root="/x", cluster_dns="10.0.0.1", cluster_domain="c.l", feature_gates=gates
    )
    assert config["featureGates"] == gates


def test_e2e_binary_is_upstreams_test_package_built_like_the_cluster() -> None:
    v = Versions("1.26", "v1.37.2", "v3.6.16", "v1.15.0", "v0.8.0", "lib@v1")
    e2e, agnhost = upstream.artifacts(v)
    assert (e2e.test, e2e.package, e2e.module_dir) == (True, "k8s.io/kubernetes/test/e2e", "e2e")
    assert "gitVersion=v1.37.2" in e2e.ldflags
    assert (agnhost.test, agnhost.package) == (False, "k8s.io/kubernetes/test/images/agnhost")
    assert build.cache_key(e2e, Path("/nonexistent"), "go1.26") != build.cache_key(agnhost, Path("/x"), "go1.26")


def test_images_are_the_ones_the_binary_lists_under_upstream_names() -> None:
    wanted = upstream.pick_images(LISTING)
    assert wanted.agnhost == (
        "registry.k8s.io/e2e-test-images/agnhost:2.55",
        "registry.k8s.io/e2e-test-images/agnhost:2.66.1",
    )
    assert wanted.busybox == (
        "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
        "registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
    )
    assert wanted.pause == "registry.k8s.io/pause:3.10.2"
    assert upstream.archive_name(wanted.agnhost[0]) == "agnhost-2.55.oci.tar"


def test_a_listing_without_the_images_is_one_clear_error() -> None:
    with pytest.raises(ClusterError, match=r"expected e2e\.test --list-images to name"):
        upstream.pick_images("registry.k8s.io/pause:3.10.2\n")


def test_agnhost_image_serves_the_probe_path_and_has_a_shell(tmp_path: Path) -> None:
    if not images.is_static_elf(images.BUSYBOX):
        pytest.skip("needs: a static busybox at /bin/busybox (Debian busybox-static)")
    (tmp_path / "porter").mkdir()
    for name in ("localhost.crt", "localhost.key"):
        (tmp_path / "porter" / name).write_text(name)
    binary = tmp_path / "agnhost"
    binary.write_bytes(b"\x7fELF")
    image = upstream.agnhost_image("registry.k8s.io/e2e-test-images/agnhost:2.55", binary, tmp_path)
    archive = images.write_archive(image, tmp_path / "a.oci.tar")
    with tarfile.open(archive.path) as tar:
        assert "index.json" in tar.getnames()
    paths = {e.path for e in image.entries}
    assert {"agnhost", "agnhost-2", "localhost.crt", "bin/sh", "bin/mv", "bin/dd", "tmp"} <= paths
    assert image.config["Entrypoint"] == ["/agnhost"] and image.config["Cmd"] == ["pause"]


def test_specs_are_focused_and_the_alpha_gates_they_name_are_turned_on() -> None:
    names = upstream.focused(upstream.spec_names("\n".join(SPECS)))
    assert len(names) == 4 and not any("sig-storage" in n for n in names)
    assert upstream.gates_named(names) == {"StatefulSetRecreateStrategy": True}  # a Beta gate is on by default
    listed = upstream.spec_names("test/e2e/apps/statefulset.go:140: " + SPECS[0])
    assert listed == [SPECS[0]]


def test_unsupported_specs_are_skipped_with_their_reason() -> None:
    assert upstream.cannot(SPECS[3]) is not None and "registry" in str(upstream.cannot(SPECS[3]))
    assert upstream.cannot(SPECS[0]) is None
    escaped = upstream.go_regex_escape(SPECS[1])
    assert re.fullmatch(escaped, SPECS[1])  # RE2 and Python agree on these escapes


def _spec(text: str, state: str, seconds: float, message: str = "") -> dict[str, object]:
    return {
        "ContainerHierarchyTexts": ["[sig-apps] StatefulSet", "Basic StatefulSet functionality [StatefulSetBasic]"],
        "LeafNodeText": text,
        "LeafNodeType": "It",
        "State": state,
        "RunTime": int(seconds * 1e9),
        "Failure": {"Message": message} if message else None,
    }


def test_report_gives_each_spec_its_state_and_time_and_totals_count_every_failure() -> None:
    report = [
        {
            "SpecReports": [
                {"LeafNodeType": "SynchronizedBeforeSuite", "State": "passed"},
                _spec("should provide basic identity", "passed", 61.25),
                _spec("should adopt matching orphans", "failed", 600.0, "timed out waiting\nmore"),
                _spec("should not deadlock", "timedout", 10.0),
                _spec("should skip", "skipped", 0.0),
                {**_spec("elsewhere", "passed", 1.0), "ContainerHierarchyTexts": ["[sig-storage] X"]},
            ]
        }
    ]
    results = upstream.parse_report(report)
    assert [r.state for r in results] == ["passed", "failed", "timedout", "skipped"]
    assert results[0].seconds == 61.2 or results[0].seconds == 61.3
    assert results[1].message == "timed out waiting"
    assert upstream.counts(results) == {"passed": 1, "failed": 2, "skipped": 1}
    lines = upstream.summary_lines(results, 700.4, {results[3].name: "needs: a registry"})
    assert lines[-1] == "upstream [sig-apps] StatefulSet: 1 passed, 2 failed, 1 skipped of 4 in 700s wall"
    assert any(line.strip() == "needs: a registry" for line in lines)


def test_a_spec_counts_as_it_ran_in_its_own_process_not_as_the_skip_the_others_report() -> None:
    """Every process lists all specs and skips those it was not given: the run's outcome is where it ran."""
    first = [{"SpecReports": [_spec("a", "passed", 2.0), _spec("b", "skipped", 0.0), _spec("c", "skipped", 0.0)]}]
    second = [
        {"SpecReports": [_spec("a", "skipped", 0.0), _spec("b", "failed", 3.0, "boom"), _spec("c", "skipped", 0.0)]}
    ]
    serial = [{"SpecReports": [_spec("a", "skipped", 0.0), _spec("b", "skipped", 0.0), _spec("c", "skipped", 0.0)]}]
    ran = upstream.merged([first, second, serial])
    assert {name.rpartition(" ")[2]: r.state for name, r in ran.items()} == {
        "a": "passed",
        "b": "failed",
        "c": "skipped",
    }


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("• [12.345 seconds]", None),
        ("• [FAILED] [600.123 seconds]", "FAILED"),
        ("S [SKIPPED] [0.001 seconds]", "SKIPPED"),
    ],
)
def test_ginkgo_end_of_spec_headers_are_recognised(line: str, state: str | None) -> None:
    m = upstream._END.match(line)
    assert m is not None and m.group("state") == state


def test_specs_are_dealt_to_processes_without_loss_or_empty_shares() -> None:
    names = [f"s{i}" for i in range(7)]
    dealt = upstream.shards(names, 3)
    assert dealt == [["s0", "s3", "s6"], ["s1", "s4"], ["s2", "s5"]]
    assert upstream.shards(names[:1], 4) == [["s0"]]
    with pytest.raises(InvalidScenario, match=r"expected --procs >= 1, got 0"):
        upstream.shards(names, 0)


def test_exact_focus_selects_each_name_as_ginkgo_matches_it() -> None:
    # Ginkgo matches focus against "<suite description> <spec text>".
    focus = re.compile(upstream.exact_focus(SPECS[:2]))
    assert focus.search("Kubernetes e2e suite " + SPECS[0]) and focus.search(SPECS[1])
    assert not focus.search("Kubernetes e2e suite " + SPECS[2])
    assert not focus.search("Kubernetes e2e suite " + SPECS[0] + " more")  # a longer name is another spec


def test_processes_run_side_by_side_and_each_report_is_read(tmp_path: Path) -> None:

    def writer(text: str) -> list[str]:
        report = [{"SpecReports": [_spec(text, "passed", 1.0)]}]
        code = (
            f"import json; print('• [1.000 seconds]'); print({text!r}); json.dump({report!r}, open('ginkgo.json', 'w'))"
        )
        return [sys.executable, "-c", code]

    dirs = [tmp_path / "proc-1", tmp_path / "proc-2"]
    said: list[str] = []
    reports, interrupted = upstream.run_processes([writer("a"), writer("b")], dirs, said.append)
    assert not interrupted
    names = [r.name.rpartition(" ")[2] for report in reports for r in upstream.parse_report(report)]
    assert names == ["a", "b"]
    assert sorted(said) == ["  [1] passed      1.0s a", "  [2] passed      1.0s b"]
    assert (dirs[0] / "e2e.log").read_text().startswith("• [1.000 seconds]")


def test_a_process_without_a_report_is_one_clear_error(tmp_path: Path) -> None:

    with pytest.raises(ClusterError, match=r"expected e2e\.test to write .*ginkgo\.json, it exited 3 without"):
        upstream.run_processes([[sys.executable, "-c", "raise SystemExit(3)"]], [tmp_path / "p"], print)
