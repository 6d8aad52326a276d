"""Ask DNS the questions the DNS checks need, and hand back plain answers.

A resolver answers one (name, type) with a list of records, or None for NXDOMAIN; it
never decides anything. ``DirectResolver`` talks to a server we can reach from here (the
local cluster's CoreDNS on loopback, or ``--dns direct:<ip>:<port>``); ``PortForwardResolver``
reaches the cluster DNS pod over TCP through the API server (``--dns port-forward``);
``ExecResolver`` asks from inside a pod (``--dns exec``), as an in-cluster client would.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from ordinal.errors import CapabilityMissing, InvalidScenario, TransientApiError
from ordinal.kube.rest import ENDPOINT_SLICES, Kube
from ordinal.kube.streams import exec_in_pod, port_forward
from ordinal.labels import SERVICE_NAME_LABEL
from ordinal.types import MONOTONIC, Clock, DnsAnswers, Finding

RECORD_TYPES = ("A", "SRV", "PTR")
T = TypeVar("T")


class Resolver(Protocol):
    def query(self, name: str, rdtype: str) -> list[str] | None:
        """Records as ``dig +short`` prints them (sorted), [] for an empty answer, None for NXDOMAIN."""
        ...


def parse_server(text: str) -> tuple[str, int]:
    """``10.0.0.10:53`` or ``127.0.0.1:1053`` → (host, port); a clear error otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidScenario(f"expected a DNS server as <ip>:<port>, got {text!r}")
    return host, int(port)


