"""``gospublic collector --platform vk|ok|tg|max``: consume collection tasks, publish page events.

Any number of instances share one durable pull consumer per platform, so the work queue spreads the
tasks. One task at a time per instance: its events are published (pipelined, deduplicated by message
id), then the task is acked. A transient failure naks the task with a delay; after ``max_deliver``
deliveries it goes to the dead-letter stream with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.nats import JStream, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from prometheus_client import Counter

from gospublic import bus
from gospublic import contracts as c
from gospublic.observability import HealthServer
from gospublic.platforms.descriptor import descriptor, entry, platform_ids
from gospublic.settings import Settings
from services.collector.cursors import CursorStore, cursor_key
from services.collector.ok_client import OkConfigError
from services.collector.outcomes import KIND, Collected, to_outgoing
from services.collector.vk_client import VkNoTokens, VkTransient
from services.collector.vk_collect import collect

log = logging.getLogger("gospublic.collector")

PLATFORMS = platform_ids()
HEARTBEAT_S = 10.0  # keeps a long task from being redelivered while it is still being worked on
# A worker with no progress for this long (no API answer, no publish acknowledged) is stuck: its
# heartbeat stops extending the task's ack deadline, so JetStream gives the task to another
# instance, and /readyz answers 503. Every await of the worker has a shorter deadline of its own
# (API requests vk_timeout_s with retries, publishes bus.BulkPublisher's 30 s).
STALL_S = 90.0
# SIGTERM: the current task may finish within this; after it the task is cancelled and nak'ed.
DRAIN_TIMEOUT_S = 10.0

PAGES = Counter(
    "gospublic_collector_pages_total",
    "Pages collected, by outcome (ok, the unavailability reason, or resumed: done earlier in "
    "the sweep by a delivery that was not acknowledged)",
    ["platform", "outcome"],
)
EVENTS_PUBLISHED = Counter(
    "gospublic_collector_events_published_total",
    "Events published to EVENTS (including ones JetStream dropped as duplicates)",
    ["platform", "kind"],
)
COMMENT_POSTS = Counter(
    "gospublic_collector_comment_posts_total",
    "Posts whose comments were read because their count changed since the last sweep",
    ["platform"],
)
TASKS = Counter(
    "gospublic_collector_tasks_total",
    "Collection tasks handled: ok, retry, dead_letter, invalid, interrupted",
    ["result"],
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform", choices=PLATFORMS, required=True, help="the platform to collect"
    )


def page_outcomes(
    task: c.CollectTask, events: list[c.PageEvent], resumed: set[int] = frozenset()
) -> Tally[str]:
    """Per page of the task: ``ok``, the reason it (or its wall) was unavailable, or
    ``resumed`` for a page an earlier delivery of the task had collected.
    """
    outcome: dict[str, str] = {}
    for event in events:
        key = event.page_ref.key
        if isinstance(event, c.PageUnavailable):
            outcome[key] = event.reason.value
        else:
            outcome.setdefault(key, "ok")
    return Tally(
        "resumed" if i in resumed else outcome.get(ref.key, "missing")
        for i, ref in enumerate(task.pages)
    )


def retry_delay(settings: Settings, delivered: int, hint: float = 0.0) -> float:
    backoff = settings.collect_retry_delay_s * 2 ** max(0, delivered - 1)
    return min(max(backoff, hint), settings.collect_retry_max_delay_s)


class Progress:
    """When the worker last moved forward (an API answer, a stage done); None while idle."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.at: float | None = None

    def mark(self) -> None:
        self.at = self.clock()

    def idle(self) -> None:
        self.at = None

    def stalled_for(self) -> float:
        """Seconds since the last progress of the task in hand; 0 while idle."""
        return 0.0 if self.at is None else self.clock() - self.at


class ProgressClient:
    """The platform client, marking progress each time one of its calls returns (or fails).

    The collect functions see the client's own interface; a call that never returns leaves the
    mark where it was, and the worker is then stuck.
    """

    def __init__(self, client: Any, progress: Progress) -> None:
        self._client = client
        self._progress = progress

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not inspect.iscoroutinefunction(value):
            return value

        @functools.wraps(value)
        async def marked(*args: Any, **kwargs: Any) -> Any:
            try:
                return await value(*args, **kwargs)
            finally:
                self._progress.mark()

        return marked


