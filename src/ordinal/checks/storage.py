"""Storage promises: one claim per ordinal, its own volume, and the same volume after every disruption.

"My data comes back" is the promise users care about most and the one no upstream
conformance test covers (it needs a StorageClass). The checks compare claims, volumes
and pods as fetched, and snapshots taken before a disruption against what came back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ordinal.kube import objects as o
from ordinal.kube.manifests import members, parse_claim_ordinal, pvc_name, set_window
from ordinal.labels import HOSTNAME_LABEL
from ordinal.types import Finding, Obj


def claim_templates(sts: Obj) -> list[str]:
    """Names of the set's ``volumeClaimTemplates``."""
    return [o.name(t) for t in o.spec(sts).get("volumeClaimTemplates") or () if isinstance(t, dict)]


def check_claims(
    sts: Obj,
    pods: Sequence[Obj],
    pvcs: Sequence[Obj],
    pvs: Sequence[Obj] | None = None,
    *,
    ordinals: Iterable[int] | None = None,
) -> list[Finding]:
    """Every ordinal has its Bound claim per template, on a PV of its own, mounted by its pod.

    ``ordinals`` defaults to the set's window; ``pvs`` (cluster-scoped, may be unreadable)
    enables the PV claimRef check.
    """
    namespace, set_name = o.namespace(sts), o.name(sts)
    claims = {o.name(c): c for c in pvcs if o.namespace(c) == namespace}
    volumes = {o.name(v): v for v in pvs or ()}
    pods_by_ordinal = members(sts, pods)
    owners: dict[str, str] = {}
    findings: list[Finding] = []
    for ordinal in ordinals if ordinals is not None else set_window(sts):
        for template in claim_templates(sts):
            name = pvc_name(template, set_name, ordinal)
            subject = f"pvc {namespace}/{name}"
            claim = claims.get(name)
            pod = pods_by_ordinal.get(ordinal)
            if pod is not None:
                findings += check_pod_mounts(pod, template, name)
            if claim is None:
                findings.append(Finding("storage.claim-per-ordinal", subject, "metadata.name", name, None))
                continue
            phase = o.status(claim).get("phase")
            if phase != "Bound":
                findings.append(Finding("storage.claim-bound", subject, "status.phase", "Bound", phase))
            volume = o.spec(claim).get("volumeName")
            if not volume:
                continue
            if volume in owners:
                findings.append(
                    Finding(
                        "storage.distinct-volume",
                        subject,
                        "spec.volumeName",
                        f"a PV no other claim is bound to (not {volume})",
                        f"{volume}, also bound by {owners[volume]}",
                    )
                )
            owners.setdefault(volume, name)
            if pvs is not None:
                findings += _claim_ref(claim, volume, volumes.get(volume))
    return findings


def check_pod_mounts(pod: Obj, template: str, claim: str) -> list[Finding]:
    """The pod's volume ``template`` references ``claim`` (its ordinal's PVC), not another one."""
    volumes = [v for v in o.spec(pod).get("volumes") or () if isinstance(v, dict) and v.get("name") == template]
    seen = (volumes[0].get("persistentVolumeClaim") or {}).get("claimName") if volumes else None
    if seen == claim:
        return []
    path = f"spec.volumes[name={template}].persistentVolumeClaim.claimName"
    return [Finding("storage.pod-mounts-own-claim", o.subject(pod, "Pod"), path, claim, seen)]


def _claim_ref(claim: Obj, volume: str, pv: Obj | None) -> list[Finding]:
    want = {"namespace": o.namespace(claim), "name": o.name(claim), "uid": o.uid(claim)}
    ref = o.spec(pv).get("claimRef") if pv is not None else None
    seen = {k: ref.get(k) for k in want} if isinstance(ref, dict) else None
    if seen == want:
        return []
    return [Finding("storage.volume-claim-ref", f"pv {volume}", "spec.claimRef", want, seen if pv else "PV missing")]


@dataclass(frozen=True)
class ClaimSnapshot:
    """What must survive a disruption for one ordinal's claim."""

    claim: str
    ordinal: int
    uid: str
    volume: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_claims(sts: Obj, pvcs: Sequence[Obj]) -> dict[str, ClaimSnapshot]:
    """Claim name → (UID, PV) for every claim the set's templates made; take it before disrupting."""
    found: dict[str, ClaimSnapshot] = {}
    for claim in pvcs:
        for template in claim_templates(sts):
            ordinal = parse_claim_ordinal(o.name(claim), template, o.name(sts))
            if ordinal is not None and o.namespace(claim) == o.namespace(sts):
                found[o.name(claim)] = ClaimSnapshot(
                    o.name(claim), ordinal, o.uid(claim), o.spec(claim).get("volumeName")
                )
    return dict(sorted(found.items()))


def check_reattached(
    before: Mapping[str, ClaimSnapshot],
    pvcs_after: Sequence[Obj],
    *,
    namespace: str,
    ordinals: Iterable[int] | None = None,
) -> list[Finding]:
    """Each ordinal's claim is the same object (UID) on the same PV as before the disruption.

    Pair with :func:`check_claims` on the pods after, which checks they mount them.
    """
    wanted = set(ordinals) if ordinals is not None else None
    now = {o.name(c): c for c in pvcs_after if o.namespace(c) == namespace}
    findings: list[Finding] = []
    for name, snap in before.items():
        if wanted is not None and snap.ordinal not in wanted:
            continue
        subject = f"pvc {namespace}/{name}"
        claim = now.get(name)
        if claim is None or o.uid(claim) != snap.uid:
            seen = o.uid(claim) if claim is not None else None
            findings.append(Finding("storage.reattached-claim", subject, "metadata.uid", snap.uid, seen))
            continue
        volume = o.spec(claim).get("volumeName")
        if volume != snap.volume:
            findings.append(Finding("storage.reattached-volume", subject, "spec.volumeName", snap.volume, volume))
    return findings


