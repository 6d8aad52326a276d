"""Parallel runs (pytest-xdist): one run id for every worker, node locks that keep drains and node loss
apart from the tests they would break, and records that merge across workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ordinal.pytest_plugin import OPTIONS

pytest_plugins = ["pytester"]

#: A fake cluster whose client is a plain object: the plugin's lock fixture sees ``kube`` in use.
CONFTEST = """
import json, os, time
import pytest
from ordinal.capabilities import ClusterInfo, DnsAccess, StorageInfo

@pytest.fixture(scope="session")
def cluster_info():
    return ClusterInfo(
        target="fake", local=False, version=(1, 37, 0), git_version="v1.37.0", gates={},
        schedulable_nodes=("n1", "n2"), zones=("a",), simulated_nodes=("n2",),
        storage=StorageInfo("std", "csi.example", "Immediate", True, False, "fake"), storage_missing="",
        exec_pods=False, exec_why_not="fake", dns=DnsAccess("none", why_not="fake"),
    )

@pytest.fixture(scope="session")
def kube():
    return object()

@pytest.fixture
def span(request, kube, run_id):
    '''Write when this test held the cluster: the intervals must respect the node locks.'''
    start = time.monotonic()
    plain = os.environ["SPANS"] + ".plain-started"
    if request.node.name.startswith("test_plain"):
        open(plain, "a").close()
    elif request.node.name.startswith(("test_drain", "test_two_nodes")):
        # Beside ordinary tests means while one runs: wait (bounded) for one to start, so a worker
        # that starts late on a loaded machine cannot make the schedule look serial.
        deadline = time.monotonic() + 20
        while not os.path.exists(plain) and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(0.3)
    yield
    with open(os.environ["SPANS"], "a") as out:
        out.write(json.dumps({"test": request.node.name, "start": start, "end": time.monotonic(),
                              "run": run_id, "worker": os.environ.get("PYTEST_XDIST_WORKER")}) + "\\n")
"""

TESTS = """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_plain(span, n): pass

@pytest.mark.disruptive
@pytest.mark.parametrize("n", range(2))
def test_drain(span, n): pass

@pytest.mark.needs("nodes:2")
def test_two_nodes(span): pass

@pytest.mark.chaos
@pytest.mark.needs("node-loss")
def test_lose_node(span): pass

@pytest.mark.chaos
@pytest.mark.isolates_node
@pytest.mark.needs("node-loss")
def test_isolated_lose_node(span): pass

def test_no_cluster(): pass
"""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for opt in OPTIONS:
        monkeypatch.delenv(opt.env, raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("ORDINAL_CLUSTER_DIR", str(tmp_path / "no-cluster"))
    monkeypatch.setenv("SPANS", str(tmp_path / "spans.jsonl"))


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_drains_and_node_loss_never_overlap_what_they_would_break(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """With 4 workers: drains and an isolating node loss MUST NOT overlap each other, node loss MUST overlap
    nothing; ordinary tests overlap."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess("-n", "4", "-p", "no:cacheprovider", "--allow-disruptive=yes")
    result.assert_outcomes(passed=12)
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    assert len(spans) == 11
    assert len({s["run"] for s in spans}) == 1, "every worker MUST share the controller's run id"
    assert len({s["worker"] for s in spans}) > 1
    exclusive = [s for s in spans if not s["test"].startswith("test_plain")]
    alone = next(s for s in spans if s["test"] == "test_lose_node")
    for i, a in enumerate(exclusive):
        for b in exclusive[i + 1 :]:
            assert not _overlap(a, b), (a, b)
    assert not [s for s in spans if s is not alone and _overlap(s, alone)]
    plain = [s for s in spans if s["test"].startswith("test_plain")]
    assert any(_overlap(a, b) for i, a in enumerate(plain) for b in plain[i + 1 :]), "ordinary tests ran one by one"


