"""Stopping a real node through the user's commands: templating, failures, and the ledger that undoes it.

The commands run for real (``sh``), against the in-memory API of :mod:`fakes`; what the local
cluster's own stop does to a node is exercised on the cluster itself (tests/integration).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from factories import node
from fakes import FakeKube

from ordinal.act.namespaces import leaks, sweep
from ordinal.act.nodes import (
    NodeCommands,
    ledger,
    parse_node_command,
    restore_node,
    start_node,
    stop_node,
    taint_out_of_service,
)
from ordinal.errors import InvalidScenario, OrdinalError
from ordinal.kube import objects as o
from ordinal.kube.rest import NODES
from ordinal.labels import OUT_OF_SERVICE_TAINT

RUN = "20261207t0000-abcd"


def commands(log: Path, *, stop_exit: int = 0) -> NodeCommands:
    """Commands that note what they were asked in ``log`` (and fail the stop with ``stop_exit``)."""
    write = f"echo {{power}} {{node}} >> {shlex.quote(str(log))}"
    return NodeCommands(
        stop=shlex.join(["sh", "-c", write.replace("{power}", "stop") + f"; exit {stop_exit}"]),
        start=shlex.join(["sh", "-c", write.replace("{power}", "start")]),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a command, got an empty one"),
        ("ssh host sudo systemctl stop kubelet", "expected a command naming the node as {node}"),
        ("ssh '{node}", "expected a command as a shell would split it"),
    ],
)
def test_a_command_template_must_split_and_name_the_node(text: str, message: str) -> None:
    with pytest.raises(InvalidScenario, match=message.replace("{", "\\{").replace("}", "\\}")):
        parse_node_command(text)


def test_the_node_name_fills_the_placeholder_word_by_word_without_a_shell() -> None:
    """``{node}`` MUST be replaced inside the words (a name never becomes extra words or shell syntax)."""
    given = NodeCommands("ssh {node} sudo systemctl stop kubelet", "gcloud compute instances start {node}-vm")
    assert given.argv("stop", "web node") == ["ssh", "web node", "sudo", "systemctl", "stop", "kubelet"]
    assert given.argv("start", "n1") == ["gcloud", "compute", "instances", "start", "n1-vm"]
    assert NodeCommands.from_env({"ORDINAL_NODE_STOP_COMMAND": "x {node}"}) == NodeCommands("x {node}", "")
    assert not NodeCommands("x {node}", "").configured
    assert "--node-start-command (ORDINAL_NODE_START_COMMAND) not given" in NodeCommands("x {node}").missing()


def test_a_failing_command_is_one_line_with_its_exit_and_output(tmp_path: Path) -> None:
    failing = NodeCommands("sh -c 'echo no such node {node} >&2; exit 3'", "true {node}")
    with pytest.raises(OrdinalError) as raised:
        failing.run("stop", "n9")
    text = str(raised.value)
    assert text.splitlines() == [text]
    assert text.startswith("expected `sh -c 'echo no such node n9 >&2; exit 3'` to stop node n9, it exited 3")
    assert text.endswith(": no such node n9")
    with pytest.raises(OrdinalError, match="found no program 'no-such-tool'"):
        NodeCommands("no-such-tool {node}", "x {node}").run("stop", "n1")


def test_a_stopped_node_is_in_the_ledger_and_started_again_by_restore_and_sweep(tmp_path: Path) -> None:
    """Stop MUST be noted before it runs; restore MUST start the node first, then remove our taint."""
    log = tmp_path / "log"
    kube = FakeKube(node("n1", ready="Unknown"), node("n2"))
    given = commands(log)
    assert stop_node(kube, "n1", RUN, given) is True
    assert stop_node(kube, "n1", RUN, given) is False  # already stopped by this run: not twice
    assert ledger(kube.get(NODES, "n1")) == {"run": RUN, "stopped": True}
    assert taint_out_of_service(kube, "n1", RUN)
    assert leaks(kube, RUN) == ["changes on node/n1"]
    removed, errors = sweep(kube, RUN, commands=given)
    assert (removed, errors) == (["changes on node/n1"], [])
    assert log.read_text().split("\n")[:2] == ["stop n1", "start n1"]
    after = kube.get(NODES, "n1")
    assert ledger(after) == {} and OUT_OF_SERVICE_TAINT not in o.taint_keys(after)
    assert start_node(kube, "n1", given) is False  # nothing of ours left to start


def test_a_stop_that_fails_starts_the_node_again_and_leaves_no_ledger(tmp_path: Path) -> None:
    log = tmp_path / "log"
    kube = FakeKube(node("n1"))
    with pytest.raises(OrdinalError, match="it exited 4"):
        stop_node(kube, "n1", RUN, commands(log, stop_exit=4))
    assert log.read_text().split() == ["stop", "n1", "start", "n1"]
    assert ledger(kube.get(NODES, "n1")) == {}


def test_without_a_start_command_the_other_changes_are_still_undone_and_the_error_names_what_to_give(
    tmp_path: Path,
) -> None:
    kube = FakeKube(node("n1", ready="Unknown"))
    stop_node(kube, "n1", RUN, commands(tmp_path / "log"))
    taint_out_of_service(kube, "n1", RUN)
    with pytest.raises(InvalidScenario, match=r"node n1 was stopped by run .*: expected a node-start command"):
        restore_node(kube, "n1", None)
    assert ledger(kube.get(NODES, "n1")) == {"run": RUN, "stopped": True}  # only what could not be undone
    _, errors = sweep(kube, RUN)
    assert len(errors) == 1 and "ORDINAL_NODE_START_COMMAND" in errors[0]


def test_stop_refuses_an_unknown_node_and_missing_commands(tmp_path: Path) -> None:
    kube = FakeKube(node("n1"))
    with pytest.raises(InvalidScenario, match="expected node 'n9' to stop, found none"):
        stop_node(kube, "n9", RUN, commands(tmp_path / "log"))
    with pytest.raises(InvalidScenario, match="expected commands to stop and start node n1: --node-stop-command"):
        stop_node(kube, "n1", RUN, NodeCommands())
    assert ledger(kube.get(NODES, "n1")) == {}
