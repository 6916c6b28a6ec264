"""No SQL is built from values: an f-string holding SQL may only splice in identifiers that are
checked against a plain-identifier pattern (database, table, cluster names) or constant SQL
fragments of the module itself. Values always travel as query parameters (``{name:Type}``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SQL = re.compile(r"\b(SELECT|INSERT|CREATE|ALTER|DELETE|DROP|OPTIMIZE|TRUNCATE|WHERE)\b")

# What may appear inside {...} of an SQL f-string, per file. Each is an identifier validated by
# ``_IDENTIFIER`` or taken from a constant of the module, or a piece of a migration file's DDL.
ALLOWED = {
    "services/evaluator/store.py": {
        "db", "', '.join(ORGANISATION_STATE_COLUMNS)", "', '.join(PAGE_STATE_COLUMNS)", "table",
    },
    # Column names checked against the violations table's before they are spliced in.
    "services/evaluator/schema.py": {"', '.join(columns)", "', '.join(ordering)"},
    "services/evaluator/cluster.py": {
        "ine", "database", "local", "cluster", "table", "view", "to", "select", "key", "engine",
        "rest", "match['columns'].strip()", "', '.join(args)", "match['db']",
    },
}  # fmt: skip


def sql_fstrings(source: str) -> list[tuple[int, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        if SQL.search(text):
            spliced = [
                ast.get_source_segment(source, v.value) or "?"
                for v in node.values
                if isinstance(v, ast.FormattedValue)
            ]
            found.append((node.lineno, spliced))
    return found


def test_sql_is_never_built_from_values() -> None:
    offending = []
    for path in sorted(REPO.glob("**/*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith((".venv/", "tests/", "build/", "var/")):
            continue
        allowed = ALLOWED.get(relative, set())
        for line, spliced in sql_fstrings(path.read_text(encoding="utf-8")):
            offending += [f"{relative}:{line}: {{{e}}}" for e in spliced if e not in allowed]
    assert offending == []


def test_the_check_catches_a_value_spliced_into_sql() -> None:
    source = "def f(org_id):\n    return f\"SELECT * FROM t WHERE org_id = '{org_id}'\"\n"
    assert sql_fstrings(source) == [(2, ["org_id"])]
    assert sql_fstrings('x = f"hello {name}"') == []
