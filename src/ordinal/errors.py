"""Exception taxonomy. The first line of ``str(err)`` carries target, expected and seen.

Chaos Toolkit journals keep only that line, and the CLI prints only that line, so every
class builds its message from stored fields in ``__str__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class OrdinalError(Exception):
    """Base of every error ordinal raises on purpose."""


class InvalidScenario(OrdinalError):
    """Bad arguments, flags or manifests; raised before anything is touched."""


class ClusterError(OrdinalError):
    """The local cluster could not be built, started or stopped."""


class TransientApiError(OrdinalError):
    """429, 5xx, connection reset or update conflict: safe to retry.

    ``status`` is the HTTP status when the server answered (429: a PodDisruptionBudget or
    priority-and-fairness said "not now"); None for transport trouble.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CapabilityMissing(OrdinalError):
    """The cluster cannot show this behaviour; a test skips with ``needs: <capability>``."""

    def __init__(self, capability: str, detail: str = "") -> None:
        super().__init__(capability, detail)
        self.capability = capability
        self.detail = detail

    def __str__(self) -> str:
        return f"needs: {self.capability}" + (f" ({self.detail})" if self.detail else "")


class WaitTimeout(OrdinalError):
    """A deadline ran out before the awaited state was seen."""

    def __init__(self, expect: str, seen: Any, elapsed: float, timeline: str = "") -> None:
        super().__init__(expect, seen, elapsed)
        self.expect = expect
        self.seen = seen
        self.elapsed = elapsed
        self.timeline = timeline

    def __str__(self) -> str:
        msg = f"expected {self.expect}, saw {self.seen} after {self.elapsed:.1f}s"
        return msg + (f"\n{self.timeline}" if self.timeline else "")


class InvariantViolated(OrdinalError):
    """A promise under test is broken; carries the findings that say how."""

    def __init__(self, what: str, findings: Sequence[Any] = (), timeline: str = "") -> None:
        super().__init__(what, findings)
        self.what = what
        self.findings = list(findings)
        self.timeline = timeline

    def __str__(self) -> str:
        lines = [self.what]
        lines += [f"  - {f}" for f in self.findings]
        if self.timeline:
            lines += ["timeline:", self.timeline]
        return "\n".join(lines)
