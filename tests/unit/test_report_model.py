"""The report model is built from a run's artefacts alone: every area listed with its verdict and skip
reasons, the environment a customer asks about, figures with percentiles, failures with their messages,
chaos experiments filed under their area, and problems that make the verdict an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_samples import run_info, sample_report, write_run

from ordinal.artefacts import environment
from ordinal.report import model


def _area(report: dict[str, object], area_id: str) -> dict[str, object]:
    return next(a for a in report["areas"] if a["id"] == area_id)  # type: ignore[attr-defined, index]


def test_every_promise_area_is_listed_in_order_with_its_verdict(tmp_path: Path) -> None:
    """All eight areas MUST appear, in the documented order, each with pass/fail/skip/not-run."""
    report = sample_report(tmp_path)
    assert [(a["id"], a["verdict"]) for a in report["areas"]] == [
        ("identity", "pass"),
        ("dns", "pass"),
        ("storage-reattachment", "pass"),
        ("data-integrity", "skip"),
        ("ordering", "fail"),
        ("rollout-partition", "pass"),
        ("retention", "pass"),
        ("api-surface", "not-run"),
    ]
    assert report["verdict"] == "fail"
    assert report["summary"] == {
        "total": 7,
        "passed": 5,
        "failed": 1,
        "error": 0,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
    }


def test_skip_reasons_are_given_per_area_and_per_promise(tmp_path: Path) -> None:
    """A skipped area MUST name the missing capability; an area with no test MUST say why none ran."""
    report = sample_report(tmp_path, pytest_args=("-k", "test_storage"))
    data = _area(report, "data-integrity")
    assert data["reasons"] == ["needs: exec into pods"]
    assert data["promises"][0]["reason"] == "needs: exec into pods"  # type: ignore[index]
    assert _area(report, "api-surface")["reasons"] == [
        "no test of this area ran (selected with: -k test_storage); chaos experiments run only with --profile full"
    ]


def test_a_failure_carries_its_expected_seen_message_and_excerpt(tmp_path: Path) -> None:
    (failure,) = sample_report(tmp_path)["failures"]
    assert failure["area"] == "ordering" and failure["outcome"] == "failed"
    assert failure["message"].startswith("InvariantViolated: scale-up 0→3: 1 broken promise")
    assert "saw web-1 phase=Pending" in failure["message"]
    assert failure["excerpt"].endswith("ADDED Pod ord-test/web-2")


def test_environment_names_class_parameters_binding_topology_nodes_and_versions(tmp_path: Path) -> None:
    """The environment MUST hold what the issue lists: class, parameters, binding, topology, nodes, versions."""
    report = sample_report(tmp_path)
    env = report["environment"]
    assert env["kubernetes"] == {"version": "1.37.0", "git_version": "v1.37.0"}
    assert env["zones"] == ["zone-a", "zone-b", "zone-c"] and len(env["nodes"]) == 3
    sc = env["storage_class"]
    assert (sc["name"], sc["provisioner"], sc["binding_mode"], sc["parameters"], sc["default"]) == (
        "ordinal-local",
        "ordinal.dev/hostpath",
        "WaitForFirstConsumer",
        {"nodePinned": "true"},
        True,
    )
    assert env["volume_topology"] == {"node_pinned": True, "pinned_to": "node", "because": "parameter nodePinned=true"}
    exec_cap = next(c for c in env["capabilities"] if c["name"] == "exec into pods")
    assert exec_cap == {
        "name": "exec into pods",
        "available": False,
        "detail": "only simulated nodes: containers do not run",
    }
    assert report["suite"]["git_revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert (report["run"]["started"], report["run"]["seconds"]) == ("2026-09-21T14:13:20Z", 300.0)


def test_without_environment_file_the_class_read_before_the_run_is_shown(tmp_path: Path) -> None:
    artefacts = model.load(write_run(tmp_path, with_environment=False))
    record = environment.storage_class_record({"metadata": {"name": "fast"}, "provisioner": "csi.example"})
    env = model.build(artefacts, run_info(storage_class_record=record))["environment"]
    assert env["storage_class"]["provisioner"] == "csi.example"
    assert env["errors"] == ["the suite wrote no environment.json (did it reach the cluster?)"]


def test_figures_give_time_to_ready_per_ordinal_and_reattach_percentiles(tmp_path: Path) -> None:
    """Time to Ready MUST count first incarnations only; reattach MUST pool every reattach-* figure."""
    figures = sample_report(tmp_path)["figures"]
    assert [(r["ordinal"], r["n"], r["p50"]) for r in figures["time_to_ready"]] == [
        (0, 4, 1.0),
        (1, 4, 1.0),
        (2, 4, 1.0),
    ]
    assert [r["from_set"]["p50"] for r in figures["time_to_ready"]] == [1.0, 2.5, 4.0]  # the OrderedReady chain
    assert figures["reattach"] == {"n": 2, "min": 2.4, "p50": 2.6, "p90": 2.76, "p99": 2.796, "max": 2.8, "mean": 2.6}
    groups = {s["name"]: s["group"] for s in figures["stats"]}
    assert groups == {
        "reattach-after-delete": "reattach",
        "reattach-after-evict": "reattach",
        "ready-to-resolvable": "dns",
        "rollout-rolling-update": "rollout",
    }


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([3.0], 90, 3.0), ([1.0, 2.0], 50, 1.5), ([4.0, 1.0, 3.0, 2.0], 90, 3.7), ([1.0, 2.0, 3.0], 100, 3.0)],
    ids=["one-value", "between-two", "unsorted", "max"],
)
def test_percentiles_interpolate_between_closest_ranks(values: list[float], q: float, expected: float) -> None:
    assert model.percentile(values, q) == expected


def test_leaks_and_an_interrupted_run_make_the_verdict_an_error(tmp_path: Path) -> None:
    """Without failures, leftovers or an interrupted suite MUST still keep the report from saying pass."""
    directory = write_run(tmp_path)
    lines = [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines if r["outcome"] != "failed"))
    assert model.build(model.load(directory), run_info(pytest_exit=0))["verdict"] == "pass"
    environment.write(directory / "session.json", environment.session_record("r", ["namespace/ord-x"], [], {}))
    report = model.build(model.load(directory), run_info(pytest_exit=2))
    assert report["verdict"] == "error"
    assert report["problems"] == [
        "the conformance run ended with pytest exit code 2 (interrupted or not run)",
        "leaked: namespace/ord-x",
    ]


def test_a_chaos_experiment_is_a_promise_of_its_area_with_its_timeline(tmp_path: Path) -> None:
    """pod-kill MUST be filed under identity; a failed one MUST name what caught it and list its probes."""
    directory = write_run(tmp_path)
    chaos = directory / "chaos"
    chaos.mkdir()
    journal = {
        "status": "failed",
        "deviated": True,
        "duration": 42.5,
        "experiment": {"title": "Killing one ordinal", "steady-state-hypothesis": {"title": "It comes back as itself"}},
        "ordinal": {
            "caught_by": "hypothesis-after probe 'identity-matches-snapshot'",
            "problems": [],
            "figures": {"restoration": [{"pod": "web-1", "fault": "delete_pod", "to_ready": 3.5}]},
        },
    }
    (chaos / "journal-pod-kill.json").write_text(json.dumps(journal))
    (chaos / "junit-chaos-pod-kill.xml").write_text(
        '<testsuites><testsuite name="pod-kill">'
        '<testcase name="hypothesis-before: statefulset-ready"/>'
        '<testcase name="hypothesis-after: identity-matches-snapshot">'
        '<failure message="web-1 has a new name"/></testcase>'
        '<testcase name="hypothesis-after: dns-records-match"><skipped message="needs: DNS"/></testcase>'
        "</testsuite></testsuites>"
    )
    timeline = {
        "ord-chaos-1": {
            "t0": 0.0,
            "entries": [
                {
                    "seq": 0,
                    "t": 0.5,
                    "event": "ADDED",
                    "kind": "Pod",
                    "namespace": "ord-chaos-1",
                    "name": "web-1",
                    "uid": "u1",
                    "resourceVersion": "1",
                    "detail": {"phase": "Running", "ready": True, "node": "n1"},
                }
            ],
        }
    }
    (chaos / "timeline-chaos-pod-kill.json").write_text(json.dumps(timeline))
    run = model.ExperimentRun(
        "pod-kill",
        1,
        "chaos/journal-pod-kill.json",
        "chaos/junit-chaos-pod-kill.xml",
        "chaos/timeline-chaos-pod-kill.json",
    )
    report = model.build(model.load(directory, [run]), run_info(profile="full", experiments=[run]))
    promise = next(p for p in _area(report, "identity")["promises"] if p["source"] == "chaos")  # type: ignore[attr-defined]
    assert (promise["id"], promise["verdict"], promise["title"]) == (
        "chaos:pod-kill",
        "fail",
        "It comes back as itself",
    )
    assert promise["reason"] == "caught by hypothesis-after probe 'identity-matches-snapshot'"
    (experiment,) = report["experiments"]
    assert [c["outcome"] for c in experiment["cases"]] == ["passed", "failed", "skipped"]
    assert report["figures"]["reattach"]["n"] == 3  # two conformance figures and the chaos restoration
    chaos_timeline = next(t for t in report["timelines"] if t["source"] == "chaos")
    assert chaos_timeline["pods"][0]["changes"] == [[0.5, "ready", "n1"]]
    assert any(f["id"] == "chaos:pod-kill" for f in report["failures"])
    assert report["files"]["journals"] == ["chaos/journal-pod-kill.json"]


def test_an_experiment_not_checked_is_a_skip_naming_the_probe_never_a_pass(tmp_path: Path) -> None:
    """A run whose only problem is a probe that could not run MUST be a skip with the reason, not pass or fail."""
    directory = write_run(tmp_path)
    chaos = directory / "chaos"
    chaos.mkdir()
    reason = "needs: exec into pods (pod ns/web-0 runs on simulated node n1)"
    journal = {
        "status": "completed",
        "deviated": True,
        "experiment": {"title": "Killing one ordinal", "steady-state-hypothesis": {"title": "It comes back"}},
        "ordinal": {
            "verdict": "not-checked",
            "not_checked": [{"phase": "after", "probe": "data-token-intact", "reason": reason}],
            "problems": [f"hypothesis-after probe 'data-token-intact': not checked: {reason}"],
        },
    }
    (chaos / "journal-pod-kill.json").write_text(json.dumps(journal))
    run = model.ExperimentRun("pod-kill", 1, "chaos/journal-pod-kill.json", "chaos/junit.xml", "chaos/none.json")
    report = model.build(model.load(directory, [run]), run_info(profile="full", experiments=[run]))
    promise = next(p for p in _area(report, "identity")["promises"] if p["source"] == "chaos")  # type: ignore[attr-defined]
    assert (promise["outcome"], promise["verdict"]) == ("skipped", "skip")
    assert promise["reason"] == f"not checked: data-token-intact (after): {reason}"


def test_an_unknown_promise_label_gets_an_area_of_its_own(tmp_path: Path) -> None:
    assert model.area_of("Rollout and partition") == "rollout-partition"
    assert model.area_of("dns") == "dns"
    assert model.area_of("Node Affinity!") == "node-affinity"


def test_a_csi_class_reports_its_driver_settings_topology_and_where_the_version_came_from(tmp_path: Path) -> None:
    """Driver name and version (with its source), attachRequired, podInfoOnMount, fsGroupPolicy, storageCapacity,
    CSINode topology keys MUST be in the environment; attach and detach figures MUST be figure groups."""
    report = sample_report(tmp_path, csi=True)
    csi = report["environment"]["csi"]
    assert (csi["driver"], csi["version"], csi["version_source"]) == (
        "csi.ordinal.dev",
        "0.1.0",
        "CSIDriver csi.ordinal.dev label app.kubernetes.io/version",
    )
    assert (csi["attach_required"], csi["pod_info_on_mount"], csi["fs_group_policy"], csi["storage_capacity"]) == (
        True,
        True,
        "File",
        False,
    )
    assert csi["topology_keys"] == ["topology.csi.ordinal.dev/zone"] and csi["nodes"] == ["n1", "n2"]
    assert csi["attaches"] == "ordinal-csi volumes are attached by CSI driver csi.ordinal.dev"
    attach = next(c for c in report["environment"]["capabilities"] if c["name"] == "VolumeAttachments (CSI attach)")
    assert attach["available"] is True
    groups = {s["name"]: s["group"] for s in report["figures"]["stats"]}
    assert groups["attach-after-delete"] == "attach" and groups["detach-after-evict"] == "detach"
    assert report["figures"]["reattach"]["n"] == 2  # attach/detach are not reattach samples


def test_a_hostpath_class_has_no_csi_driver_and_says_attachment_does_not_apply(tmp_path: Path) -> None:
    env = sample_report(tmp_path)["environment"]
    assert env["csi"] is None
    attach = next(c for c in env["capabilities"] if c["name"] == "VolumeAttachments (CSI attach)")
    assert attach == {
        "name": "VolumeAttachments (CSI attach)",
        "available": False,
        "detail": "needs: a StorageClass whose volumes are attached to nodes: ordinal-local volumes are not "
        "attached (provisioner ordinal.dev/hostpath is not a CSI driver)",
    }


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("node-loss-to-not-ready", "node-loss"),
        ("node-loss-declared-to-replacement-ready", "node-loss"),
        ("attach-after-node-loss", "attach"),
        ("detach-after-node-loss", "detach"),
    ],
)
def test_real_node_loss_figures_chart_in_their_own_group_and_with_attach_and_detach(name: str, group: str) -> None:
    assert model.figure_group(name) == group


def test_the_real_node_loss_experiment_belongs_to_identity() -> None:
    assert model.EXPERIMENT_AREAS["real-node-loss"] == "identity"
