"""A token written into each ordinal's volume before a fault and read back after it.

"Same claim UID" proves the binding survived; only reading the data proves the bytes did.
This needs exec into pods, which simulated (kwok) nodes cannot do: there the probe reports
``needs: exec into pods`` as skipped rather than passing. Exec goes through
``ordinal.kube.streams`` (the kube layer's websocket helpers), imported only when used.
"""

from __future__ import annotations

import secrets
import shlex
from typing import Any

from ordinal import objects as o
from ordinal.chaos.ops import live_members, simulated
from ordinal.chaos.session import Baseline, Session
from ordinal.checks.storage import claim_templates
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube.rest import NODES, Kube
from ordinal.observe.snapshot import SetState
from ordinal.types import Finding, Obj

TOKEN_FILE = ".ordinal-token"
EXEC = "exec into pods"


def token_path(sts: Obj, pod: Obj) -> tuple[str, str]:
    """(container, path) of the token inside the first claim template's mount."""
    templates = claim_templates(sts)
    if not templates:
        raise CapabilityMissing("a volumeClaimTemplate", f"StatefulSet {o.ref(sts)} has no per-pod volume")
    for container in o.spec(pod).get("containers") or ():
        for mount in container.get("volumeMounts") or ():
            if mount.get("name") in templates:
                return str(container["name"]), f"{str(mount['mountPath']).rstrip('/')}/{TOKEN_FILE}"
    raise CapabilityMissing("a mounted claim", f"pod {o.ref(pod)} mounts none of {templates}")


def require_exec(kube: Kube, pods: list[Obj]) -> None:
    """Raise CapabilityMissing when any pod runs where nothing can be exec'd (a simulated node)."""
    for pod in pods:
        node = o.spec(pod).get("nodeName")
        if node and simulated(kube.get_or_none(NODES, str(node))):
            raise CapabilityMissing(EXEC, f"pod {o.ref(pod)} runs on simulated node {node}")


def _exec(kube: Kube, pod: Obj, container: str, script: str) -> str:
    try:
        from ordinal.kube.streams import exec_in_pod
    except ImportError as err:
        raise CapabilityMissing(EXEC, "this ordinal has no exec support (ordinal.kube.streams)") from err
    result = exec_in_pod(kube, o.namespace(pod), o.name(pod), ["sh", "-c", script], container=container)
    if result.code != 0:
        raise InvalidScenario(f"exec in pod {o.ref(pod)}: exit {result.code}: {result.stderr.strip()[:200]}")
    return result.stdout


def write_tokens(kube: Kube, baseline: Baseline) -> dict[str, str]:
    """Write a fresh token (pod name + nonce) into every pod's volume, fsync'd; remember them."""
    pods = [p for p in baseline.pods if not o.terminating(p)]
    require_exec(kube, pods)
    for pod in pods:
        container, path = token_path(baseline.sts, pod)
        token = f"{o.name(pod)}:{secrets.token_hex(8)}"
        _exec(kube, pod, container, f"printf %s {shlex.quote(token)} > {shlex.quote(path)} && sync")
        baseline.tokens[o.name(pod)] = token
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
    findings: list[Finding] = []
    by_name = {o.name(p): p for p in pods}
    for name, token in sorted(baseline.tokens.items()):
        pod = by_name.get(name)
        if pod is None:
            continue  # judged by the identity probe
        container, path = token_path(state.sts, pod)
        seen = _exec(kube, pod, container, f"cat {shlex.quote(path)} 2>/dev/null || true")
        if seen != token:
            findings.append(Finding("storage.data-token", f"pod {o.ref(pod)}", path, token, seen or None))
    return findings, {"compared": True, "pods": sorted(baseline.tokens)}
