"""Node faults and their undo: cordon, silenced heartbeats, a stopped node, the out-of-service taint,
a simulated node added for one test.

Every node change is noted in an annotation on the node itself (the ledger, tagged with the
run id) *before* it is made, so a crash in between still leaves a trace for the sweep, the
safety control and ``ordinal cleanup``; undoing a change clears its entry. Nothing here undoes
a change ordinal did not make.

Stopping a real node is the one fault the API cannot make: it takes the machine itself (its
kubelet, container runtime, containers and CSI node plugin). ordinal runs a command the user
gives for it (:class:`NodeCommands`, ``{node}`` standing for the node's name): ``ordinal
cluster node stop {node}`` on the local cluster, ``ssh {node} sudo systemctl stop kubelet
containerd`` or a cloud CLI elsewhere. The ledger says which nodes are stopped; starting one
again needs the start command, which never comes from the cluster (a node annotation must not
choose what runs on the machine running ordinal).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ordinal.errors import CapabilityMissing, InvalidScenario, OrdinalError, WaitTimeout
from ordinal.kube import objects as o
from ordinal.kube.rest import NODES, PODS, Forbidden, Kube
from ordinal.labels import (
    HOSTNAME_LABEL,
    KWOK_NODE_ANNOTATION,
    LEDGER_ANNOTATION,
    NODE_KIND_LABEL,
    OUT_OF_SERVICE_TAINT,
    RESERVED_TAINT,
    SIMULATED_NODE_KIND,
)
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

# -- the ledger ------------------------------------------------------------------------------------


def ledger(node: Obj) -> dict[str, Any]:
    """What ordinal changed on this node and has not undone yet: {"run": id, "cordoned": true, "lost": true}."""
    raw = (node.get("metadata", {}).get("annotations") or {}).get(LEDGER_ANNOTATION)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _write_ledger(kube: Kube, node: str, data: dict[str, Any], extra: Obj | None = None) -> None:
    changes = {k: v for k, v in data.items() if k != "run"}
    value = json.dumps(data) if changes else None
    kube.patch(NODES, node, {**(extra or {}), "metadata": {"annotations": {LEDGER_ANNOTATION: value}}})


def record_node_change(kube: Kube, node: str, run_id: str, **changes: bool) -> None:
    """Note a change *before* making it, so a crash in between still leaves a trace for the sweep."""
    current = kube.get(NODES, node)
    _write_ledger(kube, node, {**ledger(current), "run": run_id, **changes})


def clear_node_change(kube: Kube, node: str, key: str, extra: Obj | None = None) -> None:
    current = kube.get_or_none(NODES, node)
    if current is None:
        return
    data = {k: v for k, v in ledger(current).items() if k != key}
    _write_ledger(kube, node, data, extra)


def ledger_nodes(kube: Kube, run_id: str | None = None, key: str | None = None) -> list[str]:
    """Nodes with ledger entries (of ``run_id``; with the change ``key``), sorted."""
    nodes, _ = kube.list(NODES)
    found = []
    for node in nodes:
        entry = ledger(node)
        if entry and (run_id is None or entry.get("run") == run_id) and (key is None or entry.get(key)):
            found.append(o.name(node))
    return sorted(found)


# -- cordon ----------------------------------------------------------------------------------------


def cordon(kube: Kube, node: str, run_id: str) -> bool:
    """Cordon ``node`` and note it; False if it was already unschedulable (then it is not ours to undo)."""
    current = kube.get(NODES, node)
    if current.get("spec", {}).get("unschedulable"):
        return False
    record_node_change(kube, node, run_id, cordoned=True)
    kube.patch(NODES, node, {"spec": {"unschedulable": True}})
    return True


def uncordon(kube: Kube, node: str) -> None:
    """Undo a cordon ordinal made (and only that)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("cordoned"):
        return
    clear_node_change(kube, node, "cordoned", extra={"spec": {"unschedulable": None}})


# -- a lost node -----------------------------------------------------------------------------------


def stop_heartbeats(kube: Kube, node: str, run_id: str) -> None:
    """Simulated nodes only: make the node stop heartbeating, as a crashed kubelet would.

    kwok manages only nodes labelled ``NODE_KIND_LABEL=kwok``; removing the label silences the
    node. Recorded in the node ledger so a sweep brings it back.
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r}, found none")
    kind = o.labels(current).get(NODE_KIND_LABEL)
    if kind != SIMULATED_NODE_KIND:
        raise InvalidScenario(
            f"expected a simulated node (label {NODE_KIND_LABEL}={SIMULATED_NODE_KIND}) to silence, {node} is {kind!r}"
        )
    record_node_change(kube, node, run_id, lost=True)
    kube.patch(NODES, node, {"metadata": {"labels": {NODE_KIND_LABEL: None}}})


def restore_heartbeats(kube: Kube, node: str) -> None:
    """Undo :func:`stop_heartbeats` (a no-op for nodes it did not silence)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("lost"):
        return
    kube.patch(NODES, node, {"metadata": {"labels": {NODE_KIND_LABEL: SIMULATED_NODE_KIND}}})
    clear_node_change(kube, node, "lost")


