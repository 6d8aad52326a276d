"""``ordinal cluster up|down|status|env|logs``: start the components in order, gate each, undo on failure."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from ordinal.errors import ClusterError, InvalidScenario
from ordinal.kube import permissions
from ordinal.kube.client import api_client
from ordinal.kube.objects import node_ready
from ordinal.kube.rest import NODES, SERVICE_ACCOUNTS, Kube, resource_for
from ordinal.localcluster import build, components, csi, dnspod, paths, pki, preflight, process, state
from ordinal.localcluster.bootstrap import apply_all
from ordinal.localcluster.context import LOOPBACK, Context, Ports
from ordinal.localcluster.gates import wait_gate
from ordinal.localcluster.nodes import NodeKind, real, zone_name
from ordinal.localcluster.nodes.kwok import KwokNodes
from ordinal.localcluster.nodes.real import RealNodes
from ordinal.localcluster.versions import load
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

Log = Callable[[str], None]
MAX_ZONES = 26
_DOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


#: Nodes a cluster started from the command line gets unless told otherwise (``--nodes``).
DEFAULT_NODES = 5
#: Real nodes among them unless told otherwise (``--real-nodes`` / ``ORDINAL_REAL_NODES``): three,
#: so data in volumes, exec and DNS from inside a pod are checked by default, and so is the drain's
#: data (it takes a node away, so each of the sample's 3 pods needs a real node of its own); the
#: other two stay simulated, for the faults only a simulated node can suffer.
DEFAULT_REAL_NODES = 3


def default_real_nodes(env: dict[str, str] | None = None, nodes: int = DEFAULT_NODES) -> int:
    """``ORDINAL_REAL_NODES`` if set (``0`` = simulated nodes only), else :data:`DEFAULT_REAL_NODES`.

    The default never asks for more real nodes than ``nodes`` (``--nodes 2`` gives two real ones);
    an explicit count is taken as given, so a contradiction fails in ``up`` with both numbers.
    """
    raw = (os.environ if env is None else env).get("ORDINAL_REAL_NODES", "").strip()
    if not raw:
        return min(DEFAULT_REAL_NODES, max(nodes, 0))
    if not raw.isdigit():
        raise InvalidScenario(f"expected ORDINAL_REAL_NODES to be a whole number >= 0, got {raw!r}")
    return int(raw)


def node_names(count: int) -> list[str]:
    return [f"ordinal-node-{i}" for i in range(1, count + 1)]


def _check_ports(ports: Ports) -> None:
    import socket

    for name, port in ports.named().items():
        kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if name == "dns" else [])
        for kind in kinds:
            if not process.port_free(LOOPBACK, port, kind):
                proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
                raise ClusterError(
                    f"expected {LOOPBACK}:{port}/{proto} free for {name.replace('_', '-')}, "
                    f"found it in use by {process.port_owner(port)}"
                )


def _check_bridge_ports(ctx: Context) -> None:
    """The apiserver and the pods' DNS listen on the new bridge address: nothing may hold those ports."""
    import socket

    assert ctx.net is not None
    for name, port, kind in (
        ("apiserver", ctx.ports.apiserver, socket.SOCK_STREAM),
        ("pod DNS", 53, socket.SOCK_STREAM),
        ("pod DNS", 53, socket.SOCK_DGRAM),
    ):
        if not process.port_free(ctx.net.bridge_ip, port, kind):
            raise ClusterError(
                f"expected {ctx.net.bridge_ip}:{port} free for {name}, found it in use by {process.port_owner(port)}"
            )


def _identities(real_names: list[str]) -> tuple[pki.Identity, ...]:
    if not real_names:
        return ()
    return (
        pki.Identity("kube-proxy", "system:kube-proxy"),
        *(pki.Identity(real.kubelet_identity(n), f"system:node:{n}", ("system:nodes",)) for n in real_names),
        *(pki.Identity(name, user) for name, user in csi.IDENTITIES),
    )


def _admin(ctx: Context) -> Kube:
    return Kube(api_client(str(ctx.kubeconfig())))


