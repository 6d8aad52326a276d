"""The suite and the experiments on a cluster configured the way staging clusters are, reached as a foreign one.

A second local cluster, hardened: Pod Security "restricted" enforced in every namespace, the
domain ``corp.example`` instead of ``cluster.local``, a zone-pinned StorageClass beside the node-
pinned default, one real node among simulated ones, and the suite running as the least-privilege
``ci`` ServiceAccount (exactly ``ordinal rbac --disruptive``). Nothing local is given to the runs:
the kubeconfig is explicit (so the target is not "the local cluster"), no DNS server address, so
DNS goes through a port-forward to the CoreDNS pod or an exec into the probe pod.

Every test must pass or skip naming a capability, every API call must be in the RBAC table, and
nothing may be left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from junit_cases import Case, broken, cases, vague_skips

from ordinal import capabilities
from ordinal.kube import objects as o
from ordinal.kube import permissions
from ordinal.kube.manifests import statefulset_manifest
from ordinal.kube.rest import NAMESPACES, NODES, PVS, Kube, Resource
from ordinal.labels import CREATED_BY_LABEL, CREATED_BY_VALUE, LEDGER_ANNOTATION, OUT_OF_SERVICE_TAINT
from ordinal.localcluster import cluster, paths
from ordinal.target import Target, connect

ROOT = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).with_name("chaos")
DOMAIN = "corp.example"
RUN_TIMEOUT = 1500
ADMISSION = "admissionregistration.k8s.io/v1"
VAP = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ordinal-test-no-fixed-uids}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"]}
  validations:
  - expression: "!has(object.spec.securityContext) || !has(object.spec.securityContext.runAsUser)"
    message: "pods must not fix spec.securityContext.runAsUser (the platform assigns UIDs)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ordinal-test-no-fixed-uids}
spec: {policyName: ordinal-test-no-fixed-uids, validationActions: [Deny]}
"""


@pytest.fixture(scope="module")
def hardened() -> Iterator[dict[str, Any]]:
    where = Path(f"{paths.state_dir()}-hardened")
    offset = int(os.environ.get("ORDINAL_PORT_OFFSET") or 0) + 3000
    data = cluster.up(
        nodes=4,
        zones=2,
        real_nodes=1,
        port_offset=offset,
        state_dir=where,
        pod_security="restricted",
        cluster_domain=DOMAIN,
        log=print,
    )
    data["ci_kubeconfig"] = str(cluster.ci_kubeconfig(data))
    yield data
    cluster.down(state_dir=where, log=print)


@pytest.fixture(scope="module")
def admin(hardened: dict[str, Any]) -> Iterator[Kube]:
    kube = connect(Target(hardened["kubeconfig"], None, "test"))
    yield kube
    kube.close()


def _foreign_env(hardened: dict[str, Any]) -> dict[str, str]:
    """What a CI job on another cluster has: its kubeconfig, the image its nodes can run, no ordinal defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") and k != "KUBECONFIG"}
    env |= {
        "KUBECONFIG": hardened["ci_kubeconfig"],
        "ORDINAL_IMAGE": hardened["images"]["busybox"],
        "ORDINAL_ALLOW_CONTEXTS": "ordinal-local",  # the context name in the ci kubeconfig
        "PYTHONUNBUFFERED": "1",
    }
    return env


def _suite(hardened: dict[str, Any], out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--junitxml={out / 'junit.xml'}",
        "--allow-disruptive=yes",
        *args,
    ]
    return subprocess.run(
        command, cwd=ROOT, env=_foreign_env(hardened), capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def _assert_green(result: subprocess.CompletedProcess[str], out: Path, *, at_least: int) -> list[Case]:
    found = cases(out / "junit.xml")
    assert not broken(found), broken(found) + "\n" + result.stdout[-3000:]
    assert not vague_skips(found), vague_skips(found)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert len(found) >= at_least, f"expected at least {at_least} tests, ran {len(found)}"
    session = json.loads((out / "session.json").read_text())
    assert session["leaks"] == [] and session["cleanup_errors"] == [], session
    calls = [permissions.Call(**c) for c in session["api_calls"]]
    assert calls and permissions.uncovered(calls) == [], "calls ordinal rbac does not grant"
    return found


def test_the_hardened_cluster_refuses_a_root_pod(admin: Kube) -> None:
    """The profile is real: Pod Security "restricted" refuses what the suite's old pods looked like."""
    from ordinal.capabilities import admission_refusal, pod_of_template

    sts = statefulset_manifest("web", "default", claim_template=None)
    template = sts["spec"]["template"]["spec"]
    template.pop("securityContext")
    template["containers"][0].pop("securityContext")
    refusal = admission_refusal(admin, pod_of_template(sts, "web-0"))
    assert refusal is not None and 'violates PodSecurity "restricted:latest"' in refusal


