"""Can this host run real nodes? Each check names the missing capability and what provides it.

Run before anything starts when ``--real-nodes`` > 0; ``up`` fails with every missing item in
one line and a non-zero exit (``--real-nodes 0`` is the explicit way to run without them).
The kernel probes (namespaces, overlay, bridge, veth, iptables, masking /proc/sys) run in a
throw-away mount + network namespace, so probing changes nothing on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import ClusterError
from ordinal.localcluster import cgroups, images

CNI_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")

#: Command → the Debian package that provides it (scripts/setup.sh installs them as root).
TOOLS = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "iptables-restore": "iptables",
    "iptables-save": "iptables",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "mount": "mount",
    "sysctl": "procps",
}


@dataclass(frozen=True)
class Missing:
    capability: str  # what the host lacks, in words
    fix: str  # what would provide it

    def __str__(self) -> str:
        return f"{self.capability} ({self.fix})"


def check_root(euid: int | None = None) -> list[Missing]:
    uid = os.geteuid() if euid is None else euid
    return [] if uid == 0 else [Missing("root", "real nodes create namespaces, cgroups and a bridge: run as root")]


def check_tools(which: Callable[[str], str | None] = shutil.which) -> list[Missing]:
    absent: dict[str, list[str]] = {}
    for tool, package in TOOLS.items():
        if which(tool) is None:
            absent.setdefault(package, []).append(tool)
    return [Missing(f"{', '.join(tools)} on PATH", f"apt-get install {pkg}") for pkg, tools in absent.items()]


def check_cni(directory: Path = CNI_DIR) -> list[Missing]:
    gone = [p for p in CNI_PLUGINS if not (directory / p).is_file()]
    if not gone:
        return []
    return [Missing(f"CNI plugins {', '.join(gone)} in {directory}", "apt-get install containernetworking-plugins")]


def check_busybox(binary: Path = images.BUSYBOX) -> list[Missing]:
    if images.is_static_elf(binary):
        return []
    return [Missing(f"a static busybox at {binary}", "apt-get install busybox-static")]


def check_cgroups(found: dict[str, Path] | None = None, v2_controllers: str | None = None) -> list[Missing]:
    """cgroup v1 (or hybrid) with the kubelet's controllers, or a pure cgroup v2 host that has them."""
    found = cgroups.mounts() if found is None else found
    v1 = {k for k in found if k != "unified"}
    if v1:
        gone = [c for c in cgroups.V1_REQUIRED if c not in v1]
        return (
            [Missing(f"cgroup v1 controller(s) {', '.join(gone)}", "mount them under /sys/fs/cgroup")] if gone else []
        )
    if "unified" not in found:
        return [Missing("cgroups (no cgroup filesystem mounted)", "mount cgroup v1 or v2 at /sys/fs/cgroup")]
    if v2_controllers is None:
        try:
            v2_controllers = (found["unified"] / "cgroup.controllers").read_text()
        except OSError:
            v2_controllers = ""
    gone = [c for c in ("cpu", "cpuset", "memory", "pids") if c not in v2_controllers.split()]
    return [Missing(f"cgroup v2 controller(s) {', '.join(gone)}", "enable them in the root cgroup")] if gone else []


#: One shell step per kernel capability, run inside a throw-away namespace; the first failure names itself.
_PROBE_STEPS = (
    ("mount namespace with a private tmpfs", "mount -t tmpfs ordinal-probe {d}/t"),
    (
        "overlay mounts (overlayfs, containerd's snapshotter)",
        "mkdir {d}/l {d}/u {d}/w {d}/m && "
        "mount -t overlay overlay -o lowerdir={d}/l,upperdir={d}/u,workdir={d}/w {d}/m",
    ),
    (
        "masking /proc/sys files in a node's mount namespace",
        "echo 1 > {d}/t/v && mount --bind {d}/t/v /proc/sys/kernel/panic",
    ),
    ("bridge interfaces", "ip link add ordprobe0 type bridge"),
    ("bridge netfilter (br_netfilter)", "test -e /proc/sys/net/bridge/bridge-nf-call-iptables"),
    ("veth pairs", "ip link add ordprobe1 type veth peer name ordprobe2"),
    ("iptables (nat table, kube-proxy's iptables mode)", "iptables -w -t nat -N ORDINAL-PROBE"),
    ("iptables-restore", "printf '*filter\\n:ORDINAL-PROBE2 - [0:0]\\nCOMMIT\\n' | iptables-restore -w --noflush"),
)


