"""Compile the local cluster's binaries once and cache them by what they are built from.

Each artifact (the Kubernetes multi-call binary, etcd, CoreDNS, kwok, our provisioner, our CSI
driver and the upstream external-attacher) has
its own cache key: the Go version, its pins and the bytes of its wrapper module. A warm
``up`` finds every key present and compiles nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import ClusterError
from ordinal.localcluster import paths, progress
from ordinal.localcluster.versions import Versions, kube_module, load, split_pin
from ordinal.progress import Reporter

#: Names the multi-call binary answers to (symlinks made next to it).
KUBE_COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
MIN_GO = (1, 26)


@dataclass(frozen=True)
class Artifact:
    """One cached build output: a binary (plus aliases) made from a module or a module@version."""

    name: str
    binaries: tuple[str, ...]
    module_dir: str | None  # wrapper module under cluster/, or None for `go install pkg@version`
    package: str  # package to build
    ldflags: str = ""
    aliases: tuple[str, ...] = ()
    test: bool = False  # `go test -c`: the package's test binary (upstream's e2e.test)


def version_stamp(release: str) -> str:
    """-ldflags that make the binary report ``release`` (``/version``, ``--version``) like upstream's builds."""
    major, minor, _ = release.lstrip("v").split(".")
    return " ".join(
        f"-X {pkg}.{key}={val}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, val in (
            ("gitVersion", release),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", "1970-01-01T00:00:00Z"),
        )
    )


def kube_artifact(v: Versions, release: str) -> Artifact:
    """The multi-call Kubernetes binary of ``release`` (the default, or one of ``kubernetes_older``)."""
    module = kube_module(release, v.kubernetes)
    return Artifact(module, ("kube",), module, ".", ldflags=version_stamp(release), aliases=KUBE_COMPONENTS)


def artifacts(v: Versions, kubernetes: str | None = None) -> list[Artifact]:
    """What a cluster of ``kubernetes`` (default: the pinned default release) is built from."""
    return [
        kube_artifact(v, v.release(kubernetes)),
        Artifact("etcd", ("etcd",), "etcd", "."),
        Artifact("provisioner", ("ordinal-provisioner",), "provisioner", "."),
        # The sandbox program of real nodes' pods, packed into an OCI image by images.py.
        Artifact("pause", ("pause",), "pause", "."),
        Artifact("coredns", ("coredns",), None, f"github.com/coredns/coredns@{v.coredns}"),
        Artifact("kwok", ("kwok",), None, f"sigs.k8s.io/kwok/cmd/kwok@{v.kwok}"),
        # The CSI stack real nodes run: our driver (with its registrar and provisioner) and the real attacher.
        Artifact("csi", ("ordinal-csi",), "csi", "."),
        attacher_artifact(v),
    ]


#: The external-attacher's main package, built from the wrapper module cluster/attacher.
ATTACHER_PACKAGE = "github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher"


def attacher_artifact(v: Versions) -> Artifact:
    """The upstream external-attacher, stamped with its release (``--version``, its startup log line)."""
    _, release = split_pin(v.external_attacher)
    return Artifact("attacher", ("csi-attacher",), "attacher", ATTACHER_PACKAGE, ldflags=f"-X main.version={release}")


def go_env() -> dict[str, str]:
    """Environment for every go command: no surprise toolchain download, static binaries."""
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    return env


def go_version() -> str:
    """``go1.26.8``; raises a one-line error when no usable Go toolchain is on PATH."""
    go = shutil.which("go")
    if go is None:
        raise ClusterError(
            f"expected a Go toolchain >= go{MIN_GO[0]}.{MIN_GO[1]} on PATH to build the local cluster, "
            "found no `go` (install Go, or run `ordinal cluster build` on a machine that has it)"
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=go_env())
    version = out.stdout.strip()
    try:
        parts = tuple(int(p) for p in version.removeprefix("go").split(".")[:2])
    except ValueError:
        parts = (0, 0)
    if out.returncode != 0 or parts < MIN_GO:
        raise ClusterError(
            f"expected Go >= go{MIN_GO[0]}.{MIN_GO[1]} to build the local cluster, "
            f"found {version or out.stderr.strip()!r}"
        )
    return version


