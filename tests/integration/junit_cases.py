"""Reading a run's JUnit XML back: what the integration tests judge a child suite run by."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    id: str  # classname::name
    outcome: str  # passed, failure, error or skipped
    message: str


def cases(junit: Path) -> list[Case]:
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, message = child.tag, child.get("message", "")
        found.append(Case(f"{case.get('classname')}::{case.get('name')}", outcome, message))
    return found


def broken(found: list[Case]) -> str:
    """The failed and errored cases, one line each ("" when there are none)."""
    return "\n".join(f"{c.id}: {c.message[:400]}" for c in found if c.outcome in ("failure", "error"))


#: How a skip names its reason: the capability the cluster (or the class under test) lacks.
NAMED_SKIPS = ("needs: ",)


def vague_skips(found: list[Case]) -> list[Case]:
    """Skips that name no capability: a skip must say ``needs: …`` and why."""
    return [c for c in found if c.outcome == "skipped" and not c.message.startswith(NAMED_SKIPS)]