def test_the_whole_suite_passes_or_skips_on_the_hardened_cluster_as_a_foreign_one(
    hardened: dict[str, Any], tmp_path: Path
) -> None:
    """Restricted pods, corp.example, the ci identity, DNS by port-forward: no test fails, every skip is named."""
    # Four workers: CI time, and parallel runs (locks, merged records and API calls) under the ci identity.
    result = _suite(hardened, tmp_path, "conformance", "--dns=port-forward", "-rs", "-n", "4")
    print(result.stdout[-5000:])
    found = _assert_green(result, tmp_path, at_least=50)
    header = result.stdout
    assert f"cluster domain: {DOMAIN} (PTR of the kubernetes Service" in header
    assert "dns: port-forward port-forward:kube-system/coredns-0:1053" in header
    skipped = sorted({c.message for c in found if c.outcome == "skipped"})
    passed = sum(c.outcome == "passed" for c in found)
    print(f"hardened suite: {len(found)} tests, {passed} passed, skipped reasons: {skipped}")


def test_zone_pinned_storage_keeps_its_promises_on_the_hardened_cluster(
    hardened: dict[str, Any], tmp_path: Path
) -> None:
    result = _suite(
        hardened,
        tmp_path,
        "conformance/test_storage.py",
        "conformance/test_data_integrity.py",
        "conformance/test_retention.py",
        "--storage-class=ordinal-zonal",
        "--dns=port-forward",
        "-n",
        "4",
    )
    print(result.stdout[-3000:])
    found = _assert_green(result, tmp_path, at_least=15)
    assert any("zone_pinned_volume_keeps_the_pod_in_its_zone" in c.id and c.outcome == "passed" for c in found)


def test_dns_asked_from_inside_a_pod_on_the_hardened_cluster(hardened: dict[str, Any], tmp_path: Path) -> None:
    """--dns exec: the probe pod lives for the session and the DNS promises are checked from inside it."""
    result = _suite(hardened, tmp_path, "conformance/test_dns.py", "--dns=exec")
    _assert_green(result, tmp_path, at_least=8)
    assert "dns: exec exec:" in result.stdout and "/ordinal-probe" in result.stdout


