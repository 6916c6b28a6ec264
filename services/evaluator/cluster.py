"""The migrations rewritten for a ClickHouse cluster: replicated ``_local`` tables plus Distributed.

The single-node DDL in ``migrations/`` stays the source of truth; :func:`cluster_ddl` derives the
cluster variant from it, so the two cannot drift apart. For every ``CREATE TABLE`` it emits

- ``<db>.<table>_local ON CLUSTER <c>`` with the ``Replicated*`` form of the engine, its replica path
  keyed by the ``{shard}`` and ``{replica}`` macros of each server's configuration, and
  ``replicated_deduplication_window`` in place of ``non_replicated_deduplication_window`` (the
  setting that makes ``insert_deduplication_token`` work on a replicated table);
- ``<db>.<table> ON CLUSTER <c>`` as a ``Distributed`` table over the local ones, under the original
  name, so the services and the dashboards read and write the same names as on one node;

and for every ``CREATE MATERIALIZED VIEW ... TO`` a view on each server that reads the local source
table and writes the local target (each shard rolls up its own rows; reads combine them).

Sharding keeps together the rows that must meet: a Replacing/Collapsing table is sharded by its
sorting key (its duplicates only collapse within a shard), every other table by ``org_id`` so one
organisation's rows, and the ``organisations`` table they join with, live on one shard (a table
without ``org_id`` by its sorting key). A statement this module does not know how to rewrite is an
error rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from .schema import MIGRATIONS_DIR, SCHEMA_MIGRATIONS_DDL, read_migrations

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CREATE_DATABASE = re.compile(
    r"^CREATE\s+DATABASE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<db>\w+)\s*$", re.IGNORECASE
)
_CREATE_TABLE = re.compile(
    r"^CREATE\s+TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<db>\w+)\.(?P<table>\w+)\s*"
    r"(?P<columns>\(.*\))\s*"
    r"ENGINE\s*=\s*(?P<engine>\w+)(?:\((?P<args>[^()]*)\))?\s*"
    r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_VIEW = re.compile(
    r"^CREATE\s+MATERIALIZED\s+VIEW\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<db>\w+)\.(?P<view>\w+)\s+"
    r"TO\s+(?P<to_db>\w+)\.(?P<to>\w+)\s+AS\s+(?P<select>SELECT\b.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ORDER_BY = re.compile(r"ORDER\s+BY\s+(?P<key>\([^()]*\)|\w+)", re.IGNORECASE)
_MERGE_TREES = {
    "MergeTree",
    "ReplacingMergeTree",
    "SummingMergeTree",
    "AggregatingMergeTree",
    "CollapsingMergeTree",
    "VersionedCollapsingMergeTree",
}
# Engines read with FINAL: their duplicates only collapse when they meet on one shard. (Summing and
# Aggregating tables are always read with GROUP BY, which combines across shards anyway.)
_KEY_MERGING = {"ReplacingMergeTree", "CollapsingMergeTree", "VersionedCollapsingMergeTree"}


class ClusterDDLError(ValueError):
    pass


def _check_identifier(kind: str, value: str) -> None:
    if not _IDENTIFIER.match(value):
        raise ClusterDDLError(f"{kind} {value!r} is not a plain identifier")


def _column_names(columns: str) -> set[str]:
    """The names in a ``(name Type, ...)`` list; commas inside a type's parentheses do not split."""
    names, depth, start, body = set(), 0, 0, columns.strip()[1:-1]
    for i, ch in enumerate(body + ","):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            words = body[start:i].split()
            if words:
                names.add(words[0].strip('`"'))
            start = i + 1
    return names


def _sharding_key(table: str, engine: str, columns: str, rest: str) -> str:
    match = _ORDER_BY.search(rest)
    by_sort_key = None
    if match:
        key = match["key"]
        by_sort_key = f"cityHash64{key}" if key.startswith("(") else f"cityHash64({key})"
    if engine in _KEY_MERGING:
        if by_sort_key is None:
            raise ClusterDDLError(f"{table}: a {engine} needs a plain ORDER BY to shard by")
        return by_sort_key
    if "org_id" in _column_names(columns):
        return "cityHash64(org_id)"
    return by_sort_key or "rand()"


