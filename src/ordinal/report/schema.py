"""report.json's JSON Schema, shipped in the package, and validation on write and on read.

A report a machine checks must say which shape it has: ``report_version`` names the schema
(``schema/report-v<N>.schema.json``), and no report is written or compared that does not
match it, so a consumer can rely on every field the schema requires.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from ordinal.errors import OrdinalError
from ordinal.report import REPORT_VERSION


class ReportInvalid(OrdinalError):
    """A report that does not match its schema (a bug when writing; a foreign or edited file when reading)."""


def schema_text(version: int = REPORT_VERSION) -> str:
    path = resources.files("ordinal.report") / "schema" / f"report-v{version}.schema.json"
    try:
        return path.read_text()
    except FileNotFoundError:
        raise ReportInvalid(f"expected a report schema version {REPORT_VERSION}, found version {version}") from None


@cache
def schema(version: int = REPORT_VERSION) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_text(version))
    return data


def validate(report: Any, what: str = "report.json") -> None:
    """Raise :class:`ReportInvalid` naming the first offending field, as ``expected …, found …``."""
    version = report.get("report_version") if isinstance(report, dict) else None
    if version != REPORT_VERSION:
        raise ReportInvalid(f"{what}: expected report_version {REPORT_VERSION}, found {version!r}")
    validator = jsonschema.Draft202012Validator(schema(version))
    error = jsonschema.exceptions.best_match(validator.iter_errors(report))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        found = json.dumps(error.instance, default=str)
        found = found if len(found) <= 80 else found[:77] + "..."
        raise ReportInvalid(f"{what}: expected {_expectation(error)} at {where}, found {found}")


def _expectation(error: Any) -> str:
    """The schema's demand in words (jsonschema's message restates the value; keep it short)."""
    keyword, rule = error.validator, error.validator_value
    if keyword == "required":
        missing = [name for name in rule if isinstance(error.instance, dict) and name not in error.instance]
        return f"field {missing[0]!r}" if missing else "required fields"
    if keyword in ("enum", "const"):
        return f"one of {rule}" if keyword == "enum" else repr(rule)
    if keyword == "type":
        return f"type {rule}"
    if keyword == "additionalProperties":
        return "no other fields"
    if keyword == "pattern":
        return f"a string matching {rule}"
    if keyword == "minLength" and rule == 1:
        return "a non-empty string"
    if keyword == "not":
        return f"a value not matching {json.dumps(rule)}"
    return f"{keyword} {json.dumps(rule, default=str)[:60]}"
