"""Actions on a StatefulSet and its pods: exact faults, the baseline they are judged against, undo.

Blast radius is explicit: a pod is named by set and ordinal (``web-1`` never matches
``web-10``; nothing matching is an error), a set by name. Each fault is remembered in the
run's session with the UIDs it hit, so probes know what must come back new and what must
not have moved. chaostoolkit-kubernetes covers plain scaling
(``chaosk8s.statefulset.actions.scale_statefulset``); these fill what it lacks.

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

from chaoslib.types import Configuration, Secrets

from ordinal.act import pods as faults
from ordinal.act.namespaces import remove_namespace
from ordinal.act.tokens import write_tokens
from ordinal.chaos import sample
from ordinal.chaos.boundary import activity, call
from ordinal.chaos.results import Snapshot, Touched
from ordinal.chaos.session import Baseline, Fault, now
from ordinal.errors import CapabilityMissing, InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.manifests import as_written, members, run_labels, set_window
from ordinal.kube.rest import NAMESPACES, PODS, STATEFULSETS, Kube
from ordinal.labels import CANARY_ANNOTATION
from ordinal.observe.waiting import wait_for_gone, wait_for_set_settled

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
    run = call()
    if run.kube.get_or_none(NAMESPACES, ns) is None:
        labels = run_labels(run.session.run_id)
        run.kube.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}
        )
    created = sample.deploy(
        run.kube,
        ns,
        name,
        run.session.run_id,
        timeout=timeout,
        replicas=replicas,
        storage_class=storage_class,
        when_deleted=when_deleted,
        when_scaled=when_scaled,
        unreachable_toleration=unreachable_toleration,
    )
    return run.touched(ns, [{"created": c} for c in created])


@activity
def remove_sample(
    ns: str,
    timeout: float = 180.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Delete a namespace ordinal created, with its claims' volumes; refuses any other namespace."""
    run = call()
    errors = remove_namespace(run.kube, ns, timeout=timeout)
    if errors:
        raise InvalidScenario(f"expected namespace {ns} removed without leftovers, got: {'; '.join(errors)}")
    return run.touched(ns, [{"namespace": ns}])


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
    run = call()
    baseline = Baseline.take(run.kube, ns, name, now())
    run.session.baselines[(ns, name)] = baseline
    return baseline.to_json()


