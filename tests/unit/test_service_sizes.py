"""Every service stays readable in one sitting: no module over 400 lines, no class over 250.

Which service may import what is checked apart, in ``test_layers.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
MODULES = sorted(SERVICES.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def _name(path: Path) -> str:
    return str(path.relative_to(SERVICES))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_and_class_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            assert size <= MAX_CLASS_LINES, f"class {node.name} has {size} lines"


def test_every_service_is_measured() -> None:
    measured = {path.relative_to(SERVICES).parts[0] for path in MODULES}
    assert {"collector", "evaluator", "notifier", "receiver", "simulator"} <= measured
