"""The house rules of ``src/`` (docs/architecture.md), checked on the source text.

Modules small enough to see whole, functions that fit on a screen, and one-way layering: no
module imports, at its top level, a module that imports it back (directly or through others).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "sagan_edit"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 600
MAX_FUNCTION_BODY_LINES = 80


def module_name(path: Path) -> str:
    """``src/sagan_edit/train/config.py`` -> ``sagan_edit.train.config`` (packages: no __init__)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(path): path for path in MODULES}


def top_level_imports(path: Path) -> set[str]:
    """The project modules a module imports when it is imported (not under TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:  # top level only: lazy imports run later
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {target for target in found if target in NAMES and target != name}


def function_body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = node.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0  # type: ignore[operator]


def test_the_rules_see_the_whole_package() -> None:
    assert len(MODULES) > 40 and "sagan_edit.train.trainer" in NAMES
    assert top_level_imports(NAMES["sagan_edit.train.run"]) >= {
        "sagan_edit.train.trainer",
        "sagan_edit.errors",
    }


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_is_longer_than_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_no_function_body_is_longer_than_80_lines() -> None:
    long = [
        f"{module_name(path)}.{node.name}: {function_body_lines(node)} lines"
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and function_body_lines(node) > MAX_FUNCTION_BODY_LINES
    ]
    assert not long


def test_no_import_cycles() -> None:
    graph = {name: top_level_imports(path) for name, path in NAMES.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            pytest.fail(f"import cycle: {cycle}")
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
