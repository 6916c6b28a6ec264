"""``gospublic schedule``: turn the register into collection tasks for one sweep.

Tasks carry chunks of pages so that one collector call can batch them (``execute`` takes 25 calls,
``groups.getById`` 500 ids). Message ids derive from (sweep, platform, chunk), so scheduling the same
sweep twice inside the duplicate window publishes nothing new.

Adaptive polling: a sweep takes only the pages that are due (:func:`due_pages`), judged from the
collector's cursors. A page that posted recently is read every sweep; a quiet one again after a
share of its quiet time, a dormant one once a day, so the tokens' daily ``wall.get`` quota covers the
whole register. A page never read is always due: the first sweep reads every page.

A page where a citizen's comment has waited for an answer past a share of the reply SLA
(:func:`thread_ageing`, from the cursor's ``waiting``) is read every sweep until the deadline and
goes before the other due pages when the budget is short, so the warning before the deadline
(UNANSWERED_COMMENT_SOON) and the answer that resolves it are seen in time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from nats.js import JetStreamContext

from gospublic import bus
from gospublic import contracts as c
from gospublic.platforms.descriptor import descriptors
from gospublic.registry import load_registry, region_name
from gospublic.settings import Settings
from services.collector.cursors import Cursor, CursorStore, cursor_key
from services.collector.vk_client import next_quota_reset

log = logging.getLogger("gospublic.scheduler")

# Every platform with a descriptor has a collector (gospublic.platforms).
COLLECTED_PLATFORMS = tuple(d.platform for d in descriptors())
DAY_S = 86_400
CURSOR_READ_CHUNK = 2000  # keys per batched KV read (well under the 1 MiB request limit)


@dataclass(frozen=True)
class PollPolicy:
    """How often a page is read, from when it was last seen active."""

    active_within_s: float = 2 * DAY_S  # active this recently: read every sweep
    quiet_share: float = 0.25  # otherwise read again after this share of the quiet time
    max_interval_s: float = DAY_S  # a dormant page: once a day
    # Sweeps do not start on the second: a page due this soon after the sweep counts as due.
    slack_s: float = 600.0
    # A citizen's comment waiting this long for the page's answer (the reply SLA in wall-clock
    # hours, dialog-default's UNANSWERED_COMMENT) and past this share of it makes the page urgent:
    # read every sweep, ahead of the other due pages, until the deadline. The share is below the
    # warning's (75 %) so the page is already read often when the warning falls due.
    reply_sla_s: float = DAY_S
    ageing_share: float = 0.5


def thread_ageing(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> bool:
    """A comment seen waiting on the page has used between ``ageing_share`` of the reply SLA and
    all of it (past the deadline the violation is open and the page is read as its activity says).
    """
    if cursor is None or not cursor.waiting_since:
        return False
    used = (now_ts - cursor.waiting_since) / policy.reply_sla_s
    return policy.ageing_share <= used <= 1.0


def poll_interval(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> float:
    """Seconds between reads of the page; 0: every sweep."""
    if cursor is None or not cursor.read_at or thread_ageing(cursor, now_ts, policy):
        return 0.0
    quiet = now_ts - cursor.active_at if cursor.active_at else math.inf
    if quiet <= policy.active_within_s:
        return 0.0
    return min(policy.max_interval_s, quiet * policy.quiet_share)


def overdue(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> float:
    """How far past its interval the page is (inf: never read); due when >= 0."""
    if cursor is None or not cursor.read_at:
        return math.inf
    return now_ts - cursor.read_at + policy.slack_s - poll_interval(cursor, now_ts, policy)


@dataclass(frozen=True)
class DuePlan:
    due: list[c.PageRef]  # to read in this sweep, in register order
    not_due: int  # read recently enough for how active they are
    deferred: int  # due, but over the day's budget: the least overdue wait for a later sweep


def due_pages(
    pages: Sequence[c.PageRef],
    cursors: Mapping[str, Cursor],
    now_ts: float,
    policy: PollPolicy,
    budget_left: int | None = None,
) -> DuePlan:
    """The pages a sweep reads; with ``budget_left`` (reads the quota still allows today)
    never-read pages first, then pages with an ageing comment thread (``thread_ageing``), then the
    most overdue.
    """
    found = [cursors.get(cursor_key(ref)) for ref in pages]
    lateness = [overdue(cursor, now_ts, policy) for cursor in found]
    due = [i for i, late in enumerate(lateness) if late >= 0]
    deferred = 0
    if budget_left is not None and len(due) > budget_left:

        def rank(i: int) -> tuple[bool, bool, float]:
            never_read = lateness[i] == math.inf
            return (not never_read, not thread_ageing(found[i], now_ts, policy), -lateness[i])

        keep = set(sorted(due, key=rank)[: max(budget_left, 0)])
        deferred = len(due) - len(keep)
        due = [i for i in due if i in keep]
    return DuePlan([pages[i] for i in due], len(pages) - len(due) - deferred, deferred)


def reads_today(cursors: Iterable[Cursor], now: datetime) -> int:
    """Pages read since VK's quota day began (midnight Moscow time): one wall.get each."""
    start = (next_quota_reset(now) - timedelta(days=1)).timestamp()
    return sum(1 for cursor in cursors if cursor.read_at >= start)


def daily_budget(settings: Settings) -> int | None:
    """wall.get calls a day all configured VK tokens allow; None where the scheduler cannot tell."""
    quota = settings.vk_daily_quota.get("wall.get")
    if not quota or not settings.vk_tokens:
        return None
    return quota * len(settings.vk_tokens)


