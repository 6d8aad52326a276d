"""Imports MUST point down: checks and the timeline never reach the API client or anything above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ordinal"
BASE = {"ordinal.types", "ordinal.errors", "ordinal.objects"}
ALLOWED = {
    "objects.py": {"ordinal.types"},
    "workloads.py": {"ordinal.types", "ordinal.errors"},
    "observe/timeline.py": BASE | {"ordinal.workloads"},
}
CHECKS_ALLOWED = BASE | {"ordinal.workloads", "ordinal.observe.timeline"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "ordinal" else [node.module]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {n for n in found if n == "ordinal" or n.startswith("ordinal.")}


MODULES = sorted([*ALLOWED, *(f"checks/{p.name}" for p in (SRC / "checks").glob("*.py"))])


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_point_down(module: str) -> None:
    """A pure module MUST import only the layers beneath it."""
    allowed = ALLOWED.get(module, CHECKS_ALLOWED)
    bad = {
        name
        for name in _imports(SRC / module)
        if name not in allowed and not (module.startswith("checks/") and name.startswith("ordinal.checks."))
    }
    assert bad == set()
