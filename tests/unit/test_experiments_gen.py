"""``ordinal experiments gen``: the shared parts come from one file; the experiments keep their own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ordinal import cli, experiments
from ordinal.errors import InvalidScenario

SHARED_PROBES = [
    "statefulset-ready",
    "identity-matches-snapshot",
    "claims-reattached",
    "no-duplicate-identity",
    "nodes-restored",
    "dns-records-match",
    "data-token-intact",
]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A copy of the committed experiments directory, shared file included."""
    copy = tmp_path / "experiments"
    shutil.copytree(experiments.EXPERIMENTS, copy)
    return copy


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def probes(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load(path)["steady-state-hypothesis"]["probes"]
    return found


def edit(path: Path, change: Any) -> None:
    data = load(path)
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_the_committed_experiments_are_in_their_generated_form(directory: Path) -> None:
    """`gen --check` MUST find nothing to change in the committed files."""
    lines: list[str] = []
    assert experiments.generate(directory, check=True, log=lines.append) == []
    assert lines == []


def test_every_experiment_carries_the_shared_hypothesis_in_order(directory: Path) -> None:
    """Each experiment MUST hold every shared probe, in the shared order."""
    for path in sorted(directory.glob("*.json")):
        names = [p["name"] for p in probes(path)]
        assert [n for n in names if n in SHARED_PROBES] == SHARED_PROBES, path.name


def test_the_shared_file_is_no_experiment_for_the_globs(directory: Path) -> None:
    """The `experiments/*.json` globs of `ordinal run` and `ordinal report` MUST NOT see the shared file."""
    assert all(path.parent == directory for path in directory.glob("*.json"))
    assert (directory / experiments.SHARED).is_file()


def test_gen_restores_a_hand_edited_shared_probe(directory: Path) -> None:
    """A hand edit of a shared probe MUST be reported by --check, left alone by it, and undone by gen."""
    drain = directory / "drain.json"
    original = drain.read_bytes()
    edit(drain, lambda d: d["steady-state-hypothesis"]["probes"][0]["provider"]["arguments"].update(timeout=99))
    edited = drain.read_bytes()
    lines: list[str] = []

    assert experiments.generate(directory, check=True, log=lines.append) == ["drain.json"]
    assert drain.read_bytes() == edited
    assert lines == [
        "drain.json: steady-state-hypothesis.probes[statefulset-ready].provider.arguments.timeout "
        "not as generated from _shared/common.json"
    ]

    assert experiments.generate(directory, log=lines.append) == ["drain.json"]
    assert drain.read_bytes() == original
    assert experiments.generate(directory, check=True) == []


def test_gen_puts_back_a_deleted_shared_probe_and_the_shared_order(directory: Path) -> None:
    """Deleted or reordered shared probes MUST come back, in the shared order."""
    pod_kill = directory / "pod-kill.json"
    original = pod_kill.read_bytes()

    def scramble(d: dict[str, Any]) -> None:
        found = d["steady-state-hypothesis"]["probes"]
        d["steady-state-hypothesis"]["probes"] = [p for p in reversed(found) if p["name"] != "claims-reattached"]

    edit(pod_kill, scramble)
    assert experiments.generate(directory, log=lambda _: None) == ["pod-kill.json"]
    assert pod_kill.read_bytes() == original


def test_an_experiment_specific_probe_stays_after_the_shared_probe_before_it(directory: Path) -> None:
    """An experiment's own probe MUST stay right after the shared probe it follows, whatever the shared list gains."""
    rolling = directory / "rolling-update-partition.json"
    before = [p["name"] for p in probes(rolling)]
    assert before[before.index("claims-reattached") + 1] == "revisions-respect-partition"
    new_probe = {
        "type": "probe",
        "name": "brand-new",
        "provider": {"type": "python", "module": "ordinal.chaos.statefulset.probes", "func": "f", "arguments": {}},
        "tolerance": ["passed"],
    }
    edit(
        directory / experiments.SHARED,
        lambda d: d["steady-state-hypothesis"]["probes"].insert(
            SHARED_PROBES.index("claims-reattached") + 1, new_probe
        ),
    )

    changed = experiments.generate(directory, log=lambda _: None)

    assert changed == sorted(path.name for path in directory.glob("*.json"))
    assert [p["name"] for p in probes(rolling)] == [
        "statefulset-ready",
        "identity-matches-snapshot",
        "claims-reattached",
        "revisions-respect-partition",
        "brand-new",
        "no-duplicate-identity",
        "nodes-restored",
        "dns-records-match",
        "data-token-intact",
    ]
    assert [p["name"] for p in probes(directory / "drain.json")] == [
        *SHARED_PROBES[:3],
        "brand-new",
        *SHARED_PROBES[3:],
    ]


def test_an_experiment_keeps_what_it_adds_to_a_shared_part(directory: Path) -> None:
    """Own arguments and configuration entries MUST survive gen, in place; shared values MUST win."""
    scale = directory / "scale-down-up.json"
    original = scale.read_bytes()
    data = load(scale)
    identity = next(p for p in data["steady-state-hypothesis"]["probes"] if p["name"] == "identity-matches-snapshot")
    assert identity["provider"]["arguments"]["replaced"] == ">=${scale_to}"
    sample = data["controls"][1]["provider"]["arguments"]
    assert list(sample) == ["timeout", "replicas", "storage_class", "when_scaled", "image", "node_selector", "audit"]
    assert data["controls"][0]["provider"]["arguments"]["report_name"] == "scale-down-up"

    edit(scale, lambda d: d["configuration"].update(timeout=5))
    experiments.generate(directory, log=lambda _: None)

    assert scale.read_bytes() == original  # bytes: key order counts too


def test_a_file_that_is_not_json_is_one_line_invalid_scenario(directory: Path) -> None:
    """A broken experiment MUST fail with one "expected …, found …" line and change no file."""
    (directory / "drain.json").write_text('{"version": "1.0.0",\n')
    drifted = directory / "delete-statefulset.json"  # read before drain.json: must not be written either
    edit(drifted, lambda d: d.update(runtime={}))
    before = drifted.read_bytes()

    with pytest.raises(InvalidScenario) as caught:
        experiments.generate(directory, log=lambda _: None)

    message = str(caught.value)
    assert message.startswith("expected drain.json to be JSON, found ")
    assert "line 2" in message
    assert "\n" not in message
    assert drifted.read_bytes() == before


def test_a_missing_shared_file_is_one_line_invalid_scenario(directory: Path) -> None:
    """Without the shared file gen MUST say where it looked, in one line."""
    (directory / experiments.SHARED).unlink()
    with pytest.raises(
        InvalidScenario, match=r"^expected the shared experiment parts _shared/common.json at .*, found"
    ):
        experiments.generate(directory)


def test_a_doubled_shared_probe_in_a_file_is_invalid_scenario(directory: Path) -> None:
    """Two copies of a shared probe in one file MUST be refused, not silently merged into one."""
    edit(
        directory / "drain.json",
        lambda d: d["steady-state-hypothesis"]["probes"].append(d["steady-state-hypothesis"]["probes"][0]),
    )
    with pytest.raises(
        InvalidScenario, match=r"^expected one 'statefulset-ready' in steady-state-hypothesis.probes of drain.json"
    ):
        experiments.generate(directory)


def test_cli_check_exits_1_with_one_line_naming_the_files(
    directory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ordinal experiments gen --check` MUST exit 1 with one line naming the drifted files and the fix."""
    monkeypatch.setattr(experiments, "EXPERIMENTS", directory)
    edit(directory / "drain.json", lambda d: d["runtime"].update(rollbacks={"strategy": "default"}))
    edit(directory / "node-loss.json", lambda d: d["controls"].reverse())

    assert cli.main(["experiments", "gen", "--check"]) == 1

    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "ordinal: expected the experiments to match experiments/_shared/common.json, "
        "found differences in drain.json, node-loss.json (run `ordinal experiments gen`)"
    )
    assert cli.main(["experiments", "gen"]) == 0
    assert cli.main(["experiments", "gen", "--check"]) == 0
