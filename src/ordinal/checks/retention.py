"""PVC retention promises: which claims survive set deletion and scale-down, and the ownerRefs behind that.

The controller never deletes claims itself; it sets ownerReferences and the garbage
collector does the rest (catalog §3). So a spec checks both ends: the refs while the
set lives, and which claims remain after the event. Claims with an owner that is not
this set (a foreign controller, a stale ref to an older set of the same name) are left
alone by the controller and must survive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ordinal.checks.storage import ClaimSnapshot, claim_templates
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_claim_ordinal, set_window
from ordinal.types import Finding, Obj

Policy = Literal["Retain", "Delete"]


def retention_policy(sts: Obj) -> tuple[Policy, Policy]:
    """``(whenDeleted, whenScaled)``; both default to Retain."""
    policy = o.spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    deleted: Policy = "Delete" if policy.get("whenDeleted") == "Delete" else "Retain"
    scaled: Policy = "Delete" if policy.get("whenScaled") == "Delete" else "Retain"
    return deleted, scaled


def set_claims(sts: Obj, pvcs: Iterable[Obj]) -> dict[int, list[Obj]]:
    """Claims named ``<template>-<set>-<ordinal>`` in the set's namespace, by ordinal."""
    found: dict[int, list[Obj]] = {}
    for claim in pvcs:
        if o.namespace(claim) != o.namespace(sts):
            continue
        for template in claim_templates(sts):
            ordinal = parse_claim_ordinal(o.name(claim), template, o.name(sts))
            if ordinal is not None:
                found.setdefault(ordinal, []).append(claim)
    return dict(sorted(found.items()))


def foreign_owners(sts: Obj, claim: Obj) -> list[str]:
    """Owners other than this set (by UID) and its pods: they keep the claim whatever the policy."""
    return [f"{r.get('kind')}/{r.get('name')} uid={r.get('uid')}" for r in o.owner_refs(claim) if not _ours(sts, r)]


def _ours(sts: Obj, ref: Obj) -> bool:
    kind, name = ref.get("kind"), str(ref.get("name"))
    return (kind == "StatefulSet" and ref.get("uid") == o.uid(sts)) or (
        kind == "Pod" and name.startswith(f"{o.name(sts)}-")
    )


def _left_alone(sts: Obj, claim: Obj) -> bool:
    """A foreign controller or a stale ref to an older set of this name: the controller skips the claim."""
    return any(
        not _ours(sts, r)
        and (r.get("controller") is True or (r.get("kind"), r.get("name")) == ("StatefulSet", o.name(sts)))
        for r in o.owner_refs(claim)
    )


@dataclass(frozen=True)
class ClaimFate:
    """Which of the set's claims an event must leave in place and which the GC must remove."""

    kept: tuple[str, ...]
    removed: tuple[str, ...]


def expected_after_set_deleted(sts: Obj, claims_before: Sequence[Obj]) -> ClaimFate:
    """Claim names to survive / go when ``sts`` is deleted (for waiters and for the check below)."""
    return _fate(_on_set_deleted(sts, claims_before))


def expected_after_scale_down(sts: Obj, claims_before: Sequence[Obj], *, replicas_after: int) -> ClaimFate:
    """Claim names to survive / go when ``sts`` is scaled down to ``replicas_after``."""
    return _fate(_on_scale_down(sts, claims_before, replicas_after))


def check_after_set_deleted(sts: Obj, claims_before: Sequence[Obj], pvcs_after: Sequence[Obj]) -> list[Finding]:
    """After deleting ``sts`` (as last seen alive): whenDeleted=Retain keeps every claim, Delete removes them.

    ``claims_before``: the set's claims just before deletion. A claim that is
    terminating counts as removed (pvc-protection may hold it while a pod lingers).
    """
    when_deleted, _ = retention_policy(sts)
    return [
        finding
        for claim, keep in _on_set_deleted(sts, claims_before)
        for finding in _kept_or_removed("retention.when-deleted", sts, claim, pvcs_after, keep, when_deleted)
    ]


