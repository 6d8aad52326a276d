"""The plugin's side channel for reports: one results.jsonl line per test, beside the JUnit XML, only when
the run writes reports; outcomes and skip reasons as pytest saw them; compact pod tracks for the charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeKube
from report_samples import STORAGE_CLASS, cluster_info, node, pod, scale_up_timeline

from ordinal.artefacts import environment, results
from ordinal.artefacts.results import Phase, outcome_of, split_failure, tracks
from ordinal.errors import InvariantViolated, WaitTimeout
from ordinal.kube.rest import ApiError, Resource
from ordinal.observe.timeline import Timeline
from ordinal.pytest_plugin import OPTIONS
from ordinal.types import Obj

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for opt in OPTIONS:
        monkeypatch.delenv(opt.env, raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("ORDINAL_CLUSTER_DIR", str(tmp_path / "no-cluster"))


SUITE = '''
import pytest
from ordinal.errors import CapabilityMissing, InvariantViolated
from ordinal.observe.timeline import Timeline
from ordinal.pytest_plugin import RECORDER_KEY

pytestmark = pytest.mark.promise("Storage reattachment", feature="A claim per ordinal")

class FakeRecorder:
    errors = []
    def __init__(self):
        self.timeline = Timeline(t0=10.0)
        pod = {"kind": "Pod", "metadata": {"name": "web-0", "namespace": "ns", "uid": "u1",
               "resourceVersion": "7"}, "status": {"phase": "Running"}}
        self.timeline.record("ADDED", pod, 10.5)

def test_holds():
    """A claim MUST be bound."""

@pytest.mark.parametrize("how", ["delete"])
def test_broken(request, how):
    """A pod MUST come back."""
    request.node.stash[RECORDER_KEY] = FakeRecorder()
    raise InvariantViolated("storage after delete: 1 broken promise; first: claim gone", ["claim gone"], "the excerpt")

@pytest.mark.promise("Data integrity")
@pytest.mark.skip(reason="needs: exec into pods")
def test_data():
    """Data MUST survive."""

def test_capability():
    raise CapabilityMissing("DNS reachable from the test runner")

@pytest.mark.flaky_known(reason="upstream race", issue="123")
def test_flake():
    assert False
'''


def _lines(path: Path) -> dict[str, dict[str, object]]:
    return {r["test"].split("::")[1]: r for r in (json.loads(line) for line in path.read_text().splitlines())}


def test_every_test_gets_one_record_beside_the_junit_xml(pytester: pytest.Pytester) -> None:
    """With --junitxml, results.jsonl MUST hold one line per test: area, title, outcome and skip reason."""
    pytester.makepyfile(SUITE)
    out = pytester.path / "out"
    pytester.runpytest(f"--junitxml={out / 'junit.xml'}").assert_outcomes(passed=1, failed=1, skipped=2, xfailed=1)
    found = _lines(out / "results.jsonl")
    assert {k: (v["area"], v["outcome"], v["reason"]) for k, v in found.items()} == {
        "test_holds": ("Storage reattachment", "passed", ""),
        "test_broken[delete]": ("Storage reattachment", "failed", ""),
        "test_data": ("Data integrity", "skipped", "needs: exec into pods"),
        "test_capability": ("Storage reattachment", "skipped", "needs: DNS reachable from the test runner"),
        "test_flake": ("Storage reattachment", "xfailed", "known flake: upstream race (issue 123)"),
    }
    assert found["test_holds"]["title"] == "A claim MUST be bound."
    assert found["test_broken[delete]"]["story"] == "delete"
    assert found["test_holds"]["feature"] == "A claim per ordinal"


def test_a_failure_keeps_its_expected_seen_lines_and_timeline_apart(pytester: pytest.Pytester) -> None:
    """A failed test's record MUST carry the message head, the excerpt and the pod tracks for the chart."""
    pytester.makepyfile(SUITE)
    out = pytester.path / "out"
    pytester.runpytest(f"--junitxml={out / 'junit.xml'}", "-k", "broken")
    broken = _lines(out / "results.jsonl")["test_broken[delete]"]
    assert broken["message"] == (
        "InvariantViolated: storage after delete: 1 broken promise; first: claim gone\n  - claim gone"
    )
    assert broken["excerpt"] == "the excerpt"
    assert broken["timeline"] == {
        "end": 0.5,
        "pods": [
            {
                "pod": "web-0",
                "uid": "u1",
                "set": None,
                "ordinal": None,
                "changes": [[0.5, "running", None]],
                "gone": None,
            }
        ],
        "nodes": [],
        "truncated": False,
    }


def test_a_run_without_reports_writes_no_records(pytester: pytest.Pytester) -> None:
    """Without --junitxml or a report dir (ordinal's own test runs), the plugin MUST write no results.jsonl."""
    pytester.makepyfile("def test_one(): pass")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("results.jsonl"))
    assert not list(pytester.path.rglob("session.json"))


def test_a_new_run_starts_the_file_afresh(pytester: pytest.Pytester) -> None:
    """results.jsonl MUST never mix two runs; session.json MUST name the run and its (absent) leaks."""
    pytester.makepyfile("def test_one(): pass\ndef test_two(): pass")
    out = pytester.path / "out"
    pytester.runpytest(f"--junitxml={out / 'junit.xml'}")
    pytester.runpytest(f"--junitxml={out / 'junit.xml'}", "-k", "one")
    assert list(_lines(out / "results.jsonl")) == ["test_one"]
    session = json.loads((out / "session.json").read_text())
    assert session["leaks"] == [] and session["cleanup_errors"] == [] and session["run_id"]


