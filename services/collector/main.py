"""``gospublic collector --platform vk|ok|tg|max``: consume collection tasks, publish page events.

Any number of instances share one durable pull consumer per platform, so the work queue spreads the
tasks. One task at a time per instance (``bus.Consumer`` asking for one task at a time, the next
only once the worker is done with the last): its events are published (pipelined, deduplicated by
message id), then the task is acked. A transient failure naks the task with a delay; after
``max_deliver`` deliveries it goes to the dead-letter stream with the reason (see :mod:`.worker`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from gospublic import bus, runtime
from gospublic import contracts as c
from gospublic.observability import HealthServer
from gospublic.platforms.descriptor import descriptor, entry, platform_ids
from gospublic.settings import Settings
from services.collector.cursors import CursorStore
from services.collector.worker import (
    DRAIN_TIMEOUT_S,
    HEARTBEAT_S,
    STALL_S,
    Progress,
    ProgressClient,
    Worker,
    page_outcomes,
    retry_delay,
)

__all__ = [  # the worker's names, importable from here as before
    "DRAIN_TIMEOUT_S",
    "HEARTBEAT_S",
    "PLATFORMS",
    "STALL_S",
    "Progress",
    "ProgressClient",
    "Worker",
    "add_arguments",
    "make_client",
    "page_outcomes",
    "retry_delay",
    "serve",
]

log = logging.getLogger("gospublic.collector")

PLATFORMS = platform_ids()
# How long a delivered task may go without an ack or a heartbeat (``Worker`` beats every
# HEARTBEAT_S) before JetStream gives it to another instance: JetStream's default, which the
# collectors' durables have always had.
TASK_ACK_WAIT_S = 30.0
# A pull request for a task lasts this long; stopping waits for the open one to end.
PULL_EXPIRES_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform", choices=PLATFORMS, required=True, help="the platform to collect"
    )


def task_consumer(platform: str) -> ConsumerConfig:
    """The durable every instance of the platform's collector shares (the work queue's one)."""
    return ConsumerConfig(
        durable_name=c.COLLECTOR_DURABLE.format(platform=platform),
        filter_subject=c.task_subject(platform),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=TASK_ACK_WAIT_S,
    )


async def _shut_down(worker: Worker, consumer: bus.Consumer, nc: Any, budget_s: float) -> None:
    """SIGTERM is honoured within ``budget_s``, whatever state NATS is in: the consumer asks for no
    more tasks at once, the task in hand gets most of the budget, the consumer's stop and the
    connection's drain what is left, and a connection that could not drain is closed. (A write
    whose acks never came held the stop for ever.) A task that arrives for the request still open
    is nak'ed by the draining worker, so another instance takes it now."""
    stop_by = time.monotonic() + budget_s
    consumer_stop = asyncio.ensure_future(consumer.stop())  # it ends once the worker is done
    await worker.drain(max(1.0, budget_s - 4.0))
    steps = ((lambda: consumer_stop, "consumer stop"), (nc.drain, "connection drain"))
    for step, what in steps:
        try:
            await bus.within(step(), max(0.5, stop_by - time.monotonic()), what)
        except Exception as exc:
            log.warning("stopping: a step did not finish", extra={"error": str(exc)[:200]})
    if not nc.is_closed:
        with contextlib.suppress(Exception):
            await bus.within(nc.close(), 1.0, "connection close")


def make_client(platform: str, settings: Settings) -> tuple[Any, Any] | str:
    """(client, collect function) for the platform, or the reason it cannot start.

    The platform's descriptor names its collect module (``make_client(settings)`` and
    ``collect``), imported only here: the kernel never imports a service.
    """
    module = entry(descriptor(platform).collector)
    client = module.make_client(settings)
    if isinstance(client, str):
        return client
    return client, module.collect


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    platform: str = args.platform
    made = make_client(platform, settings)
    if isinstance(made, str):
        log.error(made)
        return 2
    client, collect_task = made
    nc = await bus.connect(nats_url, settings, f"collector-{platform}")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    cursors = await CursorStore(js).start()
    worker = Worker(platform, settings, js, client, stop, cursors, collect_task)
    # A VK answer decodes into tens of thousands of short-lived containers; with the long-lived
    # ones frozen and the thresholds raised, the collector stops re-scanning them (-28 % CPU).
    runtime.keep_loaded_state_out_of_gc()

    async def handle(messages: list[Msg]) -> None:
        for message in messages:  # one, but for a late answer to a request asked again
            await worker.handle(message)

    consumer = bus.Consumer(
        nc,
        js,
        stream=c.TASKS_STREAM,
        config=task_consumer(platform),
        handle=handle,
        batch=1,
        expires_s=PULL_EXPIRES_S,
    )

    ready = False
    health = await HealthServer(
        settings.http_host,
        settings.http_port,
        ready=lambda: ready and client.tokens_alive > 0 and not worker.stalled(),
    ).start()
    log.info(
        "collector started",
        extra={
            "platform": platform,
            "tokens": client.tokens_alive,
            "metrics_port": health.port,
        },
    )
    try:
        await consumer.start()
        ready = True
        await stop.wait()
    finally:
        ready = False
        await _shut_down(worker, consumer, nc, DRAIN_TIMEOUT_S)
        await client.aclose()
        await health.stop()
        log.info("collector stopped", extra={"platform": platform})
    return worker.exit_code
