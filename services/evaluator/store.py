"""ClickHouse storage: migrations, batch inserts, the state a restarted evaluator needs.

The same code runs on the embedded chDB (``chdb://<dir>``) and on a server (``http(s)://host:8123``)
through clickhouse-connect. chDB has no async client and one process owns its data directory, so
every call runs in a thread, one at a time, on the single client this store opens. The columns and
the open-violations query come from ``schema``; the readers (the report, the dashboards) query the
tables themselves.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from sys import intern
from typing import Any
from urllib.parse import urlparse

from gospublic.contracts import SCORE_COMPONENTS, AlertLabels, Platform
from gospublic.settings import Settings

from .schema import (
    MIGRATIONS_DIR,
    OPEN_VIOLATION_COLUMNS,
    ORGANISATION_STATE_COLUMNS,
    PAGE_STATE_COLUMNS,
    SCHEMA_MIGRATIONS_COLUMNS,
    SCHEMA_MIGRATIONS_DDL,
    TABLES,
    Migration,
    MigrationError,
    open_violations_sql,
    read_migrations,
)
from .scorecard import facts_from_map
from .state import EvaluatorState, OpenViolation, OrgRecord, PageRecord, PageState

# Importable from here as before the schema had a module of its own.
__all__ = [
    "MIGRATIONS_DIR",
    "TABLES",
    "AppliedMigration",
    "ClickHouseStore",
    "Migration",
    "MigrationError",
    "is_data_error",
    "read_migrations",
]

log = logging.getLogger("gospublic.evaluator.store")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime
    new: bool


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class ClickHouseStore:
    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, settings: Settings) -> ClickHouseStore:
        database = settings.clickhouse_database
        if not _IDENTIFIER.match(database):
            raise MigrationError(f"clickhouse_database {database!r} is not a plain identifier")
        url = settings.effective_clickhouse_url()
        client = await asyncio.to_thread(_connect, url, settings)
        return cls(client, database)

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self.client.close)

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    async def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return await self._call(self.client.command, sql, parameters=parameters)

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        """Run a read query; ``{db}`` in the text is the database, values go in as parameters."""
        text = sql.replace("{db}", self.database)
        result = await self._call(self.client.query, text, parameters=parameters)
        return [tuple(row) for row in result.result_rows]

    # --- migrations ------------------------------------------------------------------------

    async def migrate(self, directory: Path = MIGRATIONS_DIR) -> list[AppliedMigration]:
        """Apply pending migrations in order; return every applied one, marking the new ones."""
        migrations = read_migrations(directory)
        db = self.database
        await self.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        await self.command(SCHEMA_MIGRATIONS_DDL.format(db=db))
        rows = await self.query(
            "SELECT version, name, checksum, applied_at FROM {db}.schema_migrations "
            "ORDER BY version, applied_at LIMIT 1 BY version"
        )
        done = {int(v): (name, checksum, _aware(at)) for v, name, checksum, at in rows}
        applied: list[AppliedMigration] = []
        for migration in migrations:
            if migration.version in done:
                name, checksum, at = done[migration.version]
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was "
                        f"applied (stored checksum {checksum[:12]}…, file {migration.checksum[:12]}…);"
                        " add a new migration instead of editing an applied one"
                    )
                applied.append(AppliedMigration(migration.version, name, checksum, at, False))
                continue
            for statement in migration.statements(db):
                await self.command(statement)
            now = datetime.now(UTC)
            # The token makes a concurrent or repeated record of the same migration a no-op.
            await self.insert(
                "schema_migrations",
                [(migration.version, migration.name, migration.checksum, now)],
                SCHEMA_MIGRATIONS_COLUMNS,
                dedup_token=f"migration-{migration.version}-{migration.checksum}",
            )
            log.info(
                "applied migration",
                extra={"version": migration.version, "migration": migration.name},
            )
            applied.append(
                AppliedMigration(migration.version, migration.name, migration.checksum, now, True)
            )
        return applied

    # --- writes ----------------------------------------------------------------------------

    async def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        dedup_token: str | None = None,
    ) -> int:
        """One insert of row tuples; a repeated ``dedup_token`` is dropped by ClickHouse."""
        if not rows:
            return 0
        settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
        await self._call(self._insert_columns, table, rows, column_names, settings)
        return len(rows)

    async def insert_tables(
        self,
        inserts: Sequence[tuple[str, Sequence[Sequence[Any]], Sequence[str], str | None]],
        written: dict[str, int],
    ) -> None:
        """Several inserts, in order, in one trip to the worker thread.

        ``written`` gets each table's row count as soon as that insert is done, so a caller whose
        later insert failed knows which tables already hold the batch.
        """

        def run() -> None:
            for table, rows, column_names, dedup_token in inserts:
                if not rows:
                    continue
                settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
                self._insert_columns(table, rows, column_names, settings)
                written[table] = len(rows)

        await self._call(run)

    def _insert_columns(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None,
    ) -> None:
        # The driver serialises column by column: hand it columns (``handlers.Columns``), or
        # transpose row tuples in C first, which is cheaper than letting it walk the rows.
        columns = getattr(rows, "columns", None)
        if columns is None:
            columns = list(zip(*rows, strict=True))
        self.client.insert(
            f"{self.database}.{table}",
            columns,
            column_names=list(column_names),
            settings=settings,
            column_oriented=True,
        )

    # --- state -----------------------------------------------------------------------------

    async def load_state(self) -> EvaluatorState:
        """Organisations, page liveness and open violations as the store last recorded them."""
        state = EvaluatorState()
        orgs = await self.query(
            f"SELECT {', '.join(ORGANISATION_STATE_COLUMNS)} FROM {{db}}.organisations FINAL"
        )
        for (
            org_id,
            name,
            level,
            founder,
            municipality,
            sphere,
            exempt,
            platforms,
            ids,
            region,
        ) in orgs:
            pages = tuple(
                PageRecord(Platform(p), n, org_id) for p, n in zip(platforms, ids, strict=True)
            )
            state.put_org(
                OrgRecord(
                    org_id,
                    name,
                    intern(level),
                    intern(founder),
                    intern(municipality),
                    intern(sphere),
                    bool(exempt),
                    pages,
                ),
                intern(str(region)),
            )
        pages = await self.query(f"SELECT {', '.join(PAGE_STATE_COLUMNS)} FROM {{db}}.pages FINAL")
        for platform, native_id, page_id, org_id, liveness, name, observed_at, members in pages:
            state.pages[f"{platform}:{native_id}"] = PageState(
                org_id=org_id,
                page_id=page_id,
                liveness=liveness,
                name=name,
                observed_at=_aware(observed_at),
                members=members,
            )
        open_now = await self.query(open_violations_sql(), {"db": self.database})
        for row in open_now:
            v = dict(zip(OPEN_VIOLATION_COLUMNS, row, strict=True))
            labels = AlertLabels(**{k: v[k] for k in AlertLabels.model_fields})
            slot = (v["org_id"], v["platform"], v["page_id"], v["rule"])
            state.open_violation(
                slot,
                OpenViolation.of(v["violation_id"], v["severity"], labels, _aware(v["opened_at"])),
            )
        # The latest score of each page and component: the engagement rate ("er") places the page
        # in its cohort for LOW_ENGAGEMENT; the published components are what an organisation's
        # next ScoresUpdated averages, so that it covers all its pages, not only those seen since.
        latest = await self.query(
            "SELECT platform, page_id, org_id, component, argMax(value, scored_at) FROM {db}.scores"
            " WHERE component IN {components:Array(String)}"
            " GROUP BY platform, page_id, org_id, component",
            {"components": ["er", *SCORE_COMPONENTS]},
        )
        keys = {(k.split(":", 1)[0], p.page_id): k for k, p in state.pages.items()}
        for platform, page_id, org_id, component, value in latest:
            org = state.orgs.get(org_id)
            if org is None:
                continue
            if component != "er":
                state.set_score(org_id, platform, page_id, component, float(value))
                continue
            key = keys.get((platform, page_id))
            if key is not None:
                cohort = (platform, org.level, org.sphere, state.region.get(org_id, ""))
                state.set_engagement(key, cohort, float(value))
        # Each page's scorecard facts as its latest card recorded them: an organisation's next
        # card covers all its pages, not only those seen since the start.
        cards = await self.query(
            "SELECT platform, page_id, argMax(facts, scored_at) FROM {db}.scorecards"
            " WHERE platform != 'any' GROUP BY org_id, platform, page_id"
        )
        for platform, page_id, stored in cards:
            key = keys.get((platform, page_id))
            if key is not None:
                state.card_facts[key] = facts_from_map(platform, page_id, stored)
        connected = await self.query(
            "SELECT org_id, argMax(facts, scored_at)['connection'] AS c, "
            " argMax(mapContains(facts, 'connection'), scored_at) AS known FROM {db}.scorecards"
            " WHERE platform = 'any' GROUP BY org_id HAVING known"
        )
        for org_id, value, _ in connected:
            if org_id in state.orgs:
                state.connected[org_id] = bool(value)
        last = await self.query("SELECT max(changed_at), count() FROM {db}.violations")
        if last and last[0][1]:
            state.last_change = max(state.last_change, _aware(last[0][0]))
        return state


def is_data_error(exc: BaseException) -> bool:
    """True when the rows themselves cannot be serialised: retrying the same rows cannot help."""
    from clickhouse_connect.driver.exceptions import DataError

    return isinstance(exc, DataError)


def _connect(url: str, settings: Settings) -> Any:
    import clickhouse_connect

    parsed = urlparse(url)
    kwargs: dict[str, Any] = {**settings.clickhouse_client_args(), "dsn": url, "tz_mode": "aware"}
    if parsed.scheme == "chdb":
        Path(parsed.path).mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(**kwargs)
