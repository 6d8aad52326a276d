"""``ordinal audit`` and the audit before a fault, with the cluster faked: exit codes, one-line bad input,
forbidden lists reported as not checked, and a run stopped before its fault by an error finding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import InterruptExecution
from factories import NS, endpoint_slice, pod, pvc, set_uid
from fakes import FakeKube

from ordinal import cli, target
from ordinal.chaos import controls, sample
from ordinal.errors import OrdinalError
from ordinal.kube import rest
from ordinal.kube.rest import Kube, Resource
from ordinal.kube.sample import sample_manifests
from ordinal.observe.inventory import fetch
from ordinal.target import Target
from ordinal.types import Obj


class Refusing(FakeKube):
    """A cluster whose RBAC refuses to list some resources (403, as the real client raises it)."""

    def __init__(self, *objects: Obj, refused: tuple[Resource, ...] = ()) -> None:
        super().__init__(*objects)
        self.refused = refused

    def list(self, res: Resource, namespace: str | None = None, **kw: Any) -> tuple[list[Obj], str]:
        if res in self.refused:
            body = json.dumps({"reason": "Forbidden", "message": "no"}).encode()
            raise rest._error_from("GET", res.path(namespace), 403, body)
        return super().list(res, namespace, **kw)


def workload(*, service: bool = True) -> list[Obj]:
    """The sample, running on three nodes; without its Service when ``service`` is False."""
    svc, sts, pdb = sample_manifests("web", NS, "r1")
    sts["metadata"]["uid"] = set_uid("web")
    pods = [pod(i, node=f"node-{i}") for i in range(3)]
    namespace = {"kind": "Namespace", "metadata": {"name": NS}}
    objects = [namespace, sts, pdb, *pods, *(pvc(i) for i in range(3)), endpoint_slice(svc, pods)]
    return objects + ([svc] if service else [])


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(kube: FakeKube) -> FakeKube:
        monkeypatch.setattr(target, "resolve", lambda *a: Target("/k", None, "local cluster", local=True))
        monkeypatch.setattr(target, "connect", lambda t: kube)
        return kube

    return use


def test_a_forbidden_list_is_recorded_with_the_rule_to_add() -> None:
    found = fetch(Refusing(*workload(), refused=(rest.NODES,)), NS)  # type: ignore[arg-type]
    assert set(found.unreadable) == {"Node"}
    assert found.unreadable["Node"].startswith("forbidden: list nodes needs the ClusterRole rule")


def test_statefulsets_that_cannot_be_listed_end_the_audit_in_one_line() -> None:
    with pytest.raises(OrdinalError, match="expected to list StatefulSets in namespace ord-test, got forbidden"):
        fetch(Refusing(refused=(rest.STATEFULSETS,)), NS)  # type: ignore[arg-type]


def test_a_well_shaped_namespace_exits_0_and_a_missing_service_exits_1(on: Any, capsys: Any) -> None:
    on(FakeKube(*workload()))
    assert cli.main(["audit", "-n", NS]) == 0
    out = capsys.readouterr().out
    assert f"statefulset {NS}/web: 1 info" in out and "--fail-on error: exit 0" in out
    on(FakeKube(*workload(service=False)))
    assert cli.main(["audit", "-n", NS, "-o", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 1 and doc["counts"]["error"] == 1
    assert doc["statefulsets"][0]["findings"][0]["rule"] == "audit.service-exists"


def test_fail_on_decides_which_severity_exits_1(on: Any, capsys: Any) -> None:
    on(FakeKube(*workload()))
    assert cli.main(["audit", "-n", NS, "--fail-on", "warning"]) == 0
    assert cli.main(["audit", "-n", NS, "--fail-on", "info"]) == 1


def test_forbidden_nodes_are_not_checked_in_the_output(on: Any, capsys: Any) -> None:
    on(Refusing(*workload(), refused=(rest.NODES,)))
    assert cli.main(["audit", "-n", NS, "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "not checked audit.not-checked  statefulset ord-test/web zone placement" in out
    assert "forbidden: list nodes needs the ClusterRole rule" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-n", "a", "-A"], "ordinal audit: expected -n NAMESPACE or -A, got both (-n a -A)"),
        (["-n", NS, "db"], f"ordinal audit: expected StatefulSet db in namespace {NS}, found only: {NS}/web"),
        (["-n", "nope"], "ordinal audit: expected namespace 'nope' to exist, found no such namespace"),
    ],
    ids=["both-scopes", "unknown-set", "unknown-namespace"],
)
def test_bad_input_is_one_line_and_exit_2(on: Any, capsys: Any, argv: list[str], message: str) -> None:
    on(FakeKube(*workload()))
    assert cli.main(["audit", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == message and captured.out == ""


def test_a_bad_fail_on_is_refused_by_the_parser(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["audit", "--fail-on", "fatal"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fatal'" in capsys.readouterr().err


def test_report_writes_html_and_json_and_refuses_a_used_directory(on: Any, tmp_path: Path, capsys: Any) -> None:
    on(FakeKube(*workload(service=False)))
    out = tmp_path / "audit"
    assert cli.main(["audit", "-n", NS, "--report", str(out)]) == 1
    doc = json.loads((out / "findings.json").read_text())
    page = (out / "index.html").read_text()
    assert doc["statefulsets"][0]["statefulset"] == f"{NS}/web"
    assert "audit.service-exists" in page and "<script" not in page and "http" not in page.split("<body>")[1]
    assert cli.main(["audit", "-n", NS, "--report", str(out)]) == 2
    assert "expected --report to be a new or empty directory, found 2 entries" in capsys.readouterr().err


# -- before a fault ------------------------------------------------------------------------------


class Session:
    def __init__(self, kube: FakeKube) -> None:
        self.client = kube

    def kube(self, configuration: Any = None, secrets: Any = None) -> Kube:
        return self.client  # type: ignore[return-value]


DRAIN = {"method": [{"provider": {"func": "drain_node_of"}}]}


def test_an_error_finding_stops_the_run_before_the_fault_with_it_as_the_one_line() -> None:
    controls.configure_control()
    with pytest.raises(InterruptExecution) as stopped:
        sample._gate(Session(FakeKube(*workload(service=False))), {"namespace": NS}, None, DRAIN, "error")
    assert str(stopped.value).startswith(
        "ordinal-safety: audit before the fault: [audit.service-exists] statefulset ord-test/web spec.serviceName"
    )
    assert controls._run.caught_by == "audit before the fault"
    assert sample._audited[0]["findings"][0]["rule"] == "audit.service-exists"


def test_audit_warn_records_the_error_and_goes_on() -> None:
    sample._gate(Session(FakeKube(*workload(service=False))), {"namespace": NS}, None, DRAIN, "warn")
    assert sample._audited[0]["mode"] == "warn" and sample._audited[0]["findings"][0]["severity"] == "error"


def test_before_a_drain_a_budget_allowing_no_disruption_stops_the_run() -> None:
    objects = workload()
    pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
    pdb["spec"]["minAvailable"] = 3
    with pytest.raises(InterruptExecution, match=r"\[audit.pdb-blocks-drain\] pdb ord-test/web"):
        sample._gate(Session(FakeKube(*objects)), {"namespace": NS}, None, DRAIN, "error")
    sample._gate(Session(FakeKube(*objects)), {"namespace": NS}, None, {"method": []}, "error")  # no drain: a warning
    assert sample._audited[0]["findings"][0]["rule"] == "audit.pdb-allows-none"


def test_a_set_that_is_not_there_is_left_to_the_hypothesis() -> None:
    sample._gate(Session(FakeKube()), {"namespace": NS, "statefulset": "web"}, None, DRAIN, "error")
    assert sample._audited[0]["found"] is False


def test_an_unknown_audit_mode_is_refused() -> None:
    with pytest.raises(InterruptExecution, match=r"expected --var audit=error\|warn, got 'off'"):
        sample.before_experiment_control({}, configuration={"namespace": NS}, audit="off")