def _rewrite_table(match: re.Match[str], cluster: str, database: str) -> list[str]:
    db, table, engine = match["db"], match["table"], match["engine"]
    if db != database:
        raise ClusterDDLError(f"{db}.{table}: expected a table in database {database!r}")
    if engine not in _MERGE_TREES:
        raise ClusterDDLError(f"{db}.{table}: no replicated form known for engine {engine}")
    ine = "IF NOT EXISTS " if match["ine"] else ""
    local = f"{table}_local"
    args = [f"'/clickhouse/tables/{{shard}}/{database}/{local}'", "'{replica}'"]
    if match["args"] and match["args"].strip():
        args.append(match["args"].strip())
    rest = re.sub(
        r"\bnon_replicated_deduplication_window\b",
        "replicated_deduplication_window",
        match["rest"].strip(),
    )
    local_ddl = (
        f"CREATE TABLE {ine}{database}.{local} ON CLUSTER {cluster}\n"
        f"{match['columns'].strip()}\n"
        f"ENGINE = Replicated{engine}({', '.join(args)})\n"
        f"{rest}"
    )
    key = _sharding_key(table, engine, match["columns"], match["rest"])
    distributed_ddl = (
        f"CREATE TABLE {ine}{database}.{table} ON CLUSTER {cluster}\n"
        f"AS {database}.{local}\n"
        f"ENGINE = Distributed({cluster}, {database}, {local}, {key})"
    )
    return [local_ddl, distributed_ddl]


def _rewrite_view(match: re.Match[str], cluster: str, database: str, tables: set[str]) -> str:
    """A materialized view fires on inserts into a shard's local table and writes the local target.

    Each shard aggregates its own rows; the Distributed target combines them at read time
    (roll-ups are read with ``...Merge`` and GROUP BY).
    """
    db, view, to = match["db"], match["view"], match["to"]
    if db != database or match["to_db"] != database:
        raise ClusterDDLError(f"{db}.{view}: expected a view in database {database!r}")
    if to not in tables:
        raise ClusterDDLError(f"{db}.{view}: its target {to} is not a table of the migrations")
    ine = "IF NOT EXISTS " if match["ine"] else ""

    def local(found: re.Match[str]) -> str:
        name = found[1]
        return f"{database}.{name}_local" if name in tables else found[0]

    select = re.sub(rf"\b{re.escape(database)}\.(\w+)\b", local, match["select"].strip())
    return (
        f"CREATE MATERIALIZED VIEW {ine}{database}.{view} ON CLUSTER {cluster}\n"
        f"TO {database}.{to}_local\n"
        f"AS {select}"
    )


def cluster_ddl(statements: Iterable[str], cluster: str, database: str) -> list[str]:
    """Rewrite single-node DDL statements (``${database}`` already substituted) for ``cluster``."""
    _check_identifier("cluster", cluster)
    _check_identifier("database", database)
    out: list[str] = []
    tables: set[str] = set()
    for statement in statements:
        text = statement.strip().rstrip(";").strip()
        if not text:
            continue
        if match := _CREATE_DATABASE.match(text):
            ine = "IF NOT EXISTS " if match["ine"] else ""
            out.append(f"CREATE DATABASE {ine}{match['db']} ON CLUSTER {cluster}")
        elif match := _CREATE_TABLE.match(text):
            out.extend(_rewrite_table(match, cluster, database))
            tables.add(match["table"])
        elif match := _CREATE_VIEW.match(text):
            out.append(_rewrite_view(match, cluster, database, tables))
        else:
            head = " ".join(text.split())[:80]
            raise ClusterDDLError(f"no cluster form known for the statement: {head}…")
    return out


def render_cluster_sql(cluster: str, database: str, directory: Path = MIGRATIONS_DIR) -> str:
    """The whole cluster script: the database, the migrations table and every migration, in order."""
    statements = [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        SCHEMA_MIGRATIONS_DDL.format(db=database),
    ]
    names = []
    for migration in read_migrations(directory):
        names.append(f"{migration.version:04d}_{migration.name}")
        statements.extend(migration.statements(database))
    header = [
        f"-- Generated by `gospublic migrate --cluster {cluster} --print` from the migrations",
        f"-- {', '.join(names)}; do not edit by hand, regenerate.",
        "-- Needs every server to define the {shard} and {replica} macros and the cluster in",
        "-- remote_servers, with ClickHouse Keeper for replication. Apply it once (any node), then",
        "-- start the evaluator: its own migration run finds every table and only records the",
        "-- versions. Give the evaluator's user distributed_foreground_insert = 1 (formerly",
        "-- insert_distributed_sync) so an insert returns only once the shards hold the rows: the",
        "-- evaluator acknowledges events after the insert.",
    ]
    body = [f"{s};" for s in cluster_ddl(statements, cluster, database)]
    return "\n".join(header) + "\n\n" + "\n\n".join(body) + "\n"
