"""The layers import only downwards (docs/DESIGN.md, "Layers").

- kernel: ``gospublic/`` outside ``gospublic/apps/``; imports no service and no app;
- services: ``services/<name>/``; import the kernel and their own service, no other service, no app;
- apps: ``gospublic/apps/`` and the package's entry point ``gospublic/__main__.py`` (what
  ``python -m gospublic`` runs: it starts the command line, so it is a program, not the kernel);
  import anything.

Every ``import`` and ``from ... import`` is read, at any depth (inside functions too), and so is
every ``importlib.import_module("...")`` (or ``__import__``) with a literal module name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Files of the kernel's folder that belong to the programs' layer.
ENTRY_POINTS = frozenset({"gospublic/__main__.py"})
DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


@dataclass(frozen=True)
class Imported:
    line: int
    module: str  # absolute, e.g. "services.evaluator.rules"
    text: str  # the line(s) as written, e.g. "from . import rules"


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, relative: Path) -> list[Imported]:
    """Every module the file imports, by absolute name, with its line."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    module = _module_name(relative)
    package = module if relative.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[ast.AST, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from services import evaluator`` imports services.evaluator: name each one.
            found += [
                (node, base if alias.name == "*" else f"{base}.{alias.name}")
                for alias in node.names
            ]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            if (
                name in DYNAMIC_IMPORTS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append((node, first.value))
    lines = source.splitlines()
    return [
        Imported(node.lineno, name, " ".join(lines[node.lineno - 1 : node.end_lineno]).strip())
        for node, name in found
    ]


def layer_of_file(relative: Path) -> str:
    """The file's layer: kernel, apps or service:<name> (``services/__init__.py``: service:)."""
    posix = relative.as_posix()
    if posix in ENTRY_POINTS or posix.startswith("gospublic/apps/"):
        return "apps"
    if posix.startswith("gospublic/"):
        return "kernel"
    parts = relative.parts
    return f"service:{parts[1] if len(parts) > 2 else ''}"


def layer_of_module(module: str) -> str | None:
    """The layer an imported module belongs to; None for the kernel and third-party modules."""
    parts = module.split(".")
    if parts[:2] == ["gospublic", "apps"]:
        return "apps"
    if parts[0] == "services":
        return f"service:{parts[1] if len(parts) > 1 else ''}"
    return None


def forbidden(importer: str, imported: str | None) -> str | None:
    """Why the import breaks the layers, or None if it is allowed."""
    if imported is None or importer == "apps":
        return None
    if imported == "apps":
        return "the kernel imports an app" if importer == "kernel" else "a service imports an app"
    if importer == "kernel":
        return "the kernel imports a service"
    if imported != importer:
        return "a service imports another service"
    return None


def layer_violations(root: Path) -> list[str]:
    """``file:line: import — why`` for every import under root's gospublic/ and services/
    that goes against the layers."""
    problems = []
    for top in ("gospublic", "services"):
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root)
            importer = layer_of_file(relative)
            for found in imports_of(path, relative):
                why = forbidden(importer, layer_of_module(found.module))
                if why:
                    text = " ".join(found.text.split())  # an import over lines on one
                    problems.append(f"{relative.as_posix()}:{found.line}: {text} — {why}")
    return problems


def test_every_import_keeps_to_the_layers() -> None:
    problems = layer_violations(ROOT)
    assert not problems, "imports against the layers (docs/DESIGN.md):\n" + "\n".join(problems)


# --- the checker itself ---------------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checker_catches_planted_imports(tmp_path) -> None:
    root = _tree(
        tmp_path,
        {
            "gospublic/__init__.py": "",
            "gospublic/__main__.py": "from gospublic.apps.cli import main\n",
            "gospublic/good.py": "import json\nfrom gospublic import bus\n",
            "gospublic/bad.py": (
                "import json\n\n\ndef later():\n    from services.evaluator import rules\n"
            ),
            "gospublic/dynamic.py": (
                "import importlib\n\nmod = importlib.import_module('gospublic.apps.demo')\n"
            ),
            "gospublic/apps/__init__.py": "",
            "gospublic/apps/cli.py": "import services.evaluator.main\nfrom gospublic import bus\n",
            "services/__init__.py": "",
            "services/evaluator/__init__.py": "",
            "services/evaluator/own.py": "from . import rules\nfrom .rules import RULES\n",
            "services/evaluator/other.py": "from ..notifier import digest\n",
            "services/evaluator/app.py": "from gospublic import apps\n",
            "services/notifier/__init__.py": "",
            "services/notifier/main.py": "import services.notifier.digest\n",
        },
    )
    problems = layer_violations(root)
    assert problems == [
        "gospublic/bad.py:5: from services.evaluator import rules — the kernel imports a service",
        "gospublic/dynamic.py:3: mod = importlib.import_module('gospublic.apps.demo')"
        " — the kernel imports an app",
        "services/evaluator/app.py:1: from gospublic import apps — a service imports an app",
        "services/evaluator/other.py:1: from ..notifier import digest"
        " — a service imports another service",
    ]


def test_relative_imports_resolve_from_the_package(tmp_path) -> None:
    path = tmp_path / "module.py"
    path.write_text("from .. import rules\nfrom .x import y\n", encoding="utf-8")
    found = imports_of(path, Path("services/evaluator/a/b.py"))
    assert [f.module for f in found] == ["services.evaluator.rules", "services.evaluator.a.x.y"]
    path.write_text("from . import rules\n", encoding="utf-8")
    found = imports_of(path, Path("services/evaluator/__init__.py"))
    assert [f.module for f in found] == ["services.evaluator.rules"]
