"""The cluster DDL derived from the migrations: replicated _local tables plus Distributed ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gospublic.apps.cli import build_parser
from gospublic.settings import Settings
from services.evaluator.cluster import ClusterDDLError, cluster_ddl, render_cluster_sql
from services.evaluator.store import TABLES, read_migrations

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "deploy" / "clickhouse" / "cluster.sql"


def test_committed_cluster_sql_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_cluster_sql("gospublic", "gospublic"), (
        "regenerate: gospublic migrate --cluster gospublic --print > deploy/clickhouse/cluster.sql"
    )


def test_the_cli_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    from services.evaluator import migrate

    settings = Settings(_env_file=None, clickhouse_database="gospublic")
    args = build_parser().parse_args(["migrate", "--cluster", "gospublic", "--print"])
    assert migrate.run(settings, args) == 0
    assert capsys.readouterr().out == COMMITTED.read_text(encoding="utf-8")
    args = build_parser().parse_args(["migrate", "--cluster", "gospublic"])
    assert migrate.run(settings, args) == 2  # renders only, never applies


def test_every_table_becomes_replicated_local_plus_distributed() -> None:
    statements = [s for m in read_migrations() for s in m.statements("db1")]
    out = cluster_ddl(statements, "main", "db1")
    for table in TABLES:
        (local,) = [
            s for s in out if re.match(rf"CREATE TABLE IF NOT EXISTS db1\.{table}_local\b", s)
        ]
        assert f"db1.{table}_local ON CLUSTER main" in local
        assert re.search(
            rf"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/{{shard}}/db1/{table}_local', "
            r"'\{replica\}'",
            local,
        )
        assert "replicated_deduplication_window = 10000" in local
        assert "non_replicated" not in local
        (dist,) = [s for s in out if re.match(rf"CREATE TABLE IF NOT EXISTS db1\.{table} ON", s)]
        assert f"AS db1.{table}_local" in dist
        assert f"ENGINE = Distributed(main, db1, {table}_local, " in dist
    tables = [s for s in out if s.startswith("CREATE TABLE")]
    assert len(tables) == 2 * len(TABLES)
    (view,) = [s for s in out if s.startswith("CREATE MATERIALIZED VIEW")]
    assert "db1.score_rollups_mv ON CLUSTER main" in view
    assert "TO db1.score_rollups_local" in view
    assert "FROM db1.scores_local" in view


def test_engine_arguments_and_clauses_are_kept() -> None:
    (local, dist) = cluster_ddl(
        [
            "CREATE TABLE IF NOT EXISTS d.pages (platform String, native_id String, org_id String,"
            " v DateTime) ENGINE = ReplacingMergeTree(v) PARTITION BY toYYYYMM(v)"
            " ORDER BY (platform, native_id) TTL v + INTERVAL 1 DAY"
            " SETTINGS non_replicated_deduplication_window = 100"
        ],
        "c",
        "d",
    )
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/d/pages_local', '{replica}', v)"
        in local
    )
    assert "PARTITION BY toYYYYMM(v)" in local and "TTL v + INTERVAL 1 DAY" in local
    # A Replacing table collapses duplicates per shard only: shard by its sorting key.
    assert dist.endswith("cityHash64(platform, native_id))")


def test_plain_tables_are_sharded_by_organisation() -> None:
    (_, dist) = cluster_ddl(
        ["CREATE TABLE d.t (at DateTime, org_id String) ENGINE = MergeTree ORDER BY at"], "c", "d"
    )
    assert dist.endswith("cityHash64(org_id))")
    (_, dist) = cluster_ddl(
        ["CREATE TABLE d.t (at DateTime) ENGINE = MergeTree ORDER BY at"], "c", "d"
    )
    assert dist.endswith("cityHash64(at))")


def test_unknown_statements_are_refused_not_guessed() -> None:
    for statement in (
        "ALTER TABLE d.t ADD COLUMN x String",
        "CREATE MATERIALIZED VIEW d.mv TO d.t AS SELECT 1",
        "CREATE TABLE d.t (x String) ENGINE = Memory",
        "CREATE TABLE other.t (x String) ENGINE = MergeTree ORDER BY x",
    ):
        with pytest.raises(ClusterDDLError):
            cluster_ddl([statement], "c", "d")
    with pytest.raises(ClusterDDLError):
        cluster_ddl([], "bad name", "d")


def test_every_statement_parses_in_clickhouse() -> None:
    chdb = pytest.importorskip("chdb")
    text = "\n".join(
        line for line in COMMITTED.read_text().splitlines() if not line.startswith("--")
    )
    statements = [s.strip() for s in text.split(";") if s.strip()]
    assert statements
    for statement in statements:
        chdb.query(f"EXPLAIN AST {statement}", "CSV")  # raises on a syntax error