class Worker:
    """Handles one task at a time; ``drain()`` waits for the current one and refuses new ones."""

    def __init__(
        self,
        platform: str,
        settings: Settings,
        js: JetStreamContext,
        client: Any,
        stop: asyncio.Event,
        cursors: CursorStore | None = None,
        collect_task: Callable[..., Awaitable[Collected]] = collect,
        stall_after_s: float = STALL_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.cursors = cursors or CursorStore(js)
        self.collect_task = collect_task
        self.platform = platform
        self.settings = settings
        self.js = js
        self.progress = Progress()
        self.client = ProgressClient(client, self.progress)
        self.stop = stop
        self.stall_after_s = stall_after_s
        self.heartbeat_s = heartbeat_s
        self.busy = asyncio.Lock()
        self.stopping = False
        self.exit_code = 0
        self._job: asyncio.Task | None = None

    def stalled(self) -> bool:
        """No progress on the task in hand for ``stall_after_s``: /readyz reports it."""
        return self.progress.stalled_for() >= self.stall_after_s

    @property
    def source(self) -> str:
        return f"collector.{self.platform}"

    async def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Refuse new tasks; let the current one finish within ``timeout_s``, else cancel it
        (it is nak'ed, so another instance takes it now rather than after the ack wait)."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle(), timeout_s)
        except TimeoutError:
            log.warning(
                "the task in hand did not finish in the drain timeout; giving it back",
                extra={"timeout_s": timeout_s},
            )
            if self._job is not None:
                self._job.cancel()
            with contextlib.suppress(TimeoutError):  # the nak after the cancel has its own
                await asyncio.wait_for(self._idle(), 2.0)

    async def _idle(self) -> None:
        async with self.busy:
            pass

    async def handle(self, raw: Msg) -> None:
        async with self.busy:
            if self.stopping:
                await _quietly(raw.nak(), "nak")  # another instance takes it now
                TASKS.labels("interrupted").inc()
                return
            self.progress.mark()
            job = self._job = asyncio.create_task(self._handle(raw))
            heartbeat = asyncio.create_task(self._heartbeat(raw))
            try:
                await asyncio.wait({job})
                if job.cancelled():  # the drain timeout ran out
                    await _quietly(raw.nak(), "nak")
                    TASKS.labels("interrupted").inc()
                else:
                    job.result()
            finally:
                if not job.done():  # the handler itself was cancelled (the broker stopping)
                    job.cancel()
                self._job = None
                self.progress.idle()
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    async def _heartbeat(self, raw: Msg) -> None:
        """Extend the task's ack deadline while the work moves; a stuck worker lets it go."""
        warned = False
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self.stalled():
                if not warned:
                    warned = True
                    log.error(
                        "collector stuck: no progress on its task; no longer extending the "
                        "task's ack deadline, so another instance will take it",
                        extra={"stalled_s": round(self.progress.stalled_for(), 1)},
                    )
                continue
            with contextlib.suppress(NatsError, OSError):
                await raw.in_progress()

    async def _handle(self, raw: Msg) -> None:
        try:
            task = c.decode(raw.data, max_bytes=self.settings.max_message_bytes)
            if not isinstance(task, c.CollectTask) or task.platform.value != self.platform:
                raise c.ContractError(
                    f"not a {self.platform} CollectTask: {type(task).__name__}", "wrong_type"
                )
        except c.ContractError as exc:
            await bus.dead_letter(self.js, self.source, raw.data, exc, dict(raw.headers or {}))
            await raw.ack()
            TASKS.labels("invalid").inc()
            return

        extra = {"sweep_id": task.sweep_id, "pages": len(task.pages)}
        try:
            cursors = await self.cursors.load(cursor_key(ref) for ref in task.pages)
            self.progress.mark()
            collected = await self.collect_task(
                self.client,
                task,
                self.settings.vk_posts_per_page,
                cursors,
                comments=self.settings.collect_comments,
            )
            events = collected.events
            self.progress.mark()
            await bus.publish_all(self.js, [to_outgoing(e) for e in events])
            self.progress.mark()
            # Only after JetStream has the events: a crash before this line repeats the pages
            # (deduplicated by message id), never skips them.
            await self.cursors.save(collected.cursors)
            self.progress.mark()
            await raw.ack_sync()
        except (VkNoTokens, OkConfigError) as exc:
            # Nothing this instance can do any more; another one (with other tokens) may.
            log.critical(
                "collector has no valid credentials left; stopping", extra={"error": str(exc)}
            )
            await raw.nak()
            TASKS.labels("retry").inc()
            self.exit_code = 1
            self.stop.set()
            return
        # A refused publish (a stream limit, no stream) is an outage like the others, not a bug.
        except (VkTransient, NatsError, bus.PublishError, OSError, TimeoutError) as exc:
            hint = exc.retry_after if isinstance(exc, VkTransient) else 0.0
            await self._retry_or_dead_letter(raw, task, f"{type(exc).__name__}: {exc}", hint)
            return
        except Exception as exc:  # a bug: keep the task for inspection rather than loop forever
            log.exception("collection task failed unexpectedly", extra=extra)
            await self._retry_or_dead_letter(raw, task, f"{type(exc).__name__}: {exc}", 0.0)
            return

        for outcome, n in page_outcomes(task, events, collected.resumed).items():
            PAGES.labels(self.platform, outcome).inc(n)
        if collected.comment_posts:
            COMMENT_POSTS.labels(self.platform).inc(collected.comment_posts)
        for kind, n in Tally(KIND[type(e)] for e in events).items():
            EVENTS_PUBLISHED.labels(self.platform, kind).inc(n)
        TASKS.labels("ok").inc()
        log.info("task collected", extra={**extra, "events": len(events)})

    async def _retry_or_dead_letter(
        self, raw: Msg, task: c.CollectTask, reason: str, hint: float
    ) -> None:
        delivered = raw.metadata.num_delivered or 1
        extra = {"sweep_id": task.sweep_id, "delivered": delivered, "reason": reason}
        if delivered >= self.settings.max_deliver:
            await bus.dead_letter(
                self.js,
                self.source,
                raw.data,
                f"after {delivered} attempts: {reason}",
                dict(raw.headers or {}),
                kind="retries_exhausted",
            )
            await raw.ack()
            TASKS.labels("dead_letter").inc()
            return
        delay = retry_delay(self.settings, delivered, hint)
        log.warning("collection task failed; retrying later", extra={**extra, "delay_s": delay})
        await raw.nak(delay=delay)
        TASKS.labels("retry").inc()


async def _shut_down(worker: Worker, broker: Any, nc: Any, budget_s: float) -> None:
    """SIGTERM is honoured within ``budget_s``, whatever state NATS is in: the task in hand gets
    most of it, the broker's stop and the connection's drain what is left, and a connection that
    could not drain is closed. (A write whose acks never came held the stop for ever.)"""
    stop_by = time.monotonic() + budget_s
    await worker.drain(max(1.0, budget_s - 4.0))
    for step, what in ((broker.stop, "broker stop"), (nc.drain, "connection drain")):
        try:
            await bus.within(step(), max(0.5, stop_by - time.monotonic()), what)
        except Exception as exc:
            log.warning("stopping: a step did not finish", extra={"error": str(exc)[:200]})
    if not nc.is_closed:
        with contextlib.suppress(Exception):
            await bus.within(nc.close(), 1.0, "connection close")


async def _quietly(awaitable: Awaitable[Any], what: str, timeout_s: float = 2.0) -> None:
    """A best-effort reply to JetStream (a nak): without it the task returns after the ack wait."""
    try:
        await bus.within(awaitable, timeout_s, what)
    except (NatsError, OSError, TimeoutError) as exc:
        log.warning("could not reply to JetStream", extra={"what": what, "error": str(exc)})


async def _raw_body(msg: StreamMessage[Any]) -> bytes:
    # The worker validates the contract itself, so that a broken task is dead-lettered with the
    # reason instead of failing inside the framework and being redelivered forever.
    return msg.body


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
    broker = bus.make_broker(nats_url, settings, f"collector-{platform}")

    @broker.subscriber(
        c.task_subject(platform),
        stream=JStream(name=c.TASKS_STREAM, declare=False),
        durable=c.COLLECTOR_DURABLE.format(platform=platform),
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
    )
    async def handle(body: bytes, msg: NatsMessage) -> None:
        await worker.handle(msg.raw_message)

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
        await broker.start()
        ready = True
        await stop.wait()
    finally:
        ready = False
        await _shut_down(worker, broker, nc, DRAIN_TIMEOUT_S)
        await client.aclose()
        await health.stop()
        log.info("collector stopped", extra={"platform": platform})
    return worker.exit_code
