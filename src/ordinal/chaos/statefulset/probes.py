"""Probes on a StatefulSet's promises: identity, claims, DNS, data, revisions and the timeline.

Hypothesis probes return a :class:`~ordinal.chaos.results.Verdict` (tolerance
``["passed"]``): they judge, never raise on a broken promise, and put the findings in the
journal. Before the method there is no baseline yet, so comparisons wait for the run
after it; a missing baseline after the method is itself a finding.

Method probes (``await_*``, ``expect_*``, ``wait_for_*``) wait for the aftermath of a fault
and raise ``ActivityFailed`` when a promise breaks or time runs out; the safety control
turns that into a failed run.

No ``from __future__ import annotations`` here: chaoslib discovery reads raw annotations.
"""

import contextlib

from chaoslib.types import Configuration, Secrets

from ordinal.act.pods import get_set
from ordinal.act.tokens import read_tokens, require_exec
from ordinal.capabilities import pod_index_label
from ordinal.chaos.boundary import activity, call, set_subject
from ordinal.chaos.results import ProbeVerdict, Waited, ordinals_of, select_ordinals
from ordinal.chaos.session import Fault, now
from ordinal.checks.dns import (
    check_dns,
    check_endpoint_slices,
    check_governing_service,
    expected_queries,
    headless,
    pod_fqdn,
)
from ordinal.checks.identity import check_at_most_one_live, check_pod_identity, check_replaced
from ordinal.checks.readiness import check_set_ready
from ordinal.checks.retention import (
    check_after_scale_down,
    check_renewed,
    condemned_by_scale_down,
    expected_after_scale_down,
    retention_policy,
)
from ordinal.checks.revisions import check_partition, check_revision_status, partition
from ordinal.checks.storage import (
    check_claims,
    check_pod_on_volume_node,
    check_reattached,
    check_tokens,
    snapshot_claims,
    volume_pin,
)
from ordinal.errors import CapabilityMissing, InvariantViolated, OrdinalError, WaitTimeout
from ordinal.kube import objects as o
from ordinal.kube.manifests import pod_name, set_window
from ordinal.kube.rest import NODES, PODS, PVCS, STATEFULSETS
from ordinal.labels import REVISION_LABEL
from ordinal.observe import waiting
from ordinal.observe.dnsquery import ask, poll, time_until_resolvable
from ordinal.observe.recorder import caught_up
from ordinal.observe.snapshot import observe_set
from ordinal.observe.waiting import Query, Verdict
from ordinal.types import Finding, Obj

__all__ = [
    "await_adopted",
    "await_displaced_ordinal",
    "await_ready",
    "await_rollout",
    "claims_reattached",
    "data_token_intact",
    "dns_records_match",
    "expect_claims_follow_retention",
    "expect_not_replaced",
    "identity_matches_snapshot",
    "no_duplicate_identity",
    "revisions_respect_partition",
    "statefulset_ready",
    "wait_for_identity_restored",
]


# -- hypothesis probes -------------------------------------------------------------------------


