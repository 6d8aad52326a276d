"""The resolvers that reach the cluster DNS through the API server: port-forward (TCP) and exec (dig/nslookup)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest
from fakes import FakeKube

from ordinal.errors import CapabilityMissing, TransientApiError
from ordinal.kube.streams import ExecResult
from ordinal.observe import dnsquery
from ordinal.types import Obj

ZONE = {
    "web-0.web.ns.svc.cluster.local.": ("A", ["10.244.0.5"]),
    "web.ns.svc.cluster.local.": ("A", ["10.244.0.5", "10.244.0.6"]),
}


def _serve(sock: socket.socket, stop: threading.Event) -> None:
    """A DNS-over-TCP server on one end of a socket pair: several queries per connection, as CoreDNS allows."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            query, _ = dns.query.receive_tcp(sock)
        except (TimeoutError, EOFError, OSError):
            continue
        response = dns.message.make_response(query)
        name = str(query.question[0].name)
        if name in ZONE:
            rdtype, values = ZONE[name]
            response.answer.append(dns.rrset.from_text_list(name, 5, "IN", rdtype, values))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        dns.query.send_tcp(sock, response)


@pytest.fixture
def forwarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Replace the API server's port-forward with a local socket pair to a tiny DNS server."""
    opened: list[str] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    @contextlib.contextmanager
    def fake_forward(kube: Any, namespace: str, pod: str, port: int) -> Iterator[socket.socket]:
        ours, theirs = socket.socketpair()
        opened.append(f"{namespace}/{pod}:{port}")
        thread = threading.Thread(target=_serve, args=(theirs, stop), daemon=True)
        thread.start()
        threads.append(thread)
        try:
            yield ours
        finally:
            ours.close()

    monkeypatch.setattr(dnsquery, "port_forward", fake_forward)
    yield opened
    stop.set()
    for thread in threads:
        thread.join(timeout=2)


def test_port_forward_resolver_answers_over_one_kept_connection(forwarded: list[str]) -> None:
    """Several queries MUST reuse one forward; NXDOMAIN MUST come back as None."""
    resolver = dnsquery.PortForwardResolver(object(), "kube-system", "coredns-0", 53)  # type: ignore[arg-type]
    assert resolver.query("web-0.web.ns.svc.cluster.local", "A") == ["10.244.0.5"]
    assert resolver.query("web.ns.svc.cluster.local", "A") == ["10.244.0.5", "10.244.0.6"]
    assert resolver.query("web-9.web.ns.svc.cluster.local", "A") is None
    assert forwarded == ["kube-system/coredns-0:53"]
    resolver.close()


def test_port_forward_resolver_reopens_after_a_broken_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextlib.contextmanager
    def dead_forward(*args: Any) -> Iterator[socket.socket]:
        ours, theirs = socket.socketpair()
        theirs.close()
        yield ours

    monkeypatch.setattr(dnsquery, "port_forward", dead_forward)
    resolver = dnsquery.PortForwardResolver(object(), "kube-system", "coredns-0", 53, timeout=0.5)  # type: ignore[arg-type]
    with pytest.raises(TransientApiError, match="via port-forward:kube-system/coredns-0:53"):
        resolver.query("web.ns.svc.cluster.local", "A")
    assert resolver._sock is None  # the next query opens a fresh forward


def _endpoint(name: str, ready: bool) -> Obj:
    return {"targetRef": {"kind": "Pod", "name": name, "namespace": "kube-system"}, "conditions": {"ready": ready}}


def _slice(service: str, ports: list[Obj], endpoints: list[Obj], namespace: str = "kube-system") -> Obj:
    meta = {"name": f"{service}-a1b2c", "namespace": namespace, "labels": {"kubernetes.io/service-name": service}}
    return {"kind": "EndpointSlice", "metadata": meta, "ports": ports, "endpoints": endpoints}


def dns_cluster(*slices: Obj) -> FakeKube:
    """The kube-dns slices, listed after decoys a list in the wrong namespace or without the selector would take."""
    decoy = ([{"port": 53, "protocol": "TCP"}], [_endpoint("decoy", True)])
    return FakeKube(*slices, _slice("kube-dns", *decoy, namespace="default"), _slice("coredns-other", *decoy))