def test_outcomes_follow_junit_counting() -> None:
    """A setup failure MUST be an error, a teardown failure after a pass too; skips keep their reason."""
    ok = Phase("passed", 0.1)
    assert outcome_of({"setup": Phase("failed", 0.1), "teardown": ok}) == ("error", "")
    assert outcome_of({"setup": ok, "call": ok, "teardown": Phase("failed", 0.1)}) == ("error", "")
    assert outcome_of({"setup": ok, "call": Phase("failed", 1), "teardown": ok}) == ("failed", "")
    assert outcome_of({"setup": Phase("skipped", 0, "needs: x")}) == ("skipped", "needs: x")
    assert outcome_of({"setup": ok, "call": Phase("passed", 1, "flake", xfail=True)}) == ("xpassed", "flake")
    assert outcome_of({"setup": ok, "call": ok, "teardown": ok}) == ("passed", "")


def test_a_wait_timeout_message_is_its_expected_seen_line() -> None:
    message, excerpt = split_failure(WaitTimeout("3 ready replicas", "2", 120.0, timeline="tl"))
    assert (message, excerpt) == ("WaitTimeout: expected 3 ready replicas, saw 2 after 120.0s", "tl")
    long = InvariantViolated("what", [f"finding {i}" for i in range(40)])
    assert split_failure(long)[0].splitlines()[-1] == f"… {41 - results.MESSAGE_LINES} more lines"


def test_tracks_follow_each_incarnation_with_its_node_and_end_where_it_went() -> None:
    """A replaced pod MUST show as two tracks: the old one ending where it was deleted, the new one on its node."""
    found = tracks(scale_up_timeline(replace=True))
    web1 = [t for t in found["pods"] if t["pod"] == "web-1"]
    assert [(t["uid"], t["gone"]) for t in web1] == [("uid-1-aa", 5.0), ("uid-1-bb", None)]
    assert web1[0]["changes"] == [
        [1.5, "pending", None],
        [2.0, "pending", "n1"],
        [2.5, "ready", "n1"],
        [4.5, "terminating", "n1"],
    ]
    assert web1[1]["changes"][-1] == [6.4, "ready", "n2"]
    assert (web1[0]["set"], web1[0]["ordinal"]) == ("web", 1)
    assert found["end"] == 6.4


def test_tracks_are_capped_and_say_so() -> None:
    timeline = Timeline(t0=0.0)
    for i in range(5):
        timeline.record("ADDED", pod(f"p-{i}", f"u{i}", "Running", True, "n0", str(i)), float(i))
    capped = tracks(timeline, limit=3)
    assert [t["pod"] for t in capped["pods"]] == ["p-0", "p-1", "p-2"] and capped["truncated"] is True


def test_node_rows_show_only_nodes_that_changed() -> None:
    timeline = Timeline(t0=0.0)
    for rv, (t, unschedulable) in enumerate(((0.0, False), (1.0, True), (3.0, False))):
        node = {
            "kind": "Node",
            "metadata": {"name": "n1", "resourceVersion": str(rv)},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        timeline.record("MODIFIED", node, t)
    steady = {"kind": "Node", "metadata": {"name": "n2", "resourceVersion": "9"}, "status": {"conditions": []}}
    timeline.record("ADDED", steady, 0.5)
    assert tracks(timeline)["nodes"] == [{"node": "n1", "changes": [[0.0, "ready"], [1.0, "cordoned"], [3.0, "ready"]]}]


NODES = [node("n0", "zone-a"), node("n1", "zone-b")]


class EnvironmentKube(FakeKube):
    """The StorageClass and two nodes environment.collect reads.

    Subclassed for two things the shared fake does not do: ``forbidden`` refuses the StorageClass
    read as RBAC would, and the nodes come back out of name order (the API promises no order), so
    the test still shows that collect sorts them itself.
    """

    def __init__(self, forbidden: bool = False) -> None:
        super().__init__({"kind": "StorageClass", **STORAGE_CLASS}, *({"kind": "Node", **n} for n in NODES))
        self.forbidden = forbidden

    def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        if self.forbidden:
            raise ApiError("GET", res.path(namespace, name), 403, "Forbidden", "no")
        return super().get(res, name, namespace)

    def list(self, res: Resource, namespace: str | None = None, **selectors: str) -> tuple[list[Obj], str]:
        items, version = super().list(res, namespace, **selectors)
        return items[::-1], version


def test_the_environment_holds_the_class_as_the_cluster_has_it_and_the_nodes() -> None:
    """environment.json MUST carry parameters, binding mode, reclaim policy and each node's zone."""
    data = environment.collect(EnvironmentKube(), cluster_info())  # type: ignore[arg-type]
    assert data["storage_class"] == {
        "name": "ordinal-local",
        "provisioner": "ordinal.dev/hostpath",
        "binding_mode": "WaitForFirstConsumer",
        "reclaim_policy": "Delete",
        "allow_volume_expansion": False,
        "parameters": {"nodePinned": "true"},
        "mount_options": [],
        "allowed_topologies": [],
        "default": True,
    }
    assert [(n["name"], n["zone"], n["kind"], n["ready"]) for n in data["nodes"]] == [
        ("n0", "zone-a", "kwok", True),
        ("n1", "zone-b", "kwok", True),
    ]
    assert data["cluster"]["version"] == "1.37.0" and data["errors"] == []


def test_a_read_the_cluster_refuses_is_written_down_not_raised() -> None:
    data = environment.collect(EnvironmentKube(forbidden=True), cluster_info())  # type: ignore[arg-type]
    assert data["storage_class"] is None
    assert data["errors"] == [
        "storageclass/ordinal-local: GET /apis/storage.k8s.io/v1/storageclasses/ordinal-local: HTTP 403 Forbidden: no"
    ]
