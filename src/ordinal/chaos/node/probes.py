"""Probes on nodes: has a lost node been noticed, is it back, did this run leave any node changed; and what a
real node's loss did to the ordinal on it (kept, unreplaced, its volume attached there until declared off).

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

from chaoslib.types import Configuration, Secrets

from ordinal import capabilities
from ordinal.act.nodes import ledger
from ordinal.act.pods import get_set
from ordinal.chaos.boundary import Call, activity, call, set_subject
from ordinal.chaos.results import ProbeVerdict, Waited
from ordinal.chaos.session import now
from ordinal.checks.attachments import attach_figures, attached_only_to, check_attachments, single_writer_claims
from ordinal.checks.node_loss import check_lost_node, lost_node, node_loss_figures
from ordinal.errors import InvalidScenario
from ordinal.kube import objects as o
from ordinal.kube.manifests import parse_ordinal
from ordinal.kube.rest import CSI_DRIVERS, NODES, PVCS, PVS, VOLUME_ATTACHMENTS, ApiError
from ordinal.observe import waiting
from ordinal.observe.waiting import Query, wait_for_nodes
from ordinal.types import Finding

__all__ = [
    "await_node_ready",
    "await_node_unreachable",
    "expect_attached_to_lost_node",
    "lost_node_held",
    "nodes_restored",
]

#: Faults that take a node out of contact: a silenced simulated node, a stopped real one.
LOSSES = ("lose_node_of", "stop_node_of")


@activity
def nodes_restored(
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """No node is left cordoned, silenced or tainted by this run (the node ledger holds nothing of it)."""
    run = call()
    findings = []
    for node in run.kube.list(NODES)[0]:
        entry = ledger(node)
        if entry.get("run") == run.session.run_id:
            changes = sorted(k for k, v in entry.items() if k != "run" and v)
            findings.append(Finding("chaos.node-restored", f"node {o.name(node)}", "ledger", [], changes))
    return run.verdict("nodes", findings, held="no node changes of this run remain")


@activity
def await_node_unreachable(
    node: str = "",
    timeout: float = 150.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until the control plane marks a lost node unreachable (Ready not True, NoExecute taint).

    ``node`` "" means the nodes this run silenced or stopped. Takes the node-monitor grace period
    (50 s by default since Kubernetes 1.32).
    """
    run = call()
    lost = [f for f in run.session.faults if f.action in LOSSES and f.node and (not node or f.node == node)]
    if not lost:
        raise InvalidScenario(f"expected a node this run lost{' named ' + node if node else ''}, found none")
    names = sorted({str(f.node) for f in lost})
    wait_for_nodes(run.kube, names, o.node_unreachable, expect=f"nodes {names} unreachable", timeout=timeout)
    return run.waited(f"nodes {','.join(names)}", since_fault=round(now() - min(f.at for f in lost), 3))


