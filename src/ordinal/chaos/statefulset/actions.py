"""Actions on a StatefulSet and its pods: exact faults, the baseline they are judged against, undo.

Blast radius is explicit: a pod is named by set and ordinal (``web-1`` never matches
``web-10``; nothing matching is an error), a set by name. Each fault is remembered in the
run's session with the UIDs it hit, so probes know what must come back new and what must
not have moved. chaostoolkit-kubernetes covers plain scaling
(``chaosk8s.statefulset.actions.scale_statefulset``); these fill what it lacks.

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

import time

from chaoslib.types import Configuration, Secrets

from ordinal import disrupt
from ordinal import objects as o
from ordinal.chaos import ops, sample
from ordinal.chaos.boundary import activity
from ordinal.chaos.results import Snapshot, Touched
from ordinal.chaos.session import Fault, current, now
from ordinal.checks.identity import members, set_window
from ordinal.errors import InvalidScenario
from ordinal.kube.rest import NAMESPACES, PODS, STATEFULSETS
from ordinal.waiting import wait_for_gone
from ordinal.workloads import run_labels

__all__ = [
    "delete_statefulset",
    "deploy_sample",
    "kill_ordinal",
    "recreate_statefulset",
    "remove_sample",
    "restore_replicas",
    "rollout_canary",
    "snapshot_identity",
    "start_recording",
    "stop_recording",
    "undo_canary",
    "write_data_tokens",
]


@activity
def deploy_sample(
    name: str = "web",
    ns: str = "default",
    replicas: int = 3,
    storage_class: str = "",
    when_deleted: str = "Retain",
    when_scaled: str = "Retain",
    unreachable_toleration: int = -1,
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Deploy ordinal's sample StatefulSet (headless Service, per-pod claims, PDB) and wait until it is ready.

    Creates ``ns`` (labelled as ordinal's) when it does not exist. The ``ordinal-sample``
    control does this before the hypothesis; this action is for methods that need a second
    workload. Undo with ``remove_sample``.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    if kube.get_or_none(NAMESPACES, ns) is None:
        kube.create(
            NAMESPACES,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": run_labels(session.run_id)}},
        )
    created = sample.deploy(
        kube,
        ns,
        name,
        session.run_id,
        timeout=timeout,
        replicas=replicas,
        storage_class=storage_class,
        when_deleted=when_deleted,
        when_scaled=when_scaled,
        unreachable_toleration=unreachable_toleration,
    )
    return Touched(action="deploy_sample", namespace=ns, targets=[{"created": c} for c in created], details={})


@activity
def remove_sample(
    ns: str,
    timeout: float = 180.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Delete a namespace ordinal created, with its claims' volumes; refuses any other namespace."""
    kube = current().kube(configuration, secrets)
    errors = sample.remove(kube, ns, timeout=timeout)
    if errors:
        raise InvalidScenario(f"expected namespace {ns} removed without leftovers, got: {'; '.join(errors)}")
    return Touched(action="remove_sample", namespace=ns, targets=[{"namespace": ns}], details={})


