"""DNS: a headless Service gives each Ready pod a name that follows it; nothing else gets one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.dns import (
    check_dns,
    check_endpoint_slices,
    check_pod_records,
    check_ptr_records,
    check_record_follows,
    check_service_records,
    check_srv_records,
    expected_queries,
    pod_fqdn,
)
from ordinal.kube import objects as o
from ordinal.observe.dnsquery import Resolver, poll, settle
from ordinal.observe.recorder import Recorder
from ordinal.observe.waiting import wait_for_endpoints
from ordinal.pytest_plugin import Figures
from ordinal.types import DnsAnswers, Finding, Obj

pytestmark = [pytest.mark.promise("DNS"), pytest.mark.needs("dns")]

#: A DNS check over all answers: (answers, service, pods, namespace=…, service_name=…) → findings.
Check = Callable[..., list[Finding]]


def _pod_a(answers: DnsAnswers, *args: Any, **kw: Any) -> list[Finding]:
    return check_pod_records(answers.a, *args, **kw)


def _service_a(answers: DnsAnswers, *args: Any, **kw: Any) -> list[Finding]:
    return check_service_records(answers.a, *args, **kw)


def _srv(answers: DnsAnswers, *args: Any, **kw: Any) -> list[Finding]:
    return check_srv_records(answers.srv, *args, **kw)


def _ptr(answers: DnsAnswers, *args: Any, **kw: Any) -> list[Finding]:
    return check_ptr_records(answers.ptr, *args, **kw)


def _published(workload: Workload, recorder: Recorder, **deploy: Any) -> tuple[Obj, list[Obj]]:
    """Deploy, then wait (by watch) until the Service lists every pod as a ready endpoint."""
    with step(f"Create StatefulSet {workload.name} ({workload.replicas} replicas) and its headless Service"):
        workload.deploy(**deploy)
    with step("Wait until the Service's EndpointSlices list every pod as ready"):
        slices = wait_for_endpoints(
            workload.kube, workload.namespace, workload.name, ready=workload.replicas, timeout=workload.timeouts.pod
        )
    service = workload.service()
    assert service is not None
    pods = workload.pods()
    assert_no_findings(check_endpoint_slices(service, pods, slices), what="EndpointSlices", timeline=recorder.timeline)
    return service, pods


def _ask_until_settled(
    workload: Workload, resolver: Resolver, service: Obj | None, pods: list[Obj], check: Check, **kw: Any
) -> tuple[DnsAnswers, list[Finding]]:
    zone = workload.cluster_domain
    queries = expected_queries(
        service, pods, service_name=kw.get("service_name"), namespace=workload.namespace, zone=zone
    )

    def judge(answers: DnsAnswers) -> list[Finding]:
        return check(answers, service, pods, namespace=workload.namespace, zone=zone, **kw)

    answers, findings, _ = settle(resolver, queries, judge, timeout=workload.timeouts.dns)
    return answers, findings


@pytest.mark.promise(feature="Records of Ready pods")
def test_per_pod_record_resolves_to_the_pod_ip(workload: Workload, dns_resolver: Resolver, recorder: Recorder) -> None:
    """<pod>.<svc>.<ns>.svc.<zone> MUST resolve to exactly the pod's current IP."""
    service, pods = _published(workload, recorder)
    with step("Ask for every pod's own A record"):
        _, findings = _ask_until_settled(workload, dns_resolver, service, pods, _pod_a)
        assert_no_findings(findings, what="per-pod A records", timeline=recorder.timeline)


@pytest.mark.promise(feature="Records of Ready pods")
def test_service_name_returns_one_record_per_ready_pod(
    workload: Workload, dns_resolver: Resolver, recorder: Recorder
) -> None:
    """<svc>.<ns>.svc.<zone> MUST return exactly one A record per Ready pod, and nothing else."""
    service, pods = _published(workload, recorder)
    with step("Ask for the Service name's A records"):
        _, findings = _ask_until_settled(workload, dns_resolver, service, pods, _service_a)
        assert_no_findings(findings, what="Service A records", timeline=recorder.timeline)


@pytest.mark.promise(feature="Records of Ready pods")
def test_srv_records_target_the_pod_fqdns(workload: Workload, dns_resolver: Resolver, recorder: Recorder) -> None:
    """SRV records of each named port MUST target exactly the Ready pods' own names."""
    service, pods = _published(workload, recorder)
    with step("Ask for the SRV records of the named ports"):
        _, findings = _ask_until_settled(workload, dns_resolver, service, pods, _srv)
        assert_no_findings(findings, what="SRV records", timeline=recorder.timeline)