@activity
def await_node_ready(
    node: str = "",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until the nodes this run disrupted (or ``node``) are Ready, schedulable and untainted again."""
    run = call()
    names = sorted({str(f.node) for f in run.session.faults if f.node and (not node or f.node == node)})
    if names:
        wait_for_nodes(run.kube, names, o.node_available, expect=f"nodes {names} available", timeout=timeout)
    return run.waited(f"nodes {','.join(names) or 'none'}", nodes=names)


@activity
def expect_attached_to_lost_node(
    name: str,
    ordinal: int = -1,
    ns: str = "default",
    hold: float = 1.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """While its node is lost, the ordinal's volume stays attached there and is attached to no other node.

    Holds for ``hold`` seconds on the VolumeAttachments. ``ordinal`` -1: the one the node fault
    picked. On a class whose volumes are not attached (hostPath, local volumes, CSI drivers without
    attach) there is nothing to hold: the answer says so.
    """
    run = call()
    pod, fault = run.session.lost_pod(ns, name, ordinal)
    node = str(fault.node)
    pv, _, why = _attached_volume(run, ns, name, pod)
    if pv is None:
        return run.waited(f"pod {ns}/{pod}", applies=False, why=why)
    waiting.hold(
        run.kube,
        Query(VOLUME_ATTACHMENTS),
        lambda items: attached_only_to(items, pv, node),
        expect=f"pv {pv} attached to lost node {node} only",
        seconds=hold,
    )
    return run.waited(f"pod {ns}/{pod}", applies=True, pv=pv, node=node, held=hold)


@activity
def lost_node_held(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """An ordinal on a stopped node was kept, unreplaced and its volume there, until the node was declared off.

    Then it came back on another node, its volume following one node at a time. Judged from the
    recorded timeline for every ``stop_node_of`` fault of the run; before the fault there is nothing
    to judge. The timings (to not Ready, to Terminating, taint to pod gone, to detached, to the
    replacement Ready, attach) go into the details and the run's figures.
    """
    run = call()
    subject = set_subject(ns, name)
    faults = [f for f in run.session.faults_on(ns, name) if f.action == "stop_node_of" and f.pod]
    if not faults and not run.session.comparing():
        return run.verdict(subject, [], held="no node lost yet: judged after the fault", details={"compared": False})
    recorder = run.recorder(ns)
    if not faults or recorder is None:
        missing = "a stop_node_of fault" if not faults else "start_recording before the fault"
        return run.verdict(subject, [Finding("node-loss.recorded", subject, "timeline", missing, None)], held="")
    timeline = recorder.timeline
    findings: list[Finding] = []
    judged = []
    unchecked: list[str] = []
    for fault in faults:
        story = lost_node(
            timeline, node=str(fault.node), namespace=ns, pod=fault.pod, old_uid=fault.pods[fault.pod], since=fault.at
        )
        pv, driver, why = _attached_volume(run, ns, name, fault.pod)
        findings += check_lost_node(timeline, story, pv=pv, elsewhere=bool(fault.takers))
        figures = dict(node_loss_figures(timeline, story, pv))
        if pv is not None:
            sts = get_set(run.kube, ns, name)
            claims = single_writer_claims(sts, [parse_ordinal(fault.pod, name) or 0])
            findings += check_attachments(timeline, ns, claims, attaching={driver})
            figures |= dict(attach_figures(timeline, ns, claims, context="after-node-loss", since=fault.at))
        for row in run.session.figures:  # the replacement's row (wait_for_identity_restored) gains the node's steps
            if row.get("pod") == fault.pod and row.get("fault") == "stop_node_of":
                row.update(figures)
        judged.append({"pod": fault.pod, "node": fault.node, "pv": pv, "attachments": why or "judged", **figures})
        if why.startswith("needs: "):
            unchecked.append(why)
    if unchecked and not findings:
        return run.not_checked(subject, "; ".join(unchecked), details={"compared": True, "lost": judged})
    return run.verdict(
        subject,
        findings,
        held="kept, unreplaced, on the lost node until it was declared out of service; then back where its volume "
        "may be used",
        details={"compared": True, "lost": judged},
        timeline_of=ns,
    )


def _attached_volume(run: Call, namespace: str, name: str, pod: str) -> tuple[str | None, str, str]:
    """(pv, driver, "") of the pod's single-writer claim when its class attaches and attachments are visible;
    else (None, "", why not)."""
    sts = get_set(run.kube, namespace, name)
    claims = single_writer_claims(sts, [parse_ordinal(pod, name) or 0])
    if not claims:
        return None, "", f"not applicable: {namespace}/{name} has no ReadWriteOnce claim template"
    claim = run.kube.get_or_none(PVCS, claims[0], namespace)
    volume = str(o.spec(claim).get("volumeName") or "") if claim is not None else ""
    pv = run.kube.get_or_none(PVS, volume) if volume else None
    driver = str((o.spec(pv).get("csi") or {}).get("driver") or "") if pv is not None else ""
    if not driver:
        return None, "", f"not applicable: pvc {namespace}/{claims[0]} is not bound to a CSI volume"
    try:
        spec = o.spec(run.kube.get_or_none(CSI_DRIVERS, driver) or {})
    except ApiError:
        spec = {}  # cannot read it: the attach/detach controller attaches unless told otherwise
    if spec.get("attachRequired") is False:
        return None, "", f"not applicable: CSIDriver {driver} has attachRequired: false"
    visible, why = capabilities.attachments_visible(run.kube)
    if not visible:
        return None, "", f"needs: {capabilities.describe('csi-attach')} ({why})"
    return volume, driver, ""
