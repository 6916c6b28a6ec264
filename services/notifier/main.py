"""``gospublic notifier``: ALERTS → subscriptions → groups → dedup → e-mail → notification log.

Three pieces around the pure :class:`~services.notifier.pipeline.Pipeline`:

- a batch pull consumer on ``alerts.>`` (durable, explicit ack): each alert is stored in the KV
  bucket and recorded in its groups, then acked; a malformed message is dead-lettered;
- a ticker that asks the pipeline what is due, sends it (a few at a time) and records each delivery
  in the notification log;
- the KV notification log itself, loaded at start so a restart neither resends nor forgets.

The consumer is a plain nats-py fetch loop rather than a FastStream subscriber: with
faststream 0.7.8 and nats-py 2.16, ``fetch()`` can raise ``asyncio.TimeoutError`` (not the
``nats.errors.TimeoutError`` FastStream catches) when a batch window runs out; FastStream's
supervisor restarts the pull task and, as observed under load, the consumer then stalled for the
ack wait before new alerts were seen. The loop below catches both.

A lock orders KV writes between the consumer and the ticker, so the deletion of a forgotten alert
can never overtake the write of the same alert reopening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import Counter, Gauge, Histogram

from gospublic import bus
from gospublic import contracts as c
from gospublic.observability import HealthServer
from gospublic.settings import Settings

from . import email
from .nflog import NotificationLog
from .pipeline import AlertEvent, Notification, Pipeline, supersedes
from .subscriptions import SubscriptionError, Subscriptions, load_subscriptions

log = logging.getLogger("gospublic.notifier")

ALERTS_RECEIVED = Counter(
    "gospublic_notifier_alerts_received_total", "Alert events taken into the pipeline", ["state"]
)
for _state in ("firing", "resolved"):
    ALERTS_RECEIVED.labels(state=_state)
DEAD_LETTERS = Counter(
    "gospublic_notifier_dead_letters_total", "Malformed ALERTS messages sent to the dead letters"
)
NOTIFICATIONS = Counter(
    "gospublic_notifier_notifications_total",
    "Notifications by receiver (route/kind) and result (sent, failed, silent)",
    ["receiver", "result"],
)
GROUPS_PENDING = Gauge(
    "gospublic_notifier_groups_pending", "Alert groups with news not yet delivered to a receiver"
)
SEND_SECONDS = Histogram(
    "gospublic_notifier_send_seconds",
    "Time to deliver one e-mail, retries included",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

BATCH_SIZE = 200
FETCH_TIMEOUT_S = 0.5
ACK_WAIT_S = 30.0
NAK_DELAY_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscriptions",
        type=Path,
        default=None,
        metavar="FILE",
        help="subscriptions YAML (default: GOSPUBLIC_SUBSCRIPTIONS_FILE)",
    )


class Notifier:
    def __init__(self, settings: Settings, subscriptions: Subscriptions):
        self.settings = settings
        self.pipeline = Pipeline(subscriptions)
        self.store: NotificationLog | None = None
        self.js: JetStreamContext | None = None
        self.ready = False
        self._kv_lock = asyncio.Lock()
        self._send_slots = asyncio.Semaphore(settings.notifier_send_concurrency)

    async def restore(self, store: NotificationLog) -> None:
        self.store = store
        alerts, entries = await store.load()
        self.pipeline = Pipeline(self.pipeline.subscriptions, log=entries)
        now = c.utcnow()
        for event in alerts:
            self.pipeline.ingest(event, now)
        await self._forget()
        log.info(
            "notification log loaded",
            extra={
                "alerts": len(alerts),
                "log_entries": len(entries),
                "groups": len(self.pipeline.groups),
            },
        )

    # --- consumer --------------------------------------------------------------------------

    async def handle(self, messages: list) -> None:
        assert self.js is not None and self.store is not None
        log.debug("alert batch received", extra={"count": len(messages)})
        good: list[tuple[object, AlertEvent]] = []
        for raw in messages:
            try:
                event = c.decode(raw.data)
                if not isinstance(event, c.ViolationOpened | c.ViolationResolved):
                    raise c.ContractError(f"{event.schema_} does not belong on {raw.subject}")
            except c.ContractError as exc:
                try:
                    headers = dict(raw.headers or {})
                    await bus.dead_letter(self.js, "notifier", raw.data, exc.reason, headers)
                except Exception:
                    log.exception("cannot dead-letter a malformed alert, will retry")
                    await raw.nak(delay=NAK_DELAY_S)
                    continue
                DEAD_LETTERS.inc()
                await raw.ack()
                continue
            good.append((raw, event))
        if not good:
            return
        async with self._kv_lock:
            # Only the newest event per violation is stored: an older redelivery must not
            # overwrite it, and concurrent puts of one key would land in any order.
            latest: dict[str, AlertEvent] = {}
            for _, event in good:
                held = latest.get(event.violation_id)
                if held is not None and supersedes(held, event):
                    continue
                if held is None and self.pipeline.is_stale(event):
                    continue
                latest[event.violation_id] = event
            try:
                await self.store.save_alerts(list(latest.values()))
            except Exception:
                log.exception("cannot store alerts, will retry", extra={"count": len(good)})
                for raw, _ in good:
                    await raw.nak(delay=NAK_DELAY_S)
                return
            now = c.utcnow()
            for _, event in good:
                state = "firing" if isinstance(event, c.ViolationOpened) else "resolved"
                ALERTS_RECEIVED.labels(state=state).inc()
                self.pipeline.ingest(event, now)
            await self._forget_locked()
        for raw, _ in good:
            await raw.ack()

    # --- ticker ----------------------------------------------------------------------------

    async def tick(self) -> None:
        notifications = self.pipeline.due(c.utcnow())
        if notifications:
            await asyncio.gather(*(self._deliver(n) for n in notifications))
        await self._forget()
        GROUPS_PENDING.set(self.pipeline.pending_groups(c.utcnow()))

    async def run_ticker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("notifier tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.notifier_tick_s)

    async def _deliver(self, notification: Notification) -> None:
        assert self.store is not None
        receiver = f"{notification.route.name}/{notification.receiver.kind}"
        extra = {
            "route": notification.route.name,
            "group_id": notification.group_id,
            "to": notification.receiver.address,
            "firing": len(notification.firing),
            "resolved": len(notification.resolved),
            "new": len(notification.new_ids),
        }
        if notification.silent:
            NOTIFICATIONS.labels(receiver=receiver, result="silent").inc()
        else:
            async with self._send_slots:
                message = email.render(notification, self.settings, c.utcnow())
                started = time.monotonic()
                result = await email.send(self.settings, message)
                SEND_SECONDS.observe(time.monotonic() - started)
            if not result.ok:
                NOTIFICATIONS.labels(receiver=receiver, result="failed").inc()
                log.error(
                    "notification not delivered; retried at the next group interval",
                    extra={**extra, "smtp_code": result.code, "error": result.error},
                )
                return
            NOTIFICATIONS.labels(receiver=receiver, result="sent").inc()
            log.info("notification sent", extra={**extra, "message_id": message["Message-ID"]})
        entry = self.pipeline.mark_sent(notification, c.utcnow())
        try:
            await self.store.record(notification, entry)
        except Exception:
            # Delivered but not recorded: this process will not resend; a restart might.
            log.exception("cannot record a notification in the log", extra=extra)

    async def _forget(self) -> None:
        async with self._kv_lock:
            await self._forget_locked()

    async def _forget_locked(self) -> None:
        assert self.store is not None
        forgotten = self.pipeline.take_forgotten()
        if not forgotten:
            return
        try:
            await self.store.forget_alerts(forgotten)
        except Exception:
            # Harmless leftovers: on load they are resolved alerts nobody was told about.
            log.warning("cannot delete forgotten alerts", extra={"count": len(forgotten)})


async def consume_alerts(
    psub: JetStreamContext.PullSubscription, notifier: Notifier, stop: asyncio.Event
) -> None:
    """Fetch batches until ``stop``; the batch in hand is always finished (handled and acked)."""
    while not stop.is_set():
        try:
            messages = await psub.fetch(BATCH_SIZE, timeout=FETCH_TIMEOUT_S)
        except TimeoutError:  # nothing new (nats-py raises both its own and asyncio's kind)
            continue
        except Exception:
            log.exception("fetching alerts failed, retrying")
            await asyncio.sleep(1.0)
            continue
        try:
            await notifier.handle(messages)
        except Exception:
            log.exception("an alert batch failed; its unacked messages will be redelivered")


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    path = getattr(args, "subscriptions", None) or settings.subscriptions_file
    if path is None:
        print(
            "notifier: no subscriptions file; pass --subscriptions FILE or set "
            "GOSPUBLIC_SUBSCRIPTIONS_FILE (see deploy/notifier/subscriptions.example.yaml)",
            file=sys.stderr,
        )
        return 2
    try:
        subscriptions = load_subscriptions(path)
    except SubscriptionError as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return 2

    notifier = Notifier(settings, subscriptions)
    health = await HealthServer(
        settings.http_host, settings.http_port, lambda: notifier.ready
    ).start()
    log.info(
        "notifier starting",
        extra={
            "routes": len(subscriptions.routes),
            "subscriptions": str(path),
            "http_port": health.port,
        },
    )
    nc = await bus.connect(nats_url, settings, "notifier")
    consumer: asyncio.Task | None = None
    ticker: asyncio.Task | None = None
    finish = asyncio.Event()
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        notifier.js = js
        await notifier.restore(await NotificationLog.open(js))

        psub = await js.pull_subscribe(
            "alerts.>",
            durable=c.NOTIFIER_DURABLE,
            stream=c.ALERTS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S),
        )
        consumer = asyncio.create_task(consume_alerts(psub, notifier, finish), name="consumer")
        ticker = asyncio.create_task(notifier.run_ticker(finish), name="notifier-ticker")
        notifier.ready = True
        log.info("notifier ready")
        await stop.wait()
    finally:
        notifier.ready = False
        finish.set()
        if consumer is not None:
            await consumer
        if ticker is not None:
            await ticker
        await nc.close()
        await health.stop()
    log.info("notifier stopped")
    return 0