@pytest.mark.promise(feature="Records of Ready pods")
def test_ptr_record_names_the_pod(workload: Workload, dns_resolver: Resolver, recorder: Recorder) -> None:
    """The reverse (PTR) record of a Ready pod's IP MUST name the pod's own FQDN."""
    service, pods = _published(workload, recorder)
    with step("Ask for the PTR record of every pod IP"):
        _, findings = _ask_until_settled(workload, dns_resolver, service, pods, _ptr)
        assert_no_findings(findings, what="PTR records", timeline=recorder.timeline)


@pytest.mark.promise(feature="Records of not-Ready pods")
@pytest.mark.needs("readiness-control")
@pytest.mark.parametrize("publish_not_ready", [False, True], ids=["default", "publish-not-ready"])
def test_not_ready_pod_is_absent_unless_published(
    publish_not_ready: bool, workload: Workload, dns_resolver: Resolver, recorder: Recorder
) -> None:
    """A not-Ready pod MUST have no records (own A, Service A, SRV) unless the Service sets publishNotReadyAddresses."""
    service, _ = _published(workload, recorder, publish_not_ready=publish_not_ready)
    victim = workload.pod(1)
    with step(f"Make {o.name(victim)} not Ready"):
        workload.make_unready(1)
        workload.wait_pod_ready(1, ready=False)
    with step("Wait until the EndpointSlices show it not serving"):
        wait_for_endpoints(
            workload.kube,
            workload.namespace,
            workload.name,
            ready=workload.replicas - 1,
            timeout=workload.timeouts.pod,
            condition="serving",
        )
    with step("Ask for every record and check who is published"):
        pods = workload.pods()
        _, findings = _ask_until_settled(workload, dns_resolver, service, pods, check_dns)
        assert_no_findings(findings, what=f"records with {o.name(victim)} not Ready", timeline=recorder.timeline)


@pytest.mark.promise(feature="Records follow the pod")
def test_per_pod_record_follows_the_pod_after_reschedule(
    workload: Workload, dns_resolver: Resolver, recorder: Recorder, figures: Figures
) -> None:
    """After a pod is replaced its own name MUST resolve to the new pod's IP, never the old one; the delay is reported.

    The name is asked before the disruption too, so a stale answer (the deleted pod's address,
    still served) is told apart from a fresh one and reported with both addresses.
    """
    service, _ = _published(workload, recorder)
    old = workload.pod(1)
    old_ip = o.pod_ip(old)
    assert old_ip, f"pod {o.name(old)} is Ready without an IP"
    name = pod_fqdn(o.name(old), workload.name, workload.namespace, workload.cluster_domain)
    with step(f"Resolve {name} before the disruption (expect {old_ip})"):
        before, _, _ = poll(
            lambda: dns_resolver.query(name, "A"), lambda a: a == [old_ip], timeout=workload.timeouts.dns
        )
    with step(f"Delete {o.name(old)} (IP {old_ip})"):
        workload.disrupt_pod("delete", 1)
    with step(f"Wait for {o.name(old)} to return Ready"):
        new = workload.wait_recreated(1, o.uid(old))
        new_ip = o.pod_ip(new)
        assert new_ip, f"pod {o.name(new)} is Ready without an IP"
    with step(f"Resolve {name} after the replacement (expect {new_ip}, the old pod had {old_ip})"):
        after, done, seconds = poll(
            lambda: dns_resolver.query(name, "A"), lambda a: a == [new_ip], timeout=workload.timeouts.dns
        )
        findings = check_record_follows(name, o.ref(new), before, after, old_ip, new_ip)
        assert_no_findings(findings, what=f"{name} across the replacement", timeline=recorder.timeline)
        if done:
            figures.record("ready-to-resolvable", seconds)
    with step("Check every record against the pods as they are now"):
        _, findings = _ask_until_settled(workload, dns_resolver, service, workload.pods(), check_dns)
        assert_no_findings(findings, what=f"records after replacing {o.name(old)}", timeline=recorder.timeline)


@pytest.mark.promise(feature="The headless Service is required")
def test_no_per_pod_record_without_headless_service(
    workload: Workload, dns_resolver: Resolver, recorder: Recorder
) -> None:
    """Pods of a set whose serviceName names no Service MUST still run, and MUST get no DNS records."""
    missing = f"{workload.name}-nosvc"
    with step(f"Create the set with serviceName {missing!r} and no such Service"):
        workload.deploy(service=False, service_name=missing)
    with step("Ask for the per-pod names under the missing Service"):
        pods = workload.pods()
        _, findings = _ask_until_settled(workload, dns_resolver, None, pods, _pod_a, service_name=missing)
        assert_no_findings(findings, what=f"records under the missing Service {missing}", timeline=recorder.timeline)
