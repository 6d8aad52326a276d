"""Shared value types: findings, JSON object aliases and the clock protocol."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

#: A Kubernetes object in its JSON (camelCase) form, as the API server sends it.
#: Every layer above ``kube`` works on these plain dicts: they are what watches
#: deliver, what timelines record and what chaos probes return.
Obj = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """One broken promise: which rule, on which object, where, expected vs seen."""

    rule: str  # catalog id, e.g. "identity.pod-index-label"
    subject: str  # "pod ns/web-1"
    path: str  # "metadata.labels['apps.kubernetes.io/pod-index']"
    expected: Any
    seen: Any

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"[{self.rule}] {self.subject}{where}: expected {self.expected!r}, saw {self.seen!r}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: Query name (any case, trailing dot optional) → records, or None for NXDOMAIN.
Answers = Mapping[str, Sequence[str] | None]


@dataclass(frozen=True)
class DnsAnswers:
    """DNS answers by record type: what resolvers return and the DNS checks read.

    SRV records as ``dig +short`` prints them: ``prio weight port target``.
    """

    a: Answers = field(default_factory=dict)
    srv: Answers = field(default_factory=dict)
    ptr: Answers = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"A": dict(self.a), "SRV": dict(self.srv), "PTR": dict(self.ptr)}


class Clock(Protocol):
    """Monotonic seconds; injected so waiters and recorders run in zero time under test."""

    def __call__(self) -> float: ...


MONOTONIC: Clock = time.monotonic
