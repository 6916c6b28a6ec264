"""The dispatcher: each due notification delivered in a task of its own, through the channel of
its receiver's kind, then recorded in the notification log.

A slow Grafana or webhook never holds up e-mail. A notification whose predecessor for the same log
key is still in delivery waits for the next flush (the log decides what is news and learns only when
a delivery is recorded). E-mails begun before a restart and not recorded are sent again first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from . import retry
from .metrics import NOTIFICATIONS, SEND_SECONDS
from .nflog import Intent
from .pipeline import LogEntry, LogKey, Notification
from .ports import Channel, Clock, Delivery, LogStore
from .state import Held

log = logging.getLogger("gospublic.notifier")

RECORD_ATTEMPTS = 3
RECORD_STEP_S = 0.2  # pauses of 0.2 s, then 0.4 s


class Sent(Protocol):
    ok: bool
    code: int | None
    error: str


class Dispatcher:
    def __init__(
        self,
        held: Held,
        channels: Mapping[str, Channel],
        store: LogStore,
        clock: Clock,
        *,
        pending: Callable[[], list[tuple[LogKey, Intent]]] = list,
        resend: Callable[[Intent], Awaitable[Sent]] | None = None,
        on_resent: Callable[[LogKey], None] = lambda key: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.held = held
        self.channels = dict(channels)
        self.store = store
        self.clock = clock
        self._pending = pending  # e-mails begun before a restart (the intent record's)
        self._resend = resend
        self._on_resent = on_resent
        self._sleep = sleep
        self.inflight: dict[LogKey, asyncio.Task] = {}

    def start(self, now: datetime) -> None:
        """Start a delivery task for every unrecorded e-mail and every notification due now."""
        for key, intent in self._pending():
            # Before any flush of its group: that flush is skipped while this is in flight.
            if key not in self.inflight and self._resend is not None:
                self._spawn(key, self._redeliver(key, intent), "redeliver")
        # A notification whose predecessor is still being delivered is left out (decided again
        # at the next flush), and not even built.
        for notification in self.held.pipeline.due(now, busy=self.inflight):
            self._spawn(notification.log_key, self.deliver(notification), "deliver")

    async def drain(self) -> None:
        """Wait for every delivery to finish and be recorded."""
        while self.inflight:
            await asyncio.gather(*list(self.inflight.values()), return_exceptions=True)

    def _spawn(self, key: LogKey, delivery: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(delivery, name=name)
        self.inflight[key] = task
        task.add_done_callback(partial(self._delivered, key))

    def _delivered(self, key: LogKey, task: asyncio.Task) -> None:
        self.inflight.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    async def deliver(self, notification: Notification) -> None:
        receiver = f"{notification.route.name}/{notification.receiver.kind}"
        extra = {
            "route": notification.route.name,
            "group_id": notification.group_id,
            "to": notification.receiver.display,
            "firing": len(notification.firing),
            "resolved": len(notification.resolved),
            "new": len(notification.new_ids),
        }
        if notification.silent:
            NOTIFICATIONS.labels(receiver=receiver, result="silent").inc()
        else:
            started = time.monotonic()
            delivery = await self._send(notification, extra)
            SEND_SECONDS.observe(time.monotonic() - started)
            if not delivery.ok:
                NOTIFICATIONS.labels(receiver=receiver, result="failed").inc()
                log.error(
                    "notification not delivered; retried at the next group interval",
                    extra={**extra, "code": delivery.code, "error": delivery.error},
                )
                return
            NOTIFICATIONS.labels(receiver=receiver, result="sent").inc()
            log.info("notification sent", extra={**extra, **delivery.log_fields})
        entry = self.held.pipeline.mark_sent(notification, self.clock.now())
        await self._record(notification.log_key, entry, extra)

    async def _send(self, notification: Notification, extra: dict[str, Any]) -> Delivery:
        kind = notification.receiver.kind
        channel = self.channels.get(kind)
        if channel is None:
            return Delivery(False, None, f"unknown receiver kind {kind!r}")
        try:
            return await channel.send(notification)
        except Exception as exc:
            log.exception("delivery raised", extra=extra)
            return Delivery(False, None, type(exc).__name__)

    async def _redeliver(self, key: LogKey, intent: Intent) -> None:
        """Send an e-mail begun before a restart exactly as it was, then record it."""
        assert self._resend is not None
        extra = {"route": key[0], "message_id": intent.message_id}
        result = await self._resend(intent)
        receiver = f"{key[0]}/email"
        if not result.ok:
            NOTIFICATIONS.labels(receiver=receiver, result="failed").inc()
            log.error(
                "unrecorded e-mail not sent again; retried at the next tick",
                extra={**extra, "code": result.code, "error": result.error},
            )
            return
        NOTIFICATIONS.labels(receiver=receiver, result="sent").inc()
        log.info("unrecorded e-mail sent again under its Message-ID", extra=extra)
        entry = LogEntry(intent.firing, intent.resolved, self.clock.now())
        self.held.pipeline.record(key, entry)
        self._on_resent(key)
        await self._record(key, entry, extra)

    async def _record(self, key: LogKey, entry: LogEntry, extra: dict[str, Any]) -> None:
        try:
            await retry.until_done(
                partial(self.store.put_entry, key, entry),
                limit=RECORD_ATTEMPTS,
                step_s=RECORD_STEP_S,
                sleep=self._sleep,
            )
        except Exception:
            # Delivered but not recorded: this process will not resend; a restart sends the
            # same message again under its Message-ID.
            log.exception("cannot record a notification in the log", extra=extra)
