"""Ask DNS the questions the DNS checks need, and hand back plain answers.

A resolver answers one (name, type) with a list of records, or None for NXDOMAIN; it
never decides anything. ``DirectResolver`` talks to a server we can reach from here (the
local cluster's CoreDNS on loopback, or ``--dns direct:<ip>:<port>``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from ordinal.errors import InvalidScenario, TransientApiError
from ordinal.types import DnsAnswers

RECORD_TYPES = ("A", "SRV", "PTR")


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


def ask(resolver: Resolver, queries: dict[str, Iterable[str]]) -> DnsAnswers:
    """Run ``{"A": [names], "SRV": [...], "PTR": [...]}`` and return the answers as the checks want them."""
    found: dict[str, dict[str, list[str] | None]] = {t: {} for t in RECORD_TYPES}
    for rdtype, names in queries.items():
        for name in names:
            found[rdtype][name] = resolver.query(name, rdtype)
    return DnsAnswers(a=found["A"], srv=found["SRV"], ptr=found["PTR"])


def time_until_resolvable(
    resolver: Resolver, name: str, expected: str, *, timeout: float, interval: float = 0.2
) -> float | None:
    """Seconds until ``name`` answers A = [expected]; None if it never did within ``timeout``.

    DNS has no watch; a short fixed interval under one deadline is the only way to measure
    the propagation delay the suite reports.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if resolver.query(name, "A") == [expected]:
            return time.monotonic() - start
        time.sleep(interval)
    return None
