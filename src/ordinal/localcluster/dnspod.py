"""The cluster DNS as a pod, the way real clusters run it: CoreDNS in ``kube-system`` behind ``kube-dns``.

The host-process CoreDNS answers the suite from loopback (direct access) and the pods on the
bridge; this one lives on a real node, so a client that reaches the cluster only through the
API server finds DNS the way it would elsewhere: a port-forward to the pod behind
``kube-system/kube-dns``, or a question asked from inside a pod. It meets Pod Security
"restricted" (non-root, port 1053) like every pod on a hardened cluster must.
"""

from __future__ import annotations

from ordinal.kube import objects as o
from ordinal.kube.manifests import restricted_security
from ordinal.kube.rest import Kube, resource_for
from ordinal.labels import NODE_KIND_LABEL, REAL_NODE_KIND
from ordinal.observe.waiting import wait_for_pod
from ordinal.types import Obj

NAMESPACE = "kube-system"
POD = "coredns-0"
SERVICE = "kube-dns"
SERVICE_IP = "10.96.0.10"
PORT = 1053  # unprivileged: the pod runs as non-root with no capabilities
READY_PORT = 8181
LABELS = {"k8s-app": "kube-dns"}


def corefile(domain: str) -> str:
    zones = f"{domain}:{PORT} in-addr.arpa:{PORT} ip6.arpa:{PORT}"
    return "\n".join(
        [
            # Zone-scoped like the host one: names outside the cluster are REFUSED, never forwarded.
            f"{zones} {{",
            "    errors",
            f"    ready :{READY_PORT}",
            f"    kubernetes {domain} in-addr.arpa ip6.arpa {{",
            "        pods insecure",
            "        fallthrough in-addr.arpa ip6.arpa",
            "        ttl 5",
            "    }",
            "}",
            "",
        ]
    )


def manifests(domain: str, image: str) -> list[Obj]:
    pod_security, container_security = restricted_security()
    meta = {"namespace": NAMESPACE, "labels": dict(LABELS)}
    ports = [
        {"name": "dns", "containerPort": PORT, "protocol": "UDP"},
        {"name": "dns-tcp", "containerPort": PORT, "protocol": "TCP"},
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": NAMESPACE}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "ordinal:coredns-pod"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ordinal:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": NAMESPACE},
            "data": {"Corefile": corefile(domain)},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, **meta},
            "spec": {
                "clusterIP": SERVICE_IP,
                "selector": dict(LABELS),
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": PORT, "protocol": "TCP"},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": POD, **meta},
            "spec": {
                "serviceAccountName": "coredns",
                "nodeSelector": {NODE_KIND_LABEL: REAL_NODE_KIND},
                "securityContext": pod_security,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "coredns",
                        "image": image,
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": ports,
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": READY_PORT}, "periodSeconds": 1},
                        "securityContext": container_security,
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
            },
        },
    ]


def deploy(kube: Kube, domain: str, image: str, *, timeout: float = 90.0) -> str:
    """Create the DNS pod and its Service; return ``namespace/pod`` once it is Ready."""
    for obj in manifests(domain, image):
        res = resource_for(obj)
        kube.create(res, obj, obj["metadata"].get("namespace") if res.namespaced else None)
    wait_for_pod(kube, NAMESPACE, POD, o.pod_ready, expect="Ready (the cluster DNS pod)", timeout=timeout)
    return f"{NAMESPACE}/{POD}"
