"""Reporting is a side channel: only reporting/allure.py imports allure, only the plugin and reporting import
pytest, and nothing below the plugin reaches up into it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ordinal"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "ordinal":
                found.update(f"ordinal.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(SRC)): _imports(p) for p in SRC.rglob("*.py")}


def test_only_reporting_allure_imports_allure() -> None:
    """allure MUST be imported by reporting/allure.py alone."""
    users = sorted(m for m, names in _modules().items() if any(n.split(".")[0] == "allure" for n in names))
    assert users == ["reporting/allure.py"]


def test_pytest_stays_in_the_plugin_and_reporting() -> None:
    users = sorted(m for m, names in _modules().items() if any(n.split(".")[0] in ("pytest", "_pytest") for n in names))
    assert users == ["pytest_plugin.py", "reporting/allure.py"]


def test_library_layers_never_import_the_plugin_or_reporting() -> None:
    """The library and both consumers' shared layers MUST NOT import the plugin, reporting or the report."""
    upward = {"ordinal.pytest_plugin", "ordinal.reporting", "ordinal.report", "ordinal.suite", "ordinal.cli"}
    lower = (
        *("kube/", "observe/", "checks/", "waiting.py", "capabilities.py", "harness.py", "disrupt.py"),
        *("hygiene.py", "datatokens.py", "chaos/", "localcluster/"),
    )
    bad = {
        module: sorted(n for n in names if any(n == u or n.startswith(u + ".") for u in upward))
        for module, names in _modules().items()
        if module.startswith(lower)
    }
    assert {m: names for m, names in bad.items() if names} == {}