def taint_out_of_service(kube: Kube, node: str, run_id: str) -> bool:
    """Declare a lost node shut down: PodGC force-deletes its terminating pods, volumes detach.

    Only for a node that is really off (here: one whose heartbeats we stopped). Recorded in the
    node ledger (``out_of_service``) before the taint goes on; False if the taint was already
    there (then it is not ours to remove).
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r} to taint {OUT_OF_SERVICE_TAINT}, found none")
    if OUT_OF_SERVICE_TAINT in o.taint_keys(current):
        return False
    record_node_change(kube, node, run_id, out_of_service=True)
    taints = list(o.spec(current).get("taints") or [])
    taints.append({"key": OUT_OF_SERVICE_TAINT, "value": "nodeshutdown", "effect": "NoExecute"})
    kube.patch(NODES, node, {"spec": {"taints": taints}})
    return True


def remove_out_of_service(kube: Kube, node: str) -> None:
    """Undo :func:`taint_out_of_service` (a no-op for taints ordinal did not add)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("out_of_service"):
        return
    taints = [t for t in o.spec(current).get("taints") or [] if t.get("key") != OUT_OF_SERVICE_TAINT]
    clear_node_change(kube, node, "out_of_service", extra={"spec": {"taints": taints or None}})


# -- a simulated node of one test's own -----------------------------------------------------------


def add_simulated_node(kube: Kube, like: str, namespace: str, run_id: str, *, timeout: float) -> str | None:
    """A simulated node for ``namespace``'s pods alone, to lose without touching anybody else's.

    A copy of simulated node ``like``: its labels and kwok's annotations (whatever makes the
    simulator manage a node carries over), its capacity, and a NoSchedule taint
    ``RESERVED_TAINT=namespace`` that keeps every other pod off (a cordon would keep ours off
    too). Recorded in the ledger (``added``) as it is created, so a sweep deletes it. Returns its
    name once the simulator reports it Ready; None when the identity may not create nodes;
    CapabilityMissing when no simulator takes it (the node is deleted again).
    """
    template = kube.get(NODES, like)
    name = f"{namespace}-node"
    annotations = {k: v for k, v in (o.meta(template).get("annotations") or {}).items() if k == KWOK_NODE_ANNOTATION}
    status = o.status(template)
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {**o.labels(template), HOSTNAME_LABEL: name},
            "annotations": {**annotations, LEDGER_ANNOTATION: json.dumps({"run": run_id, "added": True})},
        },
        "spec": {"taints": [{"key": RESERVED_TAINT, "value": namespace, "effect": "NoSchedule"}]},
        "status": {k: status[k] for k in ("capacity", "allocatable") if k in status},
    }
    try:
        kube.create(NODES, body)
    except Forbidden:
        return None

    def ready(items: list[Obj]) -> Verdict[bool]:
        # The node lifecycle controller lifts its not-ready taint a monitor period after Ready.
        state, taints = (
            (o.node_ready(items[0]), set(o.taint_keys(items[0])) - {RESERVED_TAINT}) if items else ("absent", set())
        )
        return Verdict(state == "True" and not taints, f"Ready={state}, taints {sorted(taints) or 'none'}", value=True)

    try:
        wait_for(
            kube,
            Query(NODES, field_selector=f"metadata.name={name}"),
            ready,
            expect=f"added node {name} Ready and untainted (taken by the simulator that runs {like})",
            timeout=timeout,
        )
    except WaitTimeout as err:
        remove_added_node(kube, name)
        raise CapabilityMissing(
            "a simulator that takes an added node", f"{name}: {err.seen} after {err.elapsed:.0f}s"
        ) from err
    return name


def remove_added_node(kube: Kube, node: str) -> None:
    """Delete a node :func:`add_simulated_node` added, and the pods bound to it (a no-op for any other node).

    Its pods are removed at once (grace 0): nothing runs them, and a pod bound to a deleted node
    would stay until the pod garbage collector's orphan check.
    """
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("added"):
        return
    pods, _ = kube.list(PODS, field_selector=f"spec.nodeName={node}")
    for pod in pods:
        kube.delete(PODS, o.name(pod), o.namespace(pod), grace_seconds=0)
    kube.delete(NODES, node, uid=o.uid(current))


def restore_node(kube: Kube, node: str, commands: NodeCommands | None = None) -> None:
    """Undo every recorded change on ``node``: a stopped node, an out-of-service taint, a cordon, heartbeats;
    an added node is deleted.

    The node is started first (the taint is only honest while it is off); the other changes are
    undone even when it cannot be started, and that error is raised afterwards.
    """
    failed: OrdinalError | None = None
    try:
        start_node(kube, node, commands)
    except OrdinalError as err:
        failed = err
    remove_out_of_service(kube, node)
    uncordon(kube, node)
    restore_heartbeats(kube, node)
    remove_added_node(kube, node)
    if failed is not None:
        raise failed


