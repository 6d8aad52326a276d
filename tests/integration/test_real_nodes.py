"""Real nodes run real containers: exec, logs, data that outlives its pod, DNS from inside, nothing left behind.

These tests use the session's local cluster if it has real nodes; otherwise (the default,
simulated-only session cluster) they start one of their own beside it: 2 real nodes + 1
simulated, state ``<state dir>-real``, port offset = the session's + 1000 (or
``ORDINAL_REAL_PORT_OFFSET``), and stop it at the end, checking that ``down`` leaves no trace.
Figures (pod start latency, claim reattach time, node memory) go to the JUnit properties and to
``reports/real-nodes-figures.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from host_traces import mounts_under, processes_under, record_figure

from ordinal.act.namespaces import create_namespace, delete_namespace
from ordinal.act.nodes import uncordon
from ordinal.act.pods import delete_pod, drain, evict
from ordinal.errors import ClusterError
from ordinal.kube import objects as o
from ordinal.kube.manifests import headless_service_manifest, pod_name, selector_labels, statefulset_manifest
from ordinal.kube.rest import NODES, PODS, STATEFULSETS, Kube
from ordinal.kube.streams import ExecResult, exec_in_pod
from ordinal.labels import NODE_KIND_LABEL, ZONE_LABEL
from ordinal.localcluster import cgroups, cluster, network, paths, state
from ordinal.localcluster.nodeconfig import KUBELET_SYSCTLS
from ordinal.localcluster.nodes.real import KIND as REAL
from ordinal.localcluster.nodes.real import load as load_real_record
from ordinal.observe.waiting import (
    Query,
    Verdict,
    wait_for,
    wait_for_endpoints,
    wait_for_gone,
    wait_for_pod_recreated,
    wait_for_set_ready,
)
from ordinal.target import Target, connect
from ordinal.types import Obj

SET = "db"
TIMEOUT = 120
FIGURES = "real-nodes-figures.json"
#: Host paths a kubelet/containerd/CNI node would use by default; ours must never create them.
HOST_DIRS = (
    "/run/containerd",
    "/var/lib/cni",
    "/run/netns",
    "/etc/cni",
    "/opt/cni",
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/usr/libexec/kubernetes",
)


def _host_iptables() -> str:
    """The host's own rules (kube-proxy and CNI write theirs only inside the nodes' namespaces)."""
    return "".join(
        subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
        for table in ("filter", "nat", "mangle")
    )


def _host_sysctls() -> dict[str, str]:
    return {key: Path("/proc/sys", key).read_text().strip() for key in KUBELET_SYSCTLS}


def _offset() -> int:
    explicit = os.environ.get("ORDINAL_REAL_PORT_OFFSET")
    if explicit:
        return int(explicit)
    return int(os.environ.get("ORDINAL_PORT_OFFSET") or 0) + 1000


@pytest.fixture(scope="module")
def real_cluster() -> Iterator[dict[str, Any]]:
    running = state.read() if state.is_running() else None
    if running and running.get("real_nodes"):
        yield {**running, "dedicated": None}
        return
    where = Path(f"{paths.state_dir()}-real")
    before = {
        "sysctls": _host_sysctls(),
        "dirs": [d for d in HOST_DIRS if Path(d).exists()],
        "iptables": _host_iptables(),
    }
    # The shape `ordinal cluster up` and `make run` start by default (5 nodes, 3 real), so what these
    # tests show is what a newcomer's first run gets.
    shape = {"nodes": cluster.DEFAULT_NODES, "real_nodes": cluster.default_real_nodes({})}
    data = cluster.up(**shape, port_offset=_offset(), state_dir=where, log=print)
    yield {**data, "dedicated": str(where), "host_before": before}
    cluster.down(state_dir=where, log=print)  # idempotent: test_down_removes_every_trace may have done it


@pytest.fixture(scope="module")
def real_kube(real_cluster: dict[str, Any]) -> Iterator[Kube]:
    client = connect(Target(real_cluster["kubeconfig"], None, "local cluster", local=True))
    yield client
    client.close()


@pytest.fixture
def ns(real_kube: Kube, run_id: str) -> Iterator[str]:
    name = create_namespace(real_kube, run_id, prefix="ordreal")
    yield name
    errors = delete_namespace(real_kube, name)
    assert not errors, f"cleanup of {name} left: {errors}"


@pytest.fixture
def image(real_cluster: dict[str, Any]) -> str:
    ref: str = real_cluster["images"]["busybox"]
    return ref


def real_set(namespace: str, image: str, *, replicas: int = 1, storage_class: str | None = None) -> Obj:
    """The suite's StatefulSet, pinned to real nodes, with our image and a first line in its log."""
    manifest = statefulset_manifest(
        SET, namespace, replicas=replicas, image=image, storage_class=storage_class, termination_grace=5
    )
    pod = manifest["spec"]["template"]["spec"]
    pod["nodeSelector"] = {NODE_KIND_LABEL: REAL}
    container = pod["containers"][0]
    container["imagePullPolicy"] = "IfNotPresent"
    container["command"][-1] = "echo ordinal-started $(hostname); " + container["command"][-1]
    return manifest


