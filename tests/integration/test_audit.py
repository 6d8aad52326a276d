"""`ordinal audit` against the local cluster: workloads built to show each finding, one built to show none.

Every run is the real command in a subprocess, as a user starts it, in text and in ``-o json``. One
namespace holds the sample the experiments deploy (well shaped: exit 0); another holds a set per
broken shape (exit 1, each set's rule named). A ServiceAccount that may list only namespaced
objects shows the cluster-scoped checks as "not checked", naming the permission. Last, a drain
pointed at a set without its headless Service stops before the fault, with the finding as its
one line, and leaves the cluster as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ordinal.act.namespaces import create_namespace, delete_namespace
from ordinal.act.nodes import ledger
from ordinal.chaos import sample
from ordinal.kube import objects as o
from ordinal.kube.manifests import headless_service_manifest, pdb_manifest, selector_labels, statefulset_manifest
from ordinal.kube.rest import (
    CLUSTER_ROLES,
    NAMESPACES,
    NODES,
    PDBS,
    PODS,
    ROLE_BINDINGS,
    SERVICE_ACCOUNTS,
    SERVICES,
    STATEFULSETS,
    Kube,
)
from ordinal.labels import HOSTNAME_LABEL, NODE_KIND_LABEL, SIMULATED_NODE_KIND, ZONE_LABEL
from ordinal.localcluster import pki
from ordinal.observe.waiting import Query, Verdict, wait_for, wait_for_endpoints, wait_for_gone, wait_for_set_ready
from ordinal.types import Obj

ROOT = Path(__file__).resolve().parents[2]
ORDINAL = Path(sys.executable).with_name("ordinal")
CHAOS = Path(sys.executable).with_name("chaos")
SIMULATED = {NODE_KIND_LABEL: SIMULATED_NODE_KIND}
TIMEOUT = 120.0


@dataclass(frozen=True)
class Shapes:
    good: str  # the sample, running
    bad: str  # one set per broken shape
    kept_max_unavailable: bool  # the server kept spec.updateStrategy.rollingUpdate.maxUnavailable


def audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ORDINAL), "audit", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def env(local_cluster: dict[str, Any]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ORDINAL_KUBECONFIG",)}
    return clean | {"KUBECONFIG": local_cluster["kubeconfig"], "PYTHONUNBUFFERED": "1"}


def _simulated_nodes(kube: Kube) -> list[Obj]:
    nodes, _ = kube.list(NODES)
    found = sorted((n for n in nodes if o.node_simulated(n) and o.node_schedulable(n)), key=o.name)
    if len(found) < 2:
        pytest.skip(f"needs: 2 schedulable simulated nodes (found {len(found)})")
    return found


def _set(
    kube: Kube, namespace: str, name: str, *, service: Obj | bool | None = True, pod: Obj | None = None, **kw: Any
) -> Obj:
    """A set of the suite's builder on simulated nodes, with its headless Service unless ``service`` says otherwise."""
    sts = statefulset_manifest(name, namespace, **kw)
    spec = sts["spec"]["template"]["spec"]
    spec["nodeSelector"] = {**SIMULATED, **(pod or {}).get("nodeSelector", {})}
    if service is True:
        kube.create_object(headless_service_manifest(name, namespace, selector_labels(name)))
    elif isinstance(service, dict):
        kube.create_object(service)
    return kube.create_object(sts)


def _wait_budget(kube: Kube, namespace: str, name: str, allowed: int) -> None:
    def judge(items: list[Obj]) -> Verdict[None]:
        status = o.status(items[0]) if items else {}
        return Verdict(status.get("disruptionsAllowed") == allowed, f"status {status}")

    query = Query(PDBS, namespace, field_selector=f"metadata.name={name}")
    wait_for(kube, query, judge, expect=f"PodDisruptionBudget {namespace}/{name} allowing {allowed}", timeout=TIMEOUT)