def default_platforms(
    settings: Settings, organisations: Iterable[c.Organisation] = ()
) -> list[c.Platform]:
    """The platforms a sweep schedules unless told otherwise: every platform the register links
    (a collector per platform runs in every deployment), or only those listed in
    ``GOSPUBLIC_COLLECT_PLATFORMS`` where some collectors do not run.
    """
    if settings.collect_platforms:
        wanted = {p.strip().lower() for p in settings.collect_platforms}
        return [p for p in COLLECTED_PLATFORMS if p.value in wanted]
    linked = {page.platform for org in organisations for page in org.pages}
    return [p for p in COLLECTED_PLATFORMS if p in linked]


def sweep_id_for(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%MZ")


def plan_tasks(
    organisations: Iterable[c.Organisation | c.PageRef],
    platform: c.Platform,
    sweep_id: str,
    pages_per_task: int,
    now: datetime,
) -> list[c.CollectTask]:
    """Tasks for the platform's pages of ``organisations`` (or of the page refs given)."""
    pages = [
        page
        for item in organisations
        for page in (item.pages if isinstance(item, c.Organisation) else (item,))
        if page.platform == platform
    ]
    return [
        c.CollectTask.create(
            observed_at=now,
            sweep_id=sweep_id,
            platform=platform,
            pages=tuple(pages[i : i + pages_per_task]),
        )
        for i in range(0, len(pages), pages_per_task)
    ]


def refs_of(organisations: Iterable[c.Organisation], platform: c.Platform) -> list[c.PageRef]:
    return [page for org in organisations for page in org.pages if page.platform == platform]


async def load_cursors(js: JetStreamContext, pages: Sequence[c.PageRef]) -> dict[str, Cursor]:
    store = await CursorStore(js).start()
    keys = [cursor_key(ref) for ref in pages]
    found: dict[str, Cursor] = {}
    for i in range(0, len(keys), CURSOR_READ_CHUNK):
        found.update(await store.load(keys[i : i + CURSOR_READ_CHUNK]))
    return found


async def adaptive_pages(
    js: JetStreamContext,
    settings: Settings,
    platform: c.Platform,
    pages: list[c.PageRef],
    now: datetime,
    sweep_id: str,
) -> list[c.PageRef]:
    cursors = await load_cursors(js, pages)
    budget = daily_budget(settings) if platform == c.Platform.VK else None
    left = None if budget is None else budget - reads_today(cursors.values(), now)
    plan = due_pages(pages, cursors, now.timestamp(), PollPolicy(), left)
    log.info(
        "pages due",
        extra={
            "sweep_id": sweep_id,
            "platform": platform.value,
            "due": len(plan.due),
            "not_due": plan.not_due,
            "deferred": plan.deferred,
        },
    )
    if plan.deferred:
        log.warning(
            "the daily wall.get quota does not cover the pages due; the least overdue wait",
            extra={"sweep_id": sweep_id, "deferred": plan.deferred, "budget_left": left},
        )
    return plan.due


async def schedule_sweep(
    js: JetStreamContext,
    settings: Settings,
    region: str,
    platforms: Iterable[c.Platform] | None = None,
    sweep_id: str | None = None,
    *,
    full: bool = False,
) -> tuple[str, int, int]:
    """Publish one sweep's tasks; return (sweep_id, tasks published, pages).

    Only the pages due are scheduled (see the module notes), unless ``full`` or
    ``GOSPUBLIC_COLLECT_ADAPTIVE=false``.
    """
    organisations = await load_registry(js, region)
    if not organisations:
        raise LookupError(f"no register imported for region {region!r}")
    platforms = default_platforms(settings, organisations) if platforms is None else platforms
    now = c.utcnow()
    sweep_id = sweep_id or sweep_id_for(now)
    published = pages = 0
    for platform in platforms:
        refs = refs_of(organisations, platform)
        if settings.collect_adaptive and not full:
            refs = await adaptive_pages(js, settings, platform, refs, now, sweep_id)
        tasks = plan_tasks(refs, platform, sweep_id, settings.collect_pages_per_task, now)
        subject = c.task_subject(platform.value)
        messages = [bus.event_message(subject, t, sweep_id, n) for n, t in enumerate(tasks)]
        published += await bus.publish_all(js, messages)
        pages += sum(len(t.pages) for t in tasks)
    log.info(
        "sweep scheduled",
        extra={"sweep_id": sweep_id, "region": region, "tasks": published, "pages": pages},
    )
    return sweep_id, published, pages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", type=region_name, default="default", help="region key (default)"
    )
    parser.add_argument(
        "--platform",
        action="append",
        choices=[p.value for p in COLLECTED_PLATFORMS],
        help="platform to collect (repeatable; default: GOSPUBLIC_COLLECT_PLATFORMS, else every "
        "platform the register links)",
    )
    parser.add_argument("--sweep-id", help="sweep id (default: the current UTC minute)")
    parser.add_argument(
        "--full",
        action="store_true",
        help="read every page, due or not (default: only the pages due, see docs/DESIGN.md)",
    )


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    platforms = [c.Platform(p) for p in args.platform] if args.platform else None
    nc = await bus.connect(nats_url, settings, "scheduler")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        try:
            sweep_id, tasks, pages = await schedule_sweep(
                js,
                settings,
                args.region,
                platforms,
                args.sweep_id,
                full=getattr(args, "full", False),
            )
        except LookupError as exc:
            print(f"error: {exc}; run 'gospublic registry import FILE --region ...' first")
            return 1
    finally:
        await nc.close()
    print(f"sweep {sweep_id}: {tasks} new task(s) for {pages} page(s)")
    return 0
