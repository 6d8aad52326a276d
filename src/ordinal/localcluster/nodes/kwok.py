"""Simulated nodes: Node objects we create, kept alive (heartbeats, pod status) by kwok.

kwok only manages nodes carrying ``ordinal.dev/node-kind=kwok``; removing that label from one
node stops its heartbeats, which is how chaos experiments simulate losing a node.
"""

from __future__ import annotations

import os

from ordinal.kube.client import api_client
from ordinal.kube.rest import NODES, Kube
from ordinal.labels import (
    HOSTNAME_LABEL,
    INSTANCE_TYPE_LABEL,
    KWOK_NODE_ANNOTATION,
    NODE_KIND_LABEL,
    REGION_LABEL,
    SIMULATED_NODE_KIND,
    ZONE_LABEL,
)
from ordinal.localcluster import process
from ordinal.localcluster.context import LOOPBACK, Context
from ordinal.localcluster.nodes import kwok_stages, zone_name
from ordinal.localcluster.process import ProcessRecord
from ordinal.types import Obj

POD_CIDR = "10.244.0.0/16"
KIND = SIMULATED_NODE_KIND


def node_manifest(name: str, zone: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                HOSTNAME_LABEL: name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                INSTANCE_TYPE_LABEL: "ordinal-simulated",
                ZONE_LABEL: zone,
                REGION_LABEL: "ordinal-local",
                NODE_KIND_LABEL: KIND,
                "type": "kwok",
            },
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
        },
    }


class KwokNodes:
    name = KIND

    def start(self, ctx: Context, names: list[str]) -> list[ProcessRecord]:
        with Kube(api_client(str(ctx.kubeconfig()))) as kube:
            # Real nodes come first in the cluster's node list: count on from them, so zones
            # stay round-robin over every node, not restarted per kind.
            for index, name in enumerate(names, start=ctx.real_nodes):
                kube.create(NODES, node_manifest(name, zone_name(index, ctx.zones)))
        config = ctx.state / "kwok.yaml"
        config.write_text(kwok_stages.render())
        record = process.spawn(
            "kwok",
            [
                ctx.bin("kwok"),
                f"--kubeconfig={ctx.kubeconfig('kwok')}",
                f"--config={config}",
                f"--manage-nodes-with-label-selector={NODE_KIND_LABEL}={KIND}",
                f"--cidr={POD_CIDR}",
                f"--node-ip={LOOPBACK}",
                f"--server-address={LOOPBACK}:{ctx.ports.kwok}",
            ],
            state=ctx.state,
            # kwok would also read ~/.kwok/kwok.yaml; keep it to our own configuration.
            env={**os.environ, "KWOK_WORKDIR": str(ctx.state / "kwok")},
        )
        return [record]

    def teardown(self, ctx: Context) -> list[str]:
        return []  # nothing outside the processes and the state directory
