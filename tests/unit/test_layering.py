"""The folders are the layers: imports MUST point down the table below, and nothing imports in a cycle.

Every ``import`` counts, function-level ones too: a lazy import is still a dependency. The
table is the architecture (README "Architecture"); a new module goes into an existing row, and
a new row is a decision to write down here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

GROUND = (
    "ordinal.errors",
    "ordinal.types",
    "ordinal.labels",
    "ordinal.version",
    "ordinal.resources",
    "ordinal.progress",
)
KUBE, OBSERVE, CHECKS = "ordinal.kube", "ordinal.observe", "ordinal.checks"
TARGET, CAPS, ACT = "ordinal.target", "ordinal.capabilities", "ordinal.act"
ARTEFACTS, PLUGIN, CHAOS = "ordinal.artefacts", "ordinal.pytest_plugin", "ordinal.chaos"
RUNS, EXPERIMENTS, REPORT = "ordinal.runs", "ordinal.experiments", "ordinal.report"
CLI, LAUNCHER = "ordinal.cli", "ordinal.localcluster"

#: Layer → the layers its modules may import (besides their own layer and the ground floor).
MAY_IMPORT: Mapping[str, tuple[str, ...]] = {
    **{g: () for g in GROUND},
    KUBE: (),
    OBSERVE: (KUBE,),
    # Pure checks never reach the API: only the accessors, the naming rules and the timeline model.
    CHECKS: ("ordinal.kube.objects", "ordinal.kube.manifests", "ordinal.observe.timeline"),
    TARGET: (KUBE, LAUNCHER),
    CAPS: (KUBE, OBSERVE, CHECKS, TARGET),
    ACT: (KUBE, OBSERVE, CHECKS),
    ARTEFACTS: (KUBE, OBSERVE, CHECKS, CAPS),
    PLUGIN: (KUBE, OBSERVE, CHECKS, TARGET, CAPS, ACT, ARTEFACTS),
    CHAOS: (KUBE, OBSERVE, CHECKS, TARGET, CAPS, ACT),
    RUNS: (KUBE, OBSERVE, TARGET, EXPERIMENTS, LAUNCHER),
    EXPERIMENTS: (),
    REPORT: (KUBE, OBSERVE, CHECKS, TARGET, CAPS, ACT, ARTEFACTS, EXPERIMENTS, RUNS),
    CLI: (KUBE, OBSERVE, CHECKS, TARGET, CAPS, ACT, RUNS, EXPERIMENTS, REPORT, LAUNCHER),
    LAUNCHER: (KUBE, OBSERVE),
    # The package itself is Chaos Toolkit's entry point (`chaos discover ordinal`).
    "ordinal": (CHAOS,),
}

#: Third-party libraries that belong to one layer only.
OWNED_LIBRARIES: Mapping[str, tuple[str, ...]] = {
    "allure": ("ordinal.artefacts.allure",),
    "pytest": (PLUGIN, "ordinal.artefacts.allure"),
    "_pytest": (PLUGIN,),
    "chaoslib": (CHAOS,),
    "kubernetes": (KUBE,),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. ordinal.checks.storage
    name: str  # what it imports, resolved to a module where possible
    line: int

    def __str__(self) -> str:
        return f"{self.module} imports {self.name} (line {self.line})"


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str, known: set[str]) -> list[Import]:
    """Every import in ``path`` (top-level and in functions); ``from X import y`` is X.y when y is a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append(Import(module, child if child in known else base, node.lineno))
    return found


def layer_of(module: str) -> str | None:
    """The longest row of the table ``module`` falls under."""
    rows = [row for row in MAY_IMPORT if module == row or module.startswith(row + ".")]
    return max(rows, key=len) if rows else None


def within(name: str, rows: Iterable[str]) -> bool:
    return any(name == row or name.startswith(row + ".") for row in rows)