def check_kernel(scratch_parent: Path) -> list[Missing]:
    """Probe namespaces, overlay, bridge, veth and iptables in a namespace that dies with the probe."""
    if shutil.which("unshare") is None:
        return []  # reported by check_tools
    scratch_parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".ordinal-probe-", dir=scratch_parent))
    try:
        (scratch / "t").mkdir()
        script = " && ".join(
            f"{{ {cmd.format(d=scratch)} || {{ echo 'FAILED {i}' >&2; exit 3; }}; }}"
            for i, (_, cmd) in enumerate(_PROBE_STEPS)
        )
        proc = subprocess.run(
            ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return [Missing("namespaces (unshare --mount --net)", f"the probe could not run: {err}")]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if proc.returncode == 0:
        return []
    for line in proc.stderr.splitlines():
        if line.startswith("FAILED "):
            what, cmd = _PROBE_STEPS[int(line.split()[1])]
            detail = [x for x in proc.stderr.splitlines() if not x.startswith("FAILED ")]
            return [Missing(what, f"`{cmd.split(' && ')[-1].format(d='…')}` failed: {' '.join(detail)[-160:]}")]
    return [Missing("namespaces (unshare --mount --net)", proc.stderr.strip()[-160:] or f"exit {proc.returncode}")]


#: inotify instances one real node takes (kubelet and its cAdvisor 6, containerd 1, kube-proxy 1), and the
#: control plane's (controller manager 5, API server 3) plus room for the CSI stack and the host's own.
INOTIFY_PER_NODE, INOTIFY_BASE = 8, 12
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")


def check_inotify(real_nodes: int, limit: int | None = None, in_use: int | None = None) -> list[Missing]:
    """Room for the kubelets' inotify instances: the limit is per user, shared with every other cluster here.

    A kubelet that finds none fails to start cAdvisor ("inotify_init: too many open files") long
    after ``up`` began; saying so before anything starts is cheaper. The host's limit is never changed.
    """
    limit = int(INOTIFY_LIMIT.read_text()) if limit is None else limit
    in_use = inotify_instances(os.geteuid()) if in_use is None else in_use
    needed = INOTIFY_BASE + INOTIFY_PER_NODE * real_nodes
    if limit - in_use >= needed:
        return []
    return [
        Missing(
            f"{needed} free inotify instances for {real_nodes} real node(s) "
            f"(fs.inotify.max_user_instances is {limit}, {in_use} in use by this user)",
            "stop other clusters, or raise it: sysctl fs.inotify.max_user_instances=512",
        )
    ]


def inotify_instances(uid: int) -> int:
    """inotify instances held by processes of ``uid`` (what the per-user limit counts)."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            count += sum(1 for fd in (proc / "fd").iterdir() if os.readlink(fd) == "anon_inode:inotify")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return count


def missing(scratch_parent: Path, real_nodes: int = 1) -> list[Missing]:
    found = check_root()
    if found:
        return found
    return [
        *check_tools(),
        *check_cni(),
        *check_busybox(),
        *check_cgroups(),
        *check_inotify(real_nodes),
        *check_kernel(scratch_parent),
    ]


def require(scratch_parent: Path, real_nodes: int) -> None:
    """Raise one line naming every missing capability when ``real_nodes`` cannot start here."""
    gone = missing(scratch_parent, real_nodes)
    if gone:
        raise ClusterError(
            f"expected a host that can run {real_nodes} real node(s), missing: "
            + "; ".join(str(m) for m in gone)
            + " — or run `ordinal cluster up --real-nodes 0` for simulated nodes only"
        )