def _module_files(module: Path) -> Iterable[Path]:
    for path in sorted(module.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            yield path


def cache_key(art: Artifact, source: Path, goversion: str) -> str:
    h = hashlib.sha256()
    h.update(f"{art.name}\0{art.package}\0{art.ldflags}\0{goversion}\0".encode())
    if art.module_dir is not None:
        module = source / art.module_dir
        for path in _module_files(module):
            h.update(str(path.relative_to(module)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Built:
    name: str
    dir: Path
    cached: bool
    seconds: float
    peak_rss_kib: int


def _out_dir(art: Artifact, key: str) -> Path:
    return paths.cache_dir() / "build" / f"{art.name}-{key}"


def _find_cached(art: Artifact, source: Path) -> Path | None:
    """A cached build for this artifact, found without needing Go (the key's Go part is recorded)."""
    root = paths.cache_dir() / "build"
    if not root.is_dir():
        return None
    for marker in sorted(root.glob(f"{art.name}-*/build.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        meta = json.loads(marker.read_text())
        if meta.get("key") == cache_key(art, source, meta.get("go", "")):
            return marker.parent
    return None


_MEASURE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def _stale_total(cmd: list[str], flags: list[str], package: str, cwd: Path, env: dict[str, str]) -> int | None:
    """How many packages the build will compile (``go list -deps``, stale ones); None if go list cannot say.

    ``go install pkg@version`` has no ``go list`` counterpart, so those builds count without a total.
    """
    if cmd[1] != "build":
        return None
    listed = subprocess.run(
        ["go", "list", "-deps", *flags, "-f", "{{.ImportPath}} {{.Stale}}", package],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    return len(progress.stale_packages(listed.stdout)) if listed.returncode == 0 else None


def _build_one(art: Artifact, source: Path, goversion: str, log: Callable[[str], None]) -> Built:
    key = cache_key(art, source, goversion)
    final = _out_dir(art, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{art.name}-", dir=final.parent))
    env = go_env()
    flags = ["-trimpath", "-ldflags", f"-s -w {art.ldflags}".strip()]
    if art.module_dir is None:
        env["GOBIN"] = str(tmp)
        env["GOFLAGS"] = "-buildvcs=false"  # `go install pkg@version` refuses -mod
        cmd = ["go", "install", "-v", *flags, art.package]
        cwd = tmp
    else:
        verb = ["test", "-c", "-vet=off"] if art.test else ["build"]  # `go test` vets by default: not ours to vet
        cmd = ["go", *verb, "-v", *flags, "-o", str(tmp / art.binaries[0]), art.package]
        cwd = source / art.module_dir
    log(f"building {art.name} ({' '.join(cmd[:2])} {art.package}) ...")
    start = time.monotonic()
    total = _stale_total(cmd, flags, art.package, cwd, env)
    shown = progress.BuildProgress(art.name, total, Reporter.for_stream(sys.stderr))
    # Run go under a tiny Python parent so RUSAGE_CHILDREN covers this build alone (peak RSS).
    # -v prints each package as it is compiled: the progress count; the last lines are kept for errors.
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", _MEASURE, *cmd], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            shown.feed(line)
            lines = [*lines[-40:], line.rstrip("\n")]
    shown.finish()
    seconds = time.monotonic() - start
    peak = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = " | ".join([line for line in lines[:-1] if not progress.is_package_line(line)][-4:])
        raise ClusterError(f"expected `{' '.join(cmd)}` to build {art.name}, it failed: {tail}")
    for alias in art.aliases:
        (tmp / alias).symlink_to(art.binaries[0])
    meta = {"key": key, "go": goversion, "seconds": round(seconds, 1), "peak_rss_kib": peak}
    (tmp / "build.json").write_text(json.dumps(meta))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    log(f"built {art.name} in {seconds:.0f}s")
    return Built(art.name, final, False, seconds, peak)


def build(
    source: Path | None = None,
    only: Iterable[str] | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    kubernetes: str | None = None,
) -> dict[str, Built]:
    """Return every artifact's directory, building what is not cached."""
    source = source or paths.source_dir()
    wanted = set(only) if only else None
    chosen = [a for a in artifacts(load(source), kubernetes) if wanted is None or a.name in wanted]
    return ensure(chosen, source, log)


def ensure(arts: Iterable[Artifact], source: Path, log: Callable[[str], None]) -> dict[str, Built]:
    """Each artifact's cached build, compiling the missing ones (also for artifacts outside the cluster's set)."""
    result: dict[str, Built] = {}
    goversion: str | None = None
    for art in arts:
        cached = _find_cached(art, source)
        if cached is not None:
            result[art.name] = Built(art.name, cached, True, 0.0, 0)
            continue
        goversion = goversion or go_version()
        result[art.name] = _build_one(art, source, goversion, log)
    return result


def binaries(
    source: Path | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    kubernetes: str | None = None,
) -> dict[str, Path]:
    """Map of binary name → path for every component, building what is missing."""
    out: dict[str, Path] = {}
    for built in build(source, log=log, kubernetes=kubernetes).values():
        for entry in built.dir.iterdir():
            if entry.name != "build.json":
                out[entry.name] = entry
    return out