@pytest.mark.parametrize("experiment", ["drain", "pod-kill"])
def test_experiments_hold_on_the_hardened_cluster(experiment: str, hardened: dict[str, Any], tmp_path: Path) -> None:
    """drain.json and pod-kill.json as the ci identity: the hypothesis holds, every call is in the RBAC table."""
    journal = tmp_path / f"journal-{experiment}.json"
    path = ROOT / "experiments" / f"{experiment}.json"
    command = [str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal), str(path)]
    env = _foreign_env(hardened) | {"ORDINAL_REPORTS_DIR": str(tmp_path)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    data = json.loads(journal.read_text())
    assert data["status"] == "completed", done.stdout[-4000:]
    assert data["ordinal"]["verdict"] in ("held", "not-checked"), done.stdout[-4000:]
    for phase in ("before", "after"):
        for probe in data["steady_states"][phase]["probes"]:
            out = probe["output"]
            assert out["status"] == "passed" or out["summary"].startswith("needs: "), (phase, out)
    dns = next(p for p in data["steady_states"]["after"]["probes"] if p["activity"]["name"] == "dns-records-match")
    assert dns["output"]["status"] == "passed", dns["output"]  # asked through a port-forward, under corp.example
    calls = [permissions.Call(**c) for c in data["ordinal"]["api_calls"]]
    assert calls and permissions.uncovered(calls) == []


def _until_enforced(admin: Kube, policy: str, *, timeout: float = 30.0) -> None:
    """Return once the API server enforces ``policy``: a new policy takes effect when its informer syncs.

    Nothing can be watched for that, so this repeats the suite's own dry run (nothing stored), bounded.
    """
    sts = statefulset_manifest("web", "default", claim_template=None)
    pod = capabilities.pod_of_template(sts, "web-0")
    deadline = time.monotonic() + timeout
    refusal = None
    while time.monotonic() < deadline:
        refusal = capabilities.admission_refusal(admin, pod)
        if refusal and policy in refusal:
            return
        time.sleep(0.5)
    raise AssertionError(f"expected {policy} to refuse a pod with a fixed UID within {timeout:g}s, saw {refusal!r}")


def test_a_policy_refusing_the_pods_ends_a_run_in_one_line_leaving_nothing(
    hardened: dict[str, Any], admin: Kube, tmp_path: Path
) -> None:
    """Admission refusing the suite's pods MUST end the run at once: one line naming the policy, nothing created."""
    policies = Resource(ADMISSION, "validatingadmissionpolicies", "ValidatingAdmissionPolicy", namespaced=False)
    bindings = Resource(
        ADMISSION, "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", namespaced=False
    )
    policy, binding = list(yaml.safe_load_all(VAP))
    admin.create(policies, policy)
    admin.create(bindings, binding)
    try:
        _until_enforced(admin, policy["metadata"]["name"])
        result = _suite(hardened, tmp_path, "conformance/test_identity.py")
        lines = [line for line in result.stdout.splitlines() if "expected the cluster to admit" in line]
        assert result.returncode == 4 and lines, result.stdout[-2000:]
        assert "ValidatingAdmissionPolicy 'ordinal-test-no-fixed-uids'" in lines[0], lines
        journal = tmp_path / "journal.json"
        path = ROOT / "experiments" / "pod-kill.json"
        command = [str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal), str(path)]
        env = _foreign_env(hardened)
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and json.loads(journal.read_text())["status"] in ("interrupted", "failed")
        assert "expected the cluster to admit the sample's pods" in done.stdout + done.stderr
        print(lines[0])
    finally:
        admin.delete(bindings, binding["metadata"]["name"])
        admin.delete(policies, policy["metadata"]["name"])
    ours, _ = admin.list(NAMESPACES, label_selector=f"{CREATED_BY_LABEL}={CREATED_BY_VALUE}")
    assert [o.name(n) for n in ours] == []


def test_nothing_is_left_on_the_hardened_cluster(admin: Kube) -> None:
    """After every run: no namespace of ordinal's, no volume of its claims, no cordon, taint or ledger entry."""
    ours, _ = admin.list(NAMESPACES, label_selector=f"{CREATED_BY_LABEL}={CREATED_BY_VALUE}")
    pvs, _ = admin.list(PVS)
    nodes, _ = admin.list(NODES)
    changed = [
        o.name(n)
        for n in nodes
        if o.spec(n).get("unschedulable")
        or OUT_OF_SERVICE_TAINT in o.taint_keys(n)
        or LEDGER_ANNOTATION in (o.meta(n).get("annotations") or {})
    ]
    assert ([o.name(n) for n in ours], [o.name(p) for p in pvs], changed) == ([], [], [])
