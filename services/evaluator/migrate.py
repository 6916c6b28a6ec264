"""``gospublic migrate``: apply the ClickHouse migrations in order and list them."""

from __future__ import annotations

import argparse
import asyncio
import sys

from gospublic.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        help="render the DDL for a ClickHouse cluster (Replicated*, _local + Distributed tables)",
    )
    parser.add_argument(
        "--print",
        action="store_true",
        dest="print_only",
        help="print the DDL instead of applying it (required with --cluster)",
    )
    parser.epilog = (
        "The target is GOSPUBLIC_CLICKHOUSE_URL (default: chDB under the state directory) and the\n"
        "database GOSPUBLIC_CLICKHOUSE_DATABASE. Applied migrations are recorded in\n"
        "<database>.schema_migrations; an edited applied migration is an error.\n"
        "--cluster NAME --print writes the cluster DDL to stdout; apply it with clickhouse-client\n"
        "(deploy/clickhouse/cluster.sql is this output for the cluster 'gospublic')."
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

    if getattr(args, "cluster", None) or getattr(args, "print_only", False):
        return _print_ddl(settings, args)
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


def _print_ddl(settings: Settings, args: argparse.Namespace) -> int:
    from .cluster import ClusterDDLError, render_cluster_sql
    from .store import MigrationError, read_migrations

    if not args.print_only:
        print("error: --cluster only renders DDL; add --print", file=sys.stderr)
        return 2
    database = settings.clickhouse_database
    try:
        if args.cluster:
            sys.stdout.write(render_cluster_sql(args.cluster, database))
        else:
            for migration in read_migrations():
                print(f"-- {migration.version:04d}_{migration.name}")
                for statement in migration.statements(database):
                    print(f"{statement};\n")
    except (ClusterDDLError, MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
