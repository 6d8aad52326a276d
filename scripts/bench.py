"""Figures for the local cluster (``tox -e bench`` / ``make bench``); prints, never asserts.

- cold build: wall time and peak RSS of each artifact, as recorded when it was compiled
  (``--cold`` recompiles everything into a throw-away cache to measure afresh);
- warm ``up``: wall time of ``ordinal cluster up`` (its default shape) with every binary cached;
- idle RSS of the whole cluster (sum over its processes, after a settle period);
- time for a 3-replica OrderedReady StatefulSet to become Ready, from create to readyReplicas=3;
- the conformance suite serial (one process) and parallel (``-n auto``: workers from the cluster's
  size): wall time, outcomes and the API requests the run made (the apiserver's request counter);
- scale (no cluster; ``--scale`` for this table alone): events, timeline memory and check time of the ordering,
  rollout and identity checks at 3, 10 and 50 replicas (see ``scripts/bench_scale.py``).
- the CSI stack (``ordinal-csi`` and the external-attacher): ``up`` of 2 real nodes in one zone, the
  stack's own start time, each CSI process's RSS, and a one-replica set on ``ordinal-csi`` (provision,
  attach, stage, publish) to Ready (``--no-csi`` skips it);
- upstream's ``[sig-apps] StatefulSet`` e2e specs on the local cluster: passed/failed/skipped and the
  wall time of the last ``tox -e upstream`` (``--upstream`` runs them afresh, most of an hour).

Runs its own cluster (separate state dir, ports shifted) so it never disturbs one that is up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ordinal.act.namespaces import create_namespace, delete_namespace, new_run_id


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """Resident memory of a process (``RssAnon``: its own pages, not the binary's shared ones)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cold_build(figures: dict[str, Any]) -> None:
    from ordinal.localcluster import build

    with tempfile.TemporaryDirectory(prefix="ordinal-bench-cache-") as tmp:
        os.environ["XDG_CACHE_HOME"] = tmp
        os.environ["GOCACHE"] = str(Path(tmp) / "go-build")  # modules stay cached: this times compiling
        start = time.monotonic()
        built = build.build(log=lambda m: print(m, file=sys.stderr))
        figures["cold_build_total_s"] = round(time.monotonic() - start, 1)
        for name, b in built.items():
            figures[f"cold_build_{name}_s"] = round(b.seconds, 1)
            figures[f"cold_build_{name}_peak_rss_mib"] = round(b.peak_rss_kib / 1024)


def recorded_build(figures: dict[str, Any]) -> None:
    from ordinal.localcluster import build, paths

    total = 0.0
    for art in build.artifacts(build.load(paths.source_dir())):
        cached = build._find_cached(art, paths.source_dir())
        if cached is None:
            figures[f"cold_build_{art.name}_s"] = "not built"
            continue
        meta = json.loads((cached / "build.json").read_text())
        figures[f"cold_build_{art.name}_s"] = meta["seconds"]
        figures[f"cold_build_{art.name}_peak_rss_mib"] = round(meta["peak_rss_kib"] / 1024)
        total += meta["seconds"]
    figures["cold_build_total_s (sum of recorded)"] = round(total, 1)


ROOT = Path(__file__).resolve().parents[1]
#: Ports of the bench's own cluster: ORDINAL_BENCH_PORT_OFFSET, else 7000 above the environment's offset.
BENCH_OFFSET = int(
    os.environ.get("ORDINAL_BENCH_PORT_OFFSET") or int(os.environ.get("ORDINAL_PORT_OFFSET") or 0) + 7000
)


def api_requests(kube: Any) -> int:
    """Requests the apiserver has served since it started (``apiserver_request_total``, every label)."""
    total = 0.0
    for line in kube.raw_get("/metrics").splitlines():
        if line.startswith("apiserver_request_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def outcomes(junit: Path) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not junit.is_file():
        return counts
    for case in ET.parse(junit).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        key = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        counts[key] += 1
    return counts


def suite_run(figures: dict[str, Any], data: dict[str, Any], kube: Any, label: str, workers: list[str]) -> None:
    """One whole-suite run as a user starts it (``pytest [-n auto] conformance``), timed end to end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") or k == "ORDINAL_CLUSTER_DIR"}
    env |= {"KUBECONFIG": data["kubeconfig"], "ORDINAL_DNS": f"direct:{data['dns']}"}
    with tempfile.TemporaryDirectory(prefix=f"ordinal-bench-{label}-") as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider", *workers]
        command += [f"--junitxml={junit}", f"--alluredir={Path(tmp) / 'allure'}"]
        before = api_requests(kube)
        start = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        figures[f"suite_{label}_s"] = round(time.monotonic() - start, 1)
        figures[f"suite_{label}_api_requests"] = api_requests(kube) - before
        counts = outcomes(junit)
        figures[f"suite_{label}_outcomes"] = " ".join(f"{v} {k}" for k, v in counts.items())
        if done.returncode != 0:
            print(done.stdout[-3000:], file=sys.stderr)


def cluster_figures(figures: dict[str, Any], settle: float, suite: bool) -> None:
    from ordinal.kube.manifests import headless_service_manifest, selector_labels, statefulset_manifest
    from ordinal.localcluster import cluster, process, state
    from ordinal.observe.waiting import wait_for_set_ready
    from ordinal.target import Target, connect

    with tempfile.TemporaryDirectory(prefix="ordinal-bench-state-") as tmp:
        os.environ["ORDINAL_CLUSTER_DIR"] = str(Path(tmp) / "cluster")
        start = time.monotonic()
        # The shape `ordinal cluster up` starts (5 nodes, 3 of them real): the suite's target is on it.
        nodes = cluster.DEFAULT_NODES
        data = cluster.up(
            nodes=nodes, zones=3, real_nodes=cluster.default_real_nodes(nodes=nodes), port_offset=BENCH_OFFSET
        )
        figures["warm_up_s"] = round(time.monotonic() - start, 2)
        try:
            time.sleep(settle)  # idle means idle: let start-up caches and first syncs settle
            records = process.records(Path(os.environ["ORDINAL_CLUSTER_DIR"]))
            per = {r.name: rss_kib(r.pid) for r in records}
            figures["idle_rss_total_mib"] = round(sum(per.values()) / 1024)
            for name, kib in sorted(per.items()):
                figures[f"idle_rss_{name}_mib"] = round(kib / 1024)
            kube = connect(Target(data["kubeconfig"], None, "local cluster", local=True))
            run = new_run_id()
            ns = create_namespace(kube, run, prefix="bench")
            try:
                kube.create_object(headless_service_manifest("web", ns, selector_labels("web")))
                start = time.monotonic()
                kube.create_object(statefulset_manifest("web", ns, replicas=3))
                wait_for_set_ready(kube, ns, "web", 3, timeout=120)
                figures["statefulset_3_ordered_ready_s"] = round(time.monotonic() - start, 2)
            finally:
                delete_namespace(kube, ns)
            if suite:
                from ordinal.target import workers_for

                suite_run(figures, data, kube, "serial", [])
                figures["suite_parallel_workers"] = workers_for(kube)
                suite_run(figures, data, kube, "parallel", ["-n", "auto"])
            kube.close()
            assert state.is_running()
        finally:
            cluster.down()


#: Process names of the CSI stack (per node ones carry ``@<node>``).
CSI_PROCESSES = ("csi-controller", "csi-attacher", "csi-provisioner", "csi-node@", "csi-registrar@")


def csi_figures(figures: dict[str, Any], settle: float) -> None:
    """A cluster of 2 real nodes in one zone, where ordinal-csi volumes can move between kubelets."""
    from ordinal.kube.manifests import headless_service_manifest, selector_labels, statefulset_manifest
    from ordinal.labels import NODE_KIND_LABEL, REAL_NODE_KIND
    from ordinal.localcluster import cluster, csi, process
    from ordinal.observe.waiting import wait_for_set_ready
    from ordinal.target import Target, connect

    with tempfile.TemporaryDirectory(prefix="ordinal-bench-csi-") as tmp:
        where = Path(tmp) / "cluster"
        start = time.monotonic()
        data = cluster.up(nodes=2, zones=1, real_nodes=2, port_offset=BENCH_OFFSET + 1000, state_dir=where)
        figures["csi_cluster_up_2_real_nodes_s"] = round(time.monotonic() - start, 2)
        figures["csi_stack_start_s (host components + every CSINode registered)"] = data["timings"].get("csi")
        try:
            time.sleep(settle)
            mine = [r for r in process.records(where) if r.name.startswith(CSI_PROCESSES)]
            per = {r.name: (rss_kib(r.pid), rss_kib(r.pid, "RssAnon")) for r in mine}
            figures["csi_idle_rss_total_mib (VmRSS; own anonymous)"] = (
                f"{sum(v for v, _ in per.values()) / 1024:.0f}; {sum(a for _, a in per.values()) / 1024:.0f}"
            )
            for name, (kib, anon) in sorted(per.items()):
                figures[f"csi_idle_rss_{name}_mib (VmRSS; own anonymous)"] = f"{kib / 1024:.0f}; {anon / 1024:.0f}"
            kube = connect(Target(data["kubeconfig"], None, "local cluster", local=True))
            ns = create_namespace(kube, new_run_id(), prefix="benchcsi")
            try:
                kube.create_object(headless_service_manifest("web", ns, selector_labels("web")))
                manifest = statefulset_manifest(
                    "web", ns, replicas=1, image=data["images"]["busybox"], storage_class=csi.STORAGE_CLASS
                )
                pod = manifest["spec"]["template"]["spec"]
                pod["nodeSelector"] = {NODE_KIND_LABEL: REAL_NODE_KIND}
                pod["containers"][0]["imagePullPolicy"] = "IfNotPresent"
                start = time.monotonic()
                kube.create_object(manifest)
                wait_for_set_ready(kube, ns, "web", 1, timeout=180)
                figures["csi_statefulset_1_replica_ready_s"] = round(time.monotonic() - start, 2)
            finally:
                delete_namespace(kube, ns)
                kube.close()
        finally:
            cluster.down(state_dir=where)


def upstream_figures(figures: dict[str, Any], fresh: bool) -> None:
    from ordinal.localcluster import upstream

    if fresh:
        with tempfile.TemporaryDirectory(prefix="ordinal-bench-upstream-") as tmp:
            os.environ["ORDINAL_CLUSTER_DIR"] = str(Path(tmp) / "cluster")
            os.environ["ORDINAL_PORT_OFFSET"] = "7000"
            upstream.run()
    path = upstream.record_path()
    if not path.is_file():
        figures["upstream_statefulset_specs"] = "not run (tox -e upstream)"
        return
    summary = json.loads(path.read_text())
    figures["upstream_statefulset_specs"] = (
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped "
        f"of {len(summary['specs'])} ({summary['finished']}, {summary['real_nodes']}/{summary['nodes']} real nodes, "
        f"{summary.get('procs', 1)} processes)"
    )
    figures["upstream_statefulset_not_passed"] = (
        "; ".join(
            f"{spec['state']}: {spec['name'].removeprefix('[sig-apps] StatefulSet ')}"
            for spec in summary["specs"]
            if spec["state"] != "passed"
        )
        or "none"
    )
    figures["upstream_statefulset_wall_s"] = summary["wall_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="recompile everything into a throw-away cache")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds to idle before measuring RSS")
    parser.add_argument("--no-suite", action="store_true", help="skip the serial and parallel suite runs")
    parser.add_argument("--scale", action="store_true", help="only the scale figures (no cluster)")
    parser.add_argument("--upstream", action="store_true", help="run upstream's StatefulSet e2e specs afresh")
    parser.add_argument("--no-csi", action="store_true", help="skip the CSI stack's cluster (2 real nodes)")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if args.scale:
        import bench_scale

        bench_scale.main()
        return 0
    if args.cold:
        cold_build(figures)
    else:
        recorded_build(figures)
    cluster_figures(figures, args.settle, suite=not args.no_suite)
    if not args.no_csi:
        csi_figures(figures, args.settle)
    upstream_figures(figures, args.upstream)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print()
    import bench_scale

    bench_scale.main()
    out = Path("reports") / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
