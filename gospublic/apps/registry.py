"""``gospublic registry``: import a regional register (CSV) into NATS, or show the one in force.

The register itself (parsing, validation, storage in KV) is ``gospublic.registry``, which the
services read it through; this is the command a person runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from nats.errors import Error as NatsError

from gospublic import bus, registry
from gospublic.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="validate a register CSV and publish it",
        description="Validate FILE.csv (UTF-8, ',' or ';' separated) with the columns\n"
        f"{', '.join(registry.COLUMNS)}.\nAll rows are checked first; any error stops the "
        "import and nothing is written.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("file", type=Path, help="the register, CSV")
    imp.add_argument(
        "--region", type=registry.region_name, default="default", help="region key (default)"
    )
    imp.add_argument("--check", action="store_true", help="only validate, publish nothing")
    show = sub.add_parser("show", help="print the stored register's version and size")
    show.add_argument(
        "--region", type=registry.region_name, default="default", help="region key (default)"
    )


def _report_errors(path: Path, exc: registry.RegistryError) -> None:
    for err in exc.errors:
        print(err, file=sys.stderr)
    print(f"{path}: nothing imported ({len(exc.errors)} error(s))", file=sys.stderr)


def offline(args: argparse.Namespace) -> bool:
    """``import --check`` only reads the file: no NATS server is started or reached for it."""
    return args.action == "import" and args.check


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``registry import --check``."""
    try:
        summary = registry.check_registry_file(args.file)
    except registry.RegistryError as exc:
        _report_errors(args.file, exc)
        return 2
    print(
        f"{args.file}: valid, {summary.organisations} organisations, {summary.pages} pages, "
        f"version {summary.version}"
    )
    return 0


def _reason(failure: Exception | str) -> str:
    text = failure if isinstance(failure, str) else f"{type(failure).__name__}: {failure}"
    return " ".join(text.split())[:300]


def _in_force(meta: dict | None) -> str:
    if not meta:
        return "прежней версии нет"
    return f"в силе прежняя версия {meta['version']} ({meta['organisations']} организаций)"


async def serve(nats_url: str, settings: Settings, args: argparse.Namespace, stop) -> int:
    if args.action == "import":
        # The whole file is checked first, streamed; it is read a second time to be stored.
        try:
            summary = registry.check_registry_file(args.file)
        except registry.RegistryError as exc:
            _report_errors(args.file, exc)
            return 2
        if args.check:  # reached only when called directly; the command runs ``run``
            return run(settings, args)
    nc = await bus.connect(nats_url, settings, "registry")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        previous = await registry.stored_meta(js, args.region)
        if args.action == "show":
            print(json.dumps(previous or {}, ensure_ascii=False))
            return 0 if previous else 1
        try:
            version = await registry.store_registry(
                js, args.region, registry.iter_registry_file(args.file), summary
            )
        except (bus.PublishError, NatsError, TimeoutError, OSError, registry.ImportFailed) as exc:
            failure: Exception | str = exc
        except (
            registry.RegistryError
        ) as exc:  # the file was changed between the check and the store
            failure = f"the file changed while it was imported: {exc.errors[0]}"
        else:
            failure = ""
        if failure:
            # One line, no traceback: what failed, and which version readers still see.
            print(
                f"{args.file}: реестр не импортирован ({_reason(failure)}); {_in_force(previous)}",
                file=sys.stderr,
            )
            return 1
    finally:
        with contextlib.suppress(Exception):
            await bus.within(nc.close(), 10, "closing the connection")
    print(
        f"imported {summary.organisations} organisations with {summary.pages} pages "
        f"into region {args.region!r}, version {version}"
    )
    return 0
