"""Every experiment is valid for Chaos Toolkit and binds its arguments to ordinal's signatures."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from chaoslib import substitute
from chaoslib.configuration import load_configuration
from chaoslib.experiment import ensure_experiment_is_valid

from ordinal.chaos import ACTIVITY_MODULES
from ordinal.chaos.boundary import coerce

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.json"))
NAMES = [p.stem for p in EXPERIMENTS]
CHAOS = Path(sys.executable).with_name("chaos")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def all_activities(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    return [*(hypothesis.get("probes") or []), *experiment["method"], *(experiment.get("rollbacks") or [])]


def test_the_issue_s_experiments_are_all_there() -> None:
    assert set(NAMES) == {
        "delete-statefulset",
        "drain",
        "node-loss",
        "pod-kill",
        "real-node-loss",
        "rolling-update-partition",
        "scale-down-up",
    }


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_chaos_validate_accepts_the_experiment(path: Path) -> None:
    """`chaos validate` MUST pass for every experiment file."""
    done = subprocess.run(
        [str(CHAOS), "--no-log-file", "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ensure_experiment_is_valid(load(path))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_arguments_bind_to_the_signatures_with_the_right_types(path: Path) -> None:
    """Each activity's arguments, substituted from the experiment's own defaults, MUST fit its signature."""
    experiment = load(path)
    configuration = load_configuration(experiment.get("configuration") or {})
    for act in all_activities(experiment):
        provider = act["provider"]
        func = getattr(importlib.import_module(provider["module"]), provider["func"])
        sig = inspect.signature(func)
        hints = typing.get_type_hints(func)
        args = substitute(dict(provider.get("arguments") or {}), configuration, {})
        injected = {k: None for k in ("configuration", "secrets") if k in sig.parameters}
        bound = sig.bind(**args, **injected)
        for name, value in bound.arguments.items():
            want = hints.get(name)
            if name in injected or want is None or want is inspect.Parameter.empty:
                continue
            value = coerce(name, value, want)
            ok = isinstance(value, want) or (want is float and isinstance(value, int))
            assert ok, f"{act['name']}: {name}={value!r} is not {want}"
            assert "${" not in str(value), f"{act['name']}: {name}={value!r} left unsubstituted"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_safety_control_comes_first_and_rollbacks_always_play(path: Path) -> None:
    experiment = load(path)
    controls = [c["provider"]["module"] for c in experiment["controls"]]
    assert controls == ["ordinal.chaos.controls", "ordinal.chaos.sample"]
    assert experiment["runtime"]["rollbacks"]["strategy"] == "always"
    safety = experiment["controls"][0]["provider"]["arguments"]
    assert safety["report_name"] == path.stem
    assert safety["reports_dir"] == "${reports_dir}"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_rollbacks_undo_every_node_change(path: Path) -> None:
    """Every experiment declares its rollbacks, and they end by restoring nodes from the ledger."""
    rollbacks = load(path)["rollbacks"]
    assert rollbacks, "no rollbacks declared"
    assert rollbacks[-1]["provider"]["func"] == "restore_node"
    assert rollbacks[-1]["provider"]["arguments"] == {}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_hypothesis_probes_are_ordinal_verdicts_with_status_tolerances(path: Path) -> None:
    probes = load(path)["steady-state-hypothesis"]["probes"]
    for probe in probes:
        assert probe["provider"]["module"] in ACTIVITY_MODULES
        assert probe["tolerance"] == ["passed"], probe["name"]  # "not checked" is never within tolerance
    names = [p["name"] for p in probes]
    for required in ("statefulset-ready", "identity-matches-snapshot", "claims-reattached", "no-duplicate-identity"):
        assert required in names
    # The probes that may answer "not checked" come last: the hypothesis stops at its first unmet
    # probe, and every other probe must still run.
    assert names[-2:] == ["dns-records-match", "data-token-intact"]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_the_method_takes_a_baseline_and_records_before_the_first_fault(path: Path) -> None:
    method = [a["provider"]["func"] for a in load(path)["method"]]
    assert method[:3] == ["snapshot_identity", "write_data_tokens", "start_recording"]
    assert method[-1] == "wait_for_identity_restored"


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_by_default_the_experiment_deploys_a_fresh_sample(path: Path) -> None:
    """An empty namespace means: the sample control deploys into a fresh one; --var namespace overrides."""
    configuration = load(path)["configuration"]
    assert configuration["namespace"] == ""
    assert configuration["statefulset"] == "web"
    assert configuration["reports_dir"] == {"type": "env", "key": "ORDINAL_REPORTS_DIR", "default": "reports"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=NAMES)
def test_every_action_names_the_experiment_namespace_or_is_run_scoped(path: Path) -> None:
    """The safety control would refuse anything else; catch it here, before a cluster is involved."""
    from ordinal.chaos.controls import refuse

    experiment = load(path)
    configuration = {**load_configuration(experiment["configuration"]), "namespace": "ord-target"}
    for act in experiment["method"] + experiment["rollbacks"]:
        if act["type"] == "action":
            assert refuse(act, configuration, {}) is None, act["name"]