# -- a stopped node ------------------------------------------------------------------------------

#: In a node command, replaced by the node's name.
NODE_PLACEHOLDER = "{node}"
#: Where the commands come from when no option names them (the pytest options share these names).
STOP_COMMAND_ENV, START_COMMAND_ENV = "ORDINAL_NODE_STOP_COMMAND", "ORDINAL_NODE_START_COMMAND"
NodePower = Literal["stop", "start"]


def parse_node_command(text: str) -> str:
    """A command template: words as a POSIX shell splits them, one of them containing ``{node}``.

    Raises InvalidScenario saying what is wrong. The command runs without a shell; wrap it in
    ``sh -c '…'`` for pipes or ``&&``.
    """
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise InvalidScenario(f"expected a command as a shell would split it, got {text!r}: {err}") from None
    if not words:
        raise InvalidScenario("expected a command, got an empty one")
    if not any(NODE_PLACEHOLDER in word for word in words):
        raise InvalidScenario(f"expected a command naming the node as {NODE_PLACEHOLDER}, got {text!r}")
    return text.strip()


@dataclass(frozen=True)
class NodeCommands:
    """How to stop and start a real node on this cluster; "" where none was given."""

    stop: str = ""
    start: str = ""
    #: Seconds one command may take (a cloud CLI that waits for the machine takes a while).
    timeout: float = 180.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NodeCommands:
        """``ORDINAL_NODE_STOP_COMMAND`` and ``ORDINAL_NODE_START_COMMAND`` (``ordinal cluster env`` sets both)."""
        source = os.environ if env is None else env
        return cls(
            parse_node_command(source[STOP_COMMAND_ENV]) if source.get(STOP_COMMAND_ENV, "").strip() else "",
            parse_node_command(source[START_COMMAND_ENV]) if source.get(START_COMMAND_ENV, "").strip() else "",
        )

    @property
    def configured(self) -> bool:
        """Both given: a node this run stops, it can also start again."""
        return bool(self.stop and self.start)

    def missing(self) -> str:
        """Why the capability is missing ("" when both commands are given)."""
        absent = [power for power, text in (("stop", self.stop), ("start", self.start)) if not text]
        if not absent:
            return ""
        names = " and ".join(f"--node-{p}-command (ORDINAL_NODE_{p.upper()}_COMMAND)" for p in absent)
        return f"{names} not given; `ordinal cluster env` sets both for the local cluster"

    def argv(self, power: NodePower, node: str) -> list[str]:
        """The command's words with ``{node}`` replaced (never through a shell: a name cannot inject words)."""
        template = self.stop if power == "stop" else self.start
        if not template:
            raise InvalidScenario(
                f"expected a node-{power} command to {power} node {node}, found none ({self.missing()})"
            )
        return [word.replace(NODE_PLACEHOLDER, node) for word in shlex.split(template)]

    def run(self, power: NodePower, node: str) -> str:
        """Run the command for ``node``; its output's last line. A failure is one line: command, exit, stderr."""
        argv = self.argv(power, node)
        shown = shlex.join(argv)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise OrdinalError(f"expected `{shown}` to {power} node {node}, found no program {argv[0]!r}") from None
        except subprocess.TimeoutExpired:
            raise OrdinalError(
                f"expected `{shown}` to {power} node {node} within {self.timeout:.0f}s, it did not end"
            ) from None
        if done.returncode != 0:
            why = " ".join((done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1:])
            raise OrdinalError(f"expected `{shown}` to {power} node {node}, it exited {done.returncode}: {why[:200]}")
        lines = done.stdout.strip().splitlines()
        return lines[-1] if lines else ""


def stop_node(kube: Kube, node: str, run_id: str, commands: NodeCommands) -> bool:
    """Stop real node ``node`` with the stop command, noted in the ledger first; False if this run already did.

    A stop command that fails is followed by the start command (best effort), so a node is never
    left half stopped and unrecorded; the failure is raised.
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r} to stop, found none")
    if not commands.configured:
        raise InvalidScenario(f"expected commands to stop and start node {node}: {commands.missing()}")
    if ledger(current).get("stopped"):
        return False
    record_node_change(kube, node, run_id, stopped=True)
    try:
        commands.run("stop", node)
    except OrdinalError:
        with contextlib.suppress(OrdinalError):
            commands.run("start", node)
            clear_node_change(kube, node, "stopped")
        raise
    return True


def start_node(kube: Kube, node: str, commands: NodeCommands | None) -> bool:
    """Start a node ordinal stopped (and only such a node); False when there was nothing to start."""
    current = kube.get_or_none(NODES, node)
    if current is None or not ledger(current).get("stopped"):
        return False
    run = ledger(current).get("run", "?")
    if commands is None or not commands.start:
        raise InvalidScenario(
            f"node {node} was stopped by run {run}: expected a node-start command to start it again "
            f"(--node-start-command, {START_COMMAND_ENV}), found none"
        )
    commands.run("start", node)
    clear_node_change(kube, node, "stopped")
    return True
