"""SHA256SUMS covers every other file of a report in the format ``sha256sum -c`` reads, and verification
names each file that was changed, removed or added afterwards."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ordinal.report import sums


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "report"
    (directory / "allure-results").mkdir(parents=True)
    (directory / "index.html").write_text("<html></html>\n")
    (directory / "report.json").write_text("{}\n")
    (directory / "allure-results" / "a-result.json").write_text('{"x": 1}\n')
    (directory / "file with spaces.txt").write_text("spaces\n")
    sums.write(directory)
    return directory


def test_every_other_file_is_listed_recursively_and_sorted(report_dir: Path) -> None:
    names = [line.split("  ", 1)[1] for line in (report_dir / "SHA256SUMS").read_text().splitlines()]
    assert names == ["allure-results/a-result.json", "file with spaces.txt", "index.html", "report.json"]


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs: coreutils sha256sum")
def test_sha256sum_accepts_the_file(report_dir: Path) -> None:
    """A customer's ``sha256sum -c SHA256SUMS`` MUST pass on an untouched report."""
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=report_dir, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 4


def test_an_untouched_report_verifies(report_dir: Path) -> None:
    sums.verify(report_dir)


@pytest.mark.parametrize(
    ("edit", "found"),
    [
        (lambda d: (d / "report.json").write_text('{"verdict": "pass"}\n'), "changed report.json"),
        (lambda d: (d / "allure-results" / "a-result.json").unlink(), "missing allure-results/a-result.json"),
        (lambda d: (d / "extra.html").write_text("x"), "not listed extra.html"),
    ],
    ids=["edited", "removed", "added"],
)
def test_tampering_is_named(report_dir: Path, edit: object, found: str) -> None:
    """An edited, removed or added file MUST fail verification, naming the file."""
    edit(report_dir)  # type: ignore[operator]
    with pytest.raises(sums.Tampered, match=rf"expected .* to match its SHA256SUMS, found files {found}$"):
        sums.verify(report_dir)


def test_a_report_without_sums_is_not_trusted(report_dir: Path) -> None:
    (report_dir / "SHA256SUMS").unlink()
    with pytest.raises(sums.Tampered, match=r"expected .*SHA256SUMS \(the report's checksums\), found none"):
        sums.verify(report_dir)
