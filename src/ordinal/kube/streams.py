"""Exec into pods and port-forward to them: the two API calls that speak websocket, not JSON.

They live in the kube layer with the REST client because they need the kubernetes client's
``stream`` helpers; everything above gets plain results (exit code and output, or a socket).
Both count as requests in :attr:`Kube.requests` (verb ``EXEC`` / ``PORTFORWARD``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from ordinal.errors import TransientApiError
from ordinal.kube.permissions import Call
from ordinal.kube.rest import PODS, Forbidden, Kube

_ERROR_CHANNEL = 3


@dataclass(frozen=True)
class ExecResult:
    """What a command run inside a container left: exit code (None if unknown), stdout, stderr."""

    code: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def exec_in_pod(
    kube: Kube,
    namespace: str,
    pod: str,
    command: Sequence[str],
    *,
    container: str | None = None,
    timeout: float = 30.0,
) -> ExecResult:
    """Run ``command`` in ``pod`` and wait (at most ``timeout``) for it to finish.

    Transport trouble (no kubelet endpoint, RBAC refusing ``pods/exec``, a simulated node)
    raises :class:`TransientApiError`; a command that ran and failed returns its code.
    """
    api = _core_api(kube)
    kwargs: dict[str, Any] = {
        "command": list(command),
        "stderr": True,
        "stdin": False,
        "stdout": True,
        "tty": False,
        "_preload_content": False,
    }
    if container:
        kwargs["container"] = container
    kube.note("EXEC", PODS.path(namespace, pod, "exec"))
    try:
        from kubernetes.stream import stream

        client = stream(api.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    except ApiException as err:
        if _refused(err):
            call = Call("create", "", "pods/exec", namespace)
            raise Forbidden("EXEC", PODS.path(namespace, pod, "exec"), "Forbidden", str(err.reason), call) from err
        raise TransientApiError(f"exec in pod {namespace}/{pod}: {err.reason or err.status}") from err
    try:
        client.run_forever(timeout=timeout)
        stdout, stderr = client.read_stdout(), client.read_stderr()
        code = _exit_code(client.read_channel(_ERROR_CHANNEL)) if not client.is_open() else None
    finally:
        client.close()
    return ExecResult(code, str(stdout or ""), str(stderr or ""))


def _core_api(kube: Kube) -> Any:
    """The generated CoreV1Api, imported on first use: importing it loads every API model (~0.4 s),
    which every xdist worker and CLI call would otherwise pay before its first test."""
    from kubernetes.client.api.core_v1_api import CoreV1Api

    return CoreV1Api(kube.api)


def _refused(err: ApiException) -> bool:
    """A 403 on the stream: a plain status, or the websocket client's "Handshake status 403" (it keeps no code)."""
    return err.status == 403 or "Handshake status 403" in str(err.reason or "")


def _exit_code(status_text: str) -> int | None:
    """The exec error channel carries a Status: Success, or NonZeroExitCode with the code as a cause."""
    try:
        status = yaml.safe_load(status_text) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(status, dict):
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or ():
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            with contextlib.suppress(TypeError, ValueError):
                return int(str(cause.get("message")))
    return None


@contextlib.contextmanager
def port_forward(kube: Kube, namespace: str, pod: str, port: int) -> Iterator[Any]:
    """A connected stream socket to ``port`` of ``pod`` through the API server (TCP only)."""
    api = _core_api(kube)
    kube.note("PORTFORWARD", PODS.path(namespace, pod, "portforward"))
    try:
        from kubernetes.stream import portforward

        forward = portforward(api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    except ApiException as err:
        if _refused(err):
            call = Call("create", "", "pods/portforward", namespace)
            path = PODS.path(namespace, pod, "portforward")
            raise Forbidden("PORTFORWARD", path, "Forbidden", str(err.reason), call) from err
        raise TransientApiError(f"port-forward to pod {namespace}/{pod}:{port}: {err.reason or err.status}") from err
    try:
        yield forward.socket(port)
    finally:
        forward.close()