def check_after_scale_down(
    sts: Obj, claims_before: Sequence[Obj], pvcs_after: Sequence[Obj], *, replicas_after: int
) -> list[Finding]:
    """After scaling to ``replicas_after``: in-range claims stay; condemned ones follow whenScaled."""
    _, when_scaled = retention_policy(sts)
    return [
        finding
        for claim, keep in _on_scale_down(sts, claims_before, replicas_after)
        for finding in _kept_or_removed("retention.when-scaled", sts, claim, pvcs_after, keep, when_scaled)
    ]


def _on_set_deleted(sts: Obj, claims_before: Sequence[Obj]) -> list[tuple[Obj, bool]]:
    when_deleted, _ = retention_policy(sts)
    return [
        (claim, when_deleted == "Retain" or bool(foreign_owners(sts, claim)))
        for claims in set_claims(sts, claims_before).values()
        for claim in claims
    ]


def _on_scale_down(sts: Obj, claims_before: Sequence[Obj], replicas_after: int) -> list[tuple[Obj, bool]]:
    _, when_scaled = retention_policy(sts)
    floor = set_window(sts).start + replicas_after
    return [
        (claim, ordinal < floor or when_scaled == "Retain" or bool(foreign_owners(sts, claim)))
        for ordinal, claims in set_claims(sts, claims_before).items()
        for claim in claims
    ]


def _fate(decisions: list[tuple[Obj, bool]]) -> ClaimFate:
    return ClaimFate(
        kept=tuple(o.name(c) for c, keep in decisions if keep),
        removed=tuple(o.name(c) for c, keep in decisions if not keep),
    )


def _kept_or_removed(
    rule: str, sts: Obj, claim: Obj, pvcs_after: Sequence[Obj], keep: bool, policy: Policy
) -> list[Finding]:
    now = next((c for c in pvcs_after if o.name(c) == o.name(claim) and o.namespace(c) == o.namespace(claim)), None)
    same = now is not None and o.uid(now) == o.uid(claim)
    if same and now is not None and o.terminating(now):
        seen = "terminating"
    elif same:
        seen = "kept"
    elif now is not None:
        seen = f"replaced by a new claim uid={o.uid(now)}"
    else:
        seen = "gone"
    alive = seen == "kept"
    if alive == keep:
        return []
    foreign = foreign_owners(sts, claim)
    why = f" (foreign owners {foreign})" if foreign else f" (policy {policy})"
    expected = f"kept uid={o.uid(claim)}" if keep else "removed"
    return [Finding(rule, o.subject(claim, "PersistentVolumeClaim"), "metadata.uid", expected + why, seen)]


def check_claim_owner_refs(
    sts: Obj, pvcs: Sequence[Obj], *, condemned_pods: Mapping[int, Obj] | None = None
) -> list[Finding]:
    """ownerReferences on the set's claims match the policy table (catalog §3).

    In range: whenDeleted=Delete → exactly one set ref (controller, blockOwnerDeletion),
    Retain → none; never a pod ref. ``condemned_pods`` (ordinal → pod, during a
    scale-down) with whenScaled=Delete: a ref to that pod and no set ref. Foreign
    non-controller refs are ignored; claims with a foreign controller or a stale set ref
    are skipped, since the controller leaves them alone.
    """
    when_deleted, when_scaled = retention_policy(sts)
    condemned = dict(condemned_pods or {})
    window = set_window(sts)
    set_ref = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": o.name(sts),
        "uid": o.uid(sts),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    findings: list[Finding] = []
    for ordinal, claims in set_claims(sts, pvcs).items():
        pod = condemned.get(ordinal)
        if pod is None and ordinal not in window and when_scaled == "Delete":
            continue  # left over from a scale-down: judged by check_after_scale_down
        for claim in claims:
            if _left_alone(sts, claim) or o.terminating(claim):
                continue
            want: list[dict[str, object]] = []
            if pod is not None and when_scaled == "Delete":
                want.append({"kind": "Pod", "name": o.name(pod), "uid": o.uid(pod)})
            elif when_deleted == "Delete":
                want.append(set_ref)
            seen = [_shape(ref) for ref in o.owner_refs(claim) if _ours(sts, ref)]
            if seen != want:
                findings.append(
                    Finding(
                        "retention.owner-refs",
                        o.subject(claim, "PersistentVolumeClaim"),
                        "metadata.ownerReferences",
                        want,
                        seen,
                    )
                )
    return findings