@activity
def write_data_tokens(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Write a token into each ordinal's volume so ``data_token_intact`` can read it back after the fault.

    Needs a snapshot first and exec into pods; on simulated nodes it writes nothing and
    says ``needs: exec into pods`` (the probe then answers *not checked*).
    """
    run = call()
    baseline = _baseline(ns, name, "write_data_tokens")
    try:
        baseline.tokens.update(write_tokens(run.kube, baseline.sts, baseline.pods))
    except CapabilityMissing as err:
        baseline.tokens_not_written = str(err)
        return run.touched(ns, not_written=str(err))
    return run.touched(ns, [{"pod": p} for p in sorted(baseline.tokens)])


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
    run = call()
    recorder = run.session.start_recorder(ns, configuration, secrets)
    return run.touched(ns, [{"kind": r.kind} for r in recorder.kinds], entries=len(recorder.timeline))


@activity
def stop_recording(
    ns: str,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Stop the background recorder of ``ns`` (the safety control also stops it at the end)."""
    run = call()
    recorder = run.recorder(ns)
    if recorder is not None:
        recorder.stop()
    return run.touched(ns, entries=len(recorder.timeline) if recorder else 0)


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
    run = call()
    at = now()
    hit = faults.delete_pod(run.kube, ns, name, ordinal, None if grace_period < 0 else grace_period)
    run.session.record_fault(Fault("kill_ordinal", ns, name, {hit.name: hit.uid}, at, hit.node))
    return run.touched(ns, [{"pod": hit.name, "uid": hit.uid, "node": hit.node}], grace_period=grace_period)


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
    run = call()
    _baseline(ns, name, "deleting it")
    sts = faults.get_set(run.kube, ns, name)
    pods = {o.name(p): o.uid(p) for p in members(sts, run.kube.list(PODS, ns)[0]).values()}
    at = now()
    hit = faults.delete_set(run.kube, ns, name, propagation)
    if propagation != "Orphan":
        run.session.record_fault(Fault("delete_statefulset", ns, name, pods, at))
    return run.touched(ns, [{"statefulset": name, "uid": hit.uid}], propagation=propagation, pods=pods)


@activity
def recreate_statefulset(
    name: str,
    ns: str = "default",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Create the StatefulSet again as snapshotted, once the deleted one is gone (also a rollback)."""
    run = call()
    baseline = _baseline(ns, name, "recreating it")
    existing = run.kube.get_or_none(STATEFULSETS, name, ns)
    if existing is not None and not o.terminating(existing):
        return run.touched(ns, existed=o.uid(existing))
    wait_for_gone(run.kube, STATEFULSETS, ns, [name], timeout=timeout)
    created = run.kube.create(STATEFULSETS, as_written(baseline.sts), ns)
    return run.touched(ns, [{"statefulset": name, "uid": o.uid(created)}])


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
    run = call()
    sts = faults.get_set(run.kube, ns, name)
    strategy = o.spec(sts).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise InvalidScenario(f"expected StatefulSet {ns}/{name} with RollingUpdate, got {strategy.get('type')}")
    window = set_window(sts)
    part = len(window) - 1 if partition < 0 else partition
    if not 0 <= part <= len(window):
        raise InvalidScenario(f"expected a partition in 0..{len(window)} for {ns}/{name}, got {partition}")
    annotations = (o.spec(sts).get("template", {}).get("metadata") or {}).get("annotations") or {}
    before = {"partition": (strategy.get("rollingUpdate") or {}).get("partition")}
    run.session.canaries.setdefault((ns, name), {**before, "annotation": annotations.get(CANARY_ANNOTATION)})
    pods = members(sts, run.kube.list(PODS, ns)[0])
    moving = {o.name(p): o.uid(p) for i, p in pods.items() if i - window.start >= part}
    at = now()
    _patch_canary(run.kube, ns, name, part, run.session.run_id)
    run.session.record_fault(Fault("rollout_canary", ns, name, moving, at))
    return run.touched(ns, [{"pod": p, "uid": u} for p, u in sorted(moving.items())], partition=part)


@activity
def undo_canary(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Touched:
    """Put back the template annotation and partition ``rollout_canary`` changed (a rollback; no-op otherwise)."""
    run = call()
    saved = run.session.canaries.pop((ns, name), None)
    if saved is None or run.kube.get_or_none(STATEFULSETS, name, ns) is None:
        return run.touched(ns, changed=False)
    _patch_canary(run.kube, ns, name, saved["partition"], saved["annotation"])
    return run.touched(ns, [{"statefulset": name}], **saved)


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
    run = call()
    baseline = run.session.baseline(ns, name)
    if baseline is None or run.kube.get_or_none(STATEFULSETS, name, ns) is None:
        return run.touched(ns, changed=False)
    want = int(o.spec(baseline.sts).get("replicas", 1))
    window = set_window(faults.get_set(run.kube, ns, name))
    condemned = {
        o.name(p): o.uid(p)
        for i, p in members(baseline.sts, baseline.pods).items()
        if i not in window and i - window.start < want
    }
    was = faults.scale(run.kube, ns, name, want)
    if condemned:
        # Whoever scaled down (often chaostoolkit-kubernetes), the pods it removed must come back.
        recorder = run.recorder(ns)
        history = recorder.timeline.set_replicas(name, ns) if recorder is not None else []
        at = next((mark.t for mark, count in history if count == len(window)), None)
        run.session.record_fault(Fault("scale_down", ns, name, condemned, at if at is not None else now()))
    waited_from = run.seconds()
    if timeout > 0:
        wait_for_set_settled(run.kube, ns, name, timeout=timeout)
    return run.touched(
        ns,
        [{"statefulset": name}],
        **{"from": was, "to": want, "returning": sorted(condemned), "waited": round(run.seconds() - waited_from, 3)},
    )


def _baseline(namespace: str, name: str, before: str) -> Baseline:
    baseline = call().session.baseline(namespace, name)
    if baseline is None:
        raise InvalidScenario(f"expected snapshot_identity of {namespace}/{name} before {before}, found none")
    return baseline


def _patch_canary(kube: Kube, namespace: str, name: str, partition: object, annotation: object) -> None:
    body = {
        "spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
            "template": {"metadata": {"annotations": {CANARY_ANNOTATION: annotation}}},
        }
    }
    kube.patch(STATEFULSETS, name, body, namespace)