@activity
def snapshot_identity(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Snapshot:
    """Remember the set's pods (names, UIDs, nodes, IPs, revisions) and claims (UIDs, volumes) as the baseline.

    Read-only. Probes after the method compare against it; the journal keeps it as this
    action's output.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    baseline = ops.take_baseline(kube, ns, name, now())
    session.baselines[(ns, name)] = baseline
    return ops.baseline_json(baseline)


@activity
def write_data_tokens(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Write a token into each ordinal's volume so ``data_token_intact`` can read it back after the fault.

    Needs a snapshot first and exec into pods; on simulated nodes it writes nothing and
    says ``needs: exec into pods`` (the probe then skips).
    """
    from ordinal.chaos import datatoken
    from ordinal.errors import CapabilityMissing

    session = current()
    kube = session.kube(configuration, secrets)
    baseline = session.baseline(ns, name)
    if baseline is None:
        raise InvalidScenario(f"expected snapshot_identity of {ns}/{name} before write_data_tokens, found none")
    try:
        tokens = datatoken.write_tokens(kube, baseline)
    except CapabilityMissing as err:
        return Touched(action="write_data_tokens", namespace=ns, targets=[], details={"skipped": str(err)})
    return Touched(action="write_data_tokens", namespace=ns, targets=[{"pod": p} for p in sorted(tokens)], details={})


@activity
def start_recording(
    ns: str,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Record pod, claim, StatefulSet, node and event changes in the background until the run ends.

    Read-only (watches). ``no_duplicate_identity`` and the restoration figures read this
    timeline; the safety control saves it next to the journal.
    """
    recorder = current().start_recorder(ns, configuration, secrets)
    return Touched(
        action="start_recording",
        namespace=ns,
        targets=[{"kind": r.kind} for r in recorder.kinds],
        details={"entries": len(recorder.timeline)},
    )


@activity
def stop_recording(
    ns: str,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Stop the background recorder of ``ns`` (the safety control also stops it at the end)."""
    session = current()
    session.kube(configuration, secrets)
    recorder = session.recorder(ns)
    if recorder is not None:
        recorder.stop()
    entries = len(recorder.timeline) if recorder else 0
    return Touched(action="stop_recording", namespace=ns, targets=[], details={"entries": entries})


@activity
def kill_ordinal(
    name: str,
    ordinal: int,
    ns: str = "default",
    grace_period: int = -1,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Delete the pod of exactly one ordinal (``web-1``, never ``web-10``); an error if it does not exist.

    ``grace_period`` -1 uses the pod's own; 0 deletes at once (force on a healthy node).
    The delete is preconditioned on the pod's UID, so a replacement is never hit by mistake.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    at = now()
    hit = disrupt.delete_pod(kube, ns, name, ordinal, None if grace_period < 0 else grace_period)
    session.record_fault(Fault("kill_ordinal", ns, name, {hit.name: hit.uid}, at, hit.node))
    return Touched(
        action="kill_ordinal",
        namespace=ns,
        targets=[{"pod": hit.name, "uid": hit.uid, "node": hit.node}],
        details={"grace_period": grace_period},
    )


@activity
def delete_statefulset(
    name: str,
    ns: str = "default",
    propagation: str = "Background",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Delete the StatefulSet with a chosen propagation: ``Orphan`` keeps its pods, ``Background`` removes them.

    ``Foreground`` works too. Claims stay unless ``whenDeleted: Delete``. Needs a snapshot first:
    ``recreate_statefulset`` recreates the set from it.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    if session.baseline(ns, name) is None:
        raise InvalidScenario(f"expected snapshot_identity of {ns}/{name} before deleting it, found none")
    sts = ops.get_set(kube, ns, name)
    pods = {o.name(p): o.uid(p) for p in members(sts, kube.list(PODS, ns)[0]).values()}
    at = now()
    hit = disrupt.delete_set(kube, ns, name, propagation)
    if propagation != "Orphan":
        session.record_fault(Fault("delete_statefulset", ns, name, pods, at))
    return Touched(
        action="delete_statefulset",
        namespace=ns,
        targets=[{"statefulset": name, "uid": hit.uid}],
        details={"propagation": propagation, "pods": pods},
    )


@activity
def recreate_statefulset(
    name: str,
    ns: str = "default",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Create the StatefulSet again as snapshotted, once the deleted one is gone (also a rollback)."""
    session = current()
    kube = session.kube(configuration, secrets)
    baseline = session.baseline(ns, name)
    if baseline is None:
        raise InvalidScenario(f"expected snapshot_identity of {ns}/{name} before recreating it, found none")
    existing = kube.get_or_none(STATEFULSETS, name, ns)
    if existing is not None and not o.terminating(existing):
        return Touched(action="recreate_statefulset", namespace=ns, targets=[], details={"existed": o.uid(existing)})
    wait_for_gone(kube, STATEFULSETS, ns, [name], timeout=timeout)
    created = kube.create(STATEFULSETS, ops.manifest_for_recreate(baseline.sts), ns)
    return Touched(
        action="recreate_statefulset",
        namespace=ns,
        targets=[{"statefulset": name, "uid": o.uid(created)}],
        details={},
    )


@activity
def rollout_canary(
    name: str,
    ns: str = "default",
    partition: int = -1,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Start a canary: set the rolling-update partition and change the pod template (one annotation).

    ``partition`` -1 means replicas - 1 (only the highest ordinal moves). What it changed is
    remembered so ``undo_canary`` restores it.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    sts = ops.get_set(kube, ns, name)
    strategy = o.spec(sts).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise InvalidScenario(f"expected StatefulSet {ns}/{name} with RollingUpdate, got {strategy.get('type')}")
    window = set_window(sts)
    part = len(window) - 1 if partition < 0 else partition
    if not 0 <= part <= len(window):
        raise InvalidScenario(f"expected a partition in 0..{len(window)} for {ns}/{name}, got {partition}")
    annotations = (o.spec(sts).get("template", {}).get("metadata") or {}).get("annotations") or {}
    session.canaries.setdefault(
        (ns, name),
        {
            "partition": (strategy.get("rollingUpdate") or {}).get("partition"),
            "annotation": annotations.get(ops.CANARY_ANNOTATION),
        },
    )
    pods = members(sts, kube.list(PODS, ns)[0])
    moving = {o.name(p): o.uid(p) for i, p in pods.items() if i - window.start >= part}
    at = now()
    kube.patch(
        STATEFULSETS,
        name,
        {
            "spec": {
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": part}},
                "template": {"metadata": {"annotations": {ops.CANARY_ANNOTATION: session.run_id}}},
            }
        },
        ns,
    )
    session.record_fault(Fault("rollout_canary", ns, name, moving, at))
    return Touched(
        action="rollout_canary",
        namespace=ns,
        targets=[{"pod": p, "uid": u} for p, u in sorted(moving.items())],
        details={"partition": part},
    )


@activity
def undo_canary(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Put back the template annotation and partition ``rollout_canary`` changed (a rollback; no-op otherwise)."""
    session = current()
    kube = session.kube(configuration, secrets)
    saved = session.canaries.pop((ns, name), None)
    if saved is None or kube.get_or_none(STATEFULSETS, name, ns) is None:
        return Touched(action="undo_canary", namespace=ns, targets=[], details={"changed": False})
    kube.patch(
        STATEFULSETS,
        name,
        {
            "spec": {
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": saved["partition"]}},
                "template": {"metadata": {"annotations": {ops.CANARY_ANNOTATION: saved["annotation"]}}},
            }
        },
        ns,
    )
    return Touched(action="undo_canary", namespace=ns, targets=[{"statefulset": name}], details=dict(saved))


@activity
def restore_replicas(
    name: str,
    ns: str = "default",
    timeout: float = 0.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Scale the set back to the replica count of its snapshot (after a scale-down; also a rollback).

    ``timeout`` > 0 waits that long for it to be ready again.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    baseline = session.baseline(ns, name)
    if baseline is None or kube.get_or_none(STATEFULSETS, name, ns) is None:
        return Touched(action="restore_replicas", namespace=ns, targets=[], details={"changed": False})
    want = int(o.spec(baseline.sts).get("replicas", 1))
    sts = ops.get_set(kube, ns, name)
    window = set_window(sts)
    condemned = {
        o.name(p): o.uid(p)
        for i, p in members(baseline.sts, baseline.pods).items()
        if i not in window and i - window.start < want
    }
    was = disrupt.scale(kube, ns, name, want)
    if condemned:
        # Whoever scaled down (often chaostoolkit-kubernetes), the pods it removed must come back.
        at = ops.scaled_down_at(session.recorder(ns), ns, name, len(window)) or now()
        session.record_fault(Fault("scale_down", ns, name, condemned, at))
    start = time.monotonic()
    if timeout > 0:
        ops.wait_ready(kube, ns, name, timeout=timeout)
    return Touched(
        action="restore_replicas",
        namespace=ns,
        targets=[{"statefulset": name}],
        details={"from": was, "to": want, "returning": sorted(condemned), "waited": round(time.monotonic() - start, 3)},
    )
