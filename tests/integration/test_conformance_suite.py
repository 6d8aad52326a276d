"""The conformance suite against the local cluster: everything passes or is skipped for a named capability;
the checks do fail on deliberately broken workloads; cleanup and interrupts leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from junit_cases import broken, cases, vague_skips

from ordinal.act.namespaces import create_namespace, leaks, new_run_id
from ordinal.act.nodes import add_simulated_node, cordon, stop_heartbeats
from ordinal.act.workload import Timeouts, Workload
from ordinal.artefacts.figures import read as read_figures
from ordinal.checks.dns import check_pod_records, check_service_records, expected_queries, pod_fqdn
from ordinal.checks.identity import check_pod_identity
from ordinal.checks.ordering import check_ordered_scale_up
from ordinal.kube import objects as o
from ordinal.kube.manifests import (
    DEFAULT_IMAGE,
    headless_service_manifest,
    reserved_toleration,
    restricted_security,
    selector_labels,
)
from ordinal.kube.rest import NAMESPACES, NODES, PODS, Kube
from ordinal.labels import CREATED_BY_LABEL, SET_LABEL, SIMULATE_LABEL, UNREADY
from ordinal.observe.dnsquery import DirectResolver, ask, settle
from ordinal.observe.recorder import Recorder
from ordinal.observe.waiting import wait_for_endpoints
from ordinal.types import Obj

ROOT = Path(__file__).resolve().parents[2]
SUITE_TIMEOUT = 1500
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider")


def _suite_env(local_cluster: dict[str, Any]) -> dict[str, str]:
    """The environment a user has after ``eval "$(ordinal cluster env)"``, and no other ordinal settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") or k in ("ORDINAL_CLUSTER_DIR",)}
    env["KUBECONFIG"] = local_cluster["kubeconfig"]
    env["ORDINAL_DNS"] = f"direct:{local_cluster['dns']}"
    return env


def test_the_whole_suite_passes_or_skips_for_a_named_capability(
    local_cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every conformance test MUST pass on the local cluster or be skipped with a ``needs: …`` reason.

    Run as ``ordinal report`` for the default class, so the one whole-suite run of the session also
    yields the report that ``test_report.py`` checks (it finds it in the same directory).
    """
    out = tmp_path_factory.getbasetemp() / "report-ordinal-local"
    junit, allure = out / "junit.xml", out / "allure-results"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "report", "--storage-class", "ordinal-local", "--out", str(out)],
        cwd=ROOT,
        env=_suite_env(local_cluster),
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
    )
    wall = time.monotonic() - started
    print(result.stdout[-6000:])
    found = cases(junit)
    assert not broken(found), broken(found) + "\n" + result.stdout[-4000:]
    assert not vague_skips(found), vague_skips(found)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(found) >= 40, f"expected the whole suite, ran {len(found)} tests"
    figures = {f.name: f.seconds for f in read_figures(out / "figures.jsonl")}
    assert {"scale-up-suite-min-ready-2s", "scale-up-cluster-min-ready-2s", "ready-to-resolvable"} <= set(figures)
    ratio = figures["scale-up-suite-min-ready-2s"] / figures["scale-up-cluster-min-ready-2s"]
    print(f"suite wall time {wall:.0f}s for {len(found)} tests; OrderedReady suite/cluster time ratio {ratio:.3f}")
    assert list(allure.glob("*-result.json")) and (allure / "environment.properties").is_file()


# -- the checks fail on deliberately broken workloads -----------------------------------------


@pytest.fixture
def workload(kube: Kube, namespace: str, local_cluster: dict[str, Any]) -> Workload:
    return Workload(
        kube,
        namespace,
        simulated_nodes=frozenset(local_cluster["nodes"]),
        timeouts=Timeouts(),
        cluster_domain=local_cluster["cluster_domain"],
    )


@pytest.fixture
def resolver(dns_server: tuple[str, int]) -> DirectResolver:
    return DirectResolver(*dns_server)


def test_dns_check_names_the_records_a_set_without_its_headless_service_lacks(
    workload: Workload, resolver: DirectResolver
) -> None:
    """A set whose serviceName has no headless Service MUST fail the per-pod record check, naming each pod."""
    workload.deploy(service=False)
    pods = workload.pods()
    promised = headless_service_manifest(workload.name, workload.namespace, selector_labels(workload.name))
    zone = workload.cluster_domain
    answers = ask(resolver, expected_queries(promised, pods, zone=zone))
    findings = check_pod_records(answers.a, promised, pods, zone=zone)
    assert sorted((f.rule, f.subject, f.seen) for f in findings) == [
        ("dns.per-pod-a-record", f"dns {pod_fqdn(o.name(p), workload.name, workload.namespace, zone)} A", [])
        for p in pods
    ]


def test_dns_check_names_a_not_ready_pod_that_still_has_a_record(workload: Workload, resolver: DirectResolver) -> None:
    """An A record for a not-Ready pod MUST be reported naming the pod (here the Service publishes it anyway)."""
    workload.deploy(publish_not_ready=True)
    workload.make_unready(1)
    workload.wait_pod_ready(1, ready=False)
    wait_for_endpoints(workload.kube, workload.namespace, workload.name, ready=2, timeout=60, condition="serving")
    pods = workload.pods()
    service = workload.service()
    assert service is not None
    strict: Obj = {**service, "spec": {**o.spec(service), "publishNotReadyAddresses": False}}
    queries = expected_queries(strict, pods, zone=workload.cluster_domain)

    def judge(answers: Any) -> list[Any]:
        return check_service_records(answers.a, strict, pods, zone=workload.cluster_domain)

    _, findings, _ = settle(resolver, queries, judge, timeout=30)
    victim = workload.pod(1)
    assert ("dns.not-ready-absent", f"{workload.namespace}/{o.name(victim)}") in {(f.rule, f.path) for f in findings}


def test_ordering_check_names_pods_created_before_their_predecessor_was_ready(
    workload: Workload, kube: Kube, namespace: str
) -> None:
    """Judged as OrderedReady, a Parallel set of never-Ready pods MUST yield findings naming web-1 and web-2."""
    with Recorder(kube, namespace, kinds=[PODS]) as rec:
        manifest = workload.manifest(pod_management="Parallel", start_ready=False)
        manifest["spec"]["template"]["metadata"]["labels"][SIMULATE_LABEL] = UNREADY
        workload.deploy(manifest=manifest, wait=False)
        workload.wait_set(lambda s: o.status(s).get("replicas") == 3, expect="with 3 pods")
    findings = check_ordered_scale_up(rec.timeline, workload.name)
    named = {(f.rule, f.subject) for f in findings}
    assert {("ordering.created-after-ready", f"pod {namespace}/web-{i}") for i in (1, 2)} <= named, findings


def test_identity_check_names_a_released_pod(workload: Workload, kube: Kube, namespace: str) -> None:
    """A pod released from its set MUST be reported as missing its controller reference, by name."""
    sts = workload.deploy()
    kube.patch(PODS, "web-1", {"metadata": {"labels": {SET_LABEL: "released"}}}, namespace)
    workload.wait_pod(1, lambda p: o.controller_ref(p) is None, expect="released")
    findings = check_pod_identity(sts, workload.pods())
    assert [(f.rule, f.subject) for f in findings] == [("identity.controller-ref", f"pod {namespace}/web-1")]


# -- hygiene ----------------------------------------------------------------------------------


def test_cleanup_removes_what_an_aborted_run_left(kube: Kube, local_cluster: dict[str, Any]) -> None:
    """``ordinal cleanup --run-id`` MUST remove the run's namespaces and undo its cordons, and say so."""
    run_id = new_run_id()
    namespace = create_namespace(kube, run_id, prefix="ordtest")
    node = local_cluster["nodes"][0]
    assert cordon(kube, node, run_id)
    result = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "cleanup", "--run-id", run_id],
        env=_suite_env(local_cluster),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [f"removed changes on node/{node}", f"removed namespace/{namespace}"]
    assert not kube.get(NODES, node)["spec"].get("unschedulable")
    assert kube.get_or_none(NAMESPACES, namespace) is None


