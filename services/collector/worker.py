"""The collector's worker: one collection task at a time, from the JetStream message to its reply.

It decodes the task (a broken one is dead-lettered with the reason), collects its pages through the
platform client, publishes the events (pipelined, deduplicated by message id), saves the cursors and
acks. A transient failure naks the task with a growing delay; after ``max_deliver`` deliveries it
goes to the dead-letter stream. While a task is worked on, a heartbeat extends its ack deadline as
long as the work moves; every reply goes through ``bus.reply`` (bounded, never raising).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from prometheus_client import Counter

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector.cursors import CursorStore, cursor_key
from services.collector.ok_client import OkConfigError
from services.collector.outcomes import KIND, Collected, to_outgoing
from services.collector.vk_client import VkNoTokens, VkTransient
from services.collector.vk_collect import collect

log = logging.getLogger("gospublic.collector")

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
                await bus.reply(raw, "nak")  # another instance takes it now
                TASKS.labels("interrupted").inc()
                return
            self.progress.mark()
            job = self._job = asyncio.create_task(self._handle(raw))
            heartbeat = asyncio.create_task(self._heartbeat(raw))
            try:
                await asyncio.wait({job})
                if job.cancelled():  # the drain timeout ran out
                    await bus.reply(raw, "nak")
                    TASKS.labels("interrupted").inc()
                else:
                    job.result()
            finally:
                if not job.done():  # the handler itself was cancelled
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
            await bus.reply(raw, "in_progress")

    async def _handle(self, raw: Msg) -> None:
        try:
            task = c.decode(raw.data, max_bytes=self.settings.max_message_bytes)
            if not isinstance(task, c.CollectTask) or task.platform.value != self.platform:
                raise c.ContractError(
                    f"not a {self.platform} CollectTask: {type(task).__name__}", "wrong_type"
                )
        except c.ContractError as exc:
            await bus.dead_letter(self.js, self.source, raw.data, exc, dict(raw.headers or {}))
            await bus.reply(raw, "ack")
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
            await bus.publish_all(self.js, [to_outgoing(e, task.partition) for e in events])
            self.progress.mark()
            # Only after JetStream has the events: a crash before this line repeats the pages
            # (deduplicated by message id), never skips them.
            await self.cursors.save(collected.cursors)
            self.progress.mark()
            if not await bus.reply(raw, "ack_sync"):
                # Not known to be stored: handled as an outage (the events went out deduplicated).
                raise bus.NetworkTimeout("the task's ack was not confirmed")
        except (VkNoTokens, OkConfigError) as exc:
            # Nothing this instance can do any more; another one (with other tokens) may.
            log.critical(
                "collector has no valid credentials left; stopping", extra={"error": str(exc)}
            )
            await bus.reply(raw, "nak")
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
            await bus.reply(raw, "ack")
            TASKS.labels("dead_letter").inc()
            return
        delay = retry_delay(self.settings, delivered, hint)
        log.warning("collection task failed; retrying later", extra={**extra, "delay_s": delay})
        await bus.reply(raw, "nak", delay=delay)
        TASKS.labels("retry").inc()
