"""Arrows point down: the facade and the engine never import the views, the views never build a queue.

Read from the source (the import statements), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import pathlib

import goesvfi_lab

PACKAGE = pathlib.Path(goesvfi_lab.__file__).parent


def imported(path: pathlib.Path) -> set[str]:
    """Absolute names of every goesvfi_lab module ``path`` imports, at any depth of the file."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = f"{base}.{node.module}" if node.level and node.module else base if node.level else node.module
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return {n for n in names if n and n.startswith("goesvfi_lab")}


def modules(*parts: str) -> list[pathlib.Path]:
    found = []
    for part in parts:
        target = PACKAGE / part
        found.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")])
    return found


def offenders(paths: list[pathlib.Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for path in paths:
        hits = sorted(n for n in imported(path) if any(n == f or n.startswith(f + ".") for f in forbidden))
        if hits:
            bad[str(path.relative_to(PACKAGE))] = hits
    return bad


def test_the_facade_and_engine_never_import_the_views():
    below = modules("queue", "store", "model", "policy", "engine", "frames", "interp", "cli", "demo")
    assert offenders(below, ("goesvfi_lab.widgets", "goesvfi_lab.notebook")) == {}


def test_the_views_never_build_a_queue():
    assert offenders(modules("widgets"), ("goesvfi_lab.queue", "goesvfi_lab.notebook")) == {}


def test_the_reader_sees_relative_imports():
    # the checker itself: notebook.py imports both layers (it is the one module above them)
    names = imported(PACKAGE / "notebook.py")
    assert "goesvfi_lab.widgets.app" in names and "goesvfi_lab.queue" in names
