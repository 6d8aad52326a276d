"""The Chaos Toolkit contract of ordinal.chaos: names, signatures, discovery, the activity boundary."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from ordinal.chaos import ACTIVITY_MODULES, activity_type, discover
from ordinal.chaos.boundary import activity, coerce
from ordinal.chaos.results import select_ordinals
from ordinal.errors import InvalidScenario, WaitTimeout

SRC = Path(__file__).resolve().parents[2] / "src"

#: The published contract, name by name: a rename or a removal must show up here.
EXPECTED = {
    "ordinal.chaos.statefulset.actions": {
        "delete_statefulset",
        "deploy_sample",
        "kill_ordinal",
        "recreate_statefulset",
        "remove_sample",
        "restore_replicas",
        "rollout_canary",
        "snapshot_identity",
        "start_recording",
        "stop_recording",
        "undo_canary",
        "write_data_tokens",
    },
    "ordinal.chaos.statefulset.probes": {
        "await_adopted",
        "await_displaced_ordinal",
        "await_ready",
        "await_rollout",
        "claims_reattached",
        "data_token_intact",
        "dns_records_match",
        "expect_claims_follow_retention",
        "expect_not_replaced",
        "identity_matches_snapshot",
        "no_duplicate_identity",
        "revisions_respect_partition",
        "statefulset_ready",
        "wait_for_identity_restored",
    },
    "ordinal.chaos.node.actions": {
        "drain_node_of",
        "lose_node_of",
        "restore_node",
        "start_node",
        "stop_node_of",
        "taint_out_of_service",
        "uncordon_node",
    },
    "ordinal.chaos.node.probes": {
        "await_node_ready",
        "await_node_unreachable",
        "expect_attached_to_lost_node",
        "lost_node_held",
        "nodes_restored",
    },
}
BUILTINS = {str: "string", int: "integer", float: "number", bool: "boolean"}
INJECTED = ("configuration", "secrets")


def activities() -> list[tuple[str, str]]:
    return [(m, n) for m in ACTIVITY_MODULES for n in importlib.import_module(m).__all__]


def test_activity_modules_are_the_expected_ones() -> None:
    assert set(ACTIVITY_MODULES) == set(EXPECTED)


@pytest.mark.parametrize("module", ACTIVITY_MODULES)
def test_every_exported_name_exists_and_is_callable(module: str) -> None:
    """Every name in an activity module's __all__ MUST be a function defined there, and none missing."""
    mod = importlib.import_module(module)
    assert set(mod.__all__) == EXPECTED[module]
    for name in mod.__all__:
        assert callable(getattr(mod, name, None)), f"{module}.{name}"
        assert inspect.isfunction(getattr(mod, name))


@pytest.mark.parametrize("module", ACTIVITY_MODULES)
def test_activity_modules_keep_annotations_evaluated(module: str) -> None:
    """Activity modules MUST NOT postpone annotations: chaoslib discovery would see strings and say 'object'."""
    path = SRC / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    postponed = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
    ]
    assert postponed == []


@pytest.mark.parametrize(("module", "name"), activities(), ids=lambda v: v.rsplit(".", 1)[-1])
def test_signature_follows_the_chaostoolkit_shape(module: str, name: str) -> None:
    """Positional-or-keyword parameters of bare builtin types with non-None defaults; configuration, secrets last."""
    func = getattr(importlib.import_module(module), name)
    params = list(inspect.signature(func).parameters.values())
    assert [p.name for p in params[-2:]] == list(INJECTED)
    for param in params:
        assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, param
        if param.name in INJECTED:
            assert param.default is None
            continue
        assert param.annotation in BUILTINS, f"{name}({param.name}: {param.annotation})"
        assert param.default is not None, f"{name}({param.name}) defaults to None"
    names = {p.name for p in params}
    assert not names & {"namespace", "set_name", "statefulset"}, "use chaostoolkit-kubernetes names: name, ns"


@pytest.mark.parametrize(("module", "name"), activities(), ids=lambda v: v.rsplit(".", 1)[-1])
def test_docstring_starts_with_one_user_facing_sentence(module: str, name: str) -> None:
    doc = inspect.getdoc(getattr(importlib.import_module(module), name)) or ""
    first = doc.splitlines()[0] if doc else ""
    assert first.endswith(".") and len(first) <= 120, first


