"""A token written into each ordinal's volume before a fault and read back after it.

"Same claim UID" proves the binding survived; only reading the data proves the bytes did.
This needs exec into pods, which simulated (kwok) nodes cannot do: there the probe reports
``needs: exec into pods`` as skipped rather than passing. Exec goes through
``ordinal.kube.streams`` (the kube layer's websocket helpers), imported only when used.
"""

from __future__ import annotations

from typing import Any

from ordinal import objects as o
from ordinal.chaos.ops import live_members, simulated
from ordinal.chaos.session import Baseline, Session
from ordinal.checks.storage import check_tokens as compare_tokens
from ordinal.datatokens import EXEC, read_token, write_token
from ordinal.errors import CapabilityMissing
from ordinal.kube.rest import NODES, Kube
from ordinal.observe.snapshot import SetState
from ordinal.types import Finding, Obj


def require_exec(kube: Kube, pods: list[Obj]) -> None:
    """Raise CapabilityMissing when any pod runs where nothing can be exec'd (a simulated node)."""
    for pod in pods:
        node = o.spec(pod).get("nodeName")
        if node and simulated(kube.get_or_none(NODES, str(node))):
            raise CapabilityMissing(EXEC, f"pod {o.ref(pod)} runs on simulated node {node}")


def write_tokens(kube: Kube, baseline: Baseline) -> dict[str, str]:
    """Write a fresh token (pod name + nonce) into every pod's volume, fsync'd; remember them."""
    pods = [p for p in baseline.pods if not o.terminating(p)]
    require_exec(kube, pods)
    for pod in pods:
        baseline.tokens[o.name(pod)] = write_token(kube, baseline.sts, pod)
    return dict(baseline.tokens)


def check_tokens(kube: Kube, session: Session, state: SetState) -> tuple[list[Finding], dict[str, Any]]:
    """Read every token back; findings for any that changed or vanished."""
    assert state.sts is not None
    pods = [p for p in live_members(state) if not o.terminating(p)]
    require_exec(kube, pods)
    baseline = session.baseline(state.namespace, state.name)
    if baseline is None or not baseline.tokens:
        if session.comparing():
            subject = f"statefulset {state.namespace}/{state.name}"
            return [Finding("storage.data-token", subject, "tokens", "write_data_tokens before the fault", None)], {}
        return [], {"compared": False}
    read = {o.name(p): read_token(kube, state.sts, p) for p in pods if o.name(p) in baseline.tokens}
    findings = compare_tokens(state.sts, baseline.tokens, read)
    return findings, {"compared": True, "pods": sorted(baseline.tokens)}
