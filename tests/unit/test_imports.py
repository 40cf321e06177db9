"""The package's imports hold no circle: every import inside ``pytest_asyncplay`` counts, at the top, in a
function or under ``TYPE_CHECKING``, since each one is a dependency a reader has to hold in mind."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_asyncplay"


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of ``package`` (a package by its ``__init__``)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(files: Mapping[str, Path]) -> dict[str, set[str]]:
    """Which modules of ``files`` each one imports. ``from package import submodule`` is an import of the
    submodule, not of the package's ``__init__``."""
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in files]
                targets = submodules or [module]
            else:
                continue
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_circle_and_reads_a_submodule_import_as_one(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import x\n")
    (package / "a.py").write_text("x = 1\ndef f():\n    from .b import y\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg.a import x\ny = 2\n")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.c import z\n")
    (package / "sub" / "c.py").write_text("from pkg.sub import d\nz = 3\n")
    (package / "sub" / "d.py").write_text("w = 4\n")
    graph = import_graph(modules(package))
    assert graph["pkg.sub.c"] == {"pkg.sub.d"}  # the submodule, not the package that imports c
    assert circles(graph) == [["pkg.a", "pkg.b"]]


def test_no_import_circle_inside_the_package() -> None:
    found = circles(import_graph(modules(PACKAGE)))
    assert found == [], ("import circles: " + "; ".join(" <-> ".join(c) for c in found)
                         + ". Move what both sides need into a module of its own (as audit/rows.py holds the "
                         "report's rows), or let one side take a Protocol (as timeline.PlayRecord).")
