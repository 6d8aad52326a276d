"""The control-plane processes, in start order, each with its flags and readiness gate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import yaml

from ordinal.localcluster.context import LOOPBACK, Context, feature_gates_flag
from ordinal.localcluster.gates import http_check

SERVICE_CIDR = "10.96.0.0/16"
#: How long a node may miss lease renewals before the control plane marks it NotReady.
NODE_MONITOR_GRACE_SECONDS = 12
#: Node lease length for kubelets and simulated nodes; both renew at a quarter of it.
NODE_LEASE_SECONDS = 10
#: Client-side request rate of each controller in kube-controller-manager (upstream: 20/s).
CONTROLLER_QPS = 100
KUBERNETES_SERVICE_IP = "10.96.0.1"  # first address of SERVICE_CIDR: the `kubernetes` Service
#: The domain a cluster gets unless ``--cluster-domain`` says otherwise.
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    gate: Callable[[], str | None]
    expect: str  # what the gate waits for, in words
    timeout: float = 60.0


def etcd(ctx: Context) -> Component:
    p = ctx.ports
    data = ctx.state / "etcd"
    return Component(
        "etcd",
        [
            ctx.bin("etcd"),
            "--name=ordinal",
            f"--data-dir={data}",
            f"--listen-client-urls=http://{LOOPBACK}:{p.etcd}",
            f"--advertise-client-urls=http://{LOOPBACK}:{p.etcd}",
            f"--listen-peer-urls=http://{LOOPBACK}:{p.etcd_peer}",
            f"--initial-advertise-peer-urls=http://{LOOPBACK}:{p.etcd_peer}",
            f"--initial-cluster=ordinal=http://{LOOPBACK}:{p.etcd_peer}",
            "--unsafe-no-fsync",
            "--quota-backend-bytes=2147483648",
            "--log-level=warn",
        ],
        http_check(f"http://{LOOPBACK}:{p.etcd}/health", body='"health":"true"'),
        "etcd /health to report healthy",
    )


def apiserver(ctx: Context) -> Component:
    pki = ctx.pki
    return Component(
        "kube-apiserver",
        [
            ctx.bin("kube-apiserver"),
            f"--etcd-servers=http://{LOOPBACK}:{ctx.ports.etcd}",
            f"--bind-address={ctx.api_host}",
            f"--advertise-address={ctx.api_host}",
            *_endpoint_reconciler(ctx),
            f"--secure-port={ctx.ports.apiserver}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            # Dial kubelets by address: a node's hostname resolves nowhere, and looking it up would ask the
            # host's resolver (a query leaving the machine).
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-issuer={ctx.issuer}",
            f"--api-audiences={ctx.issuer}",
            *_admission(ctx),
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            *feature_gates_flag(ctx.feature_gates),
            "--v=1",
        ],
        http_check(
            f"{ctx.apiserver_url}/readyz",
            ca=pki / "ca.crt",
            cert=(pki / "admin.crt", pki / "admin.key"),
        ),
        "kube-apiserver /readyz to answer 200",
        timeout=90.0,
    )


def admission_config(level: str) -> str:
    """The apiserver's admission configuration: Pod Security ``level`` enforced in every namespace by default.

    As hardened clusters do: no namespace is exempt, and audit and warn follow the same level.
    """
    pod_security = {
        "apiVersion": "pod-security.admission.config.k8s.io/v1",
        "kind": "PodSecurityConfiguration",
        "defaults": {
            mode + suffix: value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", level), ("-version", "latest"))
        },
        "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": []},
    }
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [{"name": "PodSecurity", "configuration": pod_security}],
    }
    return str(yaml.safe_dump(config, sort_keys=False))


def _admission(ctx: Context) -> list[str]:
    if not ctx.pod_security:
        return []
    path = ctx.state / "admission.yaml"
    path.write_text(admission_config(ctx.pod_security))
    return [f"--admission-control-config-file={path}"]


def _endpoint_reconciler(ctx: Context) -> list[str]:
    """With real nodes the `kubernetes` Service gets the bridge address as its endpoint (pods call it);
    without, it may not point at loopback and simulated pods never call it."""
    return [] if ctx.net else ["--endpoint-reconciler-type=none"]


def _component_auth(ctx: Context, identity: str) -> list[str]:
    kubeconfig = ctx.kubeconfig(identity)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        "--leader-elect=false",
        *feature_gates_flag(ctx.feature_gates),
    ]


def controller_manager(ctx: Context) -> Component:
    pki = ctx.pki
    return Component(
        "kube-controller-manager",
        [
            ctx.bin("kube-controller-manager"),
            *_component_auth(ctx, "controller-manager"),
            f"--secure-port={ctx.ports.controller_manager}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            # No --controllers: the defaults include attachdetach, which creates and deletes the
            # VolumeAttachments of csi.ordinal.dev (attachRequired) that the external-attacher serves.
            # Default /usr/libexec/kubernetes/kubelet-plugins/volume/exec/, which it would create on the host.
            f"--flex-volume-plugin-dir={ctx.state / 'flexvolume'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # A silent node is NotReady after 12 s, not upstream's 50 s: node loss (tests, experiments) waits
            # less. Nodes renew their leases every 2.5 s (10 s leases), so about 5 missed renewals mark one
            # lost; under two parallel suite runs the longest gap between renewals was 2.84 s (of 300).
            f"--node-monitor-grace-period={NODE_MONITOR_GRACE_SECONDS}s",
            "--node-monitor-period=2s",
            # Upstream's 20 requests/s (burst 30) per controller made a parallel suite run wait
            # minutes in all on the client-side limiter (rest_client_rate_limiter_duration_seconds),
            # mostly the pod and claim creates and status updates that every test waits for.
            f"--kube-api-qps={CONTROLLER_QPS}",
            f"--kube-api-burst={2 * CONTROLLER_QPS}",
            "--v=1",
        ],
        http_check(f"https://{LOOPBACK}:{ctx.ports.controller_manager}/healthz", insecure=True),
        "kube-controller-manager /healthz to answer 200",
    )


def scheduler(ctx: Context) -> Component:
    return Component(
        "kube-scheduler",
        [
            ctx.bin("kube-scheduler"),
            *_component_auth(ctx, "scheduler"),
            f"--secure-port={ctx.ports.scheduler}",
            "--v=1",
        ],
        http_check(f"https://{LOOPBACK}:{ctx.ports.scheduler}/healthz", insecure=True),
        "kube-scheduler /healthz to answer 200",
    )


def _dns_server(ctx: Context, host: str, port: int, extra: list[str]) -> list[str]:
    return [
        # Zone-scoped: names outside the cluster are REFUSED, never forwarded anywhere.
        f"{ctx.cluster_domain}:{port} in-addr.arpa:{port} ip6.arpa:{port} {{",
        f"    bind {host}",
        "    errors",
        f"    kubernetes {ctx.cluster_domain} in-addr.arpa ip6.arpa {{",
        f"        kubeconfig {ctx.kubeconfig('coredns')} ordinal-local",
        "        pods insecure",
        "        fallthrough in-addr.arpa ip6.arpa",
        "        ttl 5",
        "    }",
        *extra,
        "}",
    ]


def corefile(ctx: Context) -> str:
    p = ctx.ports
    lines = _dns_server(
        ctx, LOOPBACK, p.dns, [f"    ready {LOOPBACK}:{p.dns_ready}", f"    health {LOOPBACK}:{p.dns_health}"]
    )
    if ctx.net:
        # The pods' cluster DNS (kubelet clusterDNS): port 53 on the cluster's own bridge address.
        lines += _dns_server(ctx, ctx.net.bridge_ip, 53, [])
    return "\n".join([*lines, ""])


def coredns(ctx: Context) -> Component:
    path = ctx.state / "Corefile"
    path.write_text(corefile(ctx))
    return Component(
        "coredns",
        [ctx.bin("coredns"), "-conf", str(path)],
        http_check(f"http://{LOOPBACK}:{ctx.ports.dns_ready}/ready"),
        "CoreDNS /ready to answer 200 (kubernetes plugin synced)",
    )


def provisioner(ctx: Context) -> Component:
    root = ctx.state / "volumes"
    root.mkdir(exist_ok=True)
    return Component(
        "provisioner",
        [
            ctx.bin("ordinal-provisioner"),
            f"--kubeconfig={ctx.kubeconfig('provisioner')}",
            f"--root={root}",
            f"--health-addr={LOOPBACK}:{ctx.ports.provisioner}",
        ],
        http_check(f"http://{LOOPBACK}:{ctx.ports.provisioner}/healthz"),
        "the provisioner /healthz to answer 200",
    )
