"""No import circles inside `reasonloop`: its modules form a graph without cycles.

Every import statement counts, also those inside functions and under `TYPE_CHECKING`: a lazy
import only hides a circle until the function runs (the old `benchmarks` -> `rewards` ->
`rewards.remote` -> `rpc.clients` -> `benchmarks` was one).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import reasonloop


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package in `root` (a folder named `package`), by dotted name."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source."""
    files = module_files(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                # `from package import module` imports the module; else the name's module
                targets += [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                    for alias in node.names
                ]
        graph[name] = set()
        for target in targets:
            while target not in files and "." in target:
                target = target.rpartition(".")[0]  # `a.b.function` -> `a.b`
            if target in files and target != name:
                graph[name].add(target)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return error.args[1]
    return None


def test_reasonloop_has_no_import_cycle() -> None:
    root = Path(reasonloop.__file__).parent
    graph = import_graph(root, "reasonloop")
    assert len(graph) > 50  # every module was found
    # the edges the redesign rests on are seen (so an empty graph cannot pass)
    assert "reasonloop.rpc.convert" in graph["reasonloop.rpc.clients"]
    assert "reasonloop.rewards" in graph["reasonloop.benchmarks"]
    assert "reasonloop.rpc.benchmark_server" not in graph["reasonloop.rpc.clients"]
    found = cycle(graph)
    assert found is None, "import cycle: " + " -> ".join(found or [])


@pytest.mark.parametrize(
    "b_source",
    [
        "from pkg.a import X\n",  # at module level
        "def f():\n    from pkg import a\n",  # a lazy import hides it until f runs
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import X\n",
    ],
)
def test_a_cycle_is_found_however_it_is_imported(tmp_path: Path, b_source: str) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg import b\nX = 1\n")
    (root / "b.py").write_text(b_source)
    found = cycle(import_graph(root, "pkg"))
    assert found is not None and set(found) == {"pkg.a", "pkg.b"}