def _nodes_ready(names: list[str]) -> Callable[[list[Obj]], Verdict[str]]:
    def judge(nodes: list[Obj]) -> Verdict[str]:
        ready = sorted(n["metadata"]["name"] for n in nodes if node_ready(n) == "True")
        wanted = [n for n in names if n not in ready]
        return Verdict(not wanted, f"ready {ready or 'none'}, not ready {wanted or 'none'}")

    return judge


def up(
    *,
    nodes: int = 3,
    zones: int = 3,
    port_offset: int = 0,
    real_nodes: int = 0,
    log: Log | None = None,
    state_dir: Path | None = None,
    cluster_domain: str = components.DEFAULT_CLUSTER_DOMAIN,
    pod_security: str = "",
    kubernetes: str | None = None,
    feature_gates: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Build if needed, start everything, return the state written to ``cluster.json``.

    ``nodes`` counts every node; the first ``real_nodes`` of them are real (kubelet + containerd),
    the rest simulated. ``state_dir`` overrides ``ORDINAL_CLUSTER_DIR`` (tests start a second cluster).
    ``cluster_domain`` is the DNS domain; ``pod_security`` a Pod Security level enforced by default
    in every namespace ("" leaves the apiserver's default, privileged); ``kubernetes`` an older
    pinned release (``v1.33``) instead of the default; ``feature_gates`` gates (alpha ones too) set on
    the apiserver, controller-manager, scheduler and every kubelet.
    """
    if nodes < 1:
        raise InvalidScenario(f"expected --nodes >= 1, got {nodes}")
    if not 0 <= real_nodes <= nodes:
        raise InvalidScenario(f"expected 0 <= --real-nodes <= --nodes ({nodes}), got {real_nodes}")
    if real_nodes and port_offset % 1000:
        raise InvalidScenario(
            f"expected a --port-offset that is a multiple of 1000 with real nodes (it picks the cluster's "
            f"network 10.88.<offset/1000>.0/24), got {port_offset}"
        )
    if not 1 <= zones <= min(nodes, MAX_ZONES):
        raise InvalidScenario(
            f"expected 1 <= --zones <= min(--nodes, {MAX_ZONES}) = {min(nodes, MAX_ZONES)}, got {zones}"
        )
    if not 0 <= port_offset <= 50000:
        raise InvalidScenario(f"expected 0 <= --port-offset <= 50000, got {port_offset}")
    if pod_security and pod_security not in components.POD_SECURITY_LEVELS:
        levels = ", ".join(components.POD_SECURITY_LEVELS)
        raise InvalidScenario(f"expected --pod-security one of {levels}, got {pod_security!r}")
    if not _DOMAIN.fullmatch(cluster_domain) or len(cluster_domain) > 200:
        raise InvalidScenario(
            f"expected --cluster-domain to be a DNS domain such as cluster.local, got {cluster_domain!r}"
        )
    say: Log = log or (lambda m: None)
    where = state_dir or paths.state_dir()
    with state.locked(where):
        if state.is_running(where):
            data = state.read(where) or {}
            raise ClusterError(
                f"expected no local cluster running, found one up since {data.get('started', '?')} "
                f"(state {where}); run `ordinal cluster down` first"
            )
        _remove(where, say)  # stale leftovers of a crashed run
        release = load(paths.source_dir()).release(kubernetes)
        bins = build.binaries(log=say, kubernetes=release)
        ctx = Context(
            state=where,
            bins=bins,
            ports=Ports().shifted(port_offset),
            nodes=nodes,
            zones=zones,
            log=say,
            port_offset=port_offset,
            real_nodes=real_nodes,
            cluster_domain=cluster_domain,
            pod_security=pod_security,
            feature_gates=dict(feature_gates or {}),
        )
        _check_ports(ctx.ports)
        if real_nodes:
            preflight.require(where.parent, real_nodes)
        where.mkdir(parents=True)
        started = time.monotonic()
        timings: dict[str, float] = {}
        kinds: list[NodeKind] = [RealNodes(), KwokNodes()]
        names = node_names(nodes)
        by_kind = {real.KIND: names[:real_nodes], KwokNodes.name: names[real_nodes:]}
        archives: dict[str, str] = {}
        dns_pod = ""
        try:
            api_ips: tuple[str, ...] = (LOOPBACK,)
            if ctx.net:
                real.prepare(ctx, by_kind[real.KIND])  # bridge + cgroups, recorded for teardown first
                _check_bridge_ports(ctx)
                api_ips = (LOOPBACK, ctx.net.bridge_ip, components.KUBERNETES_SERVICE_IP)
            pki.make_pki(
                ctx.pki,
                apiserver_ips=api_ips,
                apiserver_url=ctx.apiserver_url,
                extra=_identities(by_kind[real.KIND]),
                cluster_domain=cluster_domain,
            )
            for make in (components.etcd, components.apiserver):
                timings[make.__name__] = _start(ctx, make(ctx))
            with _admin(ctx) as kube:
                real_zones = [zone_name(i, zones) for i in range(real_nodes)]  # real nodes come first
                apply_all(kube, csi.objects(real_zones, csi.driver_version(ctx)) if real_nodes else [])
            for make in (components.controller_manager, components.scheduler):
                timings[make.__name__] = _start(ctx, make(ctx))
            t0 = time.monotonic()
            for kind in kinds:
                if by_kind[kind.name]:
                    kind.start(ctx, by_kind[kind.name])
            with _admin(ctx) as kube:
                wait_for(
                    kube,
                    Query(NODES),
                    _nodes_ready(names),
                    expect=f"{nodes} nodes Ready ({real_nodes} real, {nodes - real_nodes} simulated)",
                    timeout=60 + 30 * real_nodes,
                )
            timings["nodes"] = time.monotonic() - t0
            if real_nodes:
                archives = real.image_refs(ctx)
            for make in (components.coredns, components.provisioner):
                timings[make.__name__] = _start(ctx, make(ctx))
            if real_nodes:  # the CSI stack: host components, then every real node's kubelet has registered it
                t0 = time.monotonic()
                for comp in csi.host_components(ctx):
                    timings[comp.name] = _start(ctx, comp)
                with _admin(ctx) as kube:
                    csi.wait_registered(kube, by_kind[real.KIND])
                timings["csi"] = time.monotonic() - t0
            if real_nodes:  # the cluster DNS as a pod too, reachable through the API server like anywhere else
                t0 = time.monotonic()
                with _admin(ctx) as kube:
                    dns_pod = dnspod.deploy(kube, cluster_domain, archives["coredns"])
                timings["dns_pod"] = time.monotonic() - t0
        except BaseException as err:
            kept = _keep_logs(where)
            _teardown(where, kinds, say)
            if isinstance(err, ClusterError):
                raise ClusterError(f"{str(err).splitlines()[0]} (logs kept in {kept})") from err
            raise
        data = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.monotonic() - started, 2),
            "timings": {k: round(v, 2) for k, v in timings.items()},
            "kubeconfig": str(ctx.kubeconfig()),
            "context": pki.CONTEXT,
            "dns": f"{LOOPBACK}:{ctx.ports.dns}",
            "apiserver": ctx.apiserver_url,
            "ports": ctx.ports.named(),
            "nodes": names,
            "real_nodes": by_kind[real.KIND],
            "zones": zones,
            "node_kinds": [k.name for k in kinds if by_kind[k.name]],
            # Images every real node has (no registry, imagePullPolicy IfNotPresent); empty without real nodes.
            "images": archives,
            # The CSI driver and its class (real nodes only), or why there is none.
            "csi": csi.summary(ctx, by_kind[real.KIND]),
            "pod_dns": f"{ctx.net.bridge_ip}:53" if ctx.net else None,
            "cluster_domain": cluster_domain,
            "dns_pod": dns_pod or None,
            "pod_security": pod_security or "privileged",
            "versions": vars(load(paths.source_dir())),
            "kubernetes": release,
            "feature_gates": ctx.feature_gates,
        }
        state.write(where, data)
        return data


def _keep_logs(where: Path) -> Path:
    """Copy the logs of a failed start next to the state dir: the state itself must go."""
    kept = where.parent / f"{where.name}.last-failure"
    shutil.rmtree(kept, ignore_errors=True)
    if (where / "logs").is_dir():
        shutil.copytree(where / "logs", kept)
    return kept


def _start(ctx: Context, comp: components.Component) -> float:
    ctx.log(f"starting {comp.name} ...")
    record = process.spawn(comp.name, comp.argv, state=ctx.state)
    seconds = wait_gate(comp.expect, comp.gate, timeout=comp.timeout, record=record)
    ctx.log(f"{comp.name} ready in {seconds:.1f}s")
    return seconds


def _teardown(where: Path, kinds: list[NodeKind], say: Log) -> list[str]:
    """Thaw stopped nodes, stop processes newest first, undo node-level changes, remove the state.

    A frozen process takes no signal, not even SIGKILL, until it is thawed: stopped nodes are
    started first. Every error is collected.
    """
    errors: list[str] = []
    try:
        real.thaw_all(where)
    except ClusterError as err:
        errors.append(str(err))
    for record in reversed(process.records(where)):
        try:
            if process.stop(record):
                say(f"stopped {record.name} (pid {record.pid})")
        except ClusterError as err:
            errors.append(str(err))
    ctx = Context(state=where, bins={})
    for kind in kinds:
        errors.extend(kind.teardown(ctx))
    if not errors:
        shutil.rmtree(where, ignore_errors=True)
    return errors


def _remove(where: Path, say: Log) -> None:
    if where.exists():
        errors = _teardown(where, [RealNodes(), KwokNodes()], say)
        if errors:
            raise ClusterError("expected to clear a stale local cluster, but: " + "; ".join(errors))


def down(*, log: Log | None = None, state_dir: Path | None = None) -> bool:
    """Stop everything ``up`` started; True if something was running. Idempotent."""
    say: Log = log or (lambda m: None)
    where = state_dir or paths.state_dir()
    with state.locked(where):
        if not where.exists():
            return False
        errors = _teardown(where, [RealNodes(), KwokNodes()], say)
        if errors:
            raise ClusterError("expected a clean stop, but: " + "; ".join(errors))
        return True


def status() -> dict[str, Any]:
    where = paths.state_dir()
    data = state.read(where)
    procs = {r.name: ("running" if r.alive() else "dead") + f" (pid {r.pid})" for r in process.records(where)}
    return {
        "state": str(where),
        "running": state.is_running(where),
        "processes": procs,
        "stopped_nodes": real.stopped_nodes(where),
        "cluster": data,
    }


NodeAction = Literal["stop", "start"]


def node_power(action: NodeAction, name: str) -> str:
    """``ordinal cluster node stop|start NAME``: freeze or thaw a real node; the line to print.

    The processes of a real node (kubelet, containerd, its containers, kube-proxy, the CSI node
    plugin and registrar) all live in its cgroup subtree; the v1 freezer stops them at once,
    as a machine that hung would stop, and resumes them where they were.
    """
    where = paths.state_dir()
    data = state.read(where)
    if data is None or not state.is_running(where):
        raise ClusterError(f"expected a running local cluster, found none (state {where}); run `ordinal cluster up`")
    nodes, reals = list(data.get("nodes") or []), list(data.get("real_nodes") or [])
    if name not in nodes:
        raise InvalidScenario(f"expected a node of the local cluster ({', '.join(nodes)}), got {name!r}")
    if name not in reals:
        raise InvalidScenario(
            f"expected a real node to {action} ({', '.join(reals) or 'the cluster has none'}), got {name}: "
            "it is simulated (kwok), nothing runs there"
        )
    if action == "stop":
        count = real.stop_node(where, name)
        if not count:
            return f"node {name} is already stopped"
        return f"stopped node {name}: {count} processes frozen (kubelet, containerd, containers, CSI node plugin)"
    count = real.start_node(where, name)
    return f"started node {name}: {count} processes resumed" if count else f"node {name} is not stopped"


def node_commands(where: Path, ordinal: str) -> tuple[str, str]:
    """The node-stop and node-start command templates for this cluster (``{node}`` is the node's name).

    Self-contained: they name the state directory and the ``ordinal`` executable, so the suite and
    the experiments run them from any directory and environment.
    """
    prefix = ["env", f"ORDINAL_CLUSTER_DIR={where}", ordinal, "cluster", "node"]
    return shlex.join([*prefix, "stop"]) + " {node}", shlex.join([*prefix, "start"]) + " {node}"


def _ordinal_executable() -> str:
    """This installation's ``ordinal`` script (beside the interpreter in a venv), else whatever PATH finds."""
    beside = Path(sys.executable).with_name("ordinal")
    return str(beside) if beside.is_file() else shutil.which("ordinal") or "ordinal"


def env_lines(identity: str = "admin") -> list[str]:
    """Shell exports for the running cluster; ``identity="ci"``: a least-privilege ServiceAccount's kubeconfig."""
    if identity not in ("admin", "ci"):
        raise InvalidScenario(f"expected --as admin or ci, got {identity!r}")
    data = state.read()
    if data is None or not state.is_running():
        raise ClusterError(
            f"expected a running local cluster, found none (state {paths.state_dir()}); run `ordinal cluster up`"
        )
    kubeconfig = data["kubeconfig"] if identity == "admin" else str(ci_kubeconfig(data))
    lines = [f"export KUBECONFIG={kubeconfig}", f"export ORDINAL_DNS=direct:{data['dns']}"]
    if (data.get("images") or {}).get("busybox"):
        # Real nodes pull nothing: the suite's pods must use the image every real node already holds.
        lines.append(f"export ORDINAL_IMAGE={data['images']['busybox']}")
    if data.get("real_nodes"):
        # Real node loss: the suite and the experiments stop and start a node through these commands.
        stop, start = node_commands(paths.state_dir(), _ordinal_executable())
        lines.append(f"export ORDINAL_NODE_STOP_COMMAND={shlex.quote(stop)}")
        lines.append(f"export ORDINAL_NODE_START_COMMAND={shlex.quote(start)}")
    return lines


#: The least-privilege identity ``cluster env --as ci`` hands out.
CI_NAMESPACE, CI_ACCOUNT = "ordinal", "ordinal-ci"


def ci_kubeconfig(data: dict[str, Any], *, hours: int = 24) -> Path:
    """A kubeconfig for ServiceAccount ordinal/ordinal-ci, bound to exactly ``ordinal rbac --disruptive``.

    Created on first use (idempotent); the token is a fresh bound token of ``hours``. It authenticates
    like any CI identity: no client certificate, no group with special rights.
    """
    subject = {"kind": "ServiceAccount", "name": CI_ACCOUNT, "namespace": CI_NAMESPACE}
    pki_dir = Path(data["kubeconfig"]).parent
    with Kube(api_client(data["kubeconfig"])) as kube:
        objects: list[Obj] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CI_NAMESPACE}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": CI_ACCOUNT, "namespace": CI_NAMESPACE}},
            *permissions.manifests(name="ordinal-ci", subject=subject, disruptive=True),
        ]
        for obj in objects:
            res = resource_for(obj)
            namespace = obj["metadata"].get("namespace")
            if kube.get_or_none(res, obj["metadata"]["name"], namespace) is None:
                kube.create(res, obj, namespace)
            elif obj["kind"] in ("ClusterRole", "Role"):
                kube.replace(res, {**obj, "metadata": {**obj["metadata"]}}, namespace)
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
        review = kube.request(
            "POST",
            SERVICE_ACCOUNTS.path(CI_NAMESPACE, CI_ACCOUNT, "token"),
            body={**request, "spec": {"expirationSeconds": hours * 3600}},
        )
    token = str((review.get("status") or {}).get("token") or "")
    if not token:
        raise ClusterError(f"expected a token for ServiceAccount {CI_NAMESPACE}/{CI_ACCOUNT}, got none")
    path = pki_dir / "ci.kubeconfig"
    pki.write_token_kubeconfig(path, server=data["apiserver"], ca=pki_dir / "ca.crt", token=token, user=CI_ACCOUNT)
    return path


def log_path(component: str) -> Path:
    where = paths.state_dir()
    names = sorted(r.name for r in process.records(where))
    if component not in names:
        raise InvalidScenario(
            f"expected a component name, one of {', '.join(names) or '(none: cluster not running)'}; got {component!r}"
        )
    return where / "logs" / f"{component}.log"
