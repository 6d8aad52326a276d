"""Tokens written into a pod's volume and read back: the one check that the bytes, not only the
binding, survived. Shared by the conformance suite and the chaos probes.

Needs exec into pods (a container that runs), so simulated nodes raise
:class:`~ordinal.errors.CapabilityMissing` naming ``exec into pods`` instead of pretending.
"""

from __future__ import annotations

import secrets
import shlex

from ordinal import objects as o
from ordinal.checks.storage import claim_templates
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube.rest import Kube
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


def _exec(kube: Kube, pod: Obj, container: str, script: str) -> str:
    try:
        from ordinal.kube.streams import exec_in_pod
    except ImportError as err:
        raise CapabilityMissing(EXEC, "this ordinal has no exec support (ordinal.kube.streams)") from err
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
