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