def test_dns_pod_is_found_from_the_service_endpoints() -> None:
    """The pod's own TCP port MUST be used (1053 for non-root CoreDNS), from a Ready endpoint."""
    ports = [{"name": "dns", "port": 1053, "protocol": "UDP"}, {"name": "dns-tcp", "port": 1053}]
    kube = dns_cluster(_slice("kube-dns", ports, [_endpoint("coredns-a", False), _endpoint("coredns-b", True)]))
    assert dnsquery.find_dns_pod(kube) == ("kube-system", "coredns-b", 1053)  # type: ignore[arg-type]


def test_no_ready_dns_pod_is_a_missing_capability() -> None:
    kube = dns_cluster(_slice("kube-dns", [{"port": 53, "protocol": "TCP"}], [_endpoint("coredns-a", False)]))
    with pytest.raises(CapabilityMissing, match="needs: DNS reachable from the test runner"):
        dnsquery.find_dns_pod(kube)  # type: ignore[arg-type]


DIG_ANSWER = """\
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242
;; flags: qr aa rd; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1
_peer._tcp.web.ns.svc.cluster.local. 5 IN SRV 0 50 8080 web-1.web.ns.svc.cluster.local.
_peer._tcp.web.ns.svc.cluster.local. 5 IN SRV 0 50 8080 web-0.web.ns.svc.cluster.local.
"""
DIG_NXDOMAIN = ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n"


def test_dig_output_is_parsed_like_dnspython_prints_records() -> None:
    assert dnsquery.parse_dig(DIG_ANSWER, "SRV") == [
        "0 50 8080 web-0.web.ns.svc.cluster.local.",
        "0 50 8080 web-1.web.ns.svc.cluster.local.",
    ]
    assert dnsquery.parse_dig(DIG_NXDOMAIN, "A") is None
    with pytest.raises(TransientApiError, match="status SERVFAIL"):
        dnsquery.parse_dig(";; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: 1", "A")
    with pytest.raises(TransientApiError, match="no answer"):
        dnsquery.parse_dig(";; connection timed out; no servers could be reached", "A")


NSLOOKUP_A = """\
Server:\t\t10.96.0.10
Address:\t10.96.0.10:53

Name:\tweb.ns.svc.cluster.local
Address: 10.244.0.6
Name:\tweb.ns.svc.cluster.local
Address: 10.244.0.5
"""
NSLOOKUP_PTR = """\
Server:\t\t10.96.0.10
Address:\t10.96.0.10:53

5.0.244.10.in-addr.arpa\tname = web-0.web.ns.svc.cluster.local
"""
NSLOOKUP_NX = """\
Server:\t\t10.96.0.10
Address:\t10.96.0.10:53

** server can't find web-9.web.ns.svc.cluster.local: NXDOMAIN
"""


def test_busybox_nslookup_output_is_parsed_skipping_the_server_address() -> None:
    assert dnsquery.parse_nslookup(NSLOOKUP_A, "A") == ["10.244.0.5", "10.244.0.6"]
    assert dnsquery.parse_nslookup(NSLOOKUP_PTR, "PTR") == ["web-0.web.ns.svc.cluster.local."]
    assert dnsquery.parse_nslookup(NSLOOKUP_NX, "A") is None


def test_exec_resolver_falls_back_to_nslookup_when_dig_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_exec(kube: Any, namespace: str, pod: str, command: list[str], **_: Any) -> ExecResult:
        commands.append(command)
        if command[0] == "dig":
            return ExecResult(127, "", "sh: dig: not found")
        return ExecResult(0, NSLOOKUP_A, "")

    monkeypatch.setattr(dnsquery, "exec_in_pod", fake_exec)
    resolver = dnsquery.ExecResolver(object(), "ord-probe", "ordinal-exec-probe")  # type: ignore[arg-type]
    assert resolver.query("web.ns.svc.cluster.local", "A") == ["10.244.0.5", "10.244.0.6"]
    assert resolver.query("web.ns.svc.cluster.local", "A") == ["10.244.0.5", "10.244.0.6"]
    assert commands == [
        ["dig", "-v"],
        ["nslookup", "-type=a", "web.ns.svc.cluster.local."],
        ["nslookup", "-type=a", "web.ns.svc.cluster.local."],
    ]
