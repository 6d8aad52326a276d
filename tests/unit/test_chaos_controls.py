"""The safety control: which clusters, which namespaces, failed steps fail the run, the verdict in the journal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from chaoslib.exceptions import InterruptExecution

from ordinal.chaos import controls
from ordinal.chaos.session import Session, close_session, current, install
from ordinal.errors import InvalidScenario
from ordinal.target import Target, check_allowed


def action(module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": "action",
        "name": func,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }


KILL = "ordinal.chaos.statefulset.actions"
NODE = "ordinal.chaos.node.actions"
CONFIG = {"namespace": "ord-target", "statefulset": "web"}


@pytest.fixture(autouse=True)
def fresh_run() -> Iterator[Session]:
    controls.configure_control(experiment={"title": "unit"})
    session = current()
    yield session
    close_session()


# -- namespace guard ---------------------------------------------------------------------------


def test_an_action_in_the_target_namespace_may_run() -> None:
    assert controls.refuse(action(KILL, "kill_ordinal", name="web", ordinal=1, ns="${namespace}"), CONFIG, {}) is None


def test_an_action_in_another_namespace_is_refused() -> None:
    refusal = controls.refuse(action(KILL, "kill_ordinal", name="web", ordinal=1, ns="kube-system"), CONFIG, {})
    assert refusal == "expected namespace 'ord-target', the experiment's target; the action names 'kube-system'"


def test_an_action_relying_on_its_default_namespace_is_refused() -> None:
    refusal = controls.refuse(action(KILL, "kill_ordinal", name="web", ordinal=1), CONFIG, {})
    assert refusal is not None and "'default'" in refusal


def test_no_disruptive_action_runs_before_a_target_namespace_is_known() -> None:
    refusal = controls.refuse(action(KILL, "kill_ordinal", name="web", ordinal=1, ns=""), {"namespace": ""}, {})
    assert refusal is not None and "target namespace" in refusal


def test_chaostoolkit_kubernetes_actions_are_confined_by_their_ns_argument() -> None:
    scale = action("chaosk8s.statefulset.actions", "scale_statefulset", name="web", replicas=1, ns="${namespace}")
    assert controls.refuse(scale, CONFIG, {}) is None
    assert controls.refuse(
        {**scale, "provider": {**scale["provider"], "arguments": {"name": "web", "replicas": 1}}}, CONFIG, {}
    )


def test_run_scoped_node_actions_need_no_namespace_but_foreign_cluster_wide_ones_are_refused() -> None:
    assert controls.refuse(action(NODE, "restore_node"), CONFIG, {}) is None
    assert controls.refuse(action(NODE, "taint_out_of_service"), CONFIG, {}) is None
    refusal = controls.refuse(action("chaosk8s.node.actions", "drain_nodes", name="n1"), CONFIG, {})
    assert refusal is not None and "takes no namespace" in refusal


def test_a_process_action_cannot_be_confined_and_is_refused() -> None:
    refusal = controls.refuse(
        {"type": "action", "name": "x", "provider": {"type": "process", "path": "kubectl"}}, CONFIG, {}
    )
    assert refusal is not None and "Python" in refusal


def test_the_guard_raises_before_the_activity_runs() -> None:
    current().phase = "method"
    with pytest.raises(InterruptExecution, match="refused action 'kill_ordinal'"):
        controls.before_activity_control(
            action(KILL, "kill_ordinal", name="web", ordinal=1, ns="other"), configuration=dict(CONFIG)
        )


# -- allowed contexts --------------------------------------------------------------------------


def kubeconfig(tmp_path: Path, current_context: str) -> str:
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in ("staging-eu", "prod")],
        "current-context": current_context,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_the_local_cluster_is_always_allowed() -> None:
    assert (
        check_allowed(Target("/x/admin.kubeconfig", "ordinal-local", "local cluster", local=True), env={})
        == "ordinal-local"
    )


def test_a_context_matching_the_allow_list_is_allowed(tmp_path: Path) -> None:
    target = Target(kubeconfig(tmp_path, "staging-eu"), None, "env KUBECONFIG")
    assert check_allowed(target, env={"ORDINAL_ALLOW_CONTEXTS": "dev, staging-*"}) == "staging-eu"


def test_any_other_context_is_refused_naming_the_variable(tmp_path: Path) -> None:
    target = Target(kubeconfig(tmp_path, "prod"), None, "env KUBECONFIG")
    with pytest.raises(
        InvalidScenario, match=r"refusing kube context 'prod' \(env KUBECONFIG\).*ORDINAL_ALLOW_CONTEXTS"
    ):
        check_allowed(target, env={"ORDINAL_ALLOW_CONTEXTS": "staging-*"})
    with pytest.raises(InvalidScenario, match="nothing but the local cluster"):
        check_allowed(target, env={})


def test_an_explicit_context_is_judged_not_the_current_one(tmp_path: Path) -> None:
    target = Target(kubeconfig(tmp_path, "staging-eu"), "prod", "flag")
    with pytest.raises(InvalidScenario, match="'prod'"):
        check_allowed(target, env={"ORDINAL_ALLOW_CONTEXTS": "staging-*"})


def test_refusing_the_cluster_interrupts_the_run_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig(tmp_path, "prod"))
    monkeypatch.delenv("ORDINAL_KUBECONFIG", raising=False)
    monkeypatch.delenv("ORDINAL_ALLOW_CONTEXTS", raising=False)
    with pytest.raises(InterruptExecution, match="refusing kube context 'prod'"):
        controls.before_experiment_control({"title": "t"}, configuration={})


def test_chaostoolkit_kubernetes_is_pinned_to_the_same_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", "~/.kube/config")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_CONTEXT", raising=False)
    controls.pin_chaostoolkit_kubernetes("/tmp/cluster/admin.kubeconfig", "ordinal-local")
    import os

    assert os.environ["KUBECONFIG"] == "/tmp/cluster/admin.kubeconfig"
    assert os.environ["KUBERNETES_CONTEXT"] == "ordinal-local"
    assert kube_config.KUBE_CONFIG_DEFAULT_LOCATION == "/tmp/cluster/admin.kubeconfig"


# -- failures fail -----------------------------------------------------------------------------


def failed_run(name: str) -> dict[str, Any]:
    return {
        "activity": {"name": name},
        "status": "failed",
        "exception": [
            "Traceback...\n",
            "chaoslib.exceptions.ActivityFailed: drain_node_of: expected node 'x', found none\n",
        ],
    }


def test_a_failed_method_action_interrupts_the_run() -> None:
    current().phase = "method"
    state = failed_run("drain")
    with pytest.raises(InterruptExecution, match="method action 'drain'"):
        controls.after_activity_control({"type": "action", "name": "drain"}, state=state)
    assert state["ordinal"]["phase"] == "method"


def test_a_sigterm_inside_an_activity_stops_the_run_but_stays_an_interrupt(tmp_path: Path) -> None:
    current().phase = "method"
    state = {
        "status": "failed",
        "exception": [
            "chaoslib.exceptions.ActivityFailed: chaoslib.exceptions.InterruptExecution: SIGTERM signal received\n"
        ],
    }
    with pytest.raises(InterruptExecution, match="SIGTERM"):
        controls.after_activity_control({"type": "probe", "name": "wait"}, state=state)
    data = journal(status="interrupted")
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    assert data["status"] == "interrupted"


def test_a_sigterm_swallowed_somewhere_is_raised_again_at_the_next_step() -> None:
    current().phase = "method"
    controls._run.signalled = "SIGTERM signal received"
    with pytest.raises(InterruptExecution, match="SIGTERM"):
        controls.before_activity_control(
            action(KILL, "kill_ordinal", name="web", ordinal=1, ns="ord-target"), configuration=dict(CONFIG)
        )
    current().phase = "rollback"
    controls.before_activity_control(action(NODE, "restore_node"), configuration=dict(CONFIG))  # rollbacks still run


def test_a_failed_rollback_is_recorded_but_lets_the_other_rollbacks_run() -> None:
    current().phase = "rollback"
    controls.after_activity_control({"type": "action", "name": "uncordon"}, state=failed_run("uncordon"))
    assert controls._run.problems == ["rollback action 'uncordon': drain_node_of: expected node 'x', found none"]


def test_a_failed_hypothesis_probe_is_left_to_the_tolerance() -> None:
    current().phase = "hypothesis-before"
    controls.after_activity_control({"type": "probe", "name": "ready"}, state=failed_run("ready"))
    assert controls._run.problems == []


def journal(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "experiment": {
            "title": "Drain",
            "steady-state-hypothesis": {"probes": [{"name": "dns"}]},
            "method": [],
            "rollbacks": [],
        },
        "status": "completed",
        "deviated": False,
        "duration": 1.5,
        "steady_states": {"before": None, "after": None, "during": []},
        "run": [],
        "rollbacks": [],
    }
    base.update(overrides)
    return base


def unmet(summary: str) -> dict[str, Any]:
    verdict = {"status": "failed", "summary": summary, "findings": [], "details": {}}
    return {
        "steady_state_met": False,
        "probes": [{"activity": {"name": "dns"}, "status": "succeeded", "output": verdict, "tolerance_met": False}],
    }


def test_an_unmet_hypothesis_before_the_method_fails_the_run(tmp_path: Path) -> None:
    """chaoslib would call it completed (exit 0); the control MUST turn it into a failure naming the probe."""
    data = journal(steady_states={"before": unmet("[dns.per-pod-a-record] …"), "after": None, "during": []})
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    assert data["status"] == "failed"
    assert data["ordinal"]["caught_by"] == "hypothesis-before probe 'dns'"
    assert (tmp_path / "junit-chaos-drain.xml").is_file()


def test_a_deviation_after_the_method_stays_chaoslib_s_verdict_and_names_the_probe(tmp_path: Path) -> None:
    data = journal(deviated=True, steady_states={"before": None, "after": unmet("lost"), "during": []})
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    assert (data["status"], data["deviated"]) == ("completed", True)
    assert data["ordinal"]["caught_by"] == "hypothesis-after probe 'dns'"


def unchecked(reason: str) -> dict[str, Any]:
    verdict = {"status": "not-checked", "summary": reason, "findings": [], "details": {}}
    return {
        "steady_state_met": False,
        "probes": [{"activity": {"name": "dns"}, "status": "succeeded", "output": verdict, "tolerance_met": False}],
    }


def test_a_probe_not_checked_after_the_method_makes_the_run_not_checked_never_held(tmp_path: Path) -> None:
    """A probe that could not run MUST give verdict not-checked with its reason in the journal and the JUnit view."""
    reason = "needs: exec into pods (pod ord-target/web-0 runs on simulated node n1)"
    data = journal(deviated=True, steady_states={"before": None, "after": unchecked(reason), "during": []})
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    section = data["ordinal"]
    assert section["verdict"] == "not-checked"
    assert section["not_checked"] == [{"phase": "after", "probe": "dns", "reason": reason}]
    assert section["problems"] == [f"hypothesis-after probe 'dns': not checked: {reason}"]
    suite = ET.parse(tmp_path / "junit-chaos-drain.xml").getroot()
    cases = {c.attrib["name"]: c for c in suite.iter("testcase")}
    probe = cases["dns"]
    assert [c.tag for c in probe if c.tag != "system-out"] == ["skipped"]
    outcome = cases["outcome"].find("skipped")
    assert outcome is not None and outcome.attrib["message"] == f"not checked: after dns: {reason}"
    assert (suite.attrib["failures"], suite.attrib["errors"]) == ("0", "0")


def test_a_broken_promise_beside_a_probe_not_checked_is_the_verdict() -> None:
    """Not checked MUST NOT mask a real failure: a failed probe keeps the run failed/deviated."""
    problems = [
        "hypothesis-after probe 'ready': [chaos.statefulset-ready] …",
        "hypothesis-after probe 'dns': not checked: x",
    ]
    data = journal(deviated=True, steady_states={"before": None, "after": unchecked("x"), "during": []})
    assert controls.verdict_of(data, problems, problems[1:], []) == "deviated"
    assert controls.verdict_of(data, problems[1:], problems[1:], []) == "not-checked"
    assert controls.verdict_of(journal(), [], [], []) == "held"
    tolerated = journal(steady_states={"before": None, "after": {**unchecked("x"), "steady_state_met": True}})
    assert controls.verdict_of(tolerated, [], [], []) == "not-checked"  # a hand-written tolerance that accepts it


def test_an_interrupt_the_control_caused_ends_as_failed(tmp_path: Path) -> None:
    current().phase = "method"
    with pytest.raises(InterruptExecution):
        controls.after_activity_control({"type": "action", "name": "drain"}, state=failed_run("drain"))
    data = journal(status="interrupted")
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    assert data["status"] == "failed"
    assert data["ordinal"]["caught_by"] == "method action 'drain'"
    junit = ET.parse(tmp_path / "junit-chaos-drain.xml").getroot()
    outcome = junit.find(".//testcase[@name='outcome']/failure")
    assert outcome is not None and "caught by method action 'drain'" in outcome.attrib["message"]


def test_a_method_step_the_cluster_lacks_a_capability_for_makes_the_run_not_checked(tmp_path: Path) -> None:
    """A fault the cluster cannot make (no node-stop command) MUST stop the run as not checked, never held or failed."""
    current().phase = "method"
    needs = "needs: a command that stops and starts a real node (ORDINAL_NODE_STOP_COMMAND not given)"
    state = {
        "activity": {"name": "stop-node"},
        "status": "failed",
        "exception": ["Traceback...\n", f"chaoslib.exceptions.ActivityFailed: stop_node_of: {needs}\n"],
    }
    with pytest.raises(InterruptExecution, match="not checked: needs: a command"):
        controls.after_activity_control({"type": "action", "name": "stop-node"}, state=state)
    experiment = {"title": "Real", "steady-state-hypothesis": {"probes": []}, "method": [{"name": "stop-node"}]}
    data = journal(status="interrupted", run=[state], experiment=experiment)
    controls.after_experiment_control({"title": "Real"}, state=data, reports_dir=str(tmp_path), report_name="real")
    section = data["ordinal"]
    assert (data["status"], section["verdict"]) == ("failed", "not-checked")
    assert section["not_checked"] == [{"phase": "method", "probe": "stop-node", "reason": needs}]
    junit = ET.parse(tmp_path / "junit-chaos-real.xml").getroot()
    step = junit.find(".//testcase[@name='stop-node']/skipped")
    assert step is not None and step.attrib["message"] == f"not checked: {needs}"
    assert junit.find(".//testcase[@name='outcome']/skipped") is not None
    assert (junit.attrib["failures"], junit.attrib["errors"]) == ("0", "0")


def test_a_ctrl_c_stays_interrupted(tmp_path: Path) -> None:
    data = journal(status="interrupted")
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    assert data["status"] == "interrupted"


def test_the_journal_gains_an_ordinal_section_with_figures(tmp_path: Path) -> None:
    session = install(Session("20261125t0000-abcd", phase="method"))
    session.figures.append({"pod": "web-1", "to_ready": 1.0})
    data = journal()
    controls.after_experiment_control({"title": "Drain"}, state=data, reports_dir=str(tmp_path), report_name="drain")
    section = data["ordinal"]
    assert section["run_id"] == "20261125t0000-abcd"
    assert section["figures"]["wall_seconds"] == 1.5
    assert section["figures"]["restoration"] == [{"pod": "web-1", "to_ready": 1.0}]
    assert section["figures"]["api_requests"]["total"] == 0
    assert json.dumps(data)  # still JSON


def test_a_broken_hook_is_reported_not_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    controls.after_experiment_control({"title": "Drain"}, state={"no": "journal shape"}, reports_dir="/dev/null/x")
    assert controls._run.control_errors and controls._run.control_errors[0].startswith("after_experiment_control:")
    assert any(r.levelname == "WARNING" for r in caplog.records)