def deploy(kube: Kube, namespace: str, image: str, **kw: Any) -> Obj:
    kube.create_object(headless_service_manifest(SET, namespace, selector_labels(SET)))
    manifest = real_set(namespace, image, **kw)
    kube.create_object(manifest)
    wait_for_set_ready(kube, namespace, SET, manifest["spec"]["replicas"], timeout=TIMEOUT)
    return manifest


def sh(kube: Kube, namespace: str, pod: str, script: str) -> ExecResult:
    return exec_in_pod(kube, namespace, pod, ["sh", "-c", script], timeout=30)


def out(kube: Kube, namespace: str, pod: str, script: str) -> str:
    result = sh(kube, namespace, pod, script)
    assert result.ok, f"`{script}` in {namespace}/{pod}: exit {result.code}, stderr {result.stderr!r}"
    return result.stdout


def write_token(kube: Kube, namespace: str, pod: str) -> str:
    token = f"{pod}-{secrets.token_hex(8)}"
    out(kube, namespace, pod, f"echo {token} > /data/token && sync")
    return token


def read_token(kube: Kube, namespace: str, pod: str) -> str:
    return out(kube, namespace, pod, "cat /data/token").strip()


def pod(kube: Kube, namespace: str, ordinal: int) -> Obj:
    return kube.get(PODS, pod_name(SET, ordinal), namespace)


# --- nodes ---------------------------------------------------------------------------------------


def test_real_nodes_register_with_kind_and_zone_labels_and_our_images(
    real_kube: Kube, real_cluster: dict[str, Any]
) -> None:
    """A real node MUST be Ready, labelled kind=real with a zone, and hold the images `up` recorded."""
    nodes, _ = real_kube.list(NODES, label_selector=f"{NODE_KIND_LABEL}={REAL}")
    assert sorted(o.name(n) for n in nodes) == sorted(real_cluster["real_nodes"])
    assert len(nodes) >= 1
    for node in nodes:
        assert o.node_ready(node) == "True", o.name(node)
        assert o.labels(node).get(ZONE_LABEL, "").startswith("zone-")
        info = o.status(node)["nodeInfo"]
        assert info["kubeletVersion"] == real_cluster["versions"]["kubernetes"]
        assert info["containerRuntimeVersion"].startswith("containerd://")
        held = {name for img in o.status(node).get("images") or () for name in img.get("names") or ()}
        assert set(real_cluster["images"].values()) <= held, held
    simulated, _ = real_kube.list(NODES, label_selector=f"{NODE_KIND_LABEL}=kwok")
    assert sorted(o.name(n) for n in simulated) == sorted(set(real_cluster["nodes"]) - set(real_cluster["real_nodes"]))
    zones = {o.name(n): o.labels(n).get(ZONE_LABEL) for n in [*nodes, *simulated]}
    # Round-robin over every node, real ones first: node i (from 0) is in zone i mod zones.
    expected = {
        name: f"zone-{'abcdefghijklmnopqrstuvwxyz'[i % real_cluster['zones']]}"
        for i, name in enumerate(real_cluster["nodes"])
    }
    assert zones == expected


# --- exec, logs ----------------------------------------------------------------------------------


