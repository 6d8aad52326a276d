"""The faults ordinal injects, shared by the conformance tests and the chaos actions.

Each function does one exact thing to named objects and reports what it did (names and
UIDs) so the caller can check the aftermath. Blast radius is always explicit: a pod is
named by set and ordinal, a node by name; nothing matches by pattern.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ordinal import hygiene
from ordinal import objects as o
from ordinal.errors import InvalidScenario, TransientApiError, WaitTimeout
from ordinal.kube.rest import NODES, PDBS, PODS, STATEFULSETS, Kube
from ordinal.types import Obj
from ordinal.waiting import Query, Verdict, wait_for
from ordinal.workloads import parse_ordinal, pod_name

#: kwok manages only nodes with this label (see localcluster.nodes.kwok); removing it stops heartbeats.
SIMULATED_KIND_LABEL = "ordinal.dev/node-kind"


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


def _hit(pod: Obj) -> Hit:
    return Hit("Pod", o.namespace(pod), o.name(pod), o.uid(pod), o.spec(pod).get("nodeName"))


def delete_pod(kube: Kube, namespace: str, set_name: str, ordinal: int, grace_seconds: int | None = None) -> Hit:
    """Delete one ordinal's pod (``grace_seconds=0`` is a force delete), preconditioned on its UID."""
    pod = pod_of(kube, namespace, set_name, ordinal)
    kube.delete(PODS, o.name(pod), namespace, grace_seconds=grace_seconds, uid=o.uid(pod))
    return _hit(pod)


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
            if "429" not in str(err):
                raise
            refusals += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"eviction of pod {namespace}/{name} allowed by its PodDisruptionBudget", "429", timeout)

        def allowed(pdbs: list[Obj]) -> Verdict[str]:
            seen = {o.name(p): o.status(p).get("disruptionsAllowed", 0) for p in pdbs}
            return Verdict(all(v > 0 for v in seen.values()), f"disruptionsAllowed {seen}")

        wait_for(kube, Query(PDBS, namespace), allowed, expect="PDB budget available", timeout=left)


def drain(kube: Kube, node: str, run_id: str, *, namespace: str, timeout: float, label_selector: str = "") -> Drained:
    """Cordon ``node`` and evict the pods of ``namespace`` on it, one at a time, as kubectl drain does.

    Only pods of the target namespace are evicted: ordinal never touches other tenants'
    pods on a shared staging cluster. The cordon goes into the node ledger; undo with
    :func:`ordinal.hygiene.uncordon`.
    """
    if kube.get_or_none(NODES, node) is None:
        raise InvalidScenario(f"expected node {node!r} to drain, found none")
    result = Drained(node, hygiene.cordon(kube, node, run_id))
    pods, _ = kube.list(PODS, namespace, field_selector=f"spec.nodeName={node}", label_selector=label_selector)
    deadline = time.monotonic() + timeout
    for pod in sorted(pods, key=o.name):
        if o.terminating(pod):
            continue
        result.refusals += evict(kube, namespace, o.name(pod), timeout=max(1.0, deadline - time.monotonic()))
        result.evicted.append(_hit(pod))
    return result


def node_of(kube: Kube, namespace: str, set_name: str, ordinal: int) -> str:
    node = o.spec(pod_of(kube, namespace, set_name, ordinal)).get("nodeName")
    if not node:
        raise InvalidScenario(f"expected pod {namespace}/{pod_name(set_name, ordinal)} to be scheduled, it is not")
    return str(node)


def scale(kube: Kube, namespace: str, name: str, replicas: int) -> int:
    """Set replicas through the scale subresource; returns the previous count."""
    if replicas < 0:
        raise InvalidScenario(f"expected replicas >= 0 for StatefulSet {namespace}/{name}, got {replicas}")
    current = kube.get(STATEFULSETS, name, namespace)
    kube.patch(STATEFULSETS, name, {"spec": {"replicas": replicas}}, namespace, sub="scale")
    return int(o.spec(current).get("replicas", 1))


PROPAGATIONS = ("Orphan", "Background", "Foreground")


def delete_set(kube: Kube, namespace: str, name: str, propagation: str = "Background") -> Hit:
    if propagation not in PROPAGATIONS:
        raise InvalidScenario(f"expected propagation one of {', '.join(PROPAGATIONS)}, got {propagation!r}")
    sts = kube.get_or_none(STATEFULSETS, name, namespace)
    if sts is None:
        raise InvalidScenario(f"expected StatefulSet {namespace}/{name}, found none")
    kube.delete(STATEFULSETS, name, namespace, propagation=propagation, uid=o.uid(sts))
    return Hit("StatefulSet", namespace, name, o.uid(sts))


def stop_heartbeats(kube: Kube, node: str, run_id: str) -> None:
    """Simulated nodes only: make the node stop heartbeating, as a crashed kubelet would.

    Recorded in the node ledger so a sweep brings it back.
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r}, found none")
    kind = o.labels(current).get(SIMULATED_KIND_LABEL)
    if kind != "kwok":
        raise InvalidScenario(
            f"expected a simulated node (label {SIMULATED_KIND_LABEL}=kwok) to silence, {node} is {kind!r}"
        )
    hygiene.record_node_change(kube, node, run_id, lost=True)
    kube.patch(NODES, node, {"metadata": {"labels": {SIMULATED_KIND_LABEL: None}}})


def restore_heartbeats(kube: Kube, node: str) -> None:
    """Undo :func:`stop_heartbeats` (a no-op for nodes it did not silence)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not hygiene.ledger(current).get("lost"):
        return
    kube.patch(NODES, node, {"metadata": {"labels": {SIMULATED_KIND_LABEL: "kwok"}}})
    hygiene.clear_node_change(kube, node, "lost")


OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


def taint_out_of_service(kube: Kube, node: str, run_id: str) -> bool:
    """Declare a lost node shut down: PodGC force-deletes its terminating pods, volumes detach.

    Only for a node that is really off (here: one whose heartbeats we stopped). Recorded in the
    node ledger (``out_of_service``) before the taint goes on; False if the taint was already
    there (then it is not ours to remove).
    """
    current = kube.get_or_none(NODES, node)
    if current is None:
        raise InvalidScenario(f"expected node {node!r} to taint {OUT_OF_SERVICE}, found none")
    if OUT_OF_SERVICE in o.taint_keys(current):
        return False
    hygiene.record_node_change(kube, node, run_id, out_of_service=True)
    taints = list(o.spec(current).get("taints") or [])
    taints.append({"key": OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"})
    kube.patch(NODES, node, {"spec": {"taints": taints}})
    return True


def remove_out_of_service(kube: Kube, node: str) -> None:
    """Undo :func:`taint_out_of_service` (a no-op for taints ordinal did not add)."""
    current = kube.get_or_none(NODES, node)
    if current is None or not hygiene.ledger(current).get("out_of_service"):
        return
    taints = [t for t in o.spec(current).get("taints") or [] if t.get("key") != OUT_OF_SERVICE]
    hygiene.clear_node_change(kube, node, "out_of_service", extra={"spec": {"taints": taints or None}})


def restore_node_fully(kube: Kube, node: str) -> None:
    """Undo every change this or an earlier run recorded on ``node`` (see :func:`ordinal.hygiene.restore_node`)."""
    hygiene.restore_node(kube, node)