@activity
def statefulset_ready(
    name: str,
    ns: str = "default",
    timeout: float = 0.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """Every replica of the StatefulSet is Running, Ready and available, and its spec is observed.

    ``timeout`` > 0 waits up to that many seconds for it; 0 judges the state as it is.
    """
    run = call()
    if timeout > 0:
        with contextlib.suppress(OrdinalError):  # missing set, timeout: judged below, as findings
            waiting.wait_for_set_settled(run.kube, ns, name, timeout=timeout)
    state = run.set_state(ns, name)
    assert state.sts is not None
    replicas = o.spec(state.sts).get("replicas")
    return run.verdict(
        set_subject(ns, name),
        check_set_ready(state.sts, state.members()),
        held=f"{replicas} of {replicas} replicas Running+Ready, spec observed",
        details={"status": o.status(state.sts)},
    )


@activity
def identity_matches_snapshot(
    name: str,
    ns: str = "default",
    replaced: str = "disrupted",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """Pods keep their names, hostnames, identity labels and owner; only the expected ordinals were replaced.

    ``replaced`` says which ordinals must come back with a new UID (all others must keep
    theirs): ``disrupted`` (the pods ordinal's actions hit), ``none``, ``all``, ``1,2`` or
    ``>=1``. Before the method only the structure is judged.
    """
    run = call()
    state = run.set_state(ns, name)
    assert state.sts is not None
    window = list(set_window(state.sts))
    wanted = select_ordinals(replaced, window, ordinals_of(run.session.disrupted(ns, name), name))
    pods = state.members()
    findings = check_pod_identity(state.sts, pods, pod_index_label=pod_index_label(run.kube), settled=True)
    details: dict[str, object] = {"pods": {o.name(p): o.uid(p) for p in pods if not o.terminating(p)}}
    held = f"pods {pod_name(name, window[0])}…{pod_name(name, window[-1])} keep their identity" if window else "no pods"
    baseline = run.session.baseline(ns, name)
    if baseline is None:
        findings += run.no_baseline(ns, name)
        details["compared"] = False
    else:
        before = {o.name(p): o.uid(p) for p in baseline.pods}
        names = {pod_name(name, i) for i in wanted}
        findings += check_replaced(before, pods, names, namespace=ns, others_unchanged=True)
        expected = sorted(names & set(before))
        details |= {"compared": True, "expected_replaced": expected}
        held += f"; replaced as expected: {expected or 'none'}"
    return run.verdict(set_subject(ns, name), findings, held=held, details=details, timeline_of=ns)


@activity
def claims_reattached(
    name: str,
    ns: str = "default",
    renewed: str = "auto",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """Each ordinal has its own Bound claim on its own volume, the same ones (UIDs) as before the fault.

    Pods run where a node-pinned volume lets them. ``renewed`` names ordinals whose claims
    are expected to be new (``auto``: those a recorded scale-down condemned under
    ``whenScaled: Delete``; or ``none``, ``1,2``, ``>=1``).
    """
    run = call()
    state = run.set_state(ns, name)
    sts, pods = state.sts, state.members()
    assert sts is not None
    if renewed == "auto":
        recorder = run.recorder(ns)
        history = recorder.timeline.set_replicas(name, ns) if recorder is not None else []
        fresh = condemned_by_scale_down(sts, [count for _, count in history])
    else:
        fresh = select_ordinals(renewed, set_window(sts), ())
    findings = check_claims(sts, pods, state.pvcs, state.pvs)
    findings += check_pod_on_volume_node(sts, pods, state.pvcs, state.pvs, state.nodes)
    claims = {o.name(c): {"uid": o.uid(c), "volume": o.spec(c).get("volumeName")} for c in state.pvcs}
    details: dict[str, object] = {"claims": claims, "compared": False}
    held = f"{len(state.pvcs)} claims Bound, one volume each"
    baseline = run.session.baseline(ns, name)
    if baseline is None:
        findings += run.no_baseline(ns, name)
    else:
        before = snapshot_claims(baseline.sts, baseline.pvcs)
        window = set(set_window(sts))
        findings += check_reattached(before, state.pvcs, namespace=ns, ordinals=window - fresh)
        findings += check_renewed(before, state.pvcs, fresh, window, ns)
        details |= {"compared": True, "renewed": sorted(fresh)}
        held += ", same UIDs as before" + (f" except the renewed ordinals {sorted(fresh)}" if fresh else "")
    return run.verdict(set_subject(ns, name), findings, held=held, details=details, timeline_of=ns)


@activity
def dns_records_match(
    name: str,
    ns: str = "default",
    dns_server: str = "",
    zone: str = "",
    timeout: float = 15.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """The governing headless Service publishes each Ready pod: per-pod A, set-wide A, SRV and PTR records.

    The Service and its EndpointSlices are checked from the API; DNS is asked when the
    cluster DNS is reachable (``dns_server``, ``ORDINAL_DNS``, the local cluster's, or
    a port-forward to the cluster DNS pod), and re-asked for up to ``timeout`` seconds while
    answers catch up. ``zone`` is the cluster domain ("": ``cluster_domain`` in the configuration,
    ``ORDINAL_CLUSTER_DOMAIN``, else discovered from the cluster DNS).
    """
    run = call()
    resolver = run.resolver(dns_server)
    unreachable = "needs: DNS reachable from here (pass dns_server or set ORDINAL_DNS)"
    if resolver is not None:
        zone, zone_source = run.cluster_domain(zone)
        if not zone:  # the names to ask are unknown: check what the API shows, and say why DNS was not asked
            resolver, unreachable = None, f"needs: the cluster domain ({zone_source})"
    zone = zone or "<cluster domain>"

    def judge() -> tuple[list[Finding], dict[str, object], bool]:
        """(findings, details, asked DNS); structural findings alone when the Service is not headless."""
        state = run.set_state(ns, name)
        assert state.sts is not None
        pods = [p for p in state.members() if not o.terminating(p)]
        details: dict[str, object] = {"service": str(o.spec(state.sts).get("serviceName") or "")}
        if state.service is None or not headless(state.service):
            return check_governing_service(state.sts, state.service, pods, zone), details | {"headless": False}, False
        findings = check_endpoint_slices(state.service, pods, state.slices)
        details["headless"] = True
        if resolver is None:
            return findings, details, False
        answers = ask(resolver, expected_queries(state.service, pods, zone=zone))
        findings += check_dns(answers, state.service, pods, zone=zone)
        return findings, details | {"answers": answers.to_json()}, True

    def settled(judged: tuple[list[Finding], dict[str, object], bool]) -> bool:
        return not judged[0] or not judged[1]["headless"]

    (findings, details, asked), _, _ = poll(judge, settled, timeout=max(0.0, timeout), interval=0.5)
    if not findings and not asked:
        return run.not_checked(set_subject(ns, name), f"{unreachable}; Service and EndpointSlices checked", details)
    return run.verdict(set_subject(ns, name), findings, held="records match the Ready pods", details=details)


@activity
def data_token_intact(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """The token written into each ordinal's volume before the fault reads back unchanged after it.

    Before the fault nothing has been written yet, so there is nothing to compare (``compared``
    false). After it, a token that could not be written or read (pods where nothing can be
    exec'd) makes the answer *not checked* with the reason: never a pass.
    """
    run = call()
    state = run.set_state(ns, name)
    assert state.sts is not None
    subject, pods = set_subject(ns, name), [p for p in state.members() if not o.terminating(p)]
    baseline = run.session.baseline(ns, name)
    if not run.session.comparing() and (baseline is None or not baseline.tokens):
        held = "nothing written yet: the tokens are compared after the fault"
        return run.verdict(subject, [], held=held, details={"compared": False})
    if baseline is not None and baseline.tokens_not_written and not baseline.tokens:
        return run.not_checked(subject, f"{baseline.tokens_not_written} (so no token was written before the fault)")
    try:
        require_exec(run.kube, pods)
    except CapabilityMissing as err:
        return run.not_checked(subject, str(err))
    if baseline is None or not baseline.tokens:
        missing = [Finding("storage.data-token", subject, "tokens", "write_data_tokens before the fault", None)]
        findings = missing if run.session.comparing() else []
        details: dict[str, object] = {} if findings else {"compared": False}
    else:
        # Ordinals a recorded scale-down condemned under whenScaled: Delete get fresh claims: no token to expect.
        recorder = run.recorder(ns)
        history = recorder.timeline.set_replicas(name, ns) if recorder is not None else []
        fresh = {pod_name(name, i) for i in condemned_by_scale_down(state.sts, [count for _, count in history])}
        kept = {p: t for p, t in baseline.tokens.items() if p not in fresh}
        findings = check_tokens(state.sts, kept, read_tokens(run.kube, state.sts, pods, kept))
        details = {"compared": True, "pods": sorted(kept), "renewed": sorted(fresh & set(baseline.tokens))}
    return run.verdict(set_subject(ns, name), findings, held="every token reads back unchanged", details=details)


@activity
def no_duplicate_identity(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """At no moment of the recorded run were two pods alive for one ordinal (terminating ones count).

    Reads the timeline of :func:`ordinal.chaos.statefulset.actions.start_recording`. An
    overlap that a force delete on an unreachable node allowed is reported as a note.
    """
    run = call()
    subject = set_subject(ns, name)
    recorder = run.recorder(ns)
    if recorder is None:
        findings = []
        if run.session.comparing():
            findings.append(
                Finding("chaos.recorded", subject, "timeline", "start_recording before the fault", "no recording")
            )
        return run.verdict(subject, findings, held="nothing recorded yet", details={"recorded": False})
    timeline = recorder.timeline
    counts = {pod: len(timeline.incarnations(pod, ns)) for pod in timeline.pods(name, ns)}
    return run.verdict(
        subject,
        check_at_most_one_live(timeline, set_name=name, namespace=ns),
        held=f"one live pod per ordinal throughout {len(timeline)} recorded events",
        details={"recorded": True, "incarnations": counts, "recorder_errors": recorder.errors[-5:]},
        timeline_of=ns,
    )


@activity
def revisions_respect_partition(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> ProbeVerdict:
    """Ordinals below the partition run the current revision (even when recreated); the rest the update."""
    run = call()
    state = run.set_state(ns, name)
    sts, pods = state.sts, state.members()
    assert sts is not None
    status = o.status(sts)
    return run.verdict(
        set_subject(ns, name),
        check_partition(sts, pods, settled=True) + check_revision_status(sts, pods, settled=True),
        held=f"partition {partition(sts)}: revisions as promised",
        details={
            "partition": partition(sts),
            "currentRevision": status.get("currentRevision"),
            "updateRevision": status.get("updateRevision"),
            "pods": {o.name(p): o.labels(p).get(REVISION_LABEL) for p in pods},
        },
    )


# -- method probes -----------------------------------------------------------------------------


@activity
def await_ready(
    name: str,
    ns: str = "default",
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until the StatefulSet is ready at its own replica count, with condemned pods gone."""
    run = call()
    sts = waiting.wait_for_set_settled(run.kube, ns, name, timeout=timeout)
    return run.waited(set_subject(ns, name), replicas=o.spec(sts).get("replicas"), status=o.status(sts))


@activity
def wait_for_identity_restored(
    name: str,
    ns: str = "default",
    timeout: float = 120.0,
    dns_server: str = "",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until every pod a fault hit is back under its name (new UID, Ready) and resolvable; measure it.

    Reports, per pod and from the recorded timeline, the seconds from the fault to the
    replacement being scheduled, Running (its claim mounted), Ready, and answering DNS.
    """
    run = call()
    deadline = run.started + timeout
    faults, old = run.session.pending(ns, name)
    pods = waiting.wait_for_pods_replaced(run.kube, ns, name, old, timeout=timeout) if old else {}
    waiting.wait_for_set_settled(run.kube, ns, name, timeout=max(1.0, deadline - now()))
    resolver = run.resolver(dns_server)
    zone, _ = run.cluster_domain()
    service = str(o.spec(run.kube.get(STATEFULSETS, name, ns)).get("serviceName") or name)
    recorder = run.recorder(ns)
    figures = []
    for pod, obj in sorted(pods.items()):
        fault = next(f for f in reversed(faults) if pod in f.pods)
        row: dict[str, object] = {"pod": pod, "fault": fault.action, "source": "timeline" if recorder else "none"}
        if recorder is not None:
            caught_up(recorder, obj)
            replacement = recorder.timeline.replacement(pod, fault.pods[pod], ns, since=fault.at)
            row |= {"new_uid": replacement.new.uid} if replacement.new is not None else {}
            row |= replacement.steps(fault.at)
        ip = o.pod_ip(obj)
        if resolver is not None and ip and zone:
            fqdn, left = pod_fqdn(pod, service, ns, zone), max(0.5, deadline - now())
            if time_until_resolvable(resolver, fqdn, ip, timeout=left, interval=0.1) is None:
                raise WaitTimeout(f"{fqdn} A = [{ip}]", "another answer", left)
            row["to_dns"] = round(now() - fault.at, 3)
        row["node"] = o.spec(obj).get("nodeName")
        figures.append(row)
        run.session.figures.append({"statefulset": f"{ns}/{name}", **row})
    run.session.mark_restored(ns, name, len(faults))
    return run.waited(set_subject(ns, name), replaced=sorted(pods), figures=figures)


@activity
def await_displaced_ordinal(
    name: str,
    ordinal: int,
    ns: str = "default",
    hold: float = 3.0,
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """After its node went away the ordinal comes back where its volume may be used, or waits Pending.

    The probe reads where the ordinal's volume may be used: pinned to one node (a local disk), to
    one zone (cloud block storage) or anywhere. When no other available node can take it (the
    pinned node is the lost or cordoned one, or the zone has no other node) the replacement must
    stay Pending and unscheduled for ``hold`` seconds; otherwise it must be Running and Ready on
    another node the volume admits within ``timeout``. ``ordinal`` -1: the one the node fault picked.
    """
    run = call()
    pod, fault = call().session.lost_pod(ns, name, ordinal)
    ordinal = int(pod.rsplit("-", 1)[1])
    old_uid, gone_from = fault.pods[pod], fault.node
    state = observe_set(run.kube, ns, name)
    pin = volume_pin(state.sts, state.pvcs, state.pvs, ordinal) if state.sts is not None else None
    where = f"its volume's {pin}" if pin else "another node"
    nodes = [n for n in run.kube.list(NODES)[0] if o.node_available(n) and o.name(n) != gone_from]
    takers = [o.name(n) for n in nodes if pin is None or pin.admits(n)]
    pinned_node = pin.value if pin is not None and pin.kind == "node" else None
    details = {"volume_node": pinned_node, "volume_pin": str(pin) if pin else None}

    def replacement_of(items: list[Obj]) -> Obj | None:
        return next((p for p in items if o.name(p) == pod and o.uid(p) != old_uid), None)

    if pin is not None and not takers:

        def scheduled_away(items: list[Obj]) -> str | None:
            cur = replacement_of(items)
            node = o.spec(cur).get("nodeName") if cur is not None else None
            return f"{pod} was scheduled to {node} while no node of {where} is available" if node else None

        def pending(items: list[Obj]) -> Verdict[None]:
            cur = replacement_of(items)
            if cur is None:
                return Verdict(False, "no replacement yet")
            phase = o.status(cur).get("phase")
            return Verdict(phase == "Pending", f"replacement {phase}", failed=scheduled_away(items))

        waiting.wait_for(
            run.kube, Query(PODS, ns), pending, expect=f"a Pending replacement of {ns}/{pod}", timeout=timeout
        )
        waiting.hold(run.kube, Query(PODS, ns), scheduled_away, expect=f"{ns}/{pod} to stay Pending", seconds=hold)
        return run.waited(f"pod {ns}/{pod}", mode="pinned", held_pending=hold, **details)

    def admitted(items: list[Obj]) -> Verdict[str]:
        cur = replacement_of(items)
        if cur is None:
            return Verdict(False, "no replacement yet")
        node = o.spec(cur).get("nodeName")
        if node and node == gone_from:
            return Verdict(False, str(node), failed=f"{pod} came back on {node}, the node it was displaced from")
        if node and node not in takers and pin is not None:
            return Verdict(False, str(node), failed=f"{pod} came back on {node}, outside {where}")
        done = bool(node) and o.pod_running_ready(cur) and not o.terminating(cur)
        return Verdict(done, f"on {node}", str(node))

    to = waiting.wait_for(run.kube, Query(PODS, ns), admitted, expect=f"{ns}/{pod} Ready on {where}", timeout=timeout)
    return run.waited(f"pod {ns}/{pod}", mode="moved", **details, **{"from": gone_from, "to": to})


@activity
def expect_not_replaced(
    name: str,
    ordinal: int,
    ns: str = "default",
    hold: float = 5.0,
    timeout: float = 90.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """On a lost node the ordinal's pod turns Terminating and stays so; no second pod takes its name.

    Waits up to ``timeout`` for the control plane to delete the pod (the taint manager, after
    the pod's unreachable toleration), then holds for ``hold`` seconds. ``ordinal`` -1: the one
    the node fault picked.
    """
    run = call()
    pod, fault = call().session.lost_pod(ns, name, ordinal)
    old_uid = fault.pods[pod]
    broken = waiting.unconfirmed_pod_broken(pod, old_uid, str(fault.node))
    waiting.wait_for_pod_terminating(run.kube, ns, pod, old_uid, str(fault.node), timeout=timeout)
    became = run.seconds()
    waiting.hold(run.kube, Query(PODS, ns), broken, expect=f"{ns}/{pod} to stay Terminating, unreplaced", seconds=hold)
    return run.waited(
        f"pod {ns}/{pod}", uid=old_uid, terminating_after=became, since_fault=round(now() - fault.at, 3), held=hold
    )


@activity
def await_adopted(
    name: str,
    ns: str = "default",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """A recreated StatefulSet adopts the orphaned pods: same pods (UIDs), now owned by the new set."""
    run = call()
    baseline = run.session.baseline(ns, name)
    if baseline is None:
        raise InvariantViolated(f"expected a snapshot of {ns}/{name} earlier in this run, found none")
    before = {o.name(p): o.uid(p) for p in baseline.pods}
    owner_uid = o.uid(get_set(run.kube, ns, name))

    def adopted(items: list[Obj]) -> Verdict[None]:
        now_pods = {o.name(p): p for p in items}
        pending: list[str] = []
        for pod, uid in before.items():
            cur = now_pods.get(pod)
            if cur is not None and o.uid(cur) != uid:
                return Verdict(False, pod, failed=f"{pod} was replaced (uid {uid} -> {o.uid(cur)}) instead of adopted")
            owner = o.controller_ref(cur) if cur is not None else None
            if owner is None or owner.get("uid") != owner_uid:
                pending.append(pod)
        return Verdict(not pending, f"not adopted yet: {pending}")

    waiting.wait_for(
        run.kube, Query(PODS, ns), adopted, expect=f"pods of {ns}/{name} adopted by the new set", timeout=timeout
    )
    return run.waited(set_subject(ns, name), pods=before, owner=owner_uid)


@activity
def await_rollout(
    name: str,
    ns: str = "default",
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until a rolling update has reached its partition: ordinals at or above it run the update."""
    run = call()
    sts = get_set(run.kube, ns, name)
    waiting.wait_for_rollout_complete(run.kube, ns, name, timeout=timeout, partition=partition(sts))
    waiting.wait_for_set_settled(run.kube, ns, name, timeout=max(1.0, timeout - run.seconds()))
    sts = run.kube.get(STATEFULSETS, name, ns)
    return run.waited(set_subject(ns, name), partition=partition(sts), status=o.status(sts))


@activity
def expect_claims_follow_retention(
    name: str,
    ns: str = "default",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """After a scale-down, claims of condemned ordinals follow ``whenScaled``: kept (Retain) or removed (Delete).

    A removed claim must be *gone*, not just terminating: scaling up while it still exists
    leaves the controller waiting on a stale claim.
    """
    run = call()
    baseline = run.session.baseline(ns, name)
    if baseline is None:
        raise InvariantViolated(f"expected a snapshot of {ns}/{name} earlier in this run, found none")
    sts = run.kube.get(STATEFULSETS, name, ns)
    replicas = int(o.spec(sts).get("replicas", 1))
    removed = set(expected_after_scale_down(baseline.sts, baseline.pvcs, replicas_after=replicas).removed)
    findings: list[Finding] = []

    def judge(claims: list[Obj]) -> Verdict[None]:
        nonlocal findings
        findings = check_after_scale_down(baseline.sts, baseline.pvcs, claims, replicas_after=replicas)
        lingering = sorted(o.name(c) for c in claims if o.name(c) in removed)
        return Verdict(not findings and not lingering, f"{len(findings)} findings, still present: {lingering}")

    with contextlib.suppress(WaitTimeout):
        waiting.wait_for(run.kube, Query(PVCS, ns), judge, expect="claims to follow whenScaled", timeout=timeout)
    if findings:
        raise InvariantViolated(f"claims of {ns}/{name} after scaling to {replicas}: {findings[0]}", findings)
    when_deleted, when_scaled = retention_policy(sts)
    return run.waited(set_subject(ns, name), replicas=replicas, whenScaled=when_scaled, whenDeleted=when_deleted)


def _fault_on(namespace: str, name: str, pod: str) -> Fault:
    fault = next((f for f in reversed(call().session.faults_on(namespace, name)) if pod in f.pods), None)
    if fault is None:
        raise InvariantViolated(f"expected a fault on pod {namespace}/{pod} earlier in this run, found none")
    return fault