def test_exec_and_logs_reach_a_container_on_a_real_node(
    real_kube: Kube, ns: str, image: str, record_property: Any
) -> None:
    """Exec MUST run in the pod's own container (its hostname, its exit code) and logs MUST show its output."""
    started = time.monotonic()
    deploy(real_kube, ns, image)
    record_figure(record_property, FIGURES, "statefulset_1_replica_ready_seconds", time.monotonic() - started)
    assert out(real_kube, ns, "db-0", "hostname").strip() == "db-0"
    failed = sh(real_kube, ns, "db-0", "echo to-stderr >&2; exit 3")
    assert failed.code == 3 and "to-stderr" in failed.stderr
    logs = real_kube.raw_get(f"/api/v1/namespaces/{ns}/pods/db-0/log")
    assert "ordinal-started db-0" in logs


def test_pod_start_latency_on_a_real_node(real_kube: Kube, ns: str, image: str, record_property: Any) -> None:
    """A bare pod on a real node MUST reach Running+Ready; its create→Ready time is a reported figure."""
    samples = []
    for i in range(3):
        name = f"lat-{i}"
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "nodeSelector": {NODE_KIND_LABEL: REAL},
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "main",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
                    }
                ],
            },
        }
        t0 = time.monotonic()
        real_kube.create(PODS, body, ns)

        def ready(items: list[Obj]) -> Verdict[str]:
            ok = bool(items) and o.pod_running_ready(items[0])
            return Verdict(ok, o.status(items[0]).get("phase", "?") if items else "absent")

        wait_for(
            real_kube,
            Query(PODS, ns, field_selector=f"metadata.name={name}"),
            ready,
            expect=f"{name} Ready",
            timeout=TIMEOUT,
        )
        samples.append(time.monotonic() - t0)
    samples.sort()
    record_figure(record_property, FIGURES, "pod_start_median_seconds", samples[1])
    record_figure(record_property, FIGURES, "pod_start_max_seconds", samples[-1])


# --- data ----------------------------------------------------------------------------------------


def test_token_survives_pod_deletion(real_kube: Kube, ns: str, image: str) -> None:
    """A deleted pod's replacement MUST mount the same claim and read the bytes written before."""
    deploy(real_kube, ns, image)
    token = write_token(real_kube, ns, "db-0")
    old = pod(real_kube, ns, 0)
    delete_pod(real_kube, ns, SET, 0)
    new = wait_for_pod_recreated(real_kube, ns, "db-0", o.uid(old), timeout=TIMEOUT)
    assert o.spec(new)["nodeName"] == o.spec(old)["nodeName"]  # ordinal-local pins the claim to its node
    assert read_token(real_kube, ns, "db-0") == token


def test_token_survives_eviction_and_the_claim_reattaches(
    real_kube: Kube, ns: str, image: str, record_property: Any
) -> None:
    """An evicted pod MUST come back with its claim and data; the time to Ready again is a figure."""
    deploy(real_kube, ns, image)
    token = write_token(real_kube, ns, "db-0")
    old = pod(real_kube, ns, 0)
    t0 = time.monotonic()
    evict(real_kube, ns, "db-0", timeout=TIMEOUT)
    wait_for_pod_recreated(real_kube, ns, "db-0", o.uid(old), timeout=TIMEOUT)
    record_figure(record_property, FIGURES, "claim_reattach_after_eviction_seconds", time.monotonic() - t0)
    assert read_token(real_kube, ns, "db-0") == token


def test_drain_moves_the_pod_to_another_real_node_with_its_data(
    real_kube: Kube, ns: str, image: str, run_id: str, real_cluster: dict[str, Any], record_property: Any
) -> None:
    """Draining a real node MUST move the pod to the other real node, where it reads its own data."""
    if len(real_cluster["real_nodes"]) < 2:
        pytest.fail(f"expected 2 real nodes for a drain between hosts, cluster has {real_cluster['real_nodes']}")
    deploy(real_kube, ns, image, storage_class="ordinal-shared")  # no node affinity: like network storage
    token = write_token(real_kube, ns, "db-0")
    old = pod(real_kube, ns, 0)
    source = o.spec(old)["nodeName"]
    t0 = time.monotonic()
    try:
        drained = drain(real_kube, source, run_id, namespace=ns, timeout=TIMEOUT)
        assert [h.name for h in drained.evicted] == ["db-0"]
        new = wait_for_pod_recreated(real_kube, ns, "db-0", o.uid(old), timeout=TIMEOUT)
        record_figure(record_property, FIGURES, "drain_to_other_node_ready_seconds", time.monotonic() - t0)
        target = o.spec(new)["nodeName"]
        assert target != source and target in real_cluster["real_nodes"], (source, target)
        assert read_token(real_kube, ns, "db-0") == token
        assert out(real_kube, ns, "db-0", "hostname").strip() == "db-0"
    finally:
        uncordon(real_kube, source)


