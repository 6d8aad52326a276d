"""JSON-in, JSON-out access to the API server, with watches and a request counter.

Everything above this layer works on plain dicts in the API's own JSON form; this module is
the only one that speaks HTTP. It counts requests by verb so benchmarks can report what a
test or experiment cost the API server.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from ordinal.errors import TransientApiError
from ordinal.kube import permissions
from ordinal.kube.permissions import Call
from ordinal.types import Obj

PatchType = Literal["merge", "strategic", "json", "apply"]
_PATCH_CONTENT = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class Resource:
    """A REST resource: ``v1``/``apps/v1`` + plural, namespaced or not."""

    group_version: str
    plural: str
    kind: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace)}")
        parts.append(self.plural)
        if name:
            parts.append(quote(name))
        if sub:
            parts.append(sub)
        return "/".join(parts)


PODS = Resource("v1", "pods", "Pod")
PVCS = Resource("v1", "persistentvolumeclaims", "PersistentVolumeClaim")
PVS = Resource("v1", "persistentvolumes", "PersistentVolume", namespaced=False)
SERVICES = Resource("v1", "services", "Service")
NAMESPACES = Resource("v1", "namespaces", "Namespace", namespaced=False)
NODES = Resource("v1", "nodes", "Node", namespaced=False)
EVENTS = Resource("v1", "events", "Event")
SERVICE_ACCOUNTS = Resource("v1", "serviceaccounts", "ServiceAccount")
CONFIG_MAPS = Resource("v1", "configmaps", "ConfigMap")
STATEFULSETS = Resource("apps/v1", "statefulsets", "StatefulSet")
DEPLOYMENTS = Resource("apps/v1", "deployments", "Deployment")
CONTROLLER_REVISIONS = Resource("apps/v1", "controllerrevisions", "ControllerRevision")
ENDPOINT_SLICES = Resource("discovery.k8s.io/v1", "endpointslices", "EndpointSlice")
PDBS = Resource("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget")
STORAGE_CLASSES = Resource("storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False)
VOLUME_ATTACHMENTS = Resource("storage.k8s.io/v1", "volumeattachments", "VolumeAttachment", namespaced=False)
CSI_DRIVERS = Resource("storage.k8s.io/v1", "csidrivers", "CSIDriver", namespaced=False)
CSI_NODES = Resource("storage.k8s.io/v1", "csinodes", "CSINode", namespaced=False)
LEASES = Resource("coordination.k8s.io/v1", "leases", "Lease")
ACCESS_REVIEWS = Resource(
    "authorization.k8s.io/v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False
)
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
ROLES = Resource("rbac.authorization.k8s.io/v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding")

_BY_KIND = {
    r.kind: r
    for r in (
        PODS,
        PVCS,
        PVS,
        SERVICES,
        NAMESPACES,
        NODES,
        EVENTS,
        SERVICE_ACCOUNTS,
        CONFIG_MAPS,
        STATEFULSETS,
        DEPLOYMENTS,
        CONTROLLER_REVISIONS,
        ENDPOINT_SLICES,
        PDBS,
        STORAGE_CLASSES,
        VOLUME_ATTACHMENTS,
        CSI_DRIVERS,
        CSI_NODES,
        LEASES,
        CLUSTER_ROLES,
        CLUSTER_ROLE_BINDINGS,
        ROLES,
        ROLE_BINDINGS,
    )
}


def resource_for(obj: Obj) -> Resource:
    return _BY_KIND[obj["kind"]]


class ApiError(Exception):
    """A non-2xx answer that is not worth retrying; ``status`` and ``reason`` from the server."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        super().__init__(method, path, status, reason, message)
        self.method, self.path, self.status, self.reason, self.message = method, path, status, reason, message

    def __str__(self) -> str:
        return f"{self.method} {self.path}: HTTP {self.status} {self.reason}: {self.message}"


class Forbidden(ApiError):
    """A 403: the identity lacks a permission. The message says which rule of ``ordinal rbac`` to add."""

    def __init__(self, method: str, path: str, reason: str, message: str, call: Call | None) -> None:
        super().__init__(method, path, 403, reason, message)
        self.call = call

    def __str__(self) -> str:
        if self.call is None:
            return f"forbidden: {self.method} {self.path}: {self.message}"
        c = self.call
        return f"forbidden: {permissions.advice(c.verb, c.group, c.resource, c.namespace)}"


class Gone(Exception):
    """The watch's resourceVersion is too old (410): re-list and continue."""


def _error_from(
    method: str, path: str, status: int, data: bytes | None, query: dict[str, Any] | None = None
) -> Exception:
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        body = {}
    reason = str(body.get("reason", ""))
    message = str(body.get("message", (data or b"").decode(errors="replace")[:200]))
    if status == 410:
        return Gone(message)
    if status == 403:
        return Forbidden(method, path, reason, message, permissions.call_of(method, path, query))
    if status == 429 or status >= 500 or (status == 409 and reason == "Conflict"):
        return TransientApiError(f"{method} {path}: HTTP {status} {reason}: {message}", status)
    return ApiError(method, path, status, reason, message)