def violations(graph: Mapping[str, list[Import]]) -> list[str]:
    """Each import that goes against the table, as one readable line."""
    bad = []
    for module, found in sorted(graph.items()):
        layer = layer_of(module)
        assert layer is not None, f"{module} is in no row of the layering table; add it to MAY_IMPORT"
        allowed = (layer, *GROUND, *MAY_IMPORT[layer])
        for imp in found:
            top = imp.name.split(".")[0]
            if top == "ordinal" and imp.name != "ordinal" and not within(imp.name, allowed):
                bad.append(f"{imp}: {layer} may import only {', '.join(MAY_IMPORT[layer]) or 'the ground floor'}")
            elif imp.name == "ordinal" and layer != "ordinal":
                bad.append(f"{imp}: import the module that defines the name, not the package root")
            elif top in OWNED_LIBRARIES and not within(module, OWNED_LIBRARIES[top]):
                bad.append(f"{imp}: {top} belongs to {', '.join(OWNED_LIBRARIES[top])} alone")
    return bad


def cycles(graph: Mapping[str, list[Import]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    edges = {m: sorted({i.name for i in found if i.name in graph and i.name != m}) for m, found in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def graph_of(base: Path, package: str = "ordinal") -> dict[str, list[Import]]:
    paths = sorted((base / package).rglob("*.py"))
    known = {module_name(p, base) for p in paths}
    return {module_name(p, base): imports_of(p, module_name(p, base), known) for p in paths}


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return graph_of(SRC)


def test_every_import_points_down_the_layering_table(graph: dict[str, list[Import]]) -> None:
    """A module MUST import only its own layer, the ground floor and the layers its row names."""
    assert violations(graph) == []


def test_no_modules_import_each_other_in_a_cycle(graph: dict[str, list[Import]]) -> None:
    assert cycles(graph) == []


def test_only_target_runs_and_cli_reach_the_launcher(graph: dict[str, list[Import]]) -> None:
    """The launcher is optional: the library reads its state through ``ordinal.target`` alone."""
    users = sorted(
        {m for m, found in graph.items() if not within(m, (LAUNCHER,)) for i in found if within(i.name, (LAUNCHER,))}
    )
    assert users == ["ordinal.cli", "ordinal.runs", "ordinal.target"]


def test_only_the_artefacts_allure_module_imports_allure(graph: dict[str, list[Import]]) -> None:
    users = sorted({m for m, found in graph.items() for i in found if i.name.split(".")[0] == "allure"})
    assert users == ["ordinal.artefacts.allure"]


def test_the_conformance_suite_never_imports_the_launcher() -> None:
    """The suite users run works on any cluster: nothing in conformance/ knows the local one."""
    paths = sorted((ROOT / "conformance").glob("*.py"))
    found = [i for p in paths for i in imports_of(p, f"conformance.{p.stem}", set())]
    assert [str(i) for i in found if within(i.name, (LAUNCHER,))] == []


# -- the checker itself --------------------------------------------------------------------------


def _tree(tmp_path: Path, files: Mapping[str, str]) -> dict[str, list[Import]]:
    for name, text in files.items():
        path = tmp_path / "ordinal" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return graph_of(tmp_path)


def test_an_upward_import_inside_a_function_is_reported(tmp_path: Path) -> None:
    """A lazy import still counts: checks reaching the REST client is a violation, with its line."""
    graph = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "kube/__init__.py": "",
            "kube/rest.py": "",
            "checks/__init__.py": "",
            "checks/storage.py": "def f():\n    from ordinal.kube.rest import Kube\n",
        },
    )
    assert violations(graph) == [
        "ordinal.checks.storage imports ordinal.kube.rest (line 2): ordinal.checks may import only "
        "ordinal.kube.objects, ordinal.kube.manifests, ordinal.observe.timeline"
    ]


def test_a_cycle_between_two_modules_is_reported(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "act/__init__.py": "",
            "act/pods.py": "from ordinal.act import nodes\n",
            "act/nodes.py": "def undo():\n    from ordinal.act.pods import drain\n",
        },
    )
    assert cycles(graph) == [["ordinal.act.nodes", "ordinal.act.pods"]]


def test_a_library_outside_its_layer_is_reported(tmp_path: Path) -> None:
    graph = _tree(tmp_path, {"__init__.py": "", "observe/__init__.py": "", "observe/x.py": "import chaoslib\n"})
    assert violations(graph) == ["ordinal.observe.x imports chaoslib (line 1): chaoslib belongs to ordinal.chaos alone"]
