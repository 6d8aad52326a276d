"""Which cluster ordinal talks to, and whether it may break things there.

Order: an explicit kubeconfig (flag, ``ORDINAL_KUBECONFIG`` or ``KUBECONFIG``) with an optional
context; ``in-cluster`` when asked for by name; otherwise the local cluster if it is up.
Nothing else: ordinal never wanders into whatever ``~/.kube/config`` happens to point at,
because a chaos suite on the wrong cluster is a real outage. Disruption needs more: the local
cluster, or a context matching ``ORDINAL_ALLOW_CONTEXTS``.

This is the only library module that reads the launcher's state (the running local cluster's
kubeconfig, DNS server and node image); everything else asks here, so a foreign cluster and
the local one go through the same code.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.client import api_client, current_context
from ordinal.kube.rest import NODES, Kube

IN_CLUSTER = "in-cluster"
LOCAL_CONTEXT = "ordinal-local"
ALLOW_ENV = "ORDINAL_ALLOW_CONTEXTS"


@dataclass(frozen=True)
class Target:
    """Which cluster, and how it was chosen (said in reports and in the safety control)."""

    kubeconfig: str | None  # None for in-cluster
    context: str | None
    source: str  # "flag", "env ORDINAL_KUBECONFIG", "env KUBECONFIG", "local cluster", "in-cluster"
    local: bool = False


def connect(target: Target, *, pool_size: int | None = None) -> Kube:
    """A fresh client for ``target``; ``pool_size`` for one connection per concurrent watch."""
    return Kube(api_client(target.kubeconfig, target.context, pool_size=pool_size))


def resolve(kubeconfig: str | None = None, context: str | None = None) -> Target:
    """Pick the target cluster or raise a one-line error naming what was expected."""
    chosen: tuple[str, str] | None = None
    if kubeconfig:
        chosen = (kubeconfig, "flag")
    elif os.environ.get("ORDINAL_KUBECONFIG"):
        chosen = (os.environ["ORDINAL_KUBECONFIG"], "env ORDINAL_KUBECONFIG")
    elif os.environ.get("KUBECONFIG"):
        chosen = (os.environ["KUBECONFIG"], "env KUBECONFIG")
    local = local_kubeconfig()
    if chosen is not None:
        path, source = chosen
        if path == IN_CLUSTER:
            return Target(None, None, IN_CLUSTER)
        first = path.split(os.pathsep)[0]
        if not Path(first).is_file():
            raise InvalidScenario(f"expected a kubeconfig file at {first!r} (from {source}), found none")
        is_local = local is not None and Path(first).resolve() == local.resolve() and context in (None, LOCAL_CONTEXT)
        return Target(path, context, source, local=is_local)
    if local is not None:
        if context not in (None, LOCAL_CONTEXT):
            raise InvalidScenario(
                f"expected a kubeconfig to go with context {context!r}; only the local cluster is up "
                f"and its context is {LOCAL_CONTEXT!r}"
            )
        return Target(str(local), LOCAL_CONTEXT, "local cluster", local=True)
    raise InvalidScenario(
        "expected a cluster: pass --kubeconfig (or set KUBECONFIG) or start one with `ordinal cluster up`; "
        "found neither (ordinal never falls back to ~/.kube/config on its own)"
    )


# -- the running local cluster (the launcher's state; the launcher is optional) ---------------------


def local_kubeconfig() -> Path | None:
    """The running local cluster's kubeconfig, or None when none is up."""
    from ordinal.localcluster.state import running_kubeconfig

    return running_kubeconfig()


def local_dns_server() -> str:
    """``host:port`` of the running local cluster's CoreDNS on loopback; "" when none is up."""
    from ordinal.localcluster.state import is_running, read

    data = read() if is_running() else None
    return str((data or {}).get("dns") or "")


def local_node_image() -> str | None:
    """The busybox image the local cluster's real nodes hold (they pull nothing); None without real nodes."""
    from ordinal.localcluster.state import node_image

    return node_image()


def local_cluster_running() -> bool:
    from ordinal.localcluster.state import is_running

    return is_running()


# -- may it be disrupted ---------------------------------------------------------------------------


def context_name(target: Target) -> str:
    """The context a target uses: the explicit one, else the kubeconfig's current-context."""
    if target.kubeconfig is None:
        return IN_CLUSTER
    if target.context:
        return target.context
    try:
        return current_context(target.kubeconfig)
    except Exception as err:  # an unreadable kubeconfig names no context we could allow
        raise InvalidScenario(f"expected a readable kubeconfig at {target.kubeconfig!r}, got: {err}") from err


def allowed_patterns(env: Mapping[str, str] | None = None) -> list[str]:
    raw = (env if env is not None else os.environ).get(ALLOW_ENV, "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def check_allowed(target: Target, env: Mapping[str, str] | None = None) -> str:
    """Return the context name, or refuse: only the local cluster and contexts in ORDINAL_ALLOW_CONTEXTS."""
    if target.local:
        return target.context or LOCAL_CONTEXT
    name = context_name(target)
    patterns = allowed_patterns(env)
    if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
        allowed = ", ".join(patterns) or "nothing but the local cluster"
        raise InvalidScenario(
            f"refusing kube context {name!r} ({target.source}): expected the local cluster or a context "
            f"in {ALLOW_ENV} (allowed: {allowed})"
        )
    return name


#: Workers per schedulable node for ``--workers auto`` and ``pytest -n auto``, and the most ever started:
#: each test waits mostly on controllers, but every worker is a Python process the API server serves.
WORKERS_PER_NODE, MAX_WORKERS = 2, 8


def auto_workers(schedulable_nodes: int, cpus: int | None = None) -> int:
    """Workers for a cluster of this size: two per schedulable node, at most 8 and at most 4 per CPU here.

    0 (one process, no xdist) when that comes to fewer than two.
    """
    cpus = cpus or os.cpu_count() or 1
    count = min(MAX_WORKERS, WORKERS_PER_NODE * schedulable_nodes, 4 * cpus)
    return count if count >= 2 else 0


def workers_for(kube: Kube) -> int:
    """:func:`auto_workers` for the nodes of this cluster that take pods now."""
    nodes, _ = kube.list(NODES)
    return auto_workers(sum(1 for n in nodes if o.node_schedulable(n)))
