"""Data tokens: written into a pod's volume before a fault and read back after it.

"Same claim UID" proves the binding survived; only reading the data proves the bytes did.
Shared by the conformance suite and the chaos probes. It needs exec into pods (a container
that runs), so pods on simulated nodes raise :class:`~ordinal.errors.CapabilityMissing` naming
``exec into pods`` instead of pretending.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Iterable, Sequence

from ordinal.checks.storage import claim_templates
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.rest import NODES, Kube
from ordinal.kube.streams import exec_in_pod
from ordinal.types import Obj

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


def require_exec(kube: Kube, pods: Iterable[Obj]) -> None:
    """Raise CapabilityMissing when any pod runs where nothing can be exec'd (a simulated node)."""
    for pod in pods:
        node = o.spec(pod).get("nodeName")
        if node and o.node_simulated(kube.get_or_none(NODES, str(node))):
            raise CapabilityMissing(EXEC, f"pod {o.ref(pod)} runs on simulated node {node}")


def _exec(kube: Kube, pod: Obj, container: str, script: str) -> str:
    result = exec_in_pod(kube, o.namespace(pod), o.name(pod), ["sh", "-c", script], container=container)
    if result.code != 0:
        raise InvalidScenario(f"exec in pod {o.ref(pod)}: exit {result.code}: {result.stderr.strip()[:200]}")
    return result.stdout


def write_token(kube: Kube, sts: Obj, pod: Obj) -> str:
    """Write a fresh token (pod name + nonce) into the pod's volume and fsync it; return the token."""
    container, path = token_path(sts, pod)
    token = f"{o.name(pod)}:{secrets.token_hex(8)}"
    _exec(kube, pod, container, f"printf %s {shlex.quote(token)} > {shlex.quote(path)} && sync")
    return token


def read_token(kube: Kube, sts: Obj, pod: Obj) -> str | None:
    """The token file's content as the pod sees it now; None if the file is missing or empty."""
    container, path = token_path(sts, pod)
    return _exec(kube, pod, container, f"cat {shlex.quote(path)} 2>/dev/null || true") or None


def write_tokens(kube: Kube, sts: Obj, pods: Sequence[Obj]) -> dict[str, str]:
    """A fresh token in every live pod's volume (pod name -> token); refuses before writing any if one cannot exec."""
    live = [p for p in pods if not o.terminating(p)]
    require_exec(kube, live)
    return {o.name(pod): write_token(kube, sts, pod) for pod in live}


def read_tokens(kube: Kube, sts: Obj, pods: Sequence[Obj], names: Iterable[str]) -> dict[str, str | None]:
    """What the live pods among ``names`` read back (pod name -> token, None if missing); see require_exec."""
    wanted = set(names)
    live = [p for p in pods if not o.terminating(p)]
    return {o.name(p): read_token(kube, sts, p) for p in live if o.name(p) in wanted}


def mounted_bytes(kube: Kube, sts: Obj, pod: Obj) -> int | None:
    """The size of the filesystem the pod sees at its claim's mount (``df``), in bytes; None if unreadable.

    A volume that is a directory on a bigger disk shows that disk: what the pod can see, which is
    what an expansion promises to grow to at least the size asked for.
    """
    container, path = token_path(sts, pod)
    mount = path.rsplit("/", 1)[0] or "/"
    out = _exec(kube, pod, container, f"df -P -k {shlex.quote(mount)} | tail -n 1")
    fields = out.split()
    return int(fields[1]) * 1024 if len(fields) > 1 and fields[1].isdigit() else None
