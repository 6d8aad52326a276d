"""Identity promises: names, hostnames, labels, ownership, replacement and one-pod-per-identity.

A StatefulSet's value is that ``web-1`` is always the same member: the same name, DNS
label and disk. These checks read a set and its pods (or a timeline of them) and
report every way a pod's identity differs from what the controller promises.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ordinal.checks.recorded import check_caught_up
from ordinal.checks.storage import check_pod_mounts, claim_templates
from ordinal.kube import objects as o
from ordinal.kube.manifests import members, parse_ordinal, pod_name, pvc_name, set_window
from ordinal.labels import OUT_OF_SERVICE_TAINT, POD_INDEX_LABEL, POD_NAME_LABEL
from ordinal.observe.timeline import Incarnation, Mark, Timeline
from ordinal.types import Finding, Obj


def check_pod_identity(
    sts: Obj, pods: Sequence[Obj], *, pod_index_label: bool = True, settled: bool = True
) -> list[Finding]:
    """Names, hostname/subdomain, identity labels and controller ref of every pod of ``sts``.

    ``pod_index_label``: whether the server sets ``apps.kubernetes.io/pod-index`` (1.28+,
    read from capability discovery). ``settled``: the set is at rest, so the pod names
    must be exactly the ordinal window.
    """
    findings: list[Finding] = []
    set_name, set_uid = o.name(sts), o.uid(sts)
    by_ordinal = members(sts, pods)
    for pod in pods:
        owner = o.controller_ref(pod)
        if owner and owner.get("uid") == set_uid and parse_ordinal(o.name(pod), set_name) is None:
            findings.append(
                Finding(
                    "identity.pod-name",
                    o.subject(pod, "Pod"),
                    "metadata.name",
                    f"{set_name}-<ordinal>",
                    o.name(pod),
                )
            )
    if settled:
        window = set_window(sts)
        live = [n for n, p in by_ordinal.items() if not o.terminating(p)]
        if live != list(window):
            findings.append(
                Finding(
                    "identity.ordinal-window",
                    o.subject(sts, "StatefulSet"),
                    "pods",
                    [pod_name(set_name, i) for i in window],
                    [pod_name(set_name, i) for i in live],
                )
            )
    for ordinal, pod in by_ordinal.items():
        findings += _pod_identity(sts, pod, ordinal, pod_index_label)
    return findings


def check_new_pod(sts: Obj, pod: Obj, *, pod_index_label: bool = True) -> list[Finding]:
    """A pod the controller just made for ``sts``: its identity and the claims it mounts, as the set asks.

    All of it is set when the pod is created and never changes, so a waiter judges a successor
    with it the moment it appears: "web-1 mounts data-web-2" ends the wait as the failure it is.
    """
    ordinal = parse_ordinal(o.name(pod), o.name(sts))
    if ordinal is None:
        return []
    findings = _pod_identity(sts, pod, ordinal, pod_index_label)
    for template in claim_templates(sts):
        findings += check_pod_mounts(pod, template, pvc_name(template, o.name(sts), ordinal))
    return findings


def _pod_identity(sts: Obj, pod: Obj, ordinal: int, pod_index_label: bool) -> list[Finding]:
    findings: list[Finding] = []
    subject, name = o.subject(pod, "Pod"), o.name(pod)
    spec, labels = o.spec(pod), o.labels(pod)
    service = o.spec(sts).get("serviceName")
    expectations: list[tuple[str, str, object, object]] = [
        ("identity.hostname", "spec.hostname", name, spec.get("hostname")),
        ("identity.subdomain", "spec.subdomain", service, spec.get("subdomain")),
        ("identity.pod-name-label", f"metadata.labels['{POD_NAME_LABEL}']", name, labels.get(POD_NAME_LABEL)),
    ]
    if pod_index_label:
        expectations.append(
            (
                "identity.pod-index-label",
                f"metadata.labels['{POD_INDEX_LABEL}']",
                str(ordinal),
                labels.get(POD_INDEX_LABEL),
            )
        )
    findings += [Finding(rule, subject, path, want, got) for rule, path, want, got in expectations if want != got]
    want_ref = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": o.name(sts),
        "uid": o.uid(sts),
        "controller": True,
    }
    controllers = [r for r in o.owner_refs(pod) if r.get("controller") is True]
    seen = [{k: r.get(k) for k in want_ref} for r in controllers]
    if seen != [want_ref]:
        findings.append(Finding("identity.controller-ref", subject, "metadata.ownerReferences", [want_ref], seen))
    return findings


def snapshot_uids(pods: Sequence[Obj]) -> dict[str, str]:
    """Pod name → UID, taken before a disruption for :func:`check_replaced`."""
    return {o.name(p): o.uid(p) for p in pods}


def check_replaced(
    before: Mapping[str, str],
    after: Sequence[Obj],
    replaced: Collection[str],
    *,
    namespace: str = "",
    others_unchanged: bool = True,
) -> list[Finding]:
    """Each pod in ``replaced`` is back under its name with a new UID; the rest kept theirs.

    ``before`` comes from :func:`snapshot_uids`; ``after`` is the settled pod list.
    """
    findings: list[Finding] = []
    now = {o.name(p): o.uid(p) for p in after if not o.terminating(p)}
    for name in sorted(before):
        subject = f"pod {namespace}/{name}" if namespace else f"pod {name}"
        old = before[name]
        if name in replaced:
            if name not in now:
                findings.append(Finding("identity.replaced-same-name", subject, "metadata.name", name, None))
            elif now[name] == old:
                findings.append(
                    Finding(
                        "identity.replaced-new-uid",
                        subject,
                        "metadata.uid",
                        f"a UID other than {old}",
                        now[name],
                    )
                )
        elif others_unchanged and now.get(name) != old:
            findings.append(Finding("identity.bystander-kept", subject, "metadata.uid", old, now.get(name)))
    return findings


def check_at_most_one_live(
    timeline: Timeline, *, set_name: str | None = None, namespace: str | None = None
) -> list[Finding]:
    """No two incarnations (UIDs) of one pod name are live at the same moment.

    "Live" runs from first sight to the DELETED event, terminating included. An
    earlier incarnation removed with grace 0 while its node was unreachable may still
    be running where nobody can confirm it: its successor is then reported under the
    ``info`` rule ``identity.overlap-after-force-delete`` instead, overlap or not.
    """
    findings: list[Finding] = []
    for name in timeline.pods(set_name, namespace):
        incarnations = sorted(timeline.incarnations(name, namespace), key=lambda i: i.first_seen)
        for index, earlier in enumerate(incarnations):
            forced = _force_deleted(timeline, earlier)
            for later in incarnations[index + 1 :]:
                overlap = earlier.gone is None or later.first_seen < earlier.gone
                if forced is not None and later is incarnations[index + 1]:
                    findings.append(_forced_finding(timeline, earlier, later, *forced))
                elif overlap and forced is None:
                    findings.append(_overlap_finding(timeline, earlier, later))
    return findings + check_caught_up(timeline)


def _force_deleted(timeline: Timeline, inc: Incarnation) -> tuple[str, Mark] | None:
    """(node, removal) if ``inc`` was removed with grace 0 while its node was unreachable.

    Not when the node had been declared shut down (taint ``node.kubernetes.io/out-of-service``):
    then PodGC's force delete is the confirmation, and only a real overlap is a finding.
    """
    node = inc.node
    if inc.gone is None or inc.deletion_grace != 0 or node is None:
        return None
    if timeline.node_tainted_at(node, inc.gone, OUT_OF_SERVICE_TAINT):
        return None
    return (node, inc.gone) if timeline.node_unreachable_at(node, inc.gone) else None


def _rel(timeline: Timeline, t: float) -> str:
    return f"{t - timeline.t0:+.3f}s"


def _subject(inc: Incarnation) -> str:
    return f"pod {inc.namespace}/{inc.name}" if inc.namespace else f"pod {inc.name}"


def _overlap_finding(timeline: Timeline, earlier: Incarnation, later: Incarnation) -> Finding:
    until = f"until {_rel(timeline, earlier.gone.t)}" if earlier.gone else "never seen gone"
    return Finding(
        "identity.at-most-one-live",
        _subject(earlier),
        "metadata.uid",
        f"uid {earlier.uid} gone before uid {later.uid} appears",
        f"uid {earlier.uid} live from {_rel(timeline, earlier.first_seen.t)} {until}; "
        f"uid {later.uid} appeared at {_rel(timeline, later.first_seen.t)} on node {later.node}",
    )


def _forced_finding(timeline: Timeline, earlier: Incarnation, later: Incarnation, node: str, gone: Mark) -> Finding:
    return Finding(
        "identity.overlap-after-force-delete",
        _subject(earlier),
        "metadata.uid",
        f"uid {earlier.uid} confirmed stopped before uid {later.uid} starts",
        f"uid {earlier.uid} force-deleted (grace 0) at {_rel(timeline, gone.t)} while node {node} was "
        f"unreachable; uid {later.uid} appeared at {_rel(timeline, later.first_seen.t)} on node {later.node}",
    )