def test_discovery_lists_every_activity_with_its_kind_and_argument_types() -> None:
    """`chaos discover ordinal` MUST list probes as probes, actions as actions, with builtin argument types."""
    found = discover(discover_system=False)
    assert found["extension"]["name"] == "ordinal"
    by_module: dict[str, dict[str, dict[str, Any]]] = {}
    for item in found["activities"]:
        by_module.setdefault(item["mod"], {})[item["name"]] = item
    assert {m: set(v) for m, v in by_module.items()} == EXPECTED
    for module, items in by_module.items():
        for name, item in items.items():
            assert item["type"] == activity_type(module), name
            assert item["doc"], name
            func = getattr(importlib.import_module(module), name)
            want = {
                p.name: BUILTINS[p.annotation]
                for p in inspect.signature(func).parameters.values()
                if p.name not in INJECTED
            }
            got = {a["name"]: a.get("type") for a in item["arguments"] if a["name"] not in INJECTED}
            assert got == want, name


def test_discovery_spells_types_name_by_name_for_a_sample_of_activities() -> None:
    items = {a["name"]: a for a in discover(discover_system=False)["activities"]}
    kill = {a["name"]: (a.get("type"), a.get("default")) for a in items["kill_ordinal"]["arguments"]}
    assert kill["name"] == ("string", None)
    assert kill["ordinal"] == ("integer", None)
    assert kill["ns"] == ("string", "default")
    assert kill["grace_period"] == ("integer", -1)
    ready = {a["name"]: a.get("type") for a in items["statefulset_ready"]["arguments"]}
    assert ready["timeout"] == "number"
    assert items["statefulset_ready"]["type"] == "probe"
    assert items["drain_node_of"]["type"] == "action"


def test_activity_type_follows_the_module_name() -> None:
    assert activity_type("ordinal.chaos.node.probes") == "probe"
    assert activity_type("ordinal.chaos.node.actions") == "action"
    with pytest.raises(ValueError, match="actions or probes"):
        activity_type("ordinal.chaos.controls")


# -- the boundary ------------------------------------------------------------------------------


@activity
def _sample(count: int, ratio: float = 0.5, flag: bool = False, label: str = "x") -> tuple[int, float, bool, str]:
    """Echo the coerced arguments."""
    return count, ratio, flag, label


@activity
def _times_out(name: str) -> None:
    """Always time out."""
    raise WaitTimeout(f"StatefulSet ns/{name} ready", "ready 2/3", 12.0, timeline="line two")


def test_boundary_coerces_var_strings_to_the_annotated_types() -> None:
    assert _sample("3", "1.5", "true", "y") == (3, 1.5, True, "y")
    assert _sample(3) == (3, 0.5, False, "x")


def test_boundary_reports_a_bad_argument_as_activity_failed() -> None:
    with pytest.raises(ActivityFailed, match=r"_sample: expected argument count to be int, got 'three'"):
        _sample("three")


def test_boundary_translates_ordinal_errors_keeping_their_first_line() -> None:
    with pytest.raises(ActivityFailed) as caught:
        _times_out("web")
    assert str(caught.value) == "_times_out: expected StatefulSet ns/web ready, saw ready 2/3 after 12.0s"
    assert isinstance(caught.value.__cause__, WaitTimeout)


def test_boundary_keeps_the_signature_discovery_reads() -> None:
    assert list(inspect.signature(_sample).parameters) == ["count", "ratio", "flag", "label"]
    assert inspect.getdoc(_sample) == "Echo the coerced arguments."


def test_coerce_leaves_other_types_alone() -> None:
    assert coerce("x", "7", str) == "7"
    assert coerce("x", 7, int) == 7
    with pytest.raises(InvalidScenario):
        coerce("flag", "maybe", bool)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("disrupted", {1}),
        ("none", set()),
        ("", set()),
        ("all", {0, 1, 2}),
        (">=1", {1, 2}),
        ("0,2", {0, 2}),
        ("disrupted,>=2", {1, 2}),
    ],
    ids=["disrupted", "none", "empty", "all", "at-or-above", "list", "combined"],
)
def test_ordinal_selection_reads_as_written(spec: str, want: set[int]) -> None:
    assert select_ordinals(spec, range(3), {1}) == want


def test_ordinal_selection_rejects_garbage() -> None:
    with pytest.raises(InvalidScenario, match="ordinal selection"):
        select_ordinals("web-1", range(3), ())
