"""The simulator stays readable in parts: no module over 400 lines, no class over 250, and it
imports no other service (its ground truth reads the rules on its own, apart from the evaluator)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIMULATOR = Path(__file__).resolve().parents[2] / "services" / "simulator"
MODULES = sorted(SIMULATOR.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def _name(path: Path) -> str:
    return str(path.relative_to(SIMULATOR))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_and_class_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            assert lines <= MAX_CLASS_LINES, f"class {node.name} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_imports_no_other_service(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            if module.startswith("services."):
                assert module.startswith("services.simulator"), module
