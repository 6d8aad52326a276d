"""Collection and run rules: capability skips name what is missing, disruptive tests need the flag and run
last, a skip never hides a failure, and runs without ordinal fixtures never touch a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ordinal.pytest_plugin import OPTIONS

pytest_plugins = ["pytester"]

#: An inner conftest handing the plugin a fixed capability table instead of a cluster.
FAKE_CLUSTER = """
import pytest
from ordinal.capabilities import ClusterInfo, DnsAccess, StorageInfo

@pytest.fixture(scope="session")
def cluster_info():
    return ClusterInfo(
        target="fake", local=False, version=(1, 31, 0), git_version="v1.31.0",
        gates={"MaxUnavailableStatefulSet": False},
        schedulable_nodes=("n1",), zones=("a",), simulated_nodes=(),
        storage=StorageInfo("std", "csi.example", "Immediate", True, False, "fake"), storage_missing="",
        exec_pods=False, exec_why_not="fake", dns=DnsAccess("none", why_not="fake"),
    )
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ORDINAL_* settings, no KUBECONFIG, and a local-cluster state dir that holds nothing."""
    for opt in OPTIONS:
        monkeypatch.delenv(opt.env, raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("ORDINAL_CLUSTER_DIR", str(tmp_path / "no-cluster"))


def test_missing_capabilities_are_named_in_the_skip_reason(pytester: pytest.Pytester) -> None:
    """needs()/min_version() skips MUST read ``needs: <capability>``."""
    pytester.makeconftest(FAKE_CLUSTER)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.needs("exec")
        def test_exec(): pass

        @pytest.mark.needs("nodes:2")
        def test_two_nodes(): pass

        @pytest.mark.min_version("1.32")
        def test_new_server(): pass

        @pytest.mark.needs("gate:MaxUnavailableStatefulSet")
        def test_gate(): pass

        @pytest.mark.needs("storage", "nodes:1")
        @pytest.mark.min_version("1.27")
        def test_met(): pass
        """
    )
    result = pytester.runpytest("-rs")
    result.stdout.fnmatch_lines(
        [
            "SKIPPED*needs: exec into pods",
            "SKIPPED*needs: 2 schedulable nodes",
            "SKIPPED*needs: Kubernetes >= 1.32",
            "SKIPPED*needs: feature gate MaxUnavailableStatefulSet",
        ]
    )
    result.assert_outcomes(passed=1, skipped=4)


def test_a_skip_never_hides_a_failure(pytester: pytest.Pytester) -> None:
    """A test whose capabilities are met MUST fail when it fails; only CapabilityMissing becomes a skip."""
    pytester.makeconftest(FAKE_CLUSTER)
    pytester.makepyfile(
        """
        import pytest
        from ordinal.errors import CapabilityMissing

        @pytest.mark.needs("storage")
        def test_broken():
            assert False, "the promise broke"

        def test_found_missing_at_run_time():
            raise CapabilityMissing("exec into pods", "kubelet refused")

        def test_other_error():
            raise RuntimeError("not a capability")
        """
    )
    result = pytester.runpytest("-rsf")
    result.stdout.fnmatch_lines(["SKIPPED*needs: exec into pods (kubelet refused)", "FAILED*test_broken*"])
    result.assert_outcomes(failed=2, skipped=1)


def test_unknown_capability_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.needs("gpu")
        def test_gpu(): pass
        """
    )
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*test_gpu*expected a capability, one of exec, dns*got 'gpu'*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


DISRUPTIVE = """
import pytest

@pytest.mark.disruptive
def test_drain(): print("RAN drain")

@pytest.mark.chaos
def test_lose_node(): print("RAN lose_node")

def test_plain(): print("RAN plain")
"""


def test_disruptive_tests_skip_unless_allowed_naming_the_flag(pytester: pytest.Pytester) -> None:
    """Without a local cluster and without --allow-disruptive, drains and chaos MUST be skipped, saying how to allow."""
    pytester.makepyfile(DISRUPTIVE)
    result = pytester.runpytest("-rs")
    result.stdout.fnmatch_lines(["SKIPPED*disruptive: drains/cordons nodes; enable with --allow-disruptive*"])
    result.assert_outcomes(passed=1, skipped=2)


def test_disruptive_tests_run_last_when_allowed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(DISRUPTIVE)
    result = pytester.runpytest("-s", "--allow-disruptive")
    result.assert_outcomes(passed=3)
    order = [line.split()[-1] for line in result.stdout.lines if "RAN " in line]
    assert order == ["plain", "drain", "lose_node"], order


def test_disruptive_can_be_refused_explicitly(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(DISRUPTIVE)
    monkeypatch.setenv("ORDINAL_ALLOW_DISRUPTIVE", "no")
    pytester.runpytest().assert_outcomes(passed=1, skipped=2)


def test_known_flake_is_reported_as_xfail_with_its_issue(pytester: pytest.Pytester) -> None:
    """flaky_known MUST keep a failure visible (xfail naming the issue), never rerun it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flaky_known(reason="CoreDNS lags", issue="#12")
        def test_flaky():
            assert False
        """
    )
    result = pytester.runpytest("-rx")
    result.stdout.fnmatch_lines(["XFAIL*known flake: CoreDNS lags (issue #12)*"])
    result.assert_outcomes(xfailed=1)


def test_flaky_known_needs_reason_and_issue(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flaky_known(reason="no issue")
        def test_flaky(): pass
        """
    )
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*expected flaky_known(reason=..., issue=...) with both set*"])


def test_runs_without_ordinal_fixtures_never_resolve_a_cluster(pytester: pytest.Pytester) -> None:
    """With no cluster anywhere, a plain test run MUST pass: the cluster is resolved only when a fixture asks."""
    pytester.makepyfile("def test_plain(): pass")
    pytester.runpytest().assert_outcomes(passed=1)


