"""The rule catalog and the checks MUST agree: no check emits an id the catalog lacks, and back."""

from __future__ import annotations

import re
from pathlib import Path

from ordinal.checks.rules import RULES, blocking, informational, severity
from ordinal.types import Finding

SOURCE = Path(__file__).resolve().parents[2] / "src" / "ordinal"
AREAS = "api|timeline|identity|ordering|storage|dns|retention|revisions|chaos|audit|node-loss"
RULE_ID = re.compile(rf'"((?:{AREAS})\.[a-z-]+)"')


def _used() -> set[str]:
    """Rule ids in every module that builds findings: the checks and the chaos probes."""
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if path.name != "rules.py":
            found |= set(RULE_ID.findall(path.read_text()))
    return found


def test_every_emitted_rule_is_in_the_catalog() -> None:
    """Every rule id in a check module MUST be catalogued (a typo would otherwise pass as an error)."""
    assert _used() - set(RULES) == set()


def test_every_catalogued_rule_is_emitted() -> None:
    """Every catalogued rule MUST be emitted somewhere (no dead catalog entries)."""
    assert set(RULES) - _used() == set()


def test_severity_splits_findings() -> None:
    """Only info rules MUST be let through; unknown rules count as errors."""
    info = Finding("identity.overlap-after-force-delete", "pod ns/web-1", "", "", "")
    error = Finding("identity.at-most-one-live", "pod ns/web-1", "", "", "")
    typo = Finding("identity.at-most-one-lvie", "pod ns/web-1", "", "", "")
    assert severity(info.rule) == "info" and severity(typo.rule) == "error"
    assert blocking([info, error, typo]) == [error, typo]
    assert informational([info, error, typo]) == [info]
