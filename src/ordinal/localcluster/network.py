"""The cluster's own network: one host bridge, one network namespace per real node, no uplink.

Addresses and names derive from the port offset, so clusters with different offsets never share a
bridge, an address range or an interface name (``k = offset // 1000``; a second cluster whose
offset falls in the same thousand is refused by the preflight, which finds the range taken)::

    host   bridge ordbr<offset>   10.88.k.1/24      apiserver, CoreDNS (:53) listen here
    node i eth0 (veth)            10.88.k.(10+i)     kubelet :10250, kube-proxy healthz :10256
           cni0 (CNI bridge)      10.(160+k).i.0/24  pod addresses, one /24 per node

Nothing leaves the machine: the host bridge has no uplink port, a node's namespace has no
default route (only its own subnet and routes to the other nodes' pod ranges), the CNI bridge
does no masquerading, and the host does not forward (``net.ipv4.ip_forward`` is left alone:
node-to-node traffic is bridged, not routed, on the host). The host bridge skips the host's
iptables (``nf_call_iptables 0``), so the host firewall neither sees nor changes our traffic.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ordinal.errors import ClusterError

NODE_HOST_BASE = 10  # node i has host part 10 + i


@dataclass(frozen=True)
class ClusterNet:
    offset: int

    @property
    def index(self) -> int:
        return self.offset // 1000

    @property
    def bridge(self) -> str:
        return f"ordbr{self.offset}"

    @property
    def subnet(self) -> str:
        return f"10.88.{self.index}.0/24"

    @property
    def bridge_ip(self) -> str:
        return f"10.88.{self.index}.1"

    @property
    def cluster_cidr(self) -> str:
        """All pod addresses of this cluster's real nodes."""
        return f"10.{160 + self.index}.0.0/16"

    def node_ip(self, number: int) -> str:
        return f"10.88.{self.index}.{NODE_HOST_BASE + number}"

    def pod_cidr(self, number: int) -> str:
        return f"10.{160 + self.index}.{number}.0/24"

    def host_veth(self, number: int) -> str:
        return f"ord{self.offset}n{number}"  # at most 11 characters (IFNAMSIZ is 16)

    def name(self, number: int) -> str:
        """Per-node name for host-global things (CNI network name, cgroup leaf)."""
        return f"ordinal-{self.offset}-n{number}"


def run(args: Sequence[str], *, netns_pid: int | None = None, what: str = "") -> str:
    """Run a command (in a node's network namespace when ``netns_pid`` is given); raise naming it."""
    argv = [*(["nsenter", "-t", str(netns_pid), "-n", "--"] if netns_pid else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(
            f"expected `{' '.join(args)}` to succeed{' (' + what + ')' if what else ''}, "
            f"got: {(proc.stderr or proc.stdout).strip()[-200:]}"
        )
    return proc.stdout


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def overlapping_routes(cidr: str) -> list[str]:
    """Host routes that overlap ``cidr`` (another cluster or network already uses the range)."""
    want = ipaddress.ip_network(cidr)
    out = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    hits = []
    for line in out.splitlines():
        dest = line.split()[0] if line.strip() else ""
        if dest == "default" or not dest:
            continue
        try:
            net = ipaddress.ip_network(dest if "/" in dest else f"{dest}/32", strict=False)
        except ValueError:
            continue
        if net.overlaps(want):
            hits.append(line.strip())
    return hits


def create_bridge(net: ClusterNet) -> None:
    if link_exists(net.bridge):
        raise ClusterError(
            f"expected no interface {net.bridge} (the bridge of a cluster with port offset {net.offset}), "
            "found one: another cluster with this offset is up, or a crashed one left it (ordinal cluster down)"
        )
    for cidr in (net.subnet, net.cluster_cidr):
        taken = overlapping_routes(cidr)
        if taken:
            raise ClusterError(
                f"expected {cidr} unused on this host for the real nodes' network (port offset {net.offset}), "
                f"found route {taken[0]!r}: pick a --port-offset in another thousand"
            )
    run(["ip", "link", "add", net.bridge, "type", "bridge"], what="a host bridge")
    try:
        # Bridged frames skip the host's iptables: the host firewall neither filters nor rewrites them.
        run(["ip", "link", "set", net.bridge, "type", "bridge", "nf_call_iptables", "0", "nf_call_ip6tables", "0"])
        run(["ip", "addr", "add", f"{net.bridge_ip}/24", "dev", net.bridge])
        run(["ip", "link", "set", net.bridge, "up"])
    except ClusterError:
        delete_bridge(net)
        raise


def delete_bridge(net: ClusterNet) -> list[str]:
    """Remove the bridge (its addresses and routes go with it); return errors, never raise."""
    if not link_exists(net.bridge):
        return []
    proc = subprocess.run(["ip", "link", "del", net.bridge], capture_output=True, text=True)
    return [] if proc.returncode == 0 else [f"expected to delete bridge {net.bridge}: {proc.stderr.strip()}"]


def delete_link(name: str) -> list[str]:
    if not link_exists(name):
        return []
    proc = subprocess.run(["ip", "link", "del", name], capture_output=True, text=True)
    return [] if proc.returncode == 0 else [f"expected to delete interface {name}: {proc.stderr.strip()}"]


def attach_node(net: ClusterNet, number: int, netns_pid: int, peers: Sequence[int]) -> None:
    """Wire node ``number`` (its namespace held by ``netns_pid``) to the bridge; route to ``peers``' pods."""
    veth = net.host_veth(number)
    run(
        ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", str(netns_pid)],
        what=f"a veth pair for node {number}",
    )
    run(["ip", "link", "set", veth, "master", net.bridge, "up"])
    inside = [
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "add", f"{net.node_ip(number)}/24", "dev", "eth0"],
        ["ip", "link", "set", "eth0", "up"],
        # The node routes between its pods and the other nodes (only inside its own namespace).
        ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"],
        *(["ip", "route", "add", net.pod_cidr(p), "via", net.node_ip(p)] for p in peers if p != number),
    ]
    for args in inside:
        run(args, netns_pid=netns_pid, what=f"inside node {number}'s network namespace")
    # The host answers pods (apiserver, CoreDNS) through the node that owns their range.
    run(["ip", "route", "add", net.pod_cidr(number), "via", net.node_ip(number), "dev", net.bridge])