def test_cleanup_deletes_a_node_an_aborted_run_added_and_silenced(kube: Kube, local_cluster: dict[str, Any]) -> None:
    """A node a run added and then silenced MUST go with its pod, before the namespace (which waits for that pod)."""
    run_id = new_run_id()
    namespace = create_namespace(kube, run_id, prefix="ordtest")
    like = next(o.name(n) for n in kube.list(NODES)[0] if o.node_simulated(n))
    added = add_simulated_node(kube, like, namespace, run_id, timeout=60)
    assert added, "the local cluster's admin may create nodes"
    pod_security, container_security = restricted_security()
    container = {"name": "idle", "image": DEFAULT_IMAGE, "securityContext": container_security}
    spec = {"nodeName": added, "tolerations": [reserved_toleration(namespace)], "containers": [container]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stranded"}, "spec": spec}
    kube.create(PODS, {**pod, "spec": {**spec, "securityContext": pod_security}}, namespace)
    stop_heartbeats(kube, added, run_id)
    result = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "cleanup", "--run-id", run_id],
        env=_suite_env(local_cluster),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"removed changes on node/{added}", f"removed namespace/{namespace}"]
    assert kube.get_or_none(NODES, added) is None
    assert kube.get_or_none(NAMESPACES, namespace) is None
    assert leaks(kube, run_id) == []


def test_sigterm_mid_test_still_cleans_up(local_cluster: dict[str, Any], tmp_path: Path) -> None:
    """A suite killed with SIGTERM in the middle of a test MUST still remove every namespace it created."""
    child = subprocess.Popen(
        [*PYTEST, "conformance/test_scaling.py", "-k", "halts_scale_up", f"--junitxml={tmp_path / 'junit.xml'}"],
        cwd=ROOT,
        env=_suite_env(local_cluster),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = ""
    for line in child.stdout:
        if line.startswith("ordinal: run "):
            run_id = line.split()[2].rstrip(";")
            break
    assert run_id, "no run id in the suite's header"
    kube_env = _suite_env(local_cluster)
    from ordinal.target import Target, connect

    with connect(Target(kube_env["KUBECONFIG"], None, "test", local=True)) as kube:
        deadline = time.monotonic() + 60
        selector = f"{CREATED_BY_LABEL}=ordinal,ordinal/run={run_id}"
        while not kube.list(NAMESPACES, label_selector=selector)[0] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kube.list(NAMESPACES, label_selector=selector)[0], "the suite never created a namespace"
        time.sleep(1.0)  # inside the test body now (set deployed, hold window running)
        child.send_signal(signal.SIGTERM)
        rest = child.communicate(timeout=300)[0]
        assert child.returncode != 0, rest
        assert leaks(kube, run_id) == [], rest
