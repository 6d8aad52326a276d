"""What ordinal may ask the API server for: one table, from which ``ordinal rbac`` prints the least-privilege
ClusterRole, a 403 names the rule to add, and the project's tests check every call the suite really made.

Namespaced resources are granted cluster-wide because the suite makes its namespaces as it goes
(one per test) and a Role in a namespace that does not exist yet cannot be bound; creating,
changing and deleting happens only in namespaces ordinal labelled as its own. Optional rows are
capabilities: without them the tests that need them skip, naming the permission.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

READ = ("get", "list", "watch")
EXEC_VERBS = ("create", "get")  # exec and port-forward over websockets: GET, authorised as create since 1.30


@dataclass(frozen=True)
class Permission:
    """One rule of the ClusterRole (or of a Role in ``namespace``), and why ordinal needs it."""

    group: str  # "" for the core group
    resources: tuple[str, ...]  # "pods", "pods/exec", …
    verbs: tuple[str, ...]
    why: str
    #: "" when required; else what the tests needing it are skipped for without it.
    optional: str = ""
    #: Only for tests and experiments that drain, cordon or lose nodes (``ordinal rbac --disruptive``).
    disruptive: bool = False
    #: A Role in this namespace instead of a cluster-wide rule.
    namespace: str = ""

    def allows(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        return (
            verb in self.verbs
            and group == self.group
            and resource in self.resources
            and (not self.namespace or namespace == self.namespace)
        )

    def rule(self) -> dict[str, list[str]]:
        return {"apiGroups": [self.group], "resources": list(self.resources), "verbs": list(self.verbs)}


PERMISSIONS: tuple[Permission, ...] = (
    Permission("", ("namespaces",), ("create", "delete", *READ), "a namespace per test, removed after it"),
    Permission("", ("serviceaccounts",), READ, "wait for a new namespace's default ServiceAccount"),
    Permission("", ("pods",), ("create", "delete", "patch", *READ), "the sets' pods, the probe pod, dry runs"),
    Permission("", ("pods/eviction",), ("create",), "evictions honour PodDisruptionBudgets"),
    Permission("", ("pods/status",), ("patch",), "readiness of pods on simulated nodes", optional="simulated nodes"),
    Permission("", ("pods/exec",), EXEC_VERBS, "data tokens, readiness and DNS from inside pods", "exec into pods"),
    Permission("", ("pods/log",), ("get",), "the cluster domain from the probe pod's search path", "pod logs"),
    Permission("", ("services",), ("create", "delete", *READ), "the headless Services; the apiserver's Service IP"),
    Permission(
        "", ("persistentvolumeclaims",), ("delete", "patch", *READ), "claims: retention (foreign owners), cleanup"
    ),
    Permission("", ("persistentvolumes",), ("delete", *READ), "volumes of the claims; removed with their namespace"),
    Permission("", ("events",), READ, "the timeline and failure dumps"),
    Permission("", ("nodes",), READ, "placement, zones, node kinds, readiness"),
    Permission("", ("nodes",), ("patch",), "cordon, out-of-service taint, ledger", "node changes", disruptive=True),
    Permission(
        "",
        ("nodes",),
        ("create", "delete"),
        "a simulated node a node-loss test adds and loses",
        "node changes",
        disruptive=True,
    ),
    Permission(
        "apps", ("statefulsets",), ("create", "delete", "deletecollection", "patch", "update", *READ), "the sets"
    ),
    Permission("apps", ("statefulsets/status",), ("get", "patch", "update"), "the status subresource's API surface"),
    Permission("apps", ("statefulsets/scale",), ("get", "patch", "update"), "scaling through the subresource"),
    Permission("apps", ("controllerrevisions",), READ, "revisions of rollouts and rollbacks"),
    Permission("discovery.k8s.io", ("endpointslices",), READ, "what the headless Service publishes"),
    Permission("policy", ("poddisruptionbudgets",), ("create", "delete", *READ), "the sample's budget"),
    Permission("storage.k8s.io", ("storageclasses",), READ, "the class under test"),
    Permission(
        "storage.k8s.io",
        ("volumeattachments",),
        READ,
        "the timeline follows each claim's volume as it is attached to and detached from nodes (CSI attach)",
        optional="VolumeAttachments (CSI attach)",
    ),
    Permission(
        "storage.k8s.io",
        ("csidrivers", "csinodes"),
        READ,
        "whether the class's CSI driver attaches volumes; its settings, version and topology keys for the report",
        optional="the CSI driver's details (attachRequired, topology keys)",
    ),
    Permission(
        "authorization.k8s.io",
        ("selfsubjectaccessreviews",),
        ("create",),
        "which optional permissions the identity has (every user may ask: system:basic-user)",
    ),
    Permission(
        "",
        ("pods/portforward",),
        EXEC_VERBS,
        "ask the cluster DNS through a port-forward",
        optional="permission pods/portforward in kube-system",
        namespace="kube-system",
    ),
)
#: ``/apis/storage.k8s.io/v1``: whether the API serves VolumeAttachments (discovery; every user may read it).
NON_RESOURCE_URLS = ("/version", "/apis/storage.k8s.io/v1")


def needed(*, disruptive: bool) -> tuple[Permission, ...]:
    return tuple(p for p in PERMISSIONS if disruptive or not p.disruptive)


def covering(verb: str, group: str, resource: str, namespace: str) -> Permission | None:
    return next((p for p in PERMISSIONS if p.allows(verb, group, resource, namespace)), None)


def advice(verb: str, group: str, resource: str, namespace: str) -> str:
    """What to grant for a refused call, in words: the table's row when there is one."""
    where = f" in namespace {namespace}" if namespace else ""
    row = covering(verb, group, resource, namespace)
    kind = f"Role in {row.namespace}" if row is not None and row.namespace else "ClusterRole"
    rule = f'apiGroups ["{group}"], resources ["{resource}"], verbs ["{verb}"]'
    optional = f"; optional: without it, tests skip with 'needs: {row.optional}'" if row and row.optional else ""
    return f"{verb} {resource}{where} needs the {kind} rule {rule} (see `ordinal rbac`){optional}"


