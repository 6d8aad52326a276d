"""The sample workload the experiments deploy when not pointed at one: Service, StatefulSet, PDB.

A builder like the ones in :mod:`ordinal.kube.manifests`, kept here so that both the chaos
control that deploys it (:mod:`ordinal.chaos.sample`) and ``ordinal report``, which audits
its shape, build exactly the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping

from ordinal.errors import InvalidScenario
from ordinal.kube.manifests import (
    DEFAULT_IMAGE,
    DEFAULT_UID,
    headless_service_manifest,
    lost_node_tolerations,
    pdb_manifest,
    run_labels,
    selector_labels,
    statefulset_manifest,
)
from ordinal.labels import HOSTNAME_LABEL
from ordinal.types import Obj


def sample_manifests(
    name: str,
    namespace: str,
    run_id: str,
    *,
    replicas: int = 3,
    storage_class: str = "",
    when_deleted: str = "Retain",
    when_scaled: str = "Retain",
    unreachable_toleration: int = -1,
    image: str = DEFAULT_IMAGE,
    node_selector: Mapping[str, str] | None = None,
    run_as_user: int | None = DEFAULT_UID,
) -> list[Obj]:
    """Service, StatefulSet and PDB of the sample; pods spread over nodes (one per node when they can).

    ``unreachable_toleration`` >= 0 sets how long pods stay bound to an unreachable node
    before the taint manager deletes them (the default is 300 s; node-loss runs use 2).
    """
    policies = ("Retain", "Delete")
    if when_deleted not in policies or when_scaled not in policies:
        raise InvalidScenario(f"expected whenDeleted/whenScaled in {policies}, got {when_deleted!r}/{when_scaled!r}")
    if replicas < 1:
        raise InvalidScenario(f"expected at least 1 replica for the sample, got {replicas}")
    labels = run_labels(run_id)
    selector = selector_labels(name)
    sts = statefulset_manifest(
        name,
        namespace,
        replicas=replicas,
        storage_class=storage_class or None,
        retention=(when_deleted, when_scaled),  # type: ignore[arg-type]  # checked above
        labels=labels,
        image=image,
        run_as_user=run_as_user,
    )
    pod_spec = sts["spec"]["template"]["spec"]
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    # Preferred, not required: a drained pod on network storage must still find a node.
    pod_spec["affinity"] = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": selector},
                        "topologyKey": HOSTNAME_LABEL,
                    },
                }
            ]
        }
    }
    if unreachable_toleration >= 0:
        pod_spec["tolerations"] = lost_node_tolerations(unreachable_toleration)
    return [
        headless_service_manifest(name, namespace, selector, labels=labels),
        sts,
        pdb_manifest(name, namespace, selector, min_available=max(replicas - 1, 0), labels=labels),
    ]
