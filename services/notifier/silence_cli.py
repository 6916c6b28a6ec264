"""``gospublic silence add|list|expire``: notification silences, kept in the NATS KV bucket.

    gospublic silence add rule=STALE 'municipality=~Борисоглеб.*' --duration 2d \\
        --comment "Школы на каникулах, заявка ЦУР-1234"
    gospublic silence list [--all] [--json]
    gospublic silence expire 5c0e…

A running notifier follows the bucket and applies a change within moments. Matchers use the same
labels and operators as subscriptions (``=``, ``!=``, ``=~``, ``!~``; regexes match the whole value).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings

from . import silences as s
from .subscriptions import parse_duration

TIME_HELP = "ISO 8601, e.g. 2025-03-10T09:00+03:00 (without an offset: UTC)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="silence the alerts that match every matcher",
        description="Add a silence. Matchers: label=value, label!=value, label=~regex,\n"
        "label!~regex; labels as in subscriptions (org_id, municipality, rule, severity, ...).\n"
        "At least one matcher must not match an empty value.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help="e.g. rule=STALE")
    add.add_argument("--comment", "-c", required=True, help="why (a ticket, a reason)")
    add.add_argument("--author", "-a", default=None, help="who (default: the login name)")
    add.add_argument("--duration", "-d", default="1h", help="e.g. 2h, 3d (default: %(default)s)")
    add.add_argument("--start", default=None, help=f"when it starts (default: now); {TIME_HELP}")
    add.add_argument(
        "--end", default=None, help=f"when it ends, instead of --duration; {TIME_HELP}"
    )
    listing = actions.add_parser(
        "list", help="list silences in force and pending", description="List silences."
    )
    listing.add_argument("--all", action="store_true", help="include expired silences")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    expire = actions.add_parser(
        "expire", help="end silences now", description="Expire silences by id (from `list`)."
    )
    expire.add_argument("ids", nargs="+", metavar="ID")


def parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"bad time {text!r}: {TIME_HELP}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build(args: argparse.Namespace, now: datetime) -> s.Silence:
    """The silence ``add`` describes; raises SilenceError or ValueError with every problem."""
    errors: list[str] = []
    matchers = []
    for text in args.matchers:
        try:
            matchers.append(s.parse_matcher_text(text))
        except ValueError as exc:
            errors.append(str(exc))
    starts_at = ends_at = now
    try:
        starts_at = parse_time(args.start) if args.start else now
        ends_at = parse_time(args.end) if args.end else starts_at + parse_duration(args.duration)
    except ValueError as exc:
        errors.append(str(exc))
    if errors:
        raise s.SilenceError(errors)
    author = args.author if args.author is not None else _login()
    return s.create(
        matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=author,
        comment=args.comment,
        now=now,
    )


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(silence: s.Silence, now: datetime) -> dict:
    return {
        "id": silence.id,
        "state": silence.state(now),
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "created_by": s.one_line(silence.created_by, s.MAX_AUTHOR_CHARS),
        "comment": s.one_line(silence.comment, s.MAX_COMMENT_CHARS),
        "updated_at": silence.updated_at.isoformat(),
    }


def table(found: list[s.Silence], now: datetime) -> str:
    if not found:
        return "no silences"
    lines = []
    for silence in sorted(found, key=lambda x: (x.starts_at, x.id)):
        info = describe(silence, now)
        lines.append(
            f"{info['id']}  {info['state']:<8} {_when(silence.starts_at)} → "
            f"{_when(silence.ends_at)}  by {info['created_by']}\n"
            f"    {' '.join(info['matchers'])}\n"
            f"    {info['comment']}"
        )
    return "\n".join(lines)


async def _add(store: s.SilenceStore, args: argparse.Namespace, now: datetime) -> int:
    try:
        silence = build(args, now)
    except (s.SilenceError, ValueError) as exc:
        problems = exc.errors if isinstance(exc, s.SilenceError) else [str(exc)]
        print("silence: not added:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    await store.put(silence)
    await _collect(store, now)
    print(silence.id)
    return 0


async def _list(store: s.SilenceStore, args: argparse.Namespace, now: datetime) -> int:
    found = await store.load()
    if not args.all:
        found = [x for x in found if x.state(now) != s.EXPIRED]
    if args.json:
        for silence in sorted(found, key=lambda x: (x.starts_at, x.id)):
            print(json.dumps(describe(silence, now), ensure_ascii=False))
    else:
        print(table(found, now))
    return 0


async def _expire(store: s.SilenceStore, args: argparse.Namespace, now: datetime) -> int:
    status = 0
    for silence_id in args.ids:
        silence = await store.get(silence_id)
        if silence is None:
            print(f"silence: no silence {silence_id!r}", file=sys.stderr)
            status = 1
            continue
        ended = s.expire(silence, now)
        if ended != silence:
            await store.put(ended)
        print(f"{silence_id} expired")
    return status


async def _collect(store: s.SilenceStore, now: datetime) -> None:
    """Delete silences expired longer than the retention."""
    for silence in await store.load():
        if s.collectable(silence, now):
            await store.delete(silence.id)


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    nc = await bus.connect(nats_url, settings, "silence")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        store = await s.SilenceStore.open(js)
        now = c.utcnow()
        action = {"add": _add, "list": _list, "expire": _expire}[args.action]
        return await action(store, args, now)
    finally:
        await nc.close()
