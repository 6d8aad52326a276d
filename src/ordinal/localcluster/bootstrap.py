"""Objects the local cluster needs before anything runs on it: add-on RBAC and StorageClasses."""

from __future__ import annotations

from ordinal.kube.rest import Kube, resource_for
from ordinal.types import Obj

PROVISIONER = "ordinal.dev/hostpath"
LOCAL_CLASS = "ordinal-local"
SHARED_CLASS = "ordinal-shared"
ZONAL_CLASS = "ordinal-zonal"


def storage_classes() -> list[Obj]:
    """``ordinal-local`` (default): pinned like a local disk; ``ordinal-shared``: like network storage;
    ``ordinal-zonal``: pinned to the zone of first use, like a cloud block volume."""
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": LOCAL_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "parameters": {"nodePinned": "true"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": SHARED_CLASS},
            "provisioner": PROVISIONER,
            "parameters": {"nodePinned": "false"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": ZONAL_CLASS},
            "provisioner": PROVISIONER,
            "parameters": {"zonePinned": "true"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    ]


def rbac() -> list[Obj]:
    rbac_v1 = "rbac.authorization.k8s.io/v1"
    return [
        {
            # kwok and the provisioner act for the cluster's infrastructure, as kubelets and CSI do.
            "apiVersion": rbac_v1,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "ordinal:addons"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ordinal:addons"}],
        },
        {
            # What CoreDNS's kubernetes plugin reads, and nothing more.
            "apiVersion": rbac_v1,
            "kind": "ClusterRole",
            "metadata": {"name": "ordinal:coredns"},
            "rules": [
                {"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": ["list", "watch"]},
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": rbac_v1,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "ordinal:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "ordinal:coredns",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ordinal:coredns"}],
        },
    ]


def apply_all(kube: Kube, extra: list[Obj] | None = None) -> None:
    """The add-ons' RBAC and the classes, then ``extra`` (the CSI driver's objects when real nodes run it)."""
    for obj in [*rbac(), *storage_classes(), *(extra or [])]:
        kube.create(resource_for(obj), obj)