@pytest.fixture(scope="module")
def shapes(kube: Kube, run_id: str) -> Iterator[Shapes]:
    nodes = _simulated_nodes(kube)
    good = create_namespace(kube, run_id, prefix="ordaudit")
    bad = create_namespace(kube, run_id, prefix="ordaudit")
    try:
        sample.deploy(kube, good, "web", run_id, node_selector=SIMULATED, timeout=TIMEOUT)
        _wait_budget(kube, good, "web", 1)
        wait_for_endpoints(kube, good, "web", ready=3, timeout=TIMEOUT)

        _set(kube, bad, "nosvc", service=False, replicas=1)
        vip = headless_service_manifest("vip", bad, selector_labels("vip"))
        del vip["spec"]["clusterIP"]
        _set(kube, bad, "vip", service=vip, replicas=1)
        _set(kube, bad, "miss", service=headless_service_manifest("miss", bad, {"app": "other"}), replicas=1)
        shared = statefulset_manifest("shared", bad, replicas=1, storage_class="ordinal-shared")
        shared["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] = ["ReadWriteMany"]
        shared["spec"]["template"]["spec"]["nodeSelector"] = SIMULATED
        kube.create_object(headless_service_manifest("shared", bad, selector_labels("shared")))
        kube.create_object(shared)
        _set(kube, bad, "stateless", claim_template=None, replicas=1, labels={"tier": "shared"})
        _set(kube, bad, "wide", replicas=1, labels={"tier": "shared"})
        kube.create_object(pdb_manifest("wide", bad, {"tier": "shared"}, max_unavailable=1))
        _set(kube, bad, "noprobe", replicas=3, readiness_file=None, max_unavailable=2)
        first, second = nodes[0], nodes[1]
        _set(kube, bad, "onenode", replicas=2, pod={"nodeSelector": {HOSTNAME_LABEL: o.name(first)}})
        zone = o.labels(second).get(ZONE_LABEL, "")
        _set(kube, bad, "zonal", replicas=2, storage_class="ordinal-zonal", pod={"nodeSelector": {ZONE_LABEL: zone}})
        _set(kube, bad, "tight", replicas=2)
        kube.create_object(pdb_manifest("tight", bad, selector_labels("tight"), min_available=2))
        _set(kube, bad, "scaled", replicas=2)
        for name, replicas in (("onenode", 2), ("zonal", 2), ("tight", 2), ("scaled", 2), ("noprobe", 3)):
            wait_for_set_ready(kube, bad, name, replicas, timeout=TIMEOUT)
        kube.patch(STATEFULSETS, "scaled", {"spec": {"replicas": 1}}, bad)
        wait_for_gone(kube, PODS, bad, ["scaled-1"], timeout=TIMEOUT)
        stored = kube.get(STATEFULSETS, "noprobe", bad)
        kept = "maxUnavailable" in ((o.spec(stored).get("updateStrategy") or {}).get("rollingUpdate") or {})
        yield Shapes(good, bad, kept)
    finally:
        errors = delete_namespace(kube, good) + delete_namespace(kube, bad)
        assert not errors, f"cleanup left: {errors}"


def _by_set(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {
        s["statefulset"].split("/", 1)[1]: {f["rule"] for f in s["findings"] if f["severity"] != "info"}
        for s in doc["statefulsets"]
    }


def test_the_sample_ordinal_deploys_audits_clean_and_exits_0(env: dict[str, str], shapes: Shapes) -> None:
    """The well-shaped set (the sample, running on three nodes) MUST show nothing above info (--fail-on warning)."""
    done = audit(env, "-n", shapes.good, "--fail-on", "warning")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"statefulset {shapes.good}/web: 1 info", done.stdout
    assert lines[1].startswith(f"  info     audit.data-on-delete  statefulset {shapes.good}/web")
    assert "deleting the set keeps its claims and their data" in lines[1]
    doc = json.loads(audit(env, "-n", shapes.good, "-o", "json").stdout)
    assert doc["counts"] == {"error": 0, "warning": 0, "info": 1} and doc["exit_code"] == 0


def test_each_badly_shaped_set_shows_its_finding_and_the_audit_exits_1(env: dict[str, str], shapes: Shapes) -> None:
    """Each set built to break one shape rule MUST carry that rule; any error makes the exit code 1."""
    done = audit(env, "-n", shapes.bad, "-o", "json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    found = _by_set(doc)
    wanted = {
        "nosvc": {"audit.service-exists"},
        "vip": {"audit.service-headless"},
        "miss": {"audit.service-selects-pods"},
        "shared": {"audit.claim-template-rwx"},
        "stateless": {"audit.no-per-pod-state", "audit.pdb-selector-wide"},
        "wide": {"audit.pdb-selector-wide"},
        "noprobe": {"audit.readiness-probe", "audit.anti-affinity", "audit.pdb-missing"}
        | ({"audit.min-ready-seconds"} if shapes.kept_max_unavailable else set()),
        "onenode": {"audit.spread-nodes", "audit.anti-affinity"},
        "zonal": {"audit.spread-zones", "audit.spread-nodes"},
        "tight": {"audit.pdb-allows-none"},
        "scaled": {"audit.claim-leftover"},
    }
    missing = {name: rules - found.get(name, set()) for name, rules in wanted.items() if rules - found.get(name, set())}
    assert missing == {}, json.dumps(doc, indent=1)
    assert doc["counts"]["error"] == 3  # nosvc, vip, miss
    leftover = next(f for s in doc["statefulsets"] for f in s["findings"] if f["rule"] == "audit.claim-leftover")
    assert (leftover["subject"], leftover["seen"]) == (f"pvc {shapes.bad}/data-scaled-1", "no pod mounts it; 1Mi kept")
    assert all(f["why"] for s in doc["statefulsets"] for f in s["findings"] if f["severity"] != "info")


def test_the_text_output_names_object_field_expected_seen_and_why(env: dict[str, str], shapes: Shapes) -> None:
    done = audit(env, "-n", shapes.bad, "nosvc", "vip")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert f"statefulset {shapes.bad}/nosvc: 1 error, 1 warning, 1 info" in lines
    assert (
        f"  error    audit.service-exists  statefulset {shapes.bad}/nosvc spec.serviceName: "
        f"expected a headless Service {shapes.bad}/nosvc, saw no Service 'nosvc' in {shapes.bad}"
    ) in lines
    assert f"  error    audit.service-headless  service {shapes.bad}/vip spec.clusterIP: expected None, saw " in (
        done.stdout
    )
    assert any(
        line.strip().startswith("why: a Service with a cluster IP publishes no per-pod records") for line in lines
    )
    assert lines[-1] == "--fail-on error: exit 1"


def test_bad_input_is_one_line_exit_2(env: dict[str, str], shapes: Shapes, tmp_path: Path) -> None:
    unknown = audit(env, "-n", shapes.good, "db")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert (
        unknown.stderr
        == f"ordinal audit: expected StatefulSet db in namespace {shapes.good}, found only: {shapes.good}/web\n"
    )
    nowhere = audit(env, "-n", "ordaudit-no-such-namespace")
    assert nowhere.returncode == 2 and "found no such namespace" in nowhere.stderr
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("")
    refused = audit(env, "-n", shapes.good, "--report", str(used))
    assert refused.returncode == 2 and sorted(p.name for p in used.iterdir()) == ["x"]


def test_report_writes_a_self_contained_page_and_its_json(env: dict[str, str], shapes: Shapes, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    done = audit(env, "-n", shapes.bad, "--report", str(out))
    assert done.returncode == 1
    doc = json.loads((out / "findings.json").read_text())
    page = (out / "index.html").read_text()
    assert doc["namespace"] == shapes.bad and "audit.service-exists" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page


# -- least privilege -----------------------------------------------------------------------------


@pytest.fixture
def namespaced_only(
    kube: Kube, shapes: Shapes, local_cluster: dict[str, Any], tmp_path: Path, run_id: str
) -> Iterator[Path]:
    """A kubeconfig for a ServiceAccount that may list the audited namespaced kinds in ``shapes.good`` only."""
    role = f"ordinal-audit-{run_id}"
    rules = [
        {"apiGroups": [""], "resources": ["services", "pods", "persistentvolumeclaims"], "verbs": ["list"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["list"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["list"]},
    ]
    kube.create(
        CLUSTER_ROLES,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": rules,
        },
    )
    try:
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "auditor", "namespace": shapes.good},
        }
        kube.create(SERVICE_ACCOUNTS, account, shapes.good)
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "auditor", "namespace": shapes.good},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "auditor", "namespace": shapes.good}],
        }
        kube.create(ROLE_BINDINGS, binding, shapes.good)
        review = kube.request(
            "POST",
            SERVICE_ACCOUNTS.path(shapes.good, "auditor", "token"),
            body={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
        )
        path = tmp_path / "auditor.kubeconfig"
        ca = Path(local_cluster["kubeconfig"]).parent / "ca.crt"
        token = review["status"]["token"]
        pki.write_token_kubeconfig(path, server=local_cluster["apiserver"], ca=ca, token=token, user="auditor")
        yield path
    finally:
        kube.delete(CLUSTER_ROLES, role)


def test_lists_the_identity_may_not_make_are_not_checked_naming_the_permission(
    env: dict[str, str], shapes: Shapes, namespaced_only: Path
) -> None:
    """Without nodes, volumes and classes the audit MUST NOT crash nor call those checks fine: it names the rule."""
    done = audit({**env, "KUBECONFIG": str(namespaced_only)}, "-n", shapes.good, "-o", "json", "--fail-on", "warning")
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert set(doc["unreadable"]) == {"Node", "PersistentVolume", "StorageClass"}
    assert doc["unreadable"]["Node"].startswith("forbidden: list nodes needs the ClusterRole rule")
    unchecked = {f["path"]: f for s in doc["statefulsets"] for f in s["findings"] if f["rule"] == "audit.not-checked"}
    assert set(unchecked) == {"zone placement", "reclaimPolicy"}
    assert "persistentvolumes" in unchecked["zone placement"]["seen"] or "nodes" in unchecked["zone placement"]["seen"]
    text = audit({**env, "KUBECONFIG": str(namespaced_only)}, "-n", shapes.good)
    assert text.returncode == 0 and "2 not checked" in text.stdout.splitlines()[0]


# -- before a fault ------------------------------------------------------------------------------


def test_a_drain_at_a_set_without_its_headless_service_stops_before_the_fault(
    kube: Kube, env: dict[str, str], tmp_path: Path, run_id: str
) -> None:
    """The audit before the fault MUST stop the run with the finding as its one line; nothing is touched."""
    namespace = sample.fresh_namespace(kube, run_id)
    try:
        sample.deploy(kube, namespace, "web", run_id, node_selector=SIMULATED, timeout=TIMEOUT)
        kube.delete(SERVICES, "web", namespace)
        pods_before = sorted((o.name(p), o.uid(p), o.spec(p).get("nodeName")) for p in kube.list(PODS, namespace)[0])
        journal_path = tmp_path / "journal-drain.json"
        chaos_env = {k: v for k, v in env.items() if k != "ORDINAL_ALLOW_CONTEXTS"} | {
            "ORDINAL_REPORTS_DIR": str(tmp_path)
        }
        command = [str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal_path)]
        command += [
            "--var",
            f"namespace={namespace}",
            "--var",
            "statefulset=web",
            str(ROOT / "experiments" / "drain.json"),
        ]
        start = time.monotonic()
        done = subprocess.run(command, env=chaos_env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        seconds = time.monotonic() - start
        journal = json.loads(journal_path.read_text())
        section = journal["ordinal"]
        explain = f"exit {done.returncode} in {seconds:.1f}s: {json.dumps(section)[:2000]}\n{done.stdout[-2000:]}"
        assert (done.returncode, journal["status"]) == (1, "failed"), explain
        assert section["caught_by"] == "audit before the fault", explain
        assert section["problems"] == [
            f"audit before the fault: [audit.service-exists] statefulset {namespace}/web spec.serviceName: "
            f"expected 'a headless Service {namespace}/web', saw \"no Service 'web' in {namespace}\": "
            "without its Service no pod gets a DNS record: <pod>.<service> does not resolve"
        ], explain
        assert journal["run"] == [] and journal["steady_states"]["before"] is None  # neither hypothesis nor fault ran
        assert section["audit"]["findings"][0]["rule"] == "audit.service-exists"
        assert section["faults"] == []
        nodes, _ = kube.list(NODES)
        assert [o.name(n) for n in nodes if o.spec(n).get("unschedulable") or ledger(n)] == []
        pods_after = sorted((o.name(p), o.uid(p), o.spec(p).get("nodeName")) for p in kube.list(PODS, namespace)[0])
        assert pods_after == pods_before
        assert kube.get_or_none(NAMESPACES, namespace) is not None  # an existing workload is never removed
    finally:
        assert delete_namespace(kube, namespace) == []
