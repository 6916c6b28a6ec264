"""``gospublic schedule``: turn the register into collection tasks for one sweep.

Tasks carry chunks of pages so that one collector call can batch them (``execute`` takes 25 calls,
``groups.getById`` 500 ids). Message ids derive from (sweep, platform, chunk), so scheduling the same
sweep twice inside the duplicate window publishes nothing new.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime

from nats.js import JetStreamContext

from gospublic import bus
from gospublic import contracts as c
from gospublic.registry import load_registry, region_name
from gospublic.settings import Settings

log = logging.getLogger("gospublic.scheduler")

COLLECTED_PLATFORMS = (c.Platform.VK, c.Platform.OK, c.Platform.TG)


def default_platforms(settings: Settings) -> list[c.Platform]:
    """The platforms a sweep schedules unless told otherwise (``GOSPUBLIC_COLLECT_PLATFORMS``):
    only those with collectors running, or their tasks would wait in the queue.
    """
    wanted = {p.strip().lower() for p in settings.collect_platforms}
    return [p for p in COLLECTED_PLATFORMS if p.value in wanted]


def sweep_id_for(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%MZ")


def plan_tasks(
    organisations: Iterable[c.Organisation],
    platform: c.Platform,
    sweep_id: str,
    pages_per_task: int,
    now: datetime,
) -> list[c.CollectTask]:
    pages = [page for org in organisations for page in org.pages if page.platform == platform]
    return [
        c.CollectTask.create(
            observed_at=now,
            sweep_id=sweep_id,
            platform=platform,
            pages=tuple(pages[i : i + pages_per_task]),
        )
        for i in range(0, len(pages), pages_per_task)
    ]


async def schedule_sweep(
    js: JetStreamContext,
    settings: Settings,
    region: str,
    platforms: Iterable[c.Platform] | None = None,
    sweep_id: str | None = None,
) -> tuple[str, int, int]:
    """Publish one sweep's tasks; return (sweep_id, tasks published, pages)."""
    platforms = default_platforms(settings) if platforms is None else platforms
    organisations = await load_registry(js, region)
    if not organisations:
        raise LookupError(f"no register imported for region {region!r}")
    now = c.utcnow()
    sweep_id = sweep_id or sweep_id_for(now)
    published = pages = 0
    for platform in platforms:
        tasks = plan_tasks(organisations, platform, sweep_id, settings.collect_pages_per_task, now)
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
        help="platform to collect (repeatable; default: GOSPUBLIC_COLLECT_PLATFORMS, vk)",
    )
    parser.add_argument("--sweep-id", help="sweep id (default: the current UTC minute)")


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
                js, settings, args.region, platforms, args.sweep_id
            )
        except LookupError as exc:
            print(f"error: {exc}; run 'gospublic registry import FILE --region ...' first")
            return 1
    finally:
        await nc.close()
    print(f"sweep {sweep_id}: {tasks} new task(s) for {pages} page(s)")
    return 0