def check_pod_on_volume_node(
    sts: Obj,
    pods: Sequence[Obj],
    pvcs: Sequence[Obj],
    pvs: Sequence[Obj],
    nodes: Sequence[Obj] | None = None,
) -> list[Finding]:
    """Pods whose claim sits on a node-pinned PV run on a node that PV's nodeAffinity admits.

    Without ``nodes`` a node is assumed to carry only ``kubernetes.io/hostname=<name>``,
    which is what local-volume provisioners pin to.
    """
    claims = {o.name(c): c for c in pvcs if o.namespace(c) == o.namespace(sts)}
    volumes = {o.name(v): v for v in pvs}
    node_labels = {o.name(n): o.labels(n) for n in nodes or ()}
    findings: list[Finding] = []
    for ordinal, pod in members(sts, pods).items():
        node = o.spec(pod).get("nodeName")
        if not node:
            continue
        labels = node_labels.get(node, {HOSTNAME_LABEL: node})
        for template in claim_templates(sts):
            claim = claims.get(pvc_name(template, o.name(sts), ordinal))
            pv = volumes.get(str(o.spec(claim).get("volumeName"))) if claim else None
            terms = _node_terms(pv) if pv else None
            if terms and not any(_term_matches(t, node, labels) for t in terms):
                findings.append(
                    Finding(
                        "storage.pod-on-volume-node",
                        o.subject(pod, "Pod"),
                        "spec.nodeName",
                        f"a node admitted by PV {o.name(pv or {})} nodeAffinity {terms}",
                        node,
                    )
                )
    return findings


def _node_terms(pv: Obj) -> list[Obj] | None:
    required = (o.spec(pv).get("nodeAffinity") or {}).get("required") or {}
    terms = required.get("nodeSelectorTerms")
    return [t for t in terms if isinstance(t, dict)] if isinstance(terms, list) else None


@dataclass(frozen=True)
class Pin:
    """Where a volume may be used: on one node (a local disk) or in one zone (cloud block storage).

    ``key``/``value`` is the node label the PV's affinity names: ``kubernetes.io/hostname`` for a
    node, ``topology.kubernetes.io/zone`` or a CSI driver's own topology key for a zone.
    """

    kind: Literal["node", "zone"]
    key: str
    value: str

    def admits(self, node: Obj) -> bool:
        if self.key == "metadata.name":
            return o.name(node) == self.value
        return o.labels(node).get(self.key, o.name(node) if self.key == HOSTNAME_LABEL else None) == self.value

    def __str__(self) -> str:
        return f"node {self.value}" if self.kind == "node" else f"{self.key}={self.value}"


def pin_of_pv(pv: Obj) -> Pin | None:
    """How a PV's required nodeAffinity pins it: one node, one zone (any other topology key), or not at all."""
    for term in _node_terms(pv) or ():
        for expr in term.get("matchFields") or ():
            values = expr.get("values") or []
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In" and len(values) == 1:
                return Pin("node", "metadata.name", str(values[0]))
        for expr in term.get("matchExpressions") or ():
            values = expr.get("values") or []
            if expr.get("operator") == "In" and len(values) == 1:
                kind: Literal["node", "zone"] = "node" if expr.get("key") == HOSTNAME_LABEL else "zone"
                return Pin(kind, str(expr.get("key")), str(values[0]))
    return None


def pinned_node_of_pv(pv: Obj) -> str | None:
    """The one node a PV's nodeAffinity admits (a local-disk-like volume), or None if it is not pinned to one."""
    pin = pin_of_pv(pv)
    return pin.value if pin is not None and pin.kind == "node" else None


def volume_pin(sts: Obj, pvcs: Sequence[Obj], pvs: Sequence[Obj], ordinal: int) -> Pin | None:
    """Where the ordinal's volume may be used (see :class:`Pin`), or None when anywhere."""
    volumes = {o.name(v): v for v in pvs}
    claims = {o.name(c): c for c in pvcs}
    for template in claim_templates(sts):
        claim = claims.get(pvc_name(template, o.name(sts), ordinal))
        pv = volumes.get(str(o.spec(claim).get("volumeName"))) if claim else None
        pin = pin_of_pv(pv) if pv else None
        if pin is not None:
            return pin
    return None


def _term_matches(term: Obj, node: str, labels: Mapping[str, str]) -> bool:
    """A nodeSelectorTerm: all expressions (and field expressions on metadata.name) hold."""
    for expr in term.get("matchExpressions") or ():
        if not o.expression_matches(expr, labels.get(str(expr.get("key")))):
            return False
    for expr in term.get("matchFields") or ():
        if not o.expression_matches(expr, node if expr.get("key") == "metadata.name" else None):
            return False
    return True


def check_tokens(sts: Obj, written: Mapping[str, str], read: Mapping[str, str | None]) -> list[Finding]:
    """Every token written into an ordinal's volume MUST read back unchanged from that ordinal.

    ``written`` and ``read`` map pod names to token contents (``None``: file missing); a pod
    with nothing read is one that was not asked (judged by the identity checks instead).
    """
    findings = []
    for name, token in sorted(written.items()):
        if name in read and read[name] != token:
            subject = f"pod {o.namespace(sts)}/{name}"
            findings.append(Finding("storage.data-token", subject, "volume token file", token, read[name]))
    return findings
