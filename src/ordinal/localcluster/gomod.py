"""Keep the Go wrapper modules' pins in step with ``cluster/versions.json``.

The Kubernetes module requires every staging module at the placeholder ``v0.0.0``; a
consumer must replace each with its tagged ``v0.X.Y``. The set changes between releases,
so it is generated from the pinned release's own go.mod, never maintained by hand.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError
from ordinal.localcluster import paths
from ordinal.localcluster.build import go_env, go_version
from ordinal.localcluster.versions import Versions, kube_module, load, split_pin, staging_of

#: The e2e module has no Go files of its own (it builds packages of k8s.io/kubernetes): `go mod tidy` would
#: drop every requirement, so its go.mod and go.sum are completed by loading what it builds instead.
E2E_MODULE = "e2e"
E2E_PACKAGES = ("k8s.io/kubernetes/test/e2e", "k8s.io/kubernetes/test/images/agnhost")
SETTLE: dict[str, list[str]] = {E2E_MODULE: ["list", "-mod=mod", "-deps", "-test", *E2E_PACKAGES]}
#: ordinal-csi (driver, registrar, provisioner) and the upstream external-attacher, built as a `tool` of
#: its wrapper module: the attacher's own go.mod has replaces, so `go install pkg@version` refuses it.
CSI_MODULE, ATTACHER_MODULE = "csi", "attacher"
#: k8s.io modules the attacher links, held at the cluster's release (the attacher pins v0.37.0 of them).
ATTACHER_STAGING = (
    "k8s.io/api",
    "k8s.io/apimachinery",
    "k8s.io/apiserver",
    "k8s.io/client-go",
    "k8s.io/component-base",
    "k8s.io/csi-translation-lib",
    "k8s.io/streaming",
)


def _go(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(["go", *args], cwd=cwd, env=go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"expected `go {' '.join(args)}` to succeed in {cwd}, got: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def _modfile(module: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_go(["mod", "edit", "-json"], module))
    return data


def staging_modules(release: str, cwd: Path) -> list[str]:
    """k8s.io modules that k8s.io/kubernetes at ``release`` requires at v0.0.0."""
    info = json.loads(_go(["mod", "download", "-json", f"k8s.io/kubernetes@{release}"], cwd))
    upstream = json.loads(_go(["mod", "edit", "-json", info["GoMod"]], cwd))
    return sorted(
        r["Path"] for r in upstream.get("Require") or [] if r["Path"].startswith("k8s.io/") and r["Version"] == "v0.0.0"
    )


def desired(v: Versions, source: Path) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Per module dir: (pinned requires path→version, replaces path→path@version)."""
    lib_path, lib_version = v.provisioner_lib.split("@")
    kube: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for release in (v.kubernetes, *v.kubernetes_older):
        staging = staging_modules(release, source / "kube")
        tag = staging_of(release)
        kube[kube_module(release, v.kubernetes)] = ({"k8s.io/kubernetes": release}, {m: f"{m}@{tag}" for m in staging})
    return {
        **kube,
        # Upstream's e2e test binary and agnhost (``tox -e upstream``): the default release, the same replaces.
        E2E_MODULE: kube[kube_module(v.kubernetes, v.kubernetes)],
        "etcd": ({"go.etcd.io/etcd/server/v3": v.etcd}, {}),
        CSI_MODULE: (
            {
                **dict(split_pin(p) for p in (v.csi_spec, v.csi_lib_utils, v.csi_test, v.provisioner_lib)),
                **{m: v.staging for m in ("k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go")},
                **{m: v.staging for m in ("k8s.io/kubelet", "k8s.io/mount-utils")},
            },
            {},
        ),
        ATTACHER_MODULE: (dict([split_pin(v.external_attacher), *((m, v.staging) for m in ATTACHER_STAGING)]), {}),
        "provisioner": (
            {
                lib_path: lib_version,
                "k8s.io/api": v.staging,
                "k8s.io/apimachinery": v.staging,
                "k8s.io/client-go": v.staging,
            },
            {},
        ),
    }


def _differences(module: Path, requires: dict[str, str], replaces: dict[str, str]) -> list[str]:
    mod = _modfile(module)
    have_req = {r["Path"]: r["Version"] for r in mod.get("Require") or []}
    have_rep = {r["Old"]["Path"]: f"{r['New']['Path']}@{r['New'].get('Version', '')}" for r in mod.get("Replace") or []}
    diffs = [
        f"{module.name}: require {p} {have_req.get(p, 'missing')} != {want}"
        for p, want in requires.items()
        if have_req.get(p) != want
    ]
    if have_rep != replaces:
        missing = sorted(set(replaces) - set(have_rep))
        extra = sorted(set(have_rep) - set(replaces))
        wrong = sorted(p for p in set(replaces) & set(have_rep) if replaces[p] != have_rep[p])
        diffs.append(f"{module.name}: replaces missing {missing}, extra {extra}, wrong {wrong}")
    return diffs


def generate(*, check: bool = False, log: Callable[[str], None] = print) -> list[str]:
    """Rewrite (or, with ``check``, only compare) the wrapper modules. Returns what differed."""
    go_version()
    source = paths.source_dir()
    v = load(source)
    changed: list[str] = []
    for name, (requires, replaces) in desired(v, source).items():
        module = source / name
        diffs = _differences(module, requires, replaces)
        for diff in diffs:
            log(diff)
        if diffs:
            changed.append(name)
        if check or not diffs:
            continue
        mod = _modfile(module)
        args = ["mod", "edit"]
        args += [f"-dropreplace={r['Old']['Path']}" for r in mod.get("Replace") or []]
        args += [f"-require={p}@{ver}" for p, ver in requires.items()]
        args += [f"-replace={old}={new}" for old, new in replaces.items()]
        _go(args, module)
        _go(SETTLE.get(name, ["mod", "tidy"]), module)
        log(f"{name}: go.mod regenerated")
    return changed