def test_tokens_survive_statefulset_delete_and_recreate(real_kube: Kube, ns: str, image: str) -> None:
    """Deleting the set keeps its claims; the recreated set's pods MUST read their own ordinal's data."""
    manifest = deploy(real_kube, ns, image, replicas=2)
    tokens = {p: write_token(real_kube, ns, p) for p in ("db-0", "db-1")}
    real_kube.delete(STATEFULSETS, SET, ns, propagation="Background")
    wait_for_gone(real_kube, PODS, ns, list(tokens), timeout=TIMEOUT)
    real_kube.create_object(real_set(ns, manifest["spec"]["template"]["spec"]["containers"][0]["image"], replicas=2))
    wait_for_set_ready(real_kube, ns, SET, 2, timeout=TIMEOUT)
    assert {p: read_token(real_kube, ns, p) for p in tokens} == tokens


# --- DNS and Services from inside ----------------------------------------------------------------


def test_pods_resolve_each_other_by_stable_name_from_inside(real_kube: Kube, ns: str, image: str) -> None:
    """From a sibling, <pod>.<svc> MUST resolve to the pod's IP; a pod's own FQDN MUST be in its /etc/hosts."""
    deploy(real_kube, ns, image, replicas=2)
    ips = {p: o.pod_ip(pod(real_kube, ns, i)) for i, p in enumerate(("db-0", "db-1"))}
    fqdn = f"db-0.{SET}.{ns}.svc.cluster.local"

    # EndpointSlices trail pod readiness slightly: wait on the slice (CoreDNS serves from it), then ask.
    wait_for_endpoints(real_kube, ns, SET, ready=2, timeout=60)
    answer = ""
    for _ in range(10):  # CoreDNS's own watch may lag the slice by a moment: a few bounded retries
        result = sh(real_kube, ns, "db-1", f"nslookup {fqdn}")
        answer = result.stdout
        if result.ok and f"Address: {ips['db-0']}" in answer:
            break
        time.sleep(0.5)
    assert f"Address: {ips['db-0']}" in answer, answer
    # The short form goes through the search path (busybox's nslookup does not use it; the libc
    # resolver does). wget to a closed port shows what it resolved without needing raw sockets,
    # which a non-root pod lacks for ping.
    tried = sh(real_kube, ns, "db-1", f"wget http://db-0.{SET}:1/ 2>&1").stdout
    assert f"Connecting to db-0.{SET}:1 ({ips['db-0']}:1)" in tried, tried
    hosts = out(real_kube, ns, "db-0", "cat /etc/hosts")
    assert f"{ips['db-0']}\t{fqdn}\tdb-0" in hosts, hosts
    resolv = out(real_kube, ns, "db-0", "cat /etc/resolv.conf")
    assert f"search {ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv, resolv


def test_cluster_ip_service_reaches_the_apiserver_through_kube_proxy(real_kube: Kube, ns: str, image: str) -> None:
    """The `kubernetes` Service MUST resolve and connect from a pod (kube-proxy's iptables rules, CoreDNS)."""
    deploy(real_kube, ns, image)
    lookup = out(real_kube, ns, "db-0", "nslookup kubernetes.default.svc.cluster.local")
    assert "Address: 10.96.0.1" in lookup, lookup
    assert sh(real_kube, ns, "db-0", "echo | nc -w 3 10.96.0.1 443 >/dev/null").ok


def test_a_real_node_has_no_route_off_the_cluster(real_cluster: dict[str, Any]) -> None:
    """Nothing leaves the machine: a node's namespace MUST have no default route (checked, never sent)."""
    where = Path(real_cluster["kubeconfig"]).parents[1]
    holder = json.loads((where / "pids" / f"holder@{real_cluster['real_nodes'][0]}.json").read_text())["pid"]
    probe = subprocess.run(
        ["nsenter", "-t", str(holder), "-n", "ip", "route", "get", "203.0.113.1"], capture_output=True, text=True
    )
    assert probe.returncode != 0 and "unreachable" in probe.stderr.lower(), probe
    before = real_cluster.get("host_before")
    if before:  # while nodes run: the host's tunables and firewall are as they were
        assert _host_sysctls() == before["sysctls"]
        assert _host_iptables() == before["iptables"]


