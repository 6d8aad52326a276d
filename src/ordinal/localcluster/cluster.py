"""``ordinal cluster up|down|status|env|logs``: start the components in order, gate each, undo on failure."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError, InvalidScenario
from ordinal.kube.client import api_client
from ordinal.kube.objects import node_ready
from ordinal.kube.rest import NODES, Kube
from ordinal.localcluster import build, components, paths, pki, preflight, process, state
from ordinal.localcluster.bootstrap import apply_all
from ordinal.localcluster.context import LOOPBACK, Context, Ports
from ordinal.localcluster.gates import wait_gate
from ordinal.localcluster.nodes import NodeKind, real
from ordinal.localcluster.nodes.kwok import KwokNodes
from ordinal.localcluster.nodes.real import RealNodes
from ordinal.localcluster.versions import load
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

Log = Callable[[str], None]
MAX_ZONES = 26


#: Real nodes a cluster gets unless told otherwise (``--real-nodes`` / ``ORDINAL_REAL_NODES``):
#: one, so data in volumes, exec and DNS from inside a pod are checked by default.
DEFAULT_REAL_NODES = 1


def default_real_nodes(env: dict[str, str] | None = None) -> int:
    """``ORDINAL_REAL_NODES`` if set (``0`` = simulated nodes only), else :data:`DEFAULT_REAL_NODES`."""
    raw = (os.environ if env is None else env).get("ORDINAL_REAL_NODES", "").strip()
    if not raw:
        return DEFAULT_REAL_NODES
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
) -> dict[str, Any]:
    """Build if needed, start everything, return the state written to ``cluster.json``.

    ``nodes`` counts every node; the first ``real_nodes`` of them are real (kubelet + containerd),
    the rest simulated. ``state_dir`` overrides ``ORDINAL_CLUSTER_DIR`` (tests start a second cluster).
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
        bins = build.binaries(log=say)
        ctx = Context(
            state=where,
            bins=bins,
            ports=Ports().shifted(port_offset),
            nodes=nodes,
            zones=zones,
            log=say,
            port_offset=port_offset,
            real_nodes=real_nodes,
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
            )
            for make in (components.etcd, components.apiserver):
                timings[make.__name__] = _start(ctx, make(ctx))
            with _admin(ctx) as kube:
                apply_all(kube)
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
            "pod_dns": f"{ctx.net.bridge_ip}:53" if ctx.net else None,
            "versions": vars(load(paths.source_dir())),
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
    """Stop processes newest first, undo node-level changes, remove the state. Collect every error."""
    errors: list[str] = []
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
    return {"state": str(where), "running": state.is_running(where), "processes": procs, "cluster": data}


def env_lines() -> list[str]:
    data = state.read()
    if data is None or not state.is_running():
        raise ClusterError(
            f"expected a running local cluster, found none (state {paths.state_dir()}); run `ordinal cluster up`"
        )
    lines = [f"export KUBECONFIG={data['kubeconfig']}", f"export ORDINAL_DNS_SERVER={data['dns']}"]
    if (data.get("images") or {}).get("busybox"):
        # Real nodes pull nothing: the suite's pods must use the image every real node already holds.
        lines.append(f"export ORDINAL_IMAGE={data['images']['busybox']}")
    return lines


def log_path(component: str) -> Path:
    where = paths.state_dir()
    names = sorted(r.name for r in process.records(where))
    if component not in names:
        raise InvalidScenario(
            f"expected a component name, one of {', '.join(names) or '(none: cluster not running)'}; got {component!r}"
        )
    return where / "logs" / f"{component}.log"
