"""DNS seen from inside the pods: what a database's peers actually use to find each other.

The records the cluster DNS serves (``test_dns.py``) matter only if a pod can reach them: a
sibling must resolve ``<pod>.<svc>.<ns>.svc.<zone>`` to the pod's IP, a pod must find its own
stable name in ``/etc/hosts`` (the kubelet writes it from ``hostname`` and ``subdomain``), and its
search path must make the short ``<pod>.<svc>`` work. Needs exec into pods.
"""

from __future__ import annotations

import time

import pytest

from ordinal.act.workload import Workload
from ordinal.artefacts import step
from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.dns import check_lookup_from_pod, check_own_hosts_entry, check_search_path
from ordinal.kube import objects as o
from ordinal.kube.streams import ExecResult, exec_in_pod
from ordinal.observe.recorder import Recorder
from ordinal.observe.waiting import wait_for_endpoints
from ordinal.types import Finding, Obj

pytestmark = [pytest.mark.promise("DNS", feature="Seen from inside the pods"), pytest.mark.needs("exec")]


def _run(workload: Workload, pod: Obj, script: str) -> ExecResult:
    return exec_in_pod(workload.kube, workload.namespace, o.name(pod), ["sh", "-c", script])


def _deploy(workload: Workload) -> list[Obj]:
    with step(f"Create StatefulSet {workload.name} and its headless Service on nodes that run containers"):
        workload.deploy(manifest=workload.manifest(needs_exec=True, replicas=2))
    with step("Wait until the Service's EndpointSlices list both pods as ready"):
        wait_for_endpoints(workload.kube, workload.namespace, workload.name, ready=2, timeout=workload.timeouts.pod)
    return [workload.pod(0), workload.pod(1)]


def _own_name(workload: Workload, pod: Obj) -> str:
    """The pod's FQDN from its /etc/hosts, asserting the entry is there and right."""
    hosts = _run(workload, pod, "cat /etc/hosts")
    assert hosts.ok, f"cat /etc/hosts in {o.name(pod)} exited {hosts.code}: {hosts.stderr.strip()}"
    findings, fqdn = check_own_hosts_entry(pod, workload.name, hosts.stdout)
    assert_no_findings(findings, what=f"/etc/hosts of {o.ref(pod)}")
    assert fqdn is not None
    return fqdn


def test_a_pod_finds_its_own_stable_name_in_etc_hosts(workload: Workload, recorder: Recorder) -> None:
    """A pod's /etc/hosts MUST map its IP to <pod>.<svc>.<ns>.svc.<zone> and <pod>."""
    pods = _deploy(workload)
    for pod in pods:
        with step(f"Read /etc/hosts in {o.name(pod)}"):
            _own_name(workload, pod)


def test_a_sibling_resolves_a_pod_by_its_stable_name(workload: Workload, recorder: Recorder) -> None:
    """From web-1, web-0.<svc>.<ns>.svc.<zone> MUST resolve to web-0's current IP, and the search path MUST cover it."""
    first, second = _deploy(workload)
    fqdn = _own_name(workload, first)
    zone = fqdn.split(".svc.", 1)[1]
    with step(f"Resolve {fqdn} from {o.name(second)}"):
        # DNS has no watch: ask until the answer is right or the DNS deadline passes (the
        # EndpointSlices are already ready, so this covers only the DNS server's own delay).
        deadline = time.monotonic() + workload.timeouts.dns
        findings: list[Finding] = []
        while True:
            lookup = _run(workload, second, f"nslookup {fqdn}")
            if lookup.code == 127:  # the shell's "command not found": the image, not the cluster
                pytest.skip(f"needs: nslookup in the pods' image (--image); {o.name(second)} has none")
            findings = check_lookup_from_pod(second, first, fqdn, lookup.stdout)
            if not findings or time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        assert_no_findings(findings, what=f"{fqdn} seen from {o.ref(second)}", timeline=recorder.timeline)
    with step(f"Check the search path of {o.name(second)} covers <pod>.{workload.name}"):
        resolv = _run(workload, second, "cat /etc/resolv.conf")
        assert resolv.ok, f"cat /etc/resolv.conf in {o.name(second)} exited {resolv.code}"
        assert_no_findings(check_search_path(second, zone, resolv.stdout), what=f"resolv.conf of {o.ref(second)}")