class Kube:
    """A thin JSON client bound to one cluster; counts requests by verb."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.requests: Counter[str] = Counter()
        #: Every request as RBAC sees it (verb, group, resource, namespace): what ``ordinal rbac`` must grant.
        self.calls: Counter[Call] = Counter()

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw --------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] = 30.0,
    ) -> Any:
        params = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (query or {}).items()]
        request = self.api.param_serialize(
            method,
            path,
            query_params=params,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        self.note(method, path, query)
        try:
            return self.api.call_api(*request, _request_timeout=timeout)
        except ApiException as err:  # raised by the REST layer for transport-level trouble
            raise TransientApiError(f"{method} {path}: {err.status} {err.reason}", err.status or None) from err
        except OSError as err:
            raise TransientApiError(f"{method} {path}: {err}") from err

    def note(self, method: str, path: str, query: dict[str, Any] | None = None) -> None:
        """Count a request by verb, and as the call RBAC authorises (``EXEC``/``PORTFORWARD`` for streams)."""
        self.requests[method] += 1
        call = permissions.call_of(method, path, query)
        if call is not None:
            self.calls[call] += 1

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode JSON; raise ApiError (Forbidden for 403) / TransientApiError / Gone on non-2xx."""
        resp = self._send(method, path, **kwargs)
        data = resp.read()
        if not 200 <= resp.status <= 299:
            raise _error_from(method, path, resp.status, data, kwargs.get("query"))
        return json.loads(data) if data else {}

    # -- verbs ------------------------------------------------------------------------------------

    def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        result: Obj = self.request("GET", res.path(namespace, name))
        return result

    def get_or_none(self, res: Resource, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.get(res, name, namespace)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], str]:
        """Items (with kind/apiVersion filled in) and the list's resourceVersion."""
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        out = self.request("GET", res.path(namespace), query=query)
        items = out.get("items") or []
        for item in items:
            item.setdefault("kind", res.kind)
            item.setdefault("apiVersion", res.group_version)
        return items, out.get("metadata", {}).get("resourceVersion", "")

    def create(self, res: Resource, obj: Obj, namespace: str | None = None, *, dry_run: bool = False) -> Obj:
        query = {"dryRun": "All"} if dry_run else None
        result: Obj = self.request("POST", res.path(namespace), body=obj, query=query)
        return result

    def create_object(self, obj: Obj) -> Obj:
        """Create a manifest, finding its resource and namespace from the object itself."""
        res = resource_for(obj)
        return self.create(res, obj, obj.get("metadata", {}).get("namespace") if res.namespaced else None)

    def replace(self, res: Resource, obj: Obj, namespace: str | None = None, sub: str | None = None) -> Obj:
        result: Obj = self.request("PUT", res.path(namespace, obj["metadata"]["name"], sub), body=obj)
        return result

    def patch(
        self,
        res: Resource,
        name: str,
        body: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        sub: str | None = None,
    ) -> Obj:
        result: Obj = self.request(
            "PATCH", res.path(namespace, name, sub), body=body, content_type=_PATCH_CONTENT[patch_type]
        )
        return result

    def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        grace_seconds: int | None = None,
        propagation: str | None = None,
        uid: str | None = None,
        missing_ok: bool = True,
    ) -> Obj | None:
        """Delete; None when it was already gone and ``missing_ok``."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        if propagation:
            body["propagationPolicy"] = propagation
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            result: Obj = self.request("DELETE", res.path(namespace, name), body=body)
            return result
        except ApiError as err:
            if err.status == 404 and missing_ok:
                return None
            raise

    def evict(self, name: str, namespace: str, *, grace_seconds: int | None = None) -> Obj:
        """POST an Eviction (policy/v1): honours PodDisruptionBudgets; 429 surfaces as TransientApiError."""
        body: Obj = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        if grace_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_seconds}
        result: Obj = self.request("POST", PODS.path(namespace, name, "eviction"), body=body)
        return result

    def raw_get(self, path: str, timeout: float = 30.0) -> str:
        """GET a non-JSON endpoint such as /metrics or /version."""
        resp = self._send("GET", path, timeout=timeout)
        data = resp.read()
        if not 200 <= resp.status <= 299:
            raise _error_from("GET", path, resp.status, data)
        return bytes(data).decode()

    # -- watch ------------------------------------------------------------------------------------

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: float,
        label_selector: str = "",
        field_selector: str = "",
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[tuple[str, Obj]]:
        """Yield (type, object) from ``resource_version`` for at most ``timeout_seconds``.

        ``on_open`` receives the raw response, so another thread can ``shutdown()`` it to
        end the stream at once.

        Bookmarks are consumed to advance nothing but liveness; a 410 raises :class:`Gone`.
        The server-side timeout ends the stream; the HTTP read timeout is only a safety net.
        """
        seconds = max(1, int(timeout_seconds + 0.999))
        query: dict[str, Any] = {
            "watch": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": seconds,
            "allowWatchBookmarks": "true",
        }
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        path = res.path(namespace)
        resp = self._send("GET", path, query=query, timeout=(10.0, seconds + 15.0))
        if not 200 <= resp.status <= 299:
            raise _error_from("GET", path, resp.status, resp.read(), query)
        if on_open is not None:
            on_open(resp.response)
        try:
            for line in iter_resp_lines(resp.response):
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code", 500))
                    raise _error_from("WATCH", path, code, json.dumps(obj).encode())
                if kind == "BOOKMARK":
                    continue
                obj.setdefault("kind", res.kind)
                obj.setdefault("apiVersion", res.group_version)
                yield kind, obj
        except OSError as err:  # connection dropped: the caller resumes from its last version
            raise TransientApiError(f"watch {path}: {err}") from err
        finally:
            resp.response.release_conn()


def retry_transient(fn: Any, *args: Any, attempts: int = 8, first_delay: float = 0.2, **kwargs: Any) -> Any:
    """Call ``fn`` retrying TransientApiError with capped exponential backoff."""
    delay = first_delay
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except TransientApiError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")