def _shape(ref: Obj) -> dict[str, object]:
    if ref.get("kind") == "Pod":
        return {k: ref.get(k) for k in ("kind", "name", "uid")}
    keys = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
    return {k: ref.get(k) for k in keys}


def condemned_by_scale_down(sts: Obj, replica_counts: Iterable[int]) -> set[int]:
    """Ordinals whose claims ``whenScaled: Delete`` removed, given the replica counts the set was scaled to."""
    _, when_scaled = retention_policy(sts)
    counts = list(replica_counts)
    if when_scaled != "Delete" or not counts:
        return set()
    window = set_window(sts)
    return {i for i in window if i >= window.start + min(counts)}


def check_renewed(
    before: Mapping[str, ClaimSnapshot],
    pvcs: Sequence[Obj],
    renewed: Iterable[int],
    window: Iterable[int],
    namespace: str,
) -> list[Finding]:
    """A claim that ``whenScaled: Delete`` removed at scale-down MUST come back new (another UID) on scale-up."""
    now = {o.name(c): c for c in pvcs}
    fresh, inside = set(renewed), set(window)
    findings = []
    for name, snap in before.items():
        claim = now.get(name)
        if snap.ordinal in fresh and snap.ordinal in inside and claim is not None and o.uid(claim) == snap.uid:
            findings.append(
                Finding(
                    "retention.when-scaled",
                    f"pvc {namespace}/{name}",
                    "metadata.uid",
                    f"a new claim (whenScaled=Delete removed uid {snap.uid} at scale-down)",
                    o.uid(claim),
                )
            )
    return findings


Event = Literal["deleted", "scaled"]


def check_claims_removed(
    sts: Obj,
    claims_before: Sequence[Obj],
    pvcs_now: Sequence[Obj],
    *,
    event: Event,
    replicas_after: int = 0,
    seconds: float = 0.0,
) -> list[Finding]:
    """After the set was deleted (or scaled to ``replicas_after``) ``seconds`` ago: claims follow the policy.

    The findings of :func:`check_after_set_deleted` / :func:`check_after_scale_down`, with a claim
    still there that the policy removes described by what it shows: still owned by the set (or its
    pod), so the garbage collector has not acted, and whether it removed any owned claim at all; or
    without that ownerReference, so the StatefulSet controller never applied the policy.
    """
    if event == "deleted":
        findings = check_after_set_deleted(sts, claims_before, pvcs_now)
        fate = expected_after_set_deleted(sts, claims_before)
        when, policy = "deleted", f"whenDeleted: {retention_policy(sts)[0]}"
    else:
        findings = check_after_scale_down(sts, claims_before, pvcs_now, replicas_after=replicas_after)
        fate = expected_after_scale_down(sts, claims_before, replicas_after=replicas_after)
        when, policy = f"scaled to {replicas_after}", f"whenScaled: {retention_policy(sts)[1]}"
    now = {o.name(c): c for c in pvcs_now if o.namespace(c) == o.namespace(sts)}
    removed = [n for n in fate.removed if n not in now]
    explained = []
    for finding in findings:
        name = finding.subject.rsplit("/", 1)[-1]
        claim = now.get(name)
        if finding.seen != "kept" or claim is None:
            explained.append(finding)
            continue
        owners = [f"{r.get('kind')}/{r.get('name')}" for r in o.owner_refs(claim) if _ours(sts, r)]
        seen = f"still present {seconds:.0f} s after the set was {when} with {policy}; "
        if owners:
            gc = (
                "no garbage collection of owned objects seen"
                if not removed
                else f"{len(removed)} of {len(fate.removed)} claims to remove are gone"
            )
            seen += f"owned by {', '.join(owners)}: {gc}"
        else:
            seen += "it carries no ownerReference to the set or its pod: the StatefulSet controller did not apply it"
        explained.append(Finding(finding.rule, finding.subject, finding.path, finding.expected, seen))
    return explained