def test_real_node_memory(real_cluster: dict[str, Any], record_property: Any) -> None:
    """Figure: memory of one real node's own processes (holder, containerd, shims, kubelet, kube-proxy).

    VmRSS counts the multi-call binary's pages once per process (kubelet and kube-proxy share them with
    the control plane); RssAnon is what the node adds on its own.
    """
    record = load_real_record(Path(real_cluster["kubeconfig"]).parents[1])
    assert record is not None
    node = real_cluster["real_nodes"][0]
    totals = {"VmRSS": 0, "RssAnon": 0}
    pids = cgroups.pids(f"{record['cgroup_root']}/{node}/daemons")
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key = line.split(":")[0]
            if key in totals:
                totals[key] += int(line.split()[1])
    assert pids and totals["RssAnon"] > 0
    record_figure(record_property, FIGURES, "real_node_daemons_rss_mib", totals["VmRSS"] / 1024, "MiB")
    record_figure(record_property, FIGURES, "real_node_daemons_anon_mib", totals["RssAnon"] / 1024, "MiB")


def test_cluster_env_points_the_suite_at_the_nodes_image(real_cluster: dict[str, Any]) -> None:
    """`ordinal cluster env` MUST export ORDINAL_IMAGE=<our busybox> when real nodes exist (nothing is pulled)."""
    env = {**os.environ, "ORDINAL_CLUSTER_DIR": str(Path(real_cluster["kubeconfig"]).parents[1])}
    command = [sys.executable, "-m", "ordinal.cli", "cluster", "env"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert f"export ORDINAL_IMAGE={real_cluster['images']['busybox']}" in result.stdout.splitlines()


# --- the suite and the experiments on real nodes --------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _env_for(real_cluster: dict[str, Any], reports: Path) -> dict[str, str]:
    """What `eval "$(ordinal cluster env)"` gives a user of this cluster (no ORDINAL_IMAGE: the default must do)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ORDINAL_KUBECONFIG", "ORDINAL_ALLOW_CONTEXTS", "ORDINAL_IMAGE")
    }
    return env | {
        "ORDINAL_CLUSTER_DIR": str(Path(real_cluster["kubeconfig"]).parents[1]),
        "KUBECONFIG": real_cluster["kubeconfig"],
        "ORDINAL_DNS": f"direct:{real_cluster['dns']}",
        "ORDINAL_REPORTS_DIR": str(reports),
        "PYTHONUNBUFFERED": "1",
    }


def test_the_conformance_checks_that_need_containers_run_and_pass_on_real_nodes(
    real_cluster: dict[str, Any], tmp_path: Path
) -> None:
    """On real nodes the suite's data-integrity and in-pod DNS checks MUST run (not skip) and pass."""
    junit = tmp_path / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", "conformance/test_data_integrity.py", "conformance/test_dns_from_pods.py",
        "-p", "no:cacheprovider",
        f"--junitxml={junit}", f"--alluredir={tmp_path / 'allure'}", "-q",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=_env_for(real_cluster, tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.attrib[k]) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": 6, "failures": 0, "errors": 0, "skipped": 0}, done.stdout[-4000:]


@pytest.mark.parametrize("storage_class", ["ordinal-shared", "ordinal-local"])
def test_drain_experiment_verifies_the_data_on_real_nodes(
    storage_class: str, real_cluster: dict[str, Any], real_kube: Kube, tmp_path: Path, record_property: Any
) -> None:
    """`chaos run experiments/drain.json` as shipped MUST read every token back (data-token-intact passed).

    Its configuration is left alone (3 replicas): on the default local cluster every probe runs.
    """
    journal = tmp_path / "journal-drain.json"
    command = [
        str(Path(sys.executable).with_name("chaos")), "--no-log-file", "run", "--journal-path", str(journal),
        "--var", f"storage_class={storage_class}", str(ROOT / "experiments" / "drain.json"),
    ]  # fmt: skip
    t0 = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=_env_for(real_cluster, tmp_path), capture_output=True, text=True)
    record_figure(record_property, FIGURES, f"drain_experiment_real_{storage_class}_seconds", time.monotonic() - t0)
    data = json.loads(journal.read_text())
    explain = json.dumps(data.get("ordinal"), default=str)[:3000] + (done.stdout + done.stderr)[-3000:]
    assert (done.returncode, data["status"], data["deviated"]) == (0, "completed", False), explain
    for phase in ("before", "after"):
        statuses = {p["activity"]["name"]: p["output"]["status"] for p in data["steady_states"][phase]["probes"]}
        assert statuses["data-token-intact"] == "passed", (phase, statuses, explain)
        assert statuses["dns-records-match"] == "passed", (phase, statuses, explain)
    nodes, _ = real_kube.list(NODES)
    assert [o.name(n) for n in nodes if o.spec(n).get("unschedulable")] == []


