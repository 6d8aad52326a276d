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
import time

from chaoslib.types import Configuration, Secrets

from ordinal import objects as o
from ordinal.chaos import ops
from ordinal.chaos.boundary import activity
from ordinal.chaos.results import Verdict, Waited, ordinals_of, select_ordinals, skipped, verdict
from ordinal.chaos.session import current, now
from ordinal.checks.dns import DEFAULT_ZONE, pod_fqdn
from ordinal.checks.identity import check_at_most_one_live, set_window
from ordinal.checks.retention import retention_policy
from ordinal.errors import CapabilityMissing, InvariantViolated, OrdinalError, WaitTimeout
from ordinal.kube.rest import NODES, STATEFULSETS
from ordinal.observe.snapshot import observe_set
from ordinal.types import Finding, Obj
from ordinal.waiting import Query
from ordinal.waiting import Verdict as Judged
from ordinal.workloads import REVISION_LABEL, pod_name

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
) -> Verdict:
    """Every replica of the StatefulSet is Running, Ready and available, and its spec is observed.

    ``timeout`` > 0 waits up to that many seconds for it; 0 judges the state as it is.
    """
    kube = current().kube(configuration, secrets)
    subj = ops.subject(ns, name)
    if timeout > 0:
        with contextlib.suppress(OrdinalError):  # missing set, timeout: judged below, as findings
            ops.wait_ready(kube, ns, name, timeout=timeout)
    state = observe_set(kube, ns, name)
    if state.sts is None:
        return verdict("statefulset_ready", subj, [ops.missing_set(ns, name)], held="")
    findings = ops.readiness_findings(state.sts, ops.live_members(state))
    replicas = o.spec(state.sts).get("replicas")
    return verdict(
        "statefulset_ready",
        subj,
        findings,
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
) -> Verdict:
    """Pods keep their names, hostnames, identity labels and owner; only the expected ordinals were replaced.

    ``replaced`` says which ordinals must come back with a new UID (all others must keep
    theirs): ``disrupted`` (the pods ordinal's actions hit), ``none``, ``all``, ``1,2`` or
    ``>=1``. Before the method only the structure is judged.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    subj = ops.subject(ns, name)
    state = observe_set(kube, ns, name)
    if state.sts is None:
        return verdict("identity_matches_snapshot", subj, [ops.missing_set(ns, name)], held="")
    window = list(set_window(state.sts))
    wanted = select_ordinals(replaced, window, ordinals_of(session.disrupted(ns, name), name))
    findings, details = ops.identity_findings(kube, session, state, wanted)
    held = f"pods {pod_name(name, window[0])}…{pod_name(name, window[-1])} keep their identity" if window else "no pods"
    if details.get("compared"):
        held += f"; replaced as expected: {details['expected_replaced'] or 'none'}"
    recorder = session.recorder(ns)
    return verdict(
        "identity_matches_snapshot",
        subj,
        findings,
        held=held,
        details=details,
        timeline=recorder.timeline if recorder else None,
    )


@activity
def claims_reattached(
    name: str,
    ns: str = "default",
    renewed: str = "auto",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Verdict:
    """Each ordinal has its own Bound claim on its own volume, the same ones (UIDs) as before the fault.

    Pods run where a node-pinned volume lets them. ``renewed`` names ordinals whose claims
    are expected to be new (``auto``: those a recorded scale-down condemned under
    ``whenScaled: Delete``; or ``none``, ``1,2``, ``>=1``).
    """
    session = current()
    kube = session.kube(configuration, secrets)
    subj = ops.subject(ns, name)
    state = observe_set(kube, ns, name)
    if state.sts is None:
        return verdict("claims_reattached", subj, [ops.missing_set(ns, name)], held="")
    if renewed == "auto":
        fresh = ops.renewed_by_scale_down(session, state.sts, ns)
    else:
        fresh = select_ordinals(renewed, set_window(state.sts), ())
    findings, details = ops.claim_findings(session, state, fresh)
    recorder = session.recorder(ns)
    held = f"{len(state.pvcs)} claims Bound, one volume each"
    if details["compared"]:
        held += ", same UIDs as before" + (f" except the renewed ordinals {sorted(fresh)}" if fresh else "")
    return verdict(
        "claims_reattached",
        subj,
        findings,
        held=held,
        details=details,
        timeline=recorder.timeline if recorder else None,
    )


@activity
def dns_records_match(
    name: str,
    ns: str = "default",
    dns_server: str = "",
    zone: str = DEFAULT_ZONE,
    timeout: float = 15.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Verdict:
    """The governing headless Service publishes each Ready pod: per-pod A, set-wide A, SRV and PTR records.

    The Service and its EndpointSlices are checked from the API; DNS is asked directly when
    a server is reachable (``dns_server``, ``ORDINAL_DNS_SERVER``, or the local cluster's),
    and re-asked for up to ``timeout`` seconds while answers catch up.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    subj = ops.subject(ns, name)
    resolver = session.resolver(configuration, dns_server)
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        state = observe_set(kube, ns, name)
        if state.sts is None:
            return verdict("dns_records_match", subj, [ops.missing_set(ns, name)], held="")
        findings, details, asked = ops.dns_findings(state, resolver, zone)
        if not findings or time.monotonic() >= deadline or not details.get("headless"):
            break
        time.sleep(0.5)
    if not findings and not asked:
        return skipped(
            "dns_records_match",
            subj,
            "needs: DNS reachable from here (pass dns_server or set ORDINAL_DNS_SERVER); "
            "Service and EndpointSlices checked",
            details,
        )
    return verdict("dns_records_match", subj, findings, held="records match the Ready pods", details=details)


@activity
def data_token_intact(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Verdict:
    """The token written into each ordinal's volume before the fault reads back unchanged after it."""
    from ordinal.chaos import datatoken

    session = current()
    kube = session.kube(configuration, secrets)
    subj = ops.subject(ns, name)
    state = observe_set(kube, ns, name)
    if state.sts is None:
        return verdict("data_token_intact", subj, [ops.missing_set(ns, name)], held="")
    try:
        findings, details = datatoken.check_tokens(kube, session, state)
    except CapabilityMissing as err:
        return skipped("data_token_intact", subj, str(err))
    return verdict("data_token_intact", subj, findings, held="every token reads back unchanged", details=details)


@activity
def no_duplicate_identity(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Verdict:
    """At no moment of the recorded run were two pods alive for one ordinal (terminating ones count).

    Reads the timeline of :func:`ordinal.chaos.statefulset.actions.start_recording`. An
    overlap that a force delete on an unreachable node allowed is reported as a note.
    """
    session = current()
    session.kube(configuration, secrets)  # refuses a context that is not allowed
    subj = ops.subject(ns, name)
    recorder = session.recorder(ns)
    if recorder is None:
        findings = []
        if session.comparing():
            findings.append(
                Finding("chaos.recorded", subj, "timeline", "start_recording before the fault", "no recording")
            )
        return verdict(
            "no_duplicate_identity", subj, findings, held="nothing recorded yet", details={"recorded": False}
        )
    timeline = recorder.timeline
    findings = check_at_most_one_live(timeline, set_name=name, namespace=ns)
    counts = {pod: len(timeline.incarnations(pod, ns)) for pod in timeline.pods(name, ns)}
    return verdict(
        "no_duplicate_identity",
        subj,
        findings,
        held=f"one live pod per ordinal throughout {len(timeline)} recorded events",
        details={"recorded": True, "incarnations": counts, "recorder_errors": recorder.errors[-5:]},
        timeline=timeline,
    )


@activity
def revisions_respect_partition(
    name: str,
    ns: str = "default",
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Verdict:
    """Ordinals below the partition run the current revision (even when recreated); the rest the update."""
    kube = current().kube(configuration, secrets)
    subj = ops.subject(ns, name)
    state = observe_set(kube, ns, name)
    if state.sts is None:
        return verdict("revisions_respect_partition", subj, [ops.missing_set(ns, name)], held="")
    status = o.status(state.sts)
    revisions = {o.name(p): o.labels(p).get(REVISION_LABEL) for p in ops.live_members(state)}
    return verdict(
        "revisions_respect_partition",
        subj,
        ops.revision_findings(state),
        held=f"partition {ops.partition_of(state.sts)}: revisions as promised",
        details={
            "partition": ops.partition_of(state.sts),
            "currentRevision": status.get("currentRevision"),
            "updateRevision": status.get("updateRevision"),
            "pods": revisions,
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
    kube = current().kube(configuration, secrets)
    start = time.monotonic()
    sts = ops.wait_ready(kube, ns, name, timeout=timeout)
    return Waited(
        probe="await_ready",
        subject=ops.subject(ns, name),
        seconds=round(time.monotonic() - start, 3),
        details={"replicas": o.spec(sts).get("replicas"), "status": o.status(sts)},
    )


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
    session = current()
    kube = session.kube(configuration, secrets)
    start = time.monotonic()
    faults, old = session.pending(ns, name)
    deadline = start + timeout
    pods = ops.wait_replaced(kube, ns, name, old, timeout=timeout) if old else {}
    ops.wait_ready(kube, ns, name, timeout=max(1.0, deadline - time.monotonic()))
    resolver = session.resolver(configuration, dns_server)
    sts = kube.get(STATEFULSETS, name, ns)
    service = str(o.spec(sts).get("serviceName") or name)
    recorder = session.recorder(ns)
    figures = []
    for pod, obj in sorted(pods.items()):
        fault = next(f for f in reversed(faults) if pod in f.pods)
        if recorder is not None:
            ops.catch_up(recorder, obj)
        row = ops.restoration_figures(recorder.timeline if recorder else None, fault, pod, ns)
        ip = o.pod_ip(obj)
        if resolver is not None and ip:
            left = max(0.5, deadline - time.monotonic())
            waited = ops.wait_dns(resolver, pod_fqdn(pod, service, ns), ip, timeout=left)
            if waited is None:
                raise WaitTimeout(f"{pod_fqdn(pod, service, ns)} A = [{ip}]", "another answer", left)
            row["to_dns"] = round(now() - fault.at, 3)
        row["node"] = o.spec(obj).get("nodeName")
        figures.append(row)
        session.figures.append({"statefulset": f"{ns}/{name}", **row})
    session.mark_restored(ns, name, len(faults))
    return Waited(
        probe="wait_for_identity_restored",
        subject=ops.subject(ns, name),
        seconds=round(time.monotonic() - start, 3),
        details={"replaced": sorted(pods), "figures": figures},
    )


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
    """After its node went away: a node-pinned ordinal stays Pending; any other comes back elsewhere.

    The probe reads where the ordinal's volume may be used. Pinned to the lost or cordoned
    node: the replacement must stay Pending and unscheduled for ``hold`` seconds. Not
    pinned: it must be Running and Ready on another node within ``timeout``.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    pod = pod_name(name, ordinal)
    fault = next((f for f in reversed(session.faults_on(ns, name)) if pod in f.pods), None)
    if fault is None:
        raise InvariantViolated(f"expected a fault on pod {ns}/{pod} earlier in this run, found none")
    old_uid, gone_from = fault.pods[pod], fault.node
    state = observe_set(kube, ns, name)
    pinned = ops.pinned_node(state, ordinal) if state.sts is not None else None
    start = time.monotonic()
    if pinned is not None and not ops.node_available(kube.get_or_none(NODES, pinned)):

        def replacement(items: list[Obj]) -> Judged[str]:
            cur = next((p for p in items if o.name(p) == pod and o.uid(p) != old_uid), None)
            if cur is None:
                return Judged(False, "no replacement yet")
            node = o.spec(cur).get("nodeName")
            failed = f"{pod} was scheduled to {node} while its volume is pinned to {pinned}" if node else None
            return Judged(o.status(cur).get("phase") == "Pending", f"replacement {o.status(cur).get('phase')}", failed)

        ops.wait_pods(kube, ns, replacement, expect=f"a Pending replacement of {ns}/{pod}", timeout=timeout)

        def stays_pending(items: list[Obj]) -> str | None:
            cur = next((p for p in items if o.name(p) == pod), None)
            if cur is None or o.uid(cur) == old_uid:
                return None
            node = o.spec(cur).get("nodeName")
            return (
                f"{pod} was scheduled to {node} while its volume is pinned to unavailable node {pinned}"
                if node
                else None
            )

        ops.hold(kube, ns, stays_pending, seconds=hold, what=f"{ns}/{pod} to stay Pending")
        return Waited(
            probe="await_displaced_ordinal",
            subject=f"pod {ns}/{pod}",
            seconds=round(time.monotonic() - start, 3),
            details={"mode": "pinned", "volume_node": pinned, "held_pending": hold},
        )

    def elsewhere(items: list[Obj]) -> Judged[str]:
        cur = next((p for p in items if o.name(p) == pod and o.uid(p) != old_uid), None)
        if cur is None:
            return Judged(False, "no replacement yet")
        node = o.spec(cur).get("nodeName")
        if node and node == gone_from:
            return Judged(False, node, failed=f"{pod} came back on {node}, the node it was displaced from")
        return Judged(bool(node) and o.pod_running_ready(cur) and not o.terminating(cur), f"on {node}")

    seen = ops.wait_pods(kube, ns, elsewhere, expect=f"{ns}/{pod} Ready on another node", timeout=timeout)
    return Waited(
        probe="await_displaced_ordinal",
        subject=f"pod {ns}/{pod}",
        seconds=round(time.monotonic() - start, 3),
        details={"mode": "moved", "from": gone_from, "to": seen.removeprefix("on "), "volume_node": pinned},
    )


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
    the pod's unreachable toleration), then holds for ``hold`` seconds.
    """
    session = current()
    kube = session.kube(configuration, secrets)
    pod = pod_name(name, ordinal)
    fault = next((f for f in reversed(session.faults_on(ns, name)) if pod in f.pods), None)
    if fault is None:
        raise InvariantViolated(f"expected a fault on pod {ns}/{pod} earlier in this run, found none")
    old_uid = fault.pods[pod]
    start = time.monotonic()

    def judge_now(items: list[Obj]) -> str | None:
        cur = next((p for p in items if o.name(p) == pod), None)
        if cur is None:
            return f"{pod} vanished although its node {fault.node} could not confirm it stopped"
        if o.uid(cur) != old_uid:
            return f"a second pod {pod} (uid {o.uid(cur)}) appeared while uid {old_uid} was unconfirmed"
        return None

    def terminating(items: list[Obj]) -> Judged[str]:
        broken = judge_now(items)
        cur = next((p for p in items if o.name(p) == pod), None)
        return Judged(cur is not None and o.terminating(cur), "not yet terminating", failed=broken)

    ops.wait_pods(kube, ns, terminating, expect=f"{ns}/{pod} Terminating", timeout=timeout)
    became = round(time.monotonic() - start, 3)
    ops.hold(kube, ns, judge_now, seconds=hold, what=f"{ns}/{pod} to stay Terminating, unreplaced")
    return Waited(
        probe="expect_not_replaced",
        subject=f"pod {ns}/{pod}",
        seconds=round(time.monotonic() - start, 3),
        details={
            "uid": old_uid,
            "terminating_after": became,
            "since_fault": round(now() - fault.at, 3),
            "held": hold,
        },
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
    session = current()
    kube = session.kube(configuration, secrets)
    baseline = session.baseline(ns, name)
    if baseline is None:
        raise InvariantViolated(f"expected a snapshot of {ns}/{name} earlier in this run, found none")
    before = {o.name(p): o.uid(p) for p in baseline.pods}
    start = time.monotonic()
    sts = ops.get_set(kube, ns, name)

    def adopted(items: list[Obj]) -> Judged[str]:
        now_pods = {o.name(p): p for p in items}
        waiting: list[str] = []
        for pod, uid in before.items():
            cur = now_pods.get(pod)
            if cur is not None and o.uid(cur) != uid:
                return Judged(False, pod, failed=f"{pod} was replaced (uid {uid} -> {o.uid(cur)}) instead of adopted")
            owner = o.controller_ref(cur) if cur is not None else None
            if owner is None or owner.get("uid") != o.uid(sts):
                waiting.append(pod)
        return Judged(not waiting, f"not adopted yet: {waiting}")

    ops.wait_pods(kube, ns, adopted, expect=f"pods of {ns}/{name} adopted by the new set", timeout=timeout)
    return Waited(
        probe="await_adopted",
        subject=ops.subject(ns, name),
        seconds=round(time.monotonic() - start, 3),
        details={"pods": before, "owner": o.uid(sts)},
    )


@activity
def await_rollout(
    name: str,
    ns: str = "default",
    timeout: float = 120.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """Wait until a rolling update has reached its partition: ordinals at or above it run the update."""
    kube = current().kube(configuration, secrets)
    start = time.monotonic()

    def reached(items: list[Obj]) -> Judged[str]:
        if not items:
            return Judged(False, "no StatefulSet")
        sts = items[0]
        st, spec = o.status(sts), o.spec(sts)
        replicas = int(spec.get("replicas", 1))
        want = replicas - min(replicas, ops.partition_of(sts))
        done = (
            int(st.get("observedGeneration", 0)) >= int(o.meta(sts).get("generation", 1))
            and int(st.get("updatedReplicas", 0)) == want
            and int(st.get("readyReplicas", 0)) == replicas
        )
        return Judged(done, f"updated {st.get('updatedReplicas', 0)}/{want}, ready {st.get('readyReplicas', 0)}")

    from ordinal.waiting import wait_for

    wait_for(
        kube,
        Query(STATEFULSETS, ns, field_selector=f"metadata.name={name}"),
        reached,
        expect=f"StatefulSet {ns}/{name} updated down to its partition",
        timeout=timeout,
    )
    ops.wait_ready(kube, ns, name, timeout=max(1.0, timeout - (time.monotonic() - start)))
    sts = kube.get(STATEFULSETS, name, ns)
    return Waited(
        probe="await_rollout",
        subject=ops.subject(ns, name),
        seconds=round(time.monotonic() - start, 3),
        details={"partition": ops.partition_of(sts), "status": o.status(sts)},
    )


@activity
def expect_claims_follow_retention(
    name: str,
    ns: str = "default",
    timeout: float = 60.0,
    configuration: Configuration | None = None,
    secrets: Secrets | None = None,
) -> Waited:
    """After a scale-down, claims of condemned ordinals follow ``whenScaled``: kept (Retain) or removed (Delete)."""
    session = current()
    kube = session.kube(configuration, secrets)
    baseline = session.baseline(ns, name)
    if baseline is None:
        raise InvariantViolated(f"expected a snapshot of {ns}/{name} earlier in this run, found none")
    sts = ops.get_set(kube, ns, name)
    replicas = int(o.spec(sts).get("replicas", 1))
    start = time.monotonic()
    findings = ops.wait_claims(kube, baseline, replicas_after=replicas, timeout=timeout)
    if findings:
        raise InvariantViolated(f"claims of {ns}/{name} after scaling to {replicas}: {findings[0]}", findings)
    when_deleted, when_scaled = retention_policy(sts)
    return Waited(
        probe="expect_claims_follow_retention",
        subject=ops.subject(ns, name),
        seconds=round(time.monotonic() - start, 3),
        details={"replicas": replicas, "whenScaled": when_scaled, "whenDeleted": when_deleted},
    )