class DirectResolver:
    """UDP with TCP fallback on truncation, to a server reachable from this host."""

    def __init__(self, host: str, port: int, timeout: float = 3.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.queries = 0

    def __repr__(self) -> str:
        return f"direct:{self.host}:{self.port}"

    def query(self, name: str, rdtype: str) -> list[str] | None:
        request = dns.message.make_query(name, rdtype)
        self.queries += 1
        try:
            response = dns.query.udp(request, self.host, port=self.port, timeout=self.timeout)
            if response.flags & dns.flags.TC:
                response = dns.query.tcp(request, self.host, port=self.port, timeout=self.timeout)
        except (dns.exception.Timeout, OSError) as err:
            raise TransientApiError(f"DNS {rdtype} {name} via {self!r}: {err or 'timeout'}") from err
        return records(response, rdtype)


def records(response: dns.message.Message, rdtype: str) -> list[str] | None:
    if response.rcode() == dns.rcode.NXDOMAIN:
        return None
    wanted = dns.rdatatype.from_text(rdtype)
    out = [rd.to_text() for rrset in response.answer if rrset.rdtype == wanted for rd in rrset]
    return sorted(out)


def ask(resolver: Resolver, queries: Mapping[str, Iterable[str]]) -> DnsAnswers:
    """Run ``{"A": [names], "SRV": [...], "PTR": [...]}`` and return the answers as the checks want them."""
    found: dict[str, dict[str, list[str] | None]] = {t: {} for t in RECORD_TYPES}
    for rdtype, names in queries.items():
        for name in names:
            found[rdtype][name] = resolver.query(name, rdtype)
    return DnsAnswers(a=found["A"], srv=found["SRV"], ptr=found["PTR"])


def poll(
    ask: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    clock: Clock = MONOTONIC,
) -> tuple[T, bool, float]:
    """Ask until ``done`` or the deadline: (last answer, done, seconds). DNS has no watch; this is the one poll.

    A transient error (a dropped query, a restarting resolver) counts as "not yet"; if no attempt
    answered at all by the deadline, the last error is raised.
    """
    start = clock()
    answered: list[T] = []
    while True:
        try:
            answer = ask()
            answered[:] = [answer]
            if done(answer):
                return answer, True, clock() - start
        except TransientApiError:
            if not answered and clock() - start >= timeout:
                raise
        elapsed = clock() - start
        if elapsed >= timeout and answered:
            return answered[0], False, elapsed
        time.sleep(min(interval, max(0.01, timeout - elapsed)))


def settle(
    resolver: Resolver,
    queries: Mapping[str, Iterable[str]],
    check: Callable[[DnsAnswers], list[Finding]],
    *,
    timeout: float,
    interval: float = 0.2,
    clock: Clock = MONOTONIC,
) -> tuple[DnsAnswers, list[Finding], float]:
    """Ask ``queries`` until ``check`` finds nothing or ``timeout`` passes: (answers, findings, seconds).

    The caller first waits (by watch) for the EndpointSlices, so this only covers the DNS
    server's own propagation delay. The last answers and findings are returned, never swallowed.
    """

    def attempt() -> tuple[DnsAnswers, list[Finding]]:
        answers = ask(resolver, queries)
        return answers, check(answers)

    (answers, findings), _, elapsed = poll(attempt, lambda a: not a[1], timeout=timeout, interval=interval, clock=clock)
    return answers, findings, elapsed


def time_until_resolvable(
    resolver: Resolver, name: str, expected: str, *, timeout: float, interval: float = 0.2, clock: Clock = MONOTONIC
) -> float | None:
    """Seconds until ``name`` answers A = [expected]; None if it never did within ``timeout``."""
    _, done, elapsed = poll(
        lambda: resolver.query(name, "A"), lambda a: a == [expected], timeout=timeout, interval=interval, clock=clock
    )
    return elapsed if done else None


# -- resolvers that reach the cluster DNS through the API server -------------------------------

#: The Service every conformant cluster's DNS sits behind (CoreDNS keeps the historical name).
DNS_SERVICE = ("kube-system", "kube-dns")


def find_dns_pod(kube: Kube, service: tuple[str, str] = DNS_SERVICE) -> tuple[str, str, int]:
    """``(namespace, pod, tcp port)`` of a Ready endpoint behind the cluster DNS Service.

    Read from the Service's EndpointSlices, so the port is the pod's own (often 53, sometimes
    1053 for non-root CoreDNS images), not the Service port.
    """
    namespace, name = service
    slices, _ = kube.list(ENDPOINT_SLICES, namespace, label_selector=f"{SERVICE_NAME_LABEL}={name}")
    for eps in slices:
        ports = [p for p in eps.get("ports") or () if (p.get("protocol") or "TCP") == "TCP" and p.get("port")]
        for ep in eps.get("endpoints") or ():
            target = ep.get("targetRef") or {}
            if target.get("kind") == "Pod" and (ep.get("conditions") or {}).get("ready") and ports:
                return str(target.get("namespace") or namespace), str(target["name"]), int(ports[0]["port"])
    raise CapabilityMissing(
        "DNS reachable from the test runner",
        f"no Ready pod with a TCP port behind Service {namespace}/{name}",
    )


class PortForwardResolver:
    """DNS over TCP to the cluster DNS pod through a port-forward (no UDP: the API server forwards TCP).

    One forward is kept open and reused, since DNS over TCP allows many queries per
    connection; it is reopened after any error.
    """

    def __init__(self, kube: Kube, namespace: str, pod: str, port: int = 53, timeout: float = 3.0) -> None:
        self.kube, self.namespace, self.pod, self.port, self.timeout = kube, namespace, pod, port, timeout
        self.queries = 0
        self._stack: contextlib.ExitStack | None = None
        self._sock: Any = None

    def __repr__(self) -> str:
        return f"port-forward:{self.namespace}/{self.pod}:{self.port}"

    def _socket(self) -> Any:
        if self._sock is None:
            stack = contextlib.ExitStack()
            self._sock = stack.enter_context(port_forward(self.kube, self.namespace, self.pod, self.port))
            self._sock.setblocking(False)
            self._stack = stack
        return self._sock

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._sock = None, None

    def query(self, name: str, rdtype: str) -> list[str] | None:
        request = dns.message.make_query(name, rdtype)
        self.queries += 1
        try:
            response = dns.query.tcp(request, self.pod, timeout=self.timeout, sock=self._socket())
        except (dns.exception.DNSException, OSError, EOFError) as err:
            self.close()
            raise TransientApiError(f"DNS {rdtype} {name} via {self!r}: {err or 'timeout'}") from err
        return records(response, rdtype)


ExecTool = Literal["dig", "nslookup"]


class ExecResolver:
    """Ask from inside a pod with ``dig`` (or busybox ``nslookup``), as an in-cluster client sees it.

    For clusters whose DNS cannot be reached from the test runner at all. Each query is one
    exec; slower than the other resolvers, so the suite only falls back to it.
    """

    def __init__(
        self, kube: Kube, namespace: str, pod: str, *, tool: ExecTool | None = None, timeout: float = 10.0
    ) -> None:
        self.kube, self.namespace, self.pod, self.timeout = kube, namespace, pod, timeout
        self.tool = tool
        self.queries = 0

    def __repr__(self) -> str:
        return f"exec:{self.namespace}/{self.pod}"

    def _tool(self) -> ExecTool:
        if self.tool is None:
            probe = exec_in_pod(self.kube, self.namespace, self.pod, ["dig", "-v"], timeout=self.timeout)
            self.tool = "dig" if probe.ok else "nslookup"
        return self.tool

    def query(self, name: str, rdtype: str) -> list[str] | None:
        absolute = name if name.endswith(".") else name + "."
        tool = self._tool()
        if tool == "dig":
            command = ["dig", "+noall", "+answer", "+comments", "+time=2", "+tries=1", absolute, rdtype]
        else:
            command = ["nslookup", f"-type={rdtype.lower()}", absolute]
        self.queries += 1
        result = exec_in_pod(self.kube, self.namespace, self.pod, command, timeout=self.timeout)
        parse = parse_dig if tool == "dig" else parse_nslookup
        return parse(result.stdout + result.stderr, rdtype, where=f"{self!r} {rdtype} {name}")


def parse_dig(text: str, rdtype: str, *, where: str = "dig") -> list[str] | None:
    """``dig +noall +answer +comments`` output → records (as dnspython prints them) or None for NXDOMAIN."""
    status = re.search(r"status: ([A-Z]+)", text)
    if status is None:
        raise TransientApiError(f"DNS via {where}: no answer ({text.strip()[:120] or 'no output'})")
    if status.group(1) == "NXDOMAIN":
        return None
    if status.group(1) != "NOERROR":
        raise TransientApiError(f"DNS via {where}: status {status.group(1)}")
    found = []
    for line in text.splitlines():
        fields = line.split()
        if line.startswith(";") or len(fields) < 5 or fields[2] != "IN" or fields[3] != rdtype.upper():
            continue
        found.append(" ".join(fields[4:]))
    return sorted(found)


_NSLOOKUP_RECORD = {
    "A": re.compile(r"^Address(?: \d+)?:\s*([0-9.]+)$"),
    "SRV": re.compile(r"service = (.+)$"),
    "PTR": re.compile(r"name = (\S+)$"),
}


def parse_nslookup(text: str, rdtype: str, *, where: str = "nslookup") -> list[str] | None:
    """busybox ``nslookup -type=…`` output → records or None for NXDOMAIN.

    The server's own address is printed first (``Address: 10.96.0.10:53``) and skipped: the
    answer section starts at the first ``Name:`` line, or at the first record line for SRV/PTR.
    """
    if "NXDOMAIN" in text:
        return None
    if "connection timed out" in text or "no servers could be reached" in text:
        raise TransientApiError(f"DNS via {where}: {text.strip().splitlines()[-1]}")
    pattern = _NSLOOKUP_RECORD.get(rdtype.upper())
    if pattern is None:
        raise InvalidScenario(f"expected a record type of {', '.join(_NSLOOKUP_RECORD)}, got {rdtype!r}")
    found, in_answer = [], rdtype.upper() != "A"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Name:"):
            in_answer = True
        match = pattern.search(line)
        if match and in_answer:
            value = match.group(1)
            found.append(value if rdtype.upper() == "A" or value.endswith(".") else value + ".")
    return sorted(found)
