"""``gospublic schedule``: turn the register into collection tasks for one sweep.

Tasks carry chunks of pages so that one collector call can batch them (``execute`` takes 25 calls,
``groups.getById`` 500 ids). Message ids derive from (sweep, platform, chunk), so scheduling the same
sweep twice inside the duplicate window publishes nothing new.

Adaptive polling: a sweep takes only the pages that are due (:func:`due_pages`), judged from the
collector's cursors. A page that still posts by its habit (the gap between its own posts, noted in
its cursor: a page posting every few days is not quiet between two posts) is due every sweep; a
quiet one again after a share of its quiet time, a dormant one once a day, so the tokens' daily
``wall.get`` quota covers the whole register. A page never read is always due: the first sweep
reads every page.

Within the day's budget (paced over the day, :func:`paced_allowance`) the pages go in this order
(:func:`due_pages`): never read; then pages where a moment the rules turn on has passed since the
last read (:func:`checkpoint_passed`): a citizen's comment seen waiting reached the warning share
of the reply SLA (UNANSWERED_COMMENT_SOON is due) or the deadline (UNANSWERED_COMMENT), or the
newest post seen turned older than STALE's first threshold; then the rest by how long they have
gone unread against their target interval (:func:`urgency`): a page that still posts and draws
comments within ``conversation_interval_s``, so a new comment is seen well before its warning is
due; a quiet page, or one taking no comments, within ``quiet_interval_s``. The SLA, the warning's share and STALE's threshold come from the evaluator's profile file
(:func:`policy_from_profile`). The decisions are pure (``services.collector.polling``); the
reads scheduled each quota day are kept in a ledger (:func:`add_to_ledger`), since a page read
twice a day keeps one ``read_at`` in its cursor.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from gospublic import bus, pushmarks
from gospublic import contracts as c
from gospublic.platforms.descriptor import descriptors
from gospublic.registry import load_registry, region_name
from gospublic.settings import Settings
from services.collector.cursors import Cursor, CursorStore, cursor_key

# The decisions are pure and live in polling; every name stays importable from here.
from services.collector.polling import DAY_S as DAY_S
from services.collector.polling import PROFILES_DIR as PROFILES_DIR
from services.collector.polling import DuePlan as DuePlan
from services.collector.polling import PollPolicy as PollPolicy
from services.collector.polling import checkpoint_passed as checkpoint_passed
from services.collector.polling import checkpoints as checkpoints
from services.collector.polling import draws_comments as draws_comments
from services.collector.polling import due_pages as due_pages
from services.collector.polling import ledger_count as ledger_count
from services.collector.polling import ledger_value as ledger_value
from services.collector.polling import load_policy as load_policy
from services.collector.polling import overdue as overdue
from services.collector.polling import paced_allowance as paced_allowance
from services.collector.polling import policy_from_profile as policy_from_profile
from services.collector.polling import poll_interval as poll_interval
from services.collector.polling import posting_within as posting_within
from services.collector.polling import posts_still as posts_still
from services.collector.polling import profile_path as profile_path
from services.collector.polling import quota_day as quota_day
from services.collector.polling import reads_today as reads_today
from services.collector.polling import target_interval as target_interval
from services.collector.polling import thread_ageing as thread_ageing
from services.collector.polling import urgency as urgency

log = logging.getLogger("gospublic.scheduler")

# Every platform with a descriptor has a collector (gospublic.platforms).
COLLECTED_PLATFORMS = tuple(d.platform for d in descriptors())
# Keys per batched KV read: nats-server answers a multi_last of more than 1,024 subjects with
# "413 Too Many Results" (the store then reads key by key, 20,000 gets a sweep).
CURSOR_READ_CHUNK = 1000
# The reads scheduled in the current quota day, per platform, in the cursors' bucket: a page read
# twice a day keeps one read_at, so the cursors alone undercount the day's wall.get calls.
LEDGER_KEY = "ledger.{platform}"


async def read_ledger(js: JetStreamContext, platform: c.Platform, now: datetime) -> int:
    kv = await js.key_value(c.CURSORS_BUCKET)
    try:
        entry = await kv.get(LEDGER_KEY.format(platform=platform.value))
    except KeyNotFoundError:
        return 0
    return ledger_count(entry.value, now)


async def add_to_ledger(js: JetStreamContext, platform: c.Platform, now: datetime, n: int) -> None:
    kv = await js.key_value(c.CURSORS_BUCKET)
    before = await read_ledger(js, platform, now)
    await kv.put(LEDGER_KEY.format(platform=platform.value), ledger_value(before + n, now))


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
    partition: int | None = None,
) -> list[c.CollectTask]:
    """Tasks for the platform's pages of ``organisations`` (or of the page refs given); their
    events go to ``partition`` (the swept region's, ``contracts.region_partition``)."""
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
            partition=partition,
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


async def read_pushes(js: JetStreamContext) -> dict[str, float]:
    """The pages a platform pushed news about lately; none if the bucket cannot be read (the
    pages are then read in their regular turn)."""
    try:
        return await pushmarks.read_marks(js)
    except Exception as exc:
        log.warning("push marks not read", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        return {}


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
    policy = load_policy(settings)
    left = None
    if budget is not None:
        # The ledger counts every read scheduled today; the cursors cover reads it never saw
        # (a sweep scheduled by an older version, a full sweep).
        read = max(reads_today(cursors.values(), now), await read_ledger(js, platform, now))
        left = paced_allowance(budget, read, now, policy)
    plan = due_pages(pages, cursors, now.timestamp(), policy, left, await read_pushes(js))
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
    now: datetime | None = None,
    organisations: Sequence[c.Organisation] | None = None,
) -> tuple[str, int, int]:
    """Publish one sweep's tasks; return (sweep_id, tasks published, pages).

    Only the pages due are scheduled (see the module notes), unless ``full`` or
    ``GOSPUBLIC_COLLECT_ADAPTIVE=false``. ``now`` (default: the clock) is the sweep's moment;
    ``organisations`` (default: the register stored for ``region``) spares a caller scheduling
    sweep after sweep reading the same register each time.
    """
    if organisations is None:
        organisations = await load_registry(js, region)
    if not organisations:
        raise LookupError(f"no register imported for region {region!r}")
    platforms = default_platforms(settings, organisations) if platforms is None else platforms
    now = now or c.utcnow()
    sweep_id = sweep_id or sweep_id_for(now)
    published = pages = 0
    partition = c.region_partition(region)
    for platform in platforms:
        refs = refs_of(organisations, platform)
        if settings.collect_adaptive and not full:
            refs = await adaptive_pages(js, settings, platform, refs, now, sweep_id)
        tasks = plan_tasks(
            refs, platform, sweep_id, settings.collect_pages_per_task, now, partition
        )
        await add_to_ledger(js, platform, now, len(refs))
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
