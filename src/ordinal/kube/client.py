"""Build ``kubernetes.client.ApiClient`` instances; which cluster to build one for is :mod:`ordinal.target`'s call.

Each client gets a ``Configuration()`` of its own: the library's class-level default is never
touched, and nothing is loaded at import time.
"""

from __future__ import annotations

from kubernetes import client, config
from kubernetes.client import rest


def api_client(kubeconfig: str | None, context: str | None = None, *, pool_size: int | None = None) -> client.ApiClient:
    """A fresh ApiClient for ``kubeconfig`` (None: in-cluster); ``pool_size`` connections for concurrent watches."""
    cfg = client.Configuration()
    if kubeconfig is None:
        loader = config.incluster_config.InClusterConfigLoader(
            token_filename=config.incluster_config.SERVICE_TOKEN_FILENAME,
            cert_filename=config.incluster_config.SERVICE_CERT_FILENAME,
        )
        loader.load_and_set(cfg)
    else:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    api = client.ApiClient(cfg)
    if pool_size is not None:
        api.configuration.connection_pool_maxsize = pool_size
        api.rest_client = rest.RESTClientObject(api.configuration)
    return api


def current_context(kubeconfig: str) -> str:
    """The kubeconfig's current-context ("" if it names none); raises on an unreadable file."""
    _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    return str((active or {}).get("name") or "")


def set_library_default(kubeconfig: str) -> None:
    """Point the kubernetes library's own default kubeconfig at ``kubeconfig``.

    The library reads ``KUBECONFIG`` into this default once, at import **(code)**; code that
    loads "the default" later (chaostoolkit-kubernetes activities) would otherwise reach
    whatever ``~/.kube/config`` names.
    """
    from kubernetes.config import kube_config

    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = kubeconfig
