"""report.json has a versioned JSON Schema shipped in the package; every written report matches it and
a report that does not is refused naming the field, as ``expected …, found …``."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from report_samples import sample_report

from ordinal.report import REPORT_VERSION, schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_is_package_data_and_a_valid_draft_2020_12_schema() -> None:
    """The schema MUST ship inside the package (package-data) and be a valid JSON Schema."""
    data = schema.schema()
    jsonschema.Draft202012Validator.check_schema(data)
    assert data["properties"]["report_version"] == {"const": REPORT_VERSION}
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "report/schema/*.json" in package_data["ordinal"]


def test_the_sample_report_is_valid(tmp_path: Path) -> None:
    report = sample_report(tmp_path)
    schema.validate(report)
    schema.validate(json.loads(json.dumps(report)))  # as read back from disk


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("environment"), r"expected field 'environment' at \(top level\)"),
        (
            lambda r: r["areas"][0].update(verdict="maybe"),
            r"expected one of \['pass', 'fail', 'skip', 'not-run'\] at areas/0/verdict, found \"maybe\"",
        ),
        (lambda r: r["run"].update(started="yesterday"), r"at run/started, found \"yesterday\""),
        (lambda r: r["areas"][3]["promises"][0].update(reason=""), r"at areas/3/promises/0/reason, found \"\""),
        (lambda r: r.update(extra=1), r"expected no other fields at \(top level\)"),
        (lambda r: r["files"].update(junit="../junit.xml"), r"at files/junit"),
    ],
    ids=["missing-section", "unknown-verdict", "bad-timestamp", "skip-without-reason", "unknown-field", "path-escapes"],
)
def test_a_report_off_the_schema_is_refused_naming_the_field(tmp_path: Path, change: object, message: str) -> None:
    report = copy.deepcopy(sample_report(tmp_path))
    change(report)  # type: ignore[operator]
    with pytest.raises(schema.ReportInvalid, match=message) as raised:
        schema.validate(report)
    assert str(raised.value).startswith("report.json: expected ") and "\n" not in str(raised.value)


def test_a_report_of_another_version_is_refused(tmp_path: Path) -> None:
    report = sample_report(tmp_path) | {"report_version": 2}
    with pytest.raises(schema.ReportInvalid, match=r"expected report_version 1, found 2"):
        schema.validate(report)


def test_a_csi_report_is_valid(tmp_path: Path) -> None:
    """The CSI driver section and the attach/detach figure groups MUST match the schema."""
    report = sample_report(tmp_path, csi=True)
    schema.validate(report)
    report["environment"]["csi"]["attach_required"] = "yes"
    with pytest.raises(schema.ReportInvalid, match="attach_required"):
        schema.validate(report)
