"""``gospublic migrate``: apply the ClickHouse migrations in order and list them."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gospublic.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "The target is GOSPUBLIC_CLICKHOUSE_URL (default: chDB under the state directory) and the\n"
        "database GOSPUBLIC_CLICKHOUSE_DATABASE. Applied migrations are recorded in\n"
        "<database>.schema_migrations; an edited applied migration is an error."
    )


async def _migrate(settings: Settings):
    from .store import ClickHouseStore

    store = await ClickHouseStore.open(settings)
    try:
        return await store.migrate()
    finally:
        await store.close()


def run(settings: Settings, args: argparse.Namespace) -> int:
    from .store import MigrationError

    try:
        applied = asyncio.run(_migrate(settings))
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"database {settings.clickhouse_database}:")
    for m in applied:
        mark = "applied now" if m.new else "already applied"
        when = m.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if m.applied_at else ""
        print(f"  {m.version:04d}_{m.name:<30} {mark:<16} {when}  {m.checksum[:12]}")
    new = sum(1 for m in applied if m.new)
    print(f"{len(applied)} migration(s), {new} new")
    return 0
