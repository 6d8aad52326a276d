"""The one place that decides which cluster ordinal talks to.

Order: an explicit kubeconfig (flag, ``ORDINAL_KUBECONFIG`` or ``KUBECONFIG``) with an optional
context; ``in-cluster`` when asked for by name; otherwise the local cluster if it is up.
Nothing else: ordinal never wanders into whatever ``~/.kube/config`` happens to point at,
because a chaos suite on the wrong cluster is a real outage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

from ordinal.errors import InvalidScenario

IN_CLUSTER = "in-cluster"


@dataclass(frozen=True)
class Target:
    """Which cluster, and how it was chosen (said in reports and in the safety control)."""

    kubeconfig: str | None  # None for in-cluster
    context: str | None
    source: str  # "flag", "env ORDINAL_KUBECONFIG", "env KUBECONFIG", "local cluster", "in-cluster"
    local: bool = False


def _local_kubeconfig() -> Path | None:
    from ordinal.localcluster.state import running_kubeconfig  # lazy: launcher is optional

    return running_kubeconfig()


def resolve(kubeconfig: str | None = None, context: str | None = None) -> Target:
    """Pick the target cluster or raise a one-line error naming what was expected."""
    chosen: tuple[str, str] | None = None
    if kubeconfig:
        chosen = (kubeconfig, "flag")
    elif os.environ.get("ORDINAL_KUBECONFIG"):
        chosen = (os.environ["ORDINAL_KUBECONFIG"], "env ORDINAL_KUBECONFIG")
    elif os.environ.get("KUBECONFIG"):
        chosen = (os.environ["KUBECONFIG"], "env KUBECONFIG")
    local = _local_kubeconfig()
    if chosen is not None:
        path, source = chosen
        if path == IN_CLUSTER:
            return Target(None, None, IN_CLUSTER)
        first = path.split(os.pathsep)[0]
        if not Path(first).is_file():
            raise InvalidScenario(f"expected a kubeconfig file at {first!r} (from {source}), found none")
        is_local = local is not None and Path(first).resolve() == local.resolve() and context in (None, "ordinal-local")
        return Target(path, context, source, local=is_local)
    if local is not None:
        if context not in (None, "ordinal-local"):
            raise InvalidScenario(
                f"expected a kubeconfig to go with context {context!r}; only the local cluster is up "
                "and its context is 'ordinal-local'"
            )
        return Target(str(local), "ordinal-local", "local cluster", local=True)
    raise InvalidScenario(
        "expected a cluster: pass --kubeconfig (or set KUBECONFIG) or start one with `ordinal cluster up`; "
        "found neither (ordinal never falls back to ~/.kube/config on its own)"
    )


def api_client(target: Target) -> client.ApiClient:
    """A fresh ApiClient for ``target``; never touches the library's global default configuration."""
    cfg = client.Configuration()
    if target.kubeconfig is None:
        loader = config.incluster_config.InClusterConfigLoader(
            token_filename=config.incluster_config.SERVICE_TOKEN_FILENAME,
            cert_filename=config.incluster_config.SERVICE_CERT_FILENAME,
        )
        loader.load_and_set(cfg)
    else:
        config.load_kube_config(config_file=target.kubeconfig, context=target.context, client_configuration=cfg)
    return client.ApiClient(cfg)