# --- the preflight, failure and teardown ---------------------------------------------------------


def test_preflight_names_what_is_missing_and_exits_non_zero(tmp_path: Path, real_cluster: dict[str, Any]) -> None:
    env = {
        **os.environ,
        "ORDINAL_CLUSTER_DIR": str(tmp_path / "nothere"),
        "PATH": os.path.dirname(sys.executable),  # python, but no containerd, runc, iptables, ip
    }
    result = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "cluster", "up", "--real-nodes", "1", "--port-offset", "20000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, result
    [line] = [x for x in result.stderr.splitlines() if x.strip()]
    assert "expected a host that can run 1 real node(s), missing: " in line
    assert "(apt-get install containerd)" in line and "(apt-get install iptables)" in line
    assert "--real-nodes 0" in line
    assert not (tmp_path / "nothere").exists()


def _traces(where: Path, record: dict[str, Any]) -> list[str]:
    """Everything a real-node cluster may leave on the host, as found now."""
    found = []
    net = network.ClusterNet(int(record["offset"]))
    for link in [net.bridge, *record["veths"]]:
        if network.link_exists(link):
            found.append(f"interface {link}")
    for root in cgroups.hierarchies():
        if (root / record["cgroup_root"].lstrip("/")).exists():
            found.append(f"cgroup {root}{record['cgroup_root']}")
    found += [f"process {pid}" for pid in processes_under(where)]
    found += [f"mount {point}" for point in mounts_under(where)]
    return found


def test_failed_up_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, real_cluster: dict[str, Any]) -> None:
    """An `up` that fails on its second real node MUST undo the first node, the bridge and the cgroups."""
    where = Path(f"{paths.state_dir()}-fail")
    original = network.attach_node

    def second_fails(net: network.ClusterNet, number: int, pid: int, peers: Any) -> None:
        if number == 2:
            raise ClusterError("expected node 2 wired, injected failure")
        original(net, number, pid, peers)

    monkeypatch.setattr(network, "attach_node", second_fails)
    with pytest.raises(ClusterError, match="injected failure"):
        cluster.up(nodes=2, zones=1, real_nodes=2, port_offset=_offset() + 1000, state_dir=where)
    record = {
        "offset": _offset() + 1000,
        "veths": [network.ClusterNet(_offset() + 1000).host_veth(n) for n in (1, 2)],
        "cgroup_root": cgroups.cluster_root(_offset() + 1000),
    }
    assert _traces(where, record) == []
    assert not where.exists()
    shutil.rmtree(f"{where}.last-failure", ignore_errors=True)  # the failed start's logs, kept on purpose


def test_down_removes_every_trace(real_cluster: dict[str, Any]) -> None:
    """`down` MUST remove processes, mounts, namespaces, cgroups, interfaces; host tunables MUST be unchanged."""
    if real_cluster["dedicated"] is None:
        pytest.skip("the session's own cluster has real nodes; it is stopped by the session, not here")
    where = Path(real_cluster["dedicated"])
    record = load_real_record(where)
    assert record is not None
    assert _traces(where, record)  # something to remove: the check below is not vacuous
    assert cluster.down(state_dir=where)
    assert _traces(where, record) == []
    assert not where.exists()
    before = real_cluster["host_before"]
    assert _host_sysctls() == before["sysctls"]
    assert [d for d in HOST_DIRS if Path(d).exists()] == before["dirs"]
    assert _host_iptables() == before["iptables"]