def test_records_of_every_worker_land_in_one_results_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """results.jsonl and figures.jsonl MUST hold every worker's lines once; JUnit carries every figure."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_measured(figures, n):
            figures.record("wait", 0.5 + n)
        """
    )
    out = tmp_path / "out"
    (out).mkdir()
    (out / "results.jsonl").write_text('{"test": "stale", "outcome": "passed"}\n')
    result = pytester.runpytest_subprocess("-n", "3", "-p", "no:cacheprovider", f"--junitxml={out / 'junit.xml'}")
    result.assert_outcomes(passed=8)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(line["test"].rsplit("[", 1)[1] for line in lines) == [f"{n}]" for n in range(8)]
    figures = [json.loads(line) for line in (out / "figures.jsonl").read_text().splitlines()]
    assert sorted(f["seconds"] for f in figures) == [0.5 + n for n in range(8)]
    assert (out / "junit.xml").read_text().count('name="figure:wait"') == 8
    result.stdout.fnmatch_lines(["*figure wait: 7.500s*"])


def test_n_auto_is_sized_by_the_cluster_not_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pytest -n auto`` MUST ask the cluster (two per schedulable node); unreadable → xdist's own count."""
    from factories import node
    from fakes import FakeKube

    import ordinal.pytest_plugin as plugin
    from ordinal.target import Target

    nodes = [node("n0"), node("n1"), node("n2"), node("n3", ready="False")]
    config: object = type("Config", (), {"getoption": lambda self, name, default=None: default})()
    monkeypatch.setattr(plugin, "settings_of", lambda config: plugin.Settings())
    monkeypatch.setattr(plugin, "resolve", lambda kubeconfig, context: Target("/k", None, "flag"))
    monkeypatch.setattr(plugin, "connect", lambda target: FakeKube(*nodes))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert plugin.pytest_xdist_auto_num_workers(config) == 6  # type: ignore[arg-type]

    def unreachable(target: Target) -> FakeKube:
        raise ConnectionRefusedError("no apiserver")

    monkeypatch.setattr(plugin, "connect", unreachable)
    assert plugin.pytest_xdist_auto_num_workers(config) is None  # type: ignore[arg-type]


def test_run_order_puts_the_schedulable_unit_first_and_node_loss_last() -> None:
    """All-nodes then drains first (one worker runs them beside the rest), node loss last, else stable."""
    from ordinal.pytest_plugin.workers import run_order

    accesses = [("a", "shared"), ("lose", "alone"), ("d1", "drain"), ("n", "none"), ("z", "all-nodes"), ("d2", "drain")]
    assert run_order(accesses) == ["z", "d1", "d2", "a", "n", "lose"]  # type: ignore[arg-type]


def test_the_scheduler_reads_one_unit_from_what_workers_wrote(tmp_path: Path) -> None:
    """The unit MUST hold the all-nodes and drain tests only; no file (or a broken one) MUST mean no unit."""
    from ordinal.pytest_plugin.workers import read_accesses, together, write_accesses

    assert read_accesses(tmp_path) == {}
    write_accesses(tmp_path, {"a": "shared", "d": "drain", "z": "all-nodes", "lose": "alone"})
    assert together(read_accesses(tmp_path)) == {"d", "z"}
    assert [p.name for p in tmp_path.iterdir()] == ["access.json"]
    (tmp_path / "access.json").write_text("{not json")
    assert read_accesses(tmp_path) == {}


def test_drains_run_on_one_worker_beside_ordinary_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Under ``-n``: the schedulable tests (an isolating node loss among them) MUST run on one worker, in order,
    while ordinary tests run beside them; node loss still overlapping nothing."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess("-n", "3", "-p", "no:cacheprovider", "--allow-disruptive=yes")
    result.assert_outcomes(passed=12)
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    unit = sorted(
        (s for s in spans if s["test"].startswith(("test_drain", "test_two_nodes", "test_isolated"))),
        key=lambda s: s["start"],
    )
    assert len({s["worker"] for s in unit}) == 1, unit
    assert [s["test"] for s in unit] == ["test_two_nodes", "test_drain[0]", "test_drain[1]", "test_isolated_lose_node"]
    plain = [s for s in spans if s["test"].startswith("test_plain")]
    assert any(_overlap(p, d) for p in plain for d in unit), "ordinary tests waited for the drains"
    alone = next(s for s in spans if s["test"] == "test_lose_node")
    # Handed out last, it may still run between two tests of the unit (their worker lets go of the
    # locks in between); what must hold is that it overlaps nothing.
    assert not [s for s in spans if s is not alone and _overlap(s, alone)], spans
