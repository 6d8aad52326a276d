"""Container images without a registry: single-layer OCI archives written here, imported with ``ctr``.

Real nodes run three images, all made on the machine from files it already has:

- ``pause``: ordinal's own static sandbox program (``cluster/pause``, built like the other Go
  modules), the only file of its image;
- ``busybox``: Debian's ``busybox-static`` plus one symlink per applet, a passwd/group file
  and ``/tmp``: enough for the suite's idle shell, its readiness probe and ``nslookup``;
- ``coredns``: the cluster's own CoreDNS build, for the DNS pod in ``kube-system``.

An archive is an OCI image layout in a tar (``oci-layout``, ``index.json``, three blobs: an
uncompressed layer, the image config, the manifest). Every tar entry has a fixed owner and
mtime, so the same inputs give the same digests. ``ctr -n k8s.io images import`` reads the
name from the ``io.containerd.image.name`` annotation of the index; the CRI plugin only sees
images in the ``k8s.io`` namespace.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ordinal.errors import ClusterError

REGISTRY = "ordinal.local"  # never resolvable: a pull attempt fails at once instead of reaching out
PAUSE_TAG = "ordinal-1"
BUSYBOX = Path("/bin/busybox")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of a layer."""

    path: str  # relative, no leading slash
    kind: str = "file"  # file | dir | symlink
    data: bytes = b""
    mode: int = 0o644
    target: str = ""  # symlinks


@dataclass(frozen=True)
class Image:
    ref: str  # ordinal.local/busybox:1.35.0
    entries: tuple[Entry, ...]
    config: dict[str, Any] = field(default_factory=dict)  # the OCI config's "config" object

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]


@dataclass(frozen=True)
class Archive:
    ref: str
    path: Path
    manifest_digest: str


def _tarinfo(entry: Entry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.size = len(entry.data)
    return info


def _parents(entries: Iterable[Entry]) -> list[Entry]:
    """Directories every entry needs, so the layer never relies on the runtime creating them."""
    given = {e.path for e in entries if e.kind == "dir"}
    needed: set[str] = set()
    for e in entries:
        parts = e.path.split("/")[:-1]
        needed.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return [Entry(p, "dir", mode=0o755) for p in sorted(needed - given)]


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer: directories first, then everything sorted by path."""
    items = list(entries)
    ordered = sorted([*_parents(items), *items], key=lambda e: (e.kind != "dir", e.path))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in ordered:
            info = _tarinfo(entry)
            tar.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_archive(image: Image, dest: Path) -> Archive:
    """Write ``image`` as an OCI image layout tar at ``dest``; return its ref and manifest digest."""
    layer = layer_tar(image.entries)
    layer_digest = _digest(layer)
    config = _json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": image.config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "ordinal.localcluster.images"}],
        }
    )
    manifest = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    )
    index = _json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": _digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {NAME_ANNOTATION: image.ref, REF_ANNOTATION: image.tag},
                }
            ],
        }
    )
    files: list[Entry] = [
        Entry("oci-layout", data=_json({"imageLayoutVersion": "1.0.0"})),
        Entry("index.json", data=index),
        *(Entry(f"blobs/sha256/{_digest(b)[7:]}", data=b) for b in (layer, config, manifest)),
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(layer_tar(files))
    tmp.rename(dest)
    return Archive(image.ref, dest, _digest(manifest))


# --- the two images ----------------------------------------------------------------------------


def is_static_elf(path: Path) -> bool:
    """True for an x86-64 ELF executable without an interpreter (PT_INTERP): it runs in an empty image."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit
                return False
            (phoff,) = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    kinds = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
    return 3 not in kinds  # PT_INTERP


def pause_image(binary: Path) -> Image:
    return Image(
        f"{REGISTRY}/pause:{PAUSE_TAG}",
        (Entry("pause", data=binary.read_bytes(), mode=0o755),),
        {"Entrypoint": ["/pause"], "Env": [PATH_ENV], "User": "65535:65535"},
    )


def busybox_version(binary: Path = BUSYBOX) -> str:
    """``1.35.0`` from ``BusyBox v1.35.0 (Debian …) multi-call binary.``"""
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    if not first.startswith("BusyBox v"):
        raise ClusterError(f"expected {binary} to print 'BusyBox v<version>', got {first!r}")
    return first.split()[1].removeprefix("v")


def busybox_applets(binary: Path = BUSYBOX) -> list[str]:
    """Install paths of every applet (``bin/sh``, ``usr/bin/nslookup``, …)."""
    out = subprocess.run([str(binary), "--list-full"], capture_output=True, text=True, check=False).stdout
    return sorted(p for p in out.split() if "/" in p and not p.endswith("/") and p != "bin/busybox")


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def busybox_image(binary: Path = BUSYBOX) -> Image:
    if not is_static_elf(binary):
        raise ClusterError(
            f"expected a static busybox at {binary} (Debian package busybox-static), found "
            + ("a dynamically linked one" if binary.exists() else "none")
        )
    entries = [
        Entry("bin/busybox", data=binary.read_bytes(), mode=0o755),
        *(Entry(p, "symlink", target="/bin/busybox", mode=0o777) for p in busybox_applets(binary)),
        Entry("etc/passwd", data=PASSWD.encode()),
        Entry("etc/group", data=GROUP.encode()),
        Entry("root", "dir", mode=0o700),
        Entry("tmp", "dir", mode=0o1777),
        Entry("var/www/index.html", data=b"ordinal\n"),
    ]
    return Image(
        f"{REGISTRY}/busybox:{busybox_version(binary)}",
        tuple(entries),
        {"Cmd": ["sh"], "Env": [PATH_ENV]},
    )


def coredns_image(binary: Path, version: str) -> Image:
    """The cluster's own CoreDNS build as an image: the DNS pod real clusters run in kube-system."""
    return Image(
        f"{REGISTRY}/coredns:{version.removeprefix('v')}",
        (Entry("coredns", data=binary.read_bytes(), mode=0o755), Entry("tmp", "dir", mode=0o1777)),
        {"Entrypoint": ["/coredns"], "Env": [PATH_ENV], "User": "65532:65532"},
    )


def build_archives(
    dest: Path, pause_binary: Path, busybox: Path = BUSYBOX, coredns: tuple[Path, str] | None = None
) -> dict[str, Archive]:
    """The archives under ``dest``, by the names cluster.json records (``pause``, ``busybox``, ``coredns``)."""
    archives = {
        "pause": write_archive(pause_image(pause_binary), dest / "pause.oci.tar"),
        "busybox": write_archive(busybox_image(busybox), dest / "busybox.oci.tar"),
    }
    if coredns is not None:
        archives["coredns"] = write_archive(coredns_image(*coredns), dest / "coredns.oci.tar")
    return archives
