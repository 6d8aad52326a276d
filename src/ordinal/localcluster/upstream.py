"""Upstream's own ``[sig-apps] StatefulSet`` e2e specs against the local cluster (``tox -e upstream``).

A cross-check of the cluster, not of ordinal: if upstream's specs pass here, the local cluster
behaves like the clusters they were written for, and ordinal's verdicts on it mean something.

- ``e2e.test`` is upstream's test binary, ``go test -c k8s.io/kubernetes/test/e2e`` from the pinned
  release (wrapper module ``cluster/e2e``), and ``agnhost`` its test image's program; both are
  built like the cluster's binaries (:mod:`build`: ``-trimpath``, ``CGO_ENABLED=0``, same cache).
- The images the specs run (agnhost in two versions, the e2e busybox, pause) are packed as OCI
  archives under the upstream names the binary itself lists (``--list-images``) and imported
  into every real node's containerd: nothing is pulled.
- ``e2e.test --provider=skeleton`` runs with the cluster's multi-call binary as kubectl; the
  Ginkgo JSON report gives each spec's state and time, printed with the wall time and written to
  ``reports/upstream/summary.json``; the last full run's also goes beside the build cache
  (:func:`record_path`), where ``make bench`` reads it.

Without a running local cluster it starts one shaped for the specs (every node real, so exec,
readiness probes and the kubelet's own rejections happen; the alpha gates the specs name on) and
stops it afterwards. Specs the local cluster cannot support are skipped with their reason
(:data:`CANNOT`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError, InvalidScenario, OrdinalError
from ordinal.localcluster import build, cluster, images, paths, state
from ordinal.localcluster.context import parse_feature_gates
from ordinal.localcluster.gomod import E2E_MODULE, E2E_PACKAGES
from ordinal.localcluster.network import ClusterNet
from ordinal.localcluster.nodeconfig import NodeLayout
from ordinal.localcluster.nodes import real
from ordinal.localcluster.versions import Versions, load

Log = Callable[[str], None]

MODULE = E2E_MODULE  # wrapper module under cluster/
E2E_PACKAGE, AGNHOST_PACKAGE = E2E_PACKAGES
#: Every spec of upstream's StatefulSet suite, and nothing else (e.g. not storage's StatefulSet specs).
#: A regular expression on the full spec texts ``e2e.test --list-tests`` prints; the chosen ones are then
#: passed to Ginkgo by name (:func:`exact_focus`).
FOCUS = r"^\[sig-apps\] StatefulSet "
#: Registries of the images the specs run, at the pinned release's defaults (test/utils/image).
E2E_REGISTRY = "registry.k8s.io/e2e-test-images"
GC_REGISTRY = "registry.k8s.io"

#: Specs the local cluster cannot support: a regular expression on the spec's full text → why.
CANNOT: dict[str, str] = {
    r"Deploy clustered applications": "needs: images from a public registry (CockroachDB); the local cluster "
    "pulls nothing",
}

#: What a cluster the runner starts itself looks like: every node real (exec, probes, kubelet rejections).
DEFAULT_NODES = 2
#: e2e.test processes run side by side, each on its share of the specs (upstream runs these specs in
#: parallel too: none is [Serial]); most of a spec's time is waiting for pods, not CPU.
DEFAULT_PROCS = 3
SERIAL = "[Serial]"
NOT_RUN = "not run (the run was interrupted before it)"

OUT_DIR = Path("reports") / "upstream"


def record_path() -> Path:
    """The last full run's summary, beside the build cache so every checkout's ``make bench`` finds it."""
    return paths.cache_dir() / "upstream" / "last-run.json"


# --- building -------------------------------------------------------------------------------------


def artifacts(v: Versions) -> list[build.Artifact]:
    """``e2e.test`` (stamped with the release, as upstream's builds are) and ``agnhost``."""
    return [
        build.Artifact("e2e", ("e2e.test",), MODULE, E2E_PACKAGE, ldflags=build.version_stamp(v.kubernetes), test=True),
        build.Artifact("agnhost", ("agnhost",), MODULE, AGNHOST_PACKAGE),
    ]


def binaries(log: Log) -> dict[str, Path]:
    """``{"e2e": path of e2e.test, "agnhost": path}``, building what the cache lacks."""
    source = paths.source_dir()
    arts = artifacts(load(source))
    built = build.ensure(arts, source, log)
    return {art.name: built[art.name].dir / art.binaries[0] for art in arts}


def module_dir(release: str) -> Path:
    """Where the Go module cache holds ``k8s.io/kubernetes@release`` (agnhost's image files live there)."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{release}"],
        cwd=paths.source_dir() / MODULE,
        env=build.go_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise ClusterError(
            f"expected `go mod download k8s.io/kubernetes@{release}` to succeed, got: {proc.stderr[-200:]}"
        )
    return Path(json.loads(proc.stdout)["Dir"])


# --- images ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class E2EImages:
    """Upstream names of the images the StatefulSet specs run."""

    agnhost: tuple[str, ...]  # current and previous version: rolling-update specs move between them
    busybox: tuple[str, ...]  # the binary may list more than one (one spec pins an older busybox)
    pause: str


def pick_images(listing: str) -> E2EImages:
    """The StatefulSet specs' images from ``e2e.test --list-images`` output (one reference a line)."""
    refs = [line.strip() for line in listing.splitlines() if line.strip()]

    def named(registry: str, name: str) -> list[str]:
        return sorted(r for r in refs if r.rpartition(":")[0] == f"{registry}/{name}")

    agnhost, busybox, pause = (
        named(E2E_REGISTRY, "agnhost"),
        named(E2E_REGISTRY, "busybox"),
        named(GC_REGISTRY, "pause"),
    )
    if not agnhost or not busybox or len(pause) != 1:
        raise ClusterError(
            f"expected e2e.test --list-images to name {E2E_REGISTRY}/agnhost, {E2E_REGISTRY}/busybox and one "
            f"{GC_REGISTRY}/pause, saw agnhost {agnhost}, busybox {busybox}, pause {pause}"
        )
    return E2EImages(tuple(agnhost), tuple(busybox), pause[0])


def agnhost_image(ref: str, binary: Path, image_files: Path) -> images.Image:
    """agnhost as its test image has it: ``/agnhost`` (also as ``agnhost-2``), a shell and the porter
    certificate (``/localhost.crt``, the StatefulSet specs' HTTP readiness probe path), as root."""
    box = images.busybox_image()
    entries = [
        *(e for e in box.entries if e.path != "var/www/index.html"),
        images.Entry("agnhost", data=binary.read_bytes(), mode=0o755),
        images.Entry("agnhost-2", "symlink", target="agnhost", mode=0o777),
        images.Entry("uploads", "dir", mode=0o755),
        *(
            images.Entry(name, data=(image_files / "porter" / name).read_bytes())
            for name in ("localhost.crt", "localhost.key")
        ),
    ]
    return images.Image(ref, tuple(entries), {"Entrypoint": ["/agnhost"], "Cmd": ["pause"], "Env": [images.PATH_ENV]})


def image_set(wanted: E2EImages, agnhost: Path, pause: Path, image_files: Path) -> list[images.Image]:
    return [
        *(agnhost_image(ref, agnhost, image_files) for ref in wanted.agnhost),
        *(replace(images.busybox_image(), ref=ref) for ref in wanted.busybox),
        replace(images.pause_image(pause), ref=wanted.pause),
    ]


def archive_name(ref: str) -> str:
    """``registry.k8s.io/e2e-test-images/agnhost:2.55`` → ``agnhost-2.55.oci.tar``."""
    name, _, tag = ref.rpartition("/")[2].partition(":")
    return f"{name}-{tag}.oci.tar"


def import_onto_real_nodes(where: Path, archives: Iterable[images.Archive], log: Log) -> list[str]:
    """Import ``archives`` into every real node's containerd; return the nodes."""
    record = real.load(where) or {}
    nodes: list[str] = list(record.get("nodes") or [])
    net = ClusterNet(int(record.get("offset", 0)))
    wanted = list(archives)
    for number, name in enumerate(nodes, start=1):
        node = NodeLayout(where, name, number, net)
        for archive in wanted:
            proc = subprocess.run(real.ctr(node, "images", "import", str(archive.path)), capture_output=True, text=True)
            if proc.returncode != 0:
                raise ClusterError(f"expected to import {archive.ref} on {name}, got: {proc.stderr.strip()[-200:]}")
        listed = subprocess.run(real.ctr(node, "images", "ls", "-q"), capture_output=True, text=True).stdout.split()
        absent = [a.ref for a in wanted if a.ref not in listed]
        if absent:
            raise ClusterError(f"expected images {absent} in containerd of {name} after import, found {listed}")
        log(f"{name}: imported {', '.join(a.ref for a in wanted)}")
    return nodes


# --- the specs ------------------------------------------------------------------------------------

_GATE = re.compile(r"\[FeatureGate:(\w+)\]")
_ALPHA = re.compile(r"\[Alpha\]")


def focused(names: Iterable[str], focus: str = FOCUS) -> list[str]:
    """Spec names (``e2e.test --list-tests``) that the run selects."""
    pattern = re.compile(focus)
    return [n for n in names if pattern.search(n)]


def spec_names(listing: str) -> list[str]:
    """Full spec names from ``e2e.test --list-tests`` output: one a line, after an optional location."""
    names = []
    for line in listing.splitlines():
        line = line.strip()
        if not line:
            continue
        # "path/file.go:123: [sig-apps] StatefulSet ..." or just the name
        m = re.match(r"^\S+\.go:\d+:\s+(.*)$", line)
        names.append(m.group(1) if m else line)
    return names


def gates_named(names: Iterable[str]) -> dict[str, bool]:
    """The alpha gates the specs name (``[FeatureGate:X] [Alpha]``): the cluster must turn them on."""
    return {g: True for n in names if _ALPHA.search(n) for g in _GATE.findall(n)}


def cannot(name: str) -> str | None:
    return next((why for pattern, why in CANNOT.items() if re.search(pattern, name)), None)


def go_regex_escape(text: str) -> str:
    """``text`` as a literal in a Go (RE2) regular expression."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def shards(names: Sequence[str], procs: int) -> list[list[str]]:
    """``names`` dealt round-robin to ``procs`` processes (no empty share): listing order keeps the slow
    scaling and update specs of one container apart."""
    if procs < 1:
        raise InvalidScenario(f"expected --procs >= 1, got {procs}")
    dealt = [list(names[i::procs]) for i in range(procs)]
    return [share for share in dealt if share]


def exact_focus(names: Iterable[str]) -> str:
    """A Go regular expression that selects exactly ``names`` (full spec texts), as Ginkgo matches it:
    against "<suite description> <spec text>"."""
    return "(?:^| )(?:" + "|".join(go_regex_escape(n) for n in names) + ")$"


def e2e_argv(
    binary: Path,
    *,
    kubeconfig: str,
    kubectl: Path,
    out: Path,
    focus: str,
    skip: Sequence[str],
    cluster_domain: str,
) -> list[str]:
    return [
        str(binary),
        "--provider=skeleton",
        f"--kubeconfig={kubeconfig}",
        f"--kubectl-path={kubectl}",
        f"--dns-domain={cluster_domain}",
        f"--report-dir={out}",
        f"--e2e-output-dir={out}",
        "--disable-log-dump",  # log-dump scripts need ssh to the nodes
        f"--ginkgo.focus={focus}",
        *([f"--ginkgo.skip={'|'.join(skip)}"] if skip else []),
        f"--ginkgo.json-report={out / 'ginkgo.json'}",
        "--ginkgo.timeout=6h",
        "--ginkgo.v",
        "--ginkgo.no-color",
    ]


@dataclass(frozen=True)
class SpecResult:
    name: str
    state: str  # passed | failed | skipped | panicked | timedout | interrupted | aborted
    seconds: float
    message: str = ""  # failure or skip message, first line


def parse_report(report: list[dict[str, Any]], focus: str = FOCUS) -> list[SpecResult]:
    """Each focused ``It`` of a Ginkgo JSON report (a list of suite reports), in run order."""
    pattern = re.compile(focus)
    out: list[SpecResult] = []
    for suite in report:
        for spec in suite.get("SpecReports") or []:
            if spec.get("LeafNodeType") != "It":
                continue
            name = " ".join([*(spec.get("ContainerHierarchyTexts") or []), spec.get("LeafNodeText", "")]).strip()
            labels = [label for group in spec.get("ContainerHierarchyLabels") or [] for label in group or []]
            labels += spec.get("LeafNodeLabels") or []
            if not pattern.search(name) and not pattern.search(" ".join([name, *(f"[{x}]" for x in labels)])):
                continue
            failure = spec.get("Failure") or {}
            message = str(failure.get("Message") or "").strip().splitlines()
            out.append(
                SpecResult(
                    name=name,
                    state=str(spec.get("State", "unknown")),
                    seconds=round(float(spec.get("RunTime", 0)) / 1e9, 1),
                    message=message[0][:300] if message else "",
                )
            )
    return out


def merged(reports: Iterable[list[dict[str, Any]]], focus: str = FOCUS) -> dict[str, SpecResult]:
    """One result per spec over every process's report.

    Each process lists every spec and skips those not given to it, so a spec's outcome is the
    one from the process that ran it; "skipped" stands only where no process ran it.
    """
    out: dict[str, SpecResult] = {}
    for report in reports:
        for r in parse_report(report, focus):
            if r.name not in out or out[r.name].state == "skipped":
                out[r.name] = r
    return out


def counts(results: Iterable[SpecResult]) -> dict[str, int]:
    tally = {"passed": 0, "failed": 0, "skipped": 0}
    for r in results:
        key = r.state if r.state in ("passed", "skipped") else "failed"
        tally[key] += 1
    return tally


def summary_lines(results: Sequence[SpecResult], wall: float, reasons: dict[str, str]) -> list[str]:
    """One line per spec (state, seconds, name; the reason or failure under it), then the totals."""
    lines = []
    for r in results:
        lines.append(f"{r.state:<8} {r.seconds:>7.1f}s  {r.name}")
        why = reasons.get(r.name) or r.message
        if why and r.state != "passed":
            lines.append(f"{'':<18}{why}")
    tally = counts(results)
    lines.append(
        f"upstream [sig-apps] StatefulSet: {tally['passed']} passed, {tally['failed']} failed, "
        f"{tally['skipped']} skipped of {len(results)} in {wall:.0f}s wall"
    )
    return lines


# --- running --------------------------------------------------------------------------------------

#: Ginkgo's verbose end-of-spec header, e.g. "• [12.345 seconds]" or "• [FAILED] [600.123 seconds]".
_END = re.compile(r"^(?:•|S|P)\s*(?:\[(?P<state>[A-Z]+)\]\s*)?\[(?P<seconds>[\d.]+) seconds\]$")


def _follow(stream: Any, log_file: Path, say: Log, tag: str = "") -> None:
    """Copy the child's output into its log; say one line when a spec ends (Ginkgo's end header + name)."""
    pending: str | None = None
    with open(log_file, "w") as sink:
        for raw in stream:
            line = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            sink.write(line)
            text = line.strip()
            if pending is not None:
                if text:
                    say(f"  {tag}{pending} {text}")
                    pending = None
                continue
            m = _END.match(text)
            if m:
                state = m.group("state") or ("SKIPPED" if text.startswith("S") else "PASSED")
                pending = f"{state.lower():<8} {float(m.group('seconds')):>6.1f}s"


def list_of(binary: Path, flag: str) -> str:
    proc = subprocess.run([str(binary), flag], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"expected `e2e.test {flag}` to succeed, got: {(proc.stderr or proc.stdout)[-200:]}")
    return proc.stdout


def run(
    *,
    focus: str = FOCUS,
    out: Path = OUT_DIR,
    nodes: int = DEFAULT_NODES,
    feature_gates: dict[str, bool] | None = None,
    real_nodes: int | None = None,
    procs: int = DEFAULT_PROCS,
    keep: bool = False,
    log: Log = lambda m: print(m, file=sys.stderr, flush=True),
) -> tuple[list[SpecResult], float]:
    """Build, pack, start a cluster if none is up, run the specs; return their results and the wall time."""
    start = time.monotonic()
    bins = binaries(log)
    e2e = bins["e2e"]
    names = focused(spec_names(list_of(e2e, "--list-tests")), focus)
    if not names:
        raise InvalidScenario(f"expected --focus {focus!r} to select specs of e2e.test, it selects none")
    reasons = {n: why for n in names if (why := cannot(n))}
    runnable = [n for n in names if n not in reasons]
    # [Serial] specs (one cordons a node) run alone once the others are done, as Ginkgo's own -p does.
    serial = [n for n in runnable if SERIAL in n]
    groups = shards([n for n in runnable if SERIAL not in n], procs)
    gates = {**gates_named(n for n in names if n not in reasons), **(feature_gates or {})}
    where = paths.state_dir()
    started = False
    if not state.is_running(where):
        count = real_nodes if real_nodes is not None else nodes
        log(f"no local cluster running: starting one ({nodes} nodes, {count} real, gates {gates or 'none'})")
        cluster.up(
            nodes=nodes,
            real_nodes=count,
            zones=min(nodes, 3),
            port_offset=int(os.environ.get("ORDINAL_PORT_OFFSET", "0") or 0),
            feature_gates=gates,
            log=log,
        )
        started = True
    try:
        data = state.read(where) or {}
        have = data.get("feature_gates") or {}
        missing = sorted(g for g, on in gates.items() if have.get(g) != on)
        if missing:
            log(f"warning: the running cluster lacks feature gates {missing}; specs that need them will fail")
        kube_bins = build.binaries(log=log, kubernetes=data.get("kubernetes"))
        wanted = pick_images(list_of(e2e, "--list-images"))
        release = load(paths.source_dir()).kubernetes
        made = [
            images.write_archive(image, where / "images" / "e2e" / archive_name(image.ref))
            for image in image_set(
                wanted, bins["agnhost"], kube_bins["pause"], module_dir(release) / "test" / "images" / "agnhost"
            )
        ]
        if not import_onto_real_nodes(where, made, log):
            log("warning: no real nodes: specs that exec into pods or need probes to run will fail")
        out = out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        phases = [
            [(out / f"proc-{i}", group) for i, group in enumerate(groups, start=1)],
            [(out / "serial", serial)] if serial else [],
        ]
        log(
            f"running {len(names) - len(reasons)} specs: {len(names) - len(reasons) - len(serial)} in "
            f"{len(groups)} processes, then {len(serial)} [Serial] alone ({len(reasons)} skipped as unsupported); "
            f"logs {out}/*/e2e.log"
        )
        reports = []
        for phase in (p for p in phases if p):
            argvs = [
                e2e_argv(
                    e2e,
                    kubeconfig=data["kubeconfig"],
                    kubectl=kube_bins["kubectl"],
                    out=d,
                    focus=exact_focus(group),
                    skip=(),
                    cluster_domain=data.get("cluster_domain", "cluster.local"),
                )
                for d, group in phase
            ]
            done, interrupted = run_processes(argvs, [d for d, _ in phase], log)
            reports += done
            if interrupted:
                break
        ran = merged(reports, focus)
        results = [ran.get(n) or SpecResult(n, "skipped", 0.0, reasons.get(n, NOT_RUN)) for n in names]
    finally:
        if started and not keep:
            cluster.down(log=log)
    wall = time.monotonic() - start
    for line in summary_lines(results, wall, reasons):
        print(line, flush=True)
    write_summary(out / "summary.json", results, wall, reasons, data, procs=len(groups))
    complete = not any(r.state == "interrupted" or r.message == NOT_RUN for r in results)
    if focus == FOCUS and complete:  # a full run: what `make bench` shows
        record_path().parent.mkdir(parents=True, exist_ok=True)
        record_path().write_text((out / "summary.json").read_text())
    return results, wall


def run_processes(
    argvs: Sequence[list[str]], dirs: Sequence[Path], log: Log
) -> tuple[list[list[dict[str, Any]]], bool]:
    """Run the e2e.test processes side by side; return each one's Ginkgo JSON report, and whether
    they were interrupted.

    Ctrl-C (SIGINT) is passed on to them: Ginkgo then runs the specs' cleanups (their namespaces go)
    and still writes its report, so an interrupted run keeps what finished.
    """
    children: list[tuple[subprocess.Popen[bytes], threading.Thread]] = []
    for number, (argv, d) in enumerate(zip(argvs, dirs, strict=True), start=1):
        d.mkdir(parents=True, exist_ok=True)
        (d / "ginkgo.json").unlink(missing_ok=True)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=d)
        tag = f"[{number}] " if len(argvs) > 1 else ""
        follower = threading.Thread(target=_follow, args=(proc.stdout, d / "e2e.log", log, tag), daemon=True)
        follower.start()
        children.append((proc, follower))
    interrupted = False
    try:
        codes = [proc.wait() for proc, _ in children]
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping the e2e.test processes (their cleanups run, their reports are kept)")
        for proc, _ in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = [proc.wait(timeout=300) for proc, _ in children]
    reports = []
    for (_proc, follower), code, d in zip(children, codes, dirs, strict=True):
        follower.join(timeout=10)
        path = d / "ginkgo.json"
        if not path.exists():
            raise ClusterError(f"expected e2e.test to write {path}, it exited {code} without (see {d / 'e2e.log'})")
        reports.append(json.loads(path.read_text()))
    return reports, interrupted


def write_summary(
    path: Path,
    results: Sequence[SpecResult],
    wall: float,
    reasons: dict[str, str],
    data: dict[str, Any],
    *,
    procs: int = 1,
) -> None:
    summary = {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kubernetes": data.get("kubernetes"),
        "nodes": len(data.get("nodes") or []),
        "real_nodes": len(data.get("real_nodes") or []),
        "feature_gates": data.get("feature_gates") or {},
        "procs": procs,
        "wall_s": round(wall, 1),
        **counts(results),
        "specs": [{**vars(r), **({"reason": reasons[r.name]} if r.name in reasons else {})} for r in results],
    }
    path.write_text(json.dumps(summary, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tox -e upstream --", description=__doc__.splitlines()[0])
    parser.add_argument("--focus", default=FOCUS, help=f"regular expression of specs to run (default {FOCUS!r})")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"where the log and reports go (default {OUT_DIR})")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES, help="nodes of a cluster started here")
    parser.add_argument("--real-nodes", type=int, default=None, help="real ones among them (default: all)")
    parser.add_argument("--feature-gates", default="", help="more gates for a cluster started here (A=true,...)")
    parser.add_argument(
        "--procs", type=int, default=DEFAULT_PROCS, help=f"e2e.test processes side by side (default {DEFAULT_PROCS})"
    )
    parser.add_argument("--keep", action="store_true", help="leave a cluster started here running")
    parser.add_argument("--build-only", action="store_true", help="build e2e.test and agnhost, run nothing")
    args = parser.parse_args(argv)
    try:
        if args.build_only:
            for name, path in binaries(lambda m: print(m, file=sys.stderr, flush=True)).items():
                print(f"{name}: {path}")
            return 0
        results, _ = run(
            focus=args.focus,
            out=args.out,
            nodes=args.nodes,
            real_nodes=args.real_nodes,
            feature_gates=parse_feature_gates(args.feature_gates),
            procs=args.procs,
            keep=args.keep,
        )
    except OrdinalError as err:
        print(f"upstream: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2 if isinstance(err, InvalidScenario) else 1
    return 1 if counts(results)["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