def manifests(*, name: str = "ordinal", subject: Mapping[str, str], disruptive: bool) -> list[dict[str, Any]]:
    """ClusterRole + binding (and a Role + binding per namespaced row) granting exactly the table."""
    rbac = "rbac.authorization.k8s.io/v1"
    rows = needed(disruptive=disruptive)
    cluster_rules: list[dict[str, Any]] = [p.rule() for p in rows if not p.namespace]
    cluster_rules.append({"nonResourceURLs": list(NON_RESOURCE_URLS), "verbs": ["get"]})
    out: list[dict[str, Any]] = [
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": name}, "rules": cluster_rules},
        _binding("ClusterRoleBinding", name, "ClusterRole", subject),
    ]
    for namespace in sorted({p.namespace for p in rows if p.namespace}):
        rules = [p.rule() for p in rows if p.namespace == namespace]
        out.append(
            {"apiVersion": rbac, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules}
        )
        out.append(_binding("RoleBinding", name, "Role", subject, namespace))
    return out


def header(namespace_prefix: str, *, disruptive: bool) -> str:
    """YAML comments above ``ordinal rbac``'s output: what is granted, and what each optional rule buys."""
    lines = [
        "# Least-privilege RBAC for ordinal's conformance suite and chaos experiments"
        + (" (with drains, cordons and node loss)." if disruptive else " (without node changes)."),
        f"# The suite creates a namespace per test, named {namespace_prefix}-<run>-<random> and labelled",
        "# app.kubernetes.io/created-by=ordinal; RBAC cannot grant by name prefix, so namespaced rules are",
        "# cluster-wide. Optional rules (without them the tests that need them skip, naming the permission):",
    ]
    lines += [
        f"#   {', '.join(p.resources)} {'/'.join(p.verbs)}: {p.optional}"
        for p in needed(disruptive=disruptive)
        if p.optional
    ]
    return "\n".join(lines) + "\n"


def _binding(kind: str, name: str, role_kind: str, subject: Mapping[str, str], namespace: str = "") -> dict[str, Any]:
    metadata: dict[str, str] = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": [dict(subject)],
    }


# -- what a request asks for --------------------------------------------------------------------------

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, order=True)
class Call:
    """One API request as RBAC sees it: verb, group, resource (with subresource), namespace ("" = cluster)."""

    verb: str
    group: str
    resource: str
    namespace: str

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        group = f"{self.group}/" if self.group else ""
        return f"{self.verb} {group}{self.resource}{where}"


def call_of(method: str, path: str, query: Mapping[str, Any] | None = None) -> Call | None:
    """``GET /api/v1/namespaces/ns/pods?watch=true`` → Call("watch", "", "pods", "ns"); None for non-resource URLs."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource, named, sub = rest[0], len(rest) >= 2, rest[2] if len(rest) >= 3 else ""
    if method in ("EXEC", "PORTFORWARD"):
        return Call("create", group, f"{resource}/{sub}", namespace)
    if method == "GET":
        watch = str((query or {}).get("watch", "")).lower() == "true"
        verb = "watch" if watch else ("get" if named else "list")
    elif method == "DELETE" and not named:
        verb = "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return Call(verb, group, f"{resource}/{sub}" if sub else resource, namespace)


def uncovered(calls: Iterable[Call]) -> list[Call]:
    """Calls the table grants no rule for (the project's tests fail on any)."""
    return sorted({c for c in calls if covering(c.verb, c.group, c.resource, c.namespace) is None})