def test_cluster_fixture_without_a_cluster_fails_with_one_line(pytester: pytest.Pytester) -> None:
    """Asking for ``kube`` with no cluster MUST fail saying what was expected (never ~/.kube/config)."""
    pytester.makepyfile("def test_needs_cluster(kube): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*ordinal: expected a cluster*never falls back to ~/.kube/config*"])
    result.assert_outcomes(errors=1)


def test_kubeconfig_option_names_its_source(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("def test_needs_cluster(kube): pass")
    result = pytester.runpytest(f"--kubeconfig={tmp_path / 'missing'}")
    result.stdout.fnmatch_lines(["*expected a kubeconfig file at*missing*(from flag)*"])


def test_failure_report_carries_the_timeline_excerpt(pytester: pytest.Pytester) -> None:
    """A failed test MUST show the recorder's timeline in its failure text."""
    pytester.makepyfile(
        """
        from ordinal.observe.timeline import Timeline
        from ordinal.pytest_plugin import RECORDER_KEY

        class FakeRecorder:
            errors = []
            def __init__(self):
                self.timeline = Timeline(t0=0.0)
                pod = {"kind": "Pod", "metadata": {"name": "web-0", "namespace": "ns", "uid": "u1",
                       "resourceVersion": "7"}, "status": {"phase": "Running"}}
                self.timeline.record("ADDED", pod, 0.5)

        def test_fails(request):
            request.node.stash[RECORDER_KEY] = FakeRecorder()
            assert False, "broken promise"
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*ordinal timeline*", "*+0.500s ADDED    Pod ns/web-0*"])


def test_figures_go_to_junit_and_figures_jsonl(pytester: pytest.Pytester) -> None:
    """A recorded figure MUST appear as a JUnit property and one JSON line of figures.jsonl."""
    pytester.makepyfile(
        """
        def test_measured(figures):
            figures.record("reattach", 1.25)
            figures.note("trap", "present")
        """
    )
    reports = pytester.path / "out"
    result = pytester.runpytest(f"--junitxml={reports / 'junit.xml'}")
    result.assert_outcomes(passed=1)
    xml = (reports / "junit.xml").read_text()
    assert 'name="figure:reattach" value="1.250"' in xml and 'name="trap" value="present"' in xml, xml
    lines = (reports / "figures.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"test": "test_figures_go_to_junit_and_figures_jsonl.py::test_measured", "name": "reattach", "seconds": 1.25}
    ]


def test_titles_and_labels_reach_allure_results(pytester: pytest.Pytester) -> None:
    """The docstring's MUST sentence MUST become the allure title; promise() MUST set epic/feature/story."""
    pytester.makepyfile(
        '''
        import pytest
        from ordinal.artefacts import step

        pytestmark = pytest.mark.promise("Storage")

        @pytest.mark.promise(feature="Reattach")
        @pytest.mark.parametrize("how", ["delete", "evict"])
        def test_reattach(how):
            """A replaced pod MUST mount the claim of its ordinal.

            More words that are not the title.
            """
            with step(f"{how} web-1"):
                pass
        '''
    )
    results = pytester.path / "allure"
    pytester.runpytest(f"--alluredir={results}").assert_outcomes(passed=2)
    found = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert sorted(r["name"] for r in found) == [
        "A replaced pod MUST mount the claim of its ordinal. [delete]",
        "A replaced pod MUST mount the claim of its ordinal. [evict]",
    ]
    labels = {(lab["name"], lab["value"]) for r in found for lab in r["labels"]}
    assert {("epic", "Storage"), ("feature", "Reattach"), ("story", "delete"), ("story", "evict")} <= labels
    assert sorted(s["name"] for r in found for s in r["steps"]) == ["delete web-1", "evict web-1"]


def test_report_defaults_apply_only_when_asked(pytester: pytest.Pytester) -> None:
    """use_report_dir MUST default --junitxml/--alluredir into the given directory, unless the user named them."""
    pytester.makeconftest(
        """
        import pytest
        from ordinal.pytest_plugin import use_report_dir

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(config):
            use_report_dir(config, "myreports")
        """
    )
    pytester.makepyfile("def test_one(): pass")
    pytester.runpytest().assert_outcomes(passed=1)
    assert (pytester.path / "myreports" / "junit.xml").is_file()
    assert list((pytester.path / "myreports" / "allure-results").glob("*-result.json"))
    pytester.runpytest(f"--junitxml={pytester.path / 'own.xml'}").assert_outcomes(passed=1)
    assert (pytester.path / "own.xml").is_file()


def test_a_broken_promise_is_a_failure_in_allure_not_a_broken_test(pytester: pytest.Pytester) -> None:
    """InvariantViolated and WaitTimeout MUST be filed as failed (the product), other errors as broken (the test)."""
    pytester.makepyfile(
        """
        from ordinal.errors import InvariantViolated, WaitTimeout

        def test_promise():
            raise InvariantViolated("scale-up: 1 broken promise")

        def test_deadline():
            raise WaitTimeout("3 ready replicas", "2", 120.0)

        def test_bug():
            raise KeyError("typo")
        """
    )
    results = pytester.path / "allure"
    result = pytester.runpytest(f"--alluredir={results}")
    result.stdout.fnmatch_lines(["*ordinal.errors.InvariantViolated: scale-up: 1 broken promise*"])
    statuses = {(r := json.loads(p.read_text()))["name"]: r["status"] for p in results.glob("*-result.json")}
    assert statuses == {"test_promise": "failed", "test_deadline": "failed", "test_bug": "broken"}
