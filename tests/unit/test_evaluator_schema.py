"""The columns the evaluator writes and reads are those the migrations create, in order."""

from __future__ import annotations

import re

import pytest

from services.evaluator import schema

_CREATE_TABLE = re.compile(
    r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\.(?P<table>\w+)\s*\((?P<body>.*?)\)\s*ENGINE",
    re.IGNORECASE | re.DOTALL,
)


def _top_level_parts(body: str) -> list[str]:
    """Split a column list on the commas outside parentheses (types hold some: Map(K, V))."""
    parts, depth, current = [], 0, []
    for char in body:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def migrated_columns() -> dict[str, tuple[str, ...]]:
    """Each table's columns in the order the migrations create them."""
    tables: dict[str, tuple[str, ...]] = {}
    for migration in schema.read_migrations():
        for statement in migration.statements("db"):
            match = _CREATE_TABLE.match(statement)
            if match:
                names = tuple(p.split()[0] for p in _top_level_parts(match["body"]))
                tables[match["table"]] = names
            assert not re.match(r"^ALTER\s+TABLE", statement, re.IGNORECASE), (
                "a migration alters a table: teach migrated_columns about it"
            )
    return tables


def test_the_tables_are_the_migrated_ones() -> None:
    assert set(schema.TABLES) == set(migrated_columns())


@pytest.mark.parametrize("table", list(schema.TABLE_COLUMNS))
def test_insert_columns_are_the_tables_columns_in_order(table: str) -> None:
    assert schema.TABLE_COLUMNS[table] == migrated_columns()[table]


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("organisations", schema.ORGANISATION_STATE_COLUMNS),
        ("pages", schema.PAGE_STATE_COLUMNS),
        ("violations", schema.OPEN_VIOLATION_COLUMNS),
    ],
)
def test_state_columns_exist(table: str, columns: tuple[str, ...]) -> None:
    assert set(columns) <= set(migrated_columns()[table])
    assert len(set(columns)) == len(columns)


def test_the_open_violations_query_names_only_violation_columns() -> None:
    sql = schema.open_violations_sql(("org_id", "rule"), order_by="municipality, rule")
    assert sql.startswith("SELECT org_id, rule FROM (")
    assert "{db:Identifier}.violations" in sql
    assert sql.endswith("WHERE state = 'open' ORDER BY municipality, rule")
    with pytest.raises(ValueError):
        schema.open_violations_sql(("org_id; DROP TABLE x",))
    with pytest.raises(ValueError):
        schema.open_violations_sql(order_by="rule DESC")
