"""Shared value types: findings, JSON object aliases and the clock protocol."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
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


class Clock(Protocol):
    """Monotonic seconds; injected so waiters and recorders run in zero time under test."""

    def __call__(self) -> float: ...


MONOTONIC: Clock = time.monotonic
