"""Faults on a StatefulSet and its pods: delete, evict, drain, scale, delete the set.

Each function does one exact thing to named objects and reports what it did (names and
UIDs) so the caller can check the aftermath. Blast radius is always explicit: a pod is
named by set and ordinal, a node by name; nothing matches by pattern.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ordinal.act.nodes import cordon
from ordinal.errors import InvalidScenario, TransientApiError, WaitTimeout
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal, pod_name
from ordinal.kube.rest import NODES, PDBS, PODS, STATEFULSETS, Kube
from ordinal.observe.waiting import Query, Verdict, wait_for
from ordinal.types import Obj

PROPAGATIONS = ("Orphan", "Background", "Foreground")


@dataclass(frozen=True)
class Hit:
    """One object a fault touched."""

    kind: str
    namespace: str
    name: str
    uid: str
    node: str | None = None


@dataclass
class Drained:
    node: str
    cordoned_by_us: bool
    evicted: list[Hit] = field(default_factory=list)
    refusals: int = 0  # 429s seen while the budget was spent


def pod_of(kube: Kube, namespace: str, set_name: str, ordinal: int) -> Obj:
    """The live pod for exactly this ordinal (``web-1``, never ``web-10``), or a clear error."""
    name = pod_name(set_name, ordinal)
    pod = kube.get_or_none(PODS, name, namespace)
    if pod is None or parse_ordinal(o.name(pod), set_name) != ordinal:
        raise InvalidScenario(f"expected pod {namespace}/{name} (ordinal {ordinal} of {set_name}), found none")
    return pod


def hit(pod: Obj) -> Hit:
    return Hit("Pod", o.namespace(pod), o.name(pod), o.uid(pod), o.spec(pod).get("nodeName"))


def node_of(kube: Kube, namespace: str, set_name: str, ordinal: int) -> str:
    node = o.spec(pod_of(kube, namespace, set_name, ordinal)).get("nodeName")
    if not node:
        raise InvalidScenario(f"expected pod {namespace}/{pod_name(set_name, ordinal)} to be scheduled, it is not")
    return str(node)


def delete_pod(kube: Kube, namespace: str, set_name: str, ordinal: int, grace_seconds: int | None = None) -> Hit:
    """Delete one ordinal's pod (``grace_seconds=0`` is a force delete), preconditioned on its UID."""
    pod = pod_of(kube, namespace, set_name, ordinal)
    kube.delete(PODS, o.name(pod), namespace, grace_seconds=grace_seconds, uid=o.uid(pod))
    return hit(pod)


def evict(kube: Kube, namespace: str, name: str, *, timeout: float) -> int:
    """Evict through the eviction API, honouring PDBs; on 429 wait (by watch) for budget, retry.

    Returns how many 429s were seen. Raises WaitTimeout if the budget never allowed it.
    """
    refusals = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            kube.evict(name, namespace)
            return refusals
        except TransientApiError as err:
            if err.status != 429:
                raise
            refusals += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"eviction of pod {namespace}/{name} allowed by its PodDisruptionBudget", "429", timeout)

        def allowed(pdbs: list[Obj]) -> Verdict[None]:
            seen = {o.name(p): o.status(p).get("disruptionsAllowed", 0) for p in pdbs}
            return Verdict(all(v > 0 for v in seen.values()), f"disruptionsAllowed {seen}")

        wait_for(kube, Query(PDBS, namespace), allowed, expect="PDB budget available", timeout=left)


def evict_ordinal(kube: Kube, namespace: str, set_name: str, ordinal: int, *, timeout: float) -> Hit:
    """Evict one ordinal's pod (see :func:`evict`)."""
    pod = pod_of(kube, namespace, set_name, ordinal)
    evict(kube, namespace, o.name(pod), timeout=timeout)
    return hit(pod)


def drain(kube: Kube, node: str, run_id: str, *, namespace: str, timeout: float, label_selector: str = "") -> Drained:
    """Cordon ``node`` and evict the pods of ``namespace`` on it, one at a time, as kubectl drain does.

    Only pods of the target namespace are evicted: ordinal never touches other tenants'
    pods on a shared staging cluster. The cordon goes into the node ledger; undo with
    :func:`ordinal.act.nodes.uncordon`.
    """
    if kube.get_or_none(NODES, node) is None:
        raise InvalidScenario(f"expected node {node!r} to drain, found none")
    result = Drained(node, cordon(kube, node, run_id))
    pods, _ = kube.list(PODS, namespace, field_selector=f"spec.nodeName={node}", label_selector=label_selector)
    deadline = time.monotonic() + timeout
    for pod in sorted(pods, key=o.name):
        if o.terminating(pod):
            continue
        result.refusals += evict(kube, namespace, o.name(pod), timeout=max(1.0, deadline - time.monotonic()))
        result.evicted.append(hit(pod))
    return result


def scale(kube: Kube, namespace: str, name: str, replicas: int) -> int:
    """Set replicas through the scale subresource; returns the previous count."""
    if replicas < 0:
        raise InvalidScenario(f"expected replicas >= 0 for StatefulSet {namespace}/{name}, got {replicas}")
    current = kube.get(STATEFULSETS, name, namespace)
    kube.patch(STATEFULSETS, name, {"spec": {"replicas": replicas}}, namespace, sub="scale")
    return int(o.spec(current).get("replicas", 1))


def get_set(kube: Kube, namespace: str, name: str) -> Obj:
    """The StatefulSet a fault is aimed at, or a clear error naming it."""
    sts = kube.get_or_none(STATEFULSETS, name, namespace)
    if sts is None:
        raise InvalidScenario(f"expected StatefulSet {namespace}/{name}, found none")
    return sts


def delete_set(kube: Kube, namespace: str, name: str, propagation: str = "Background") -> Hit:
    if propagation not in PROPAGATIONS:
        raise InvalidScenario(f"expected propagation one of {', '.join(PROPAGATIONS)}, got {propagation!r}")
    sts = get_set(kube, namespace, name)
    kube.delete(STATEFULSETS, name, namespace, propagation=propagation, uid=o.uid(sts))
    return Hit("StatefulSet", namespace, name, o.uid(sts))
