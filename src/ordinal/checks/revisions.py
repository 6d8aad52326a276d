"""Revision promises: partition pins lower ordinals, OnDelete waits for deletes, rollback re-uses revisions.

Which template a pod runs is read from its ``controller-revision-hash`` label, which
names a ControllerRevision; the set's status names the current and update revisions.
Mid-rollout states are legitimately mixed, so checks that only hold at rest take
``settled`` and the caller sets it once its waiter saw the rollout finish.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ordinal.kube import objects as o
from ordinal.kube.manifests import members, set_window
from ordinal.labels import REVISION_LABEL
from ordinal.types import Finding, Obj

_REV_PATH = f"metadata.labels['{REVISION_LABEL}']"


def partition(sts: Obj) -> int:
    """``spec.updateStrategy.rollingUpdate.partition`` (0 when unset)."""
    rolling = (o.spec(sts).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return int(rolling.get("partition") or 0)


def strategy(sts: Obj) -> str:
    return str((o.spec(sts).get("updateStrategy") or {}).get("type") or "RollingUpdate")


def check_partition(sts: Obj, pods: Sequence[Obj], *, settled: bool = True) -> list[Finding]:
    """RollingUpdate with a partition: index < partition stays at currentRevision (always, also when
    recreated); at rest index ≥ partition runs updateRevision and updatedReplicas = replicas − partition
    (all replicas once current = update).

    The index is ``ordinal − ordinals.start``, so start 5 with partition 2 updates ordinals ≥ 7.
    """
    if strategy(sts) != "RollingUpdate":
        return []
    status = o.status(sts)
    current, update = status.get("currentRevision"), status.get("updateRevision")
    part, start = partition(sts), set_window(sts).start
    findings: list[Finding] = []
    for ordinal, pod in members(sts, pods).items():
        if o.terminating(pod):
            continue
        rev = o.labels(pod).get(REVISION_LABEL)
        index = ordinal - start
        if index < part and current != update and rev != current:
            seen = f"{rev} (the update revision: updated below partition {part})" if rev == update else rev
            findings.append(Finding("revisions.partition-pinned", o.subject(pod, "Pod"), _REV_PATH, current, seen))
        elif settled and index >= part and rev != update:
            findings.append(Finding("revisions.partition-updated", o.subject(pod, "Pod"), _REV_PATH, update, rev))
    if settled:
        replicas = len(set_window(sts))
        want = replicas if current == update else max(0, replicas - part)
        seen = status.get("updatedReplicas", 0)
        if seen != want:
            findings.append(
                Finding(
                    "revisions.updated-replicas",
                    o.subject(sts, "StatefulSet"),
                    "status.updatedReplicas",
                    want,
                    seen,
                )
            )
    return findings


def updated_below_partition(sts: Obj) -> bool:
    """The status counts more updated pods than the partition lets through: a pod below it was updated.

    Mid-rollout ``updatedReplicas`` only grows towards ``replicas - partition``; more than that,
    while the current and update revisions differ, means an ordinal below the partition runs the
    update. A waiter uses it to read the pods once and name the one.
    """
    if strategy(sts) != "RollingUpdate":
        return False
    status = o.status(sts)
    if status.get("currentRevision") == status.get("updateRevision"):
        return False
    return int(status.get("updatedReplicas") or 0) > max(0, len(set_window(sts)) - partition(sts))


def check_on_delete(
    sts: Obj, pods_before: Sequence[Obj], pods_after: Sequence[Obj], *, deleted: Collection[str]
) -> list[Finding]:
    """OnDelete after a template change: only pods named in ``deleted`` were replaced, at updateRevision.

    The partition plays no part here: a deleted pod comes back at the update revision.
    """
    update = o.status(sts).get("updateRevision")
    before = {o.name(p): o.uid(p) for p in pods_before}
    findings: list[Finding] = []
    for pod in members(sts, pods_after).values():
        name = o.name(pod)
        if o.terminating(pod) or name not in before or before[name] == o.uid(pod):
            continue
        rev = o.labels(pod).get(REVISION_LABEL)
        if name not in deleted:
            findings.append(
                Finding(
                    "revisions.on-delete-untouched",
                    o.subject(pod, "Pod"),
                    "metadata.uid",
                    before[name],
                    f"{o.uid(pod)} (replaced, revision {rev})",
                )
            )
        elif rev != update:
            findings.append(
                Finding("revisions.on-delete-replaced-updated", o.subject(pod, "Pod"), _REV_PATH, update, rev)
            )
    return findings


def check_rollback(
    earlier_revision: str,
    sts: Obj,
    *,
    revisions_before: Sequence[Obj] | None = None,
    revisions_after: Sequence[Obj] | None = None,
) -> list[Finding]:
    """After reverting the template: updateRevision is ``earlier_revision`` again, no new ControllerRevision
    appeared, and the re-used one carries the highest ``.revision`` number.
    """
    subject = o.subject(sts, "StatefulSet")
    update = o.status(sts).get("updateRevision")
    findings: list[Finding] = []
    if update != earlier_revision:
        findings.append(
            Finding("revisions.rollback-reuses", subject, "status.updateRevision", earlier_revision, update)
        )
    if revisions_after is None:
        return findings
    after = _owned(sts, revisions_after)
    if revisions_before is not None:
        new = sorted(set(after) - set(_owned(sts, revisions_before)))
        if new:
            findings.append(
                Finding(
                    "revisions.rollback-reuses",
                    subject,
                    "controllerrevisions",
                    "no new ControllerRevision",
                    new,
                )
            )
    if earlier_revision in after and after[earlier_revision] != max(after.values()):
        findings.append(
            Finding(
                "revisions.rollback-reuses",
                f"controllerrevision {o.namespace(sts)}/{earlier_revision}",
                "revision",
                f"the highest number ({max(after.values())})",
                after[earlier_revision],
            )
        )
    return findings


def check_revision_status(sts: Obj, pods: Sequence[Obj], *, settled: bool = True) -> list[Finding]:
    """Status agrees with the pods: generation observed; at rest every pod runs current or update,
    the counts match, and a finished RollingUpdate without partition has current = update.

    OnDelete never advances currentRevision (a controller quirk), so that check is skipped there.
    """
    subject = o.subject(sts, "StatefulSet")
    status = o.status(sts)
    findings: list[Finding] = []
    generation, observed = o.meta(sts).get("generation"), status.get("observedGeneration")
    if generation is not None and (observed is None or observed < generation):
        findings.append(
            Finding(
                "revisions.observed-generation",
                subject,
                "status.observedGeneration",
                f"≥ {generation}",
                observed,
            )
        )
    if not settled:
        return findings
    current, update = status.get("currentRevision"), status.get("updateRevision")
    live = [p for p in members(sts, pods).values() if not o.terminating(p)]
    revs = {o.name(p): o.labels(p).get(REVISION_LABEL) for p in live}
    for name, rev in revs.items():
        if rev not in (current, update):
            findings.append(
                Finding(
                    "revisions.pod-revision-known",
                    f"pod {o.namespace(sts)}/{name}",
                    _REV_PATH,
                    sorted({str(current), str(update)}),
                    rev,
                )
            )
    counts = {
        "status.currentReplicas": (
            sum(r == current for r in revs.values()),
            status.get("currentReplicas", 0),
        ),
        "status.updatedReplicas": (sum(r == update for r in revs.values()), status.get("updatedReplicas", 0)),
    }
    for path, (want, seen) in counts.items():
        if want != seen:
            findings.append(Finding("revisions.status-counts", subject, path, want, seen))
    if strategy(sts) == "RollingUpdate" and partition(sts) == 0 and current != update:
        findings.append(Finding("revisions.current-equals-update", subject, "status.currentRevision", update, current))
    return findings


def _owned(sts: Obj, revisions: Sequence[Obj]) -> dict[str, int]:
    """ControllerRevision name → ``.revision`` for those the set controls."""
    found = {}
    for rev in revisions:
        owner = o.controller_ref(rev)
        if owner is not None and owner.get("uid") == o.uid(sts):
            found[o.name(rev)] = int(rev.get("revision") or 0)
    return found
