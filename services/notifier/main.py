"""``gospublic notifier``: ALERTS → inhibit → silence → group → dedup → send → record.

The pieces around the pure :class:`~services.notifier.pipeline.Pipeline`:

- a batch pull consumer on ``alerts.>`` (durable, explicit ack): each alert is stored in the KV
  bucket and recorded in its groups, then acked; an organisation's ``ScoresUpdated`` (on
  ``alerts.scores.*``) is kept as its latest scores, for the digest only; a malformed message is
  dead-lettered;
- a follower of the ``silences`` KV bucket: the stored silences are loaded before the first flush,
  and every later change (``gospublic silence add|expire``) reaches the pipeline within moments;
- a ticker that asks the pipeline what is due and delivers each notification in a task of its own,
  so a slow Grafana or webhook never holds up e-mail; each delivery is recorded in the log;
- the receivers: e-mail (SMTP), webhook (Alertmanager's JSON) and Grafana annotations;
- the weekly digest, sent from the same ticker when its slot comes (Monday 09:00 Moscow time by
  default), built from the open alerts, resolutions and scores kept in KV; once every subscriber
  has it, the scores of that moment become the base of the next digest's "change since last week";
- the KV notification log itself, loaded at start so a restart neither resends nor forgets.

``gospublic notifier check-config FILE`` validates a subscriptions file offline and prints what it
configures; ``gospublic notifier --digest-now`` sends every subscriber's digest of the last seven
days at once and exits.

The consumer is a plain fetch loop rather than a FastStream subscriber: with faststream 0.7.8
and nats-py 2.16, ``fetch()`` can raise ``asyncio.TimeoutError`` (not the
``nats.errors.TimeoutError`` FastStream catches) when a batch window runs out; FastStream's
supervisor restarts the pull task and, as observed under load, the consumer then stalled for the
ack wait before new alerts were seen. The loop below catches both. The batches are pulled by a
:class:`~services.notifier.pull.Puller` rather than nats-py's ``fetch``, which costs more per
message than the notifier's handling of it.

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
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import httpx
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import Counter, Gauge, Histogram

from gospublic import bus, runtime
from gospublic import contracts as c
from gospublic.observability import HealthServer
from gospublic.settings import Settings

from . import digest, email, webhook
from .compact import compact
from .grafana import Annotator
from .nflog import RESOLUTION_RETENTION, Intent, NotificationLog
from .pipeline import (
    INHIBITED,
    SILENCED,
    AlertEvent,
    LogEntry,
    LogKey,
    Notification,
    Pipeline,
    labels_of,
    supersedes,
)
from .pull import Puller
from .silences import Silence, SilenceStore
from .subscriptions import (
    GRAFANA,
    SubscriptionError,
    Subscriptions,
    load_subscriptions,
    parse_url,
    summary,
)

log = logging.getLogger("gospublic.notifier")

ALERTS_RECEIVED = Counter(
    "gospublic_notifier_alerts_received_total", "Alert events taken into the pipeline", ["state"]
)
for _state in ("firing", "resolved"):
    ALERTS_RECEIVED.labels(state=_state)
SCORES_RECEIVED = Counter(
    "gospublic_notifier_scores_received_total", "ScoresUpdated events taken in for the digest"
)
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
ALERTS_MUTED = Gauge(
    "gospublic_notifier_alerts_muted", "Firing alerts muted right now, by reason", ["reason"]
)
SILENCES_ACTIVE = Gauge("gospublic_notifier_silences_active", "Silences in force right now")
SEND_SECONDS = Histogram(
    "gospublic_notifier_send_seconds",
    "Time to deliver one notification, retries included",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DIGESTS = Counter(
    "gospublic_notifier_digests_total", "Weekly digest e-mails by result (sent, failed)", ["result"]
)
for _result in ("sent", "failed"):
    DIGESTS.labels(result=_result)

BATCH_SIZE = 200
FETCH_TIMEOUT_S = 0.5
ACK_WAIT_S = 30.0
NAK_DELAY_S = 2.0
SILENCES_LOAD_TIMEOUT_S = 30.0
DIGEST_RETRY = timedelta(minutes=5)
RECORD_ATTEMPTS = 3
GAUGE_PERIOD = timedelta(seconds=5)
PENDING_SHARE = 19  # wait 19 times as long as the last pending-groups count took


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscriptions",
        type=Path,
        default=None,
        metavar="FILE",
        help="subscriptions YAML (default: GOSPUBLIC_SUBSCRIPTIONS_FILE)",
    )
    parser.add_argument(
        "--digest-now",
        action="store_true",
        help="send every subscriber's digest of the last 7 days now, then exit",
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", title="actions (without one, the notifier runs)"
    )
    check = actions.add_parser(
        "check-config",
        help="validate a subscriptions file and print what it configures (no NATS needed)",
        description="Validate a subscriptions file against the settings; print a summary, or\n"
        "every error with its route and field and exit with 1.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the subscriptions YAML")


def offline(args: argparse.Namespace) -> bool:
    """``check-config`` needs no NATS: the CLI runs :func:`run` instead of :func:`serve`."""
    return getattr(args, "action", None) == "check-config"


def runtime_problems(subscriptions: Subscriptions, settings: Settings) -> list[str]:
    """What the settings lack for a valid subscriptions file to run."""
    problems = []
    if subscriptions.receivers(GRAFANA):
        if not settings.grafana_url:
            problems.append("a route has a grafana receiver but GOSPUBLIC_GRAFANA_URL is empty")
        else:
            try:
                parse_url(settings.grafana_url)
            except ValueError as exc:
                problems.append(f"GOSPUBLIC_GRAFANA_URL: {exc}")
            if not settings.grafana_token.get_secret_value():
                problems.append(
                    "a route has a grafana receiver but GOSPUBLIC_GRAFANA_TOKEN is empty"
                )
    if digest_problem := _digest_problem(settings):
        problems.append(digest_problem)
    return problems


def _digest_problem(settings: Settings) -> str | None:
    if not settings.digest_enabled:
        return None
    try:
        digest.zone(settings.digest_timezone)
    except ValueError as exc:
        return f"GOSPUBLIC_DIGEST_TIMEZONE: {exc}"
    return None


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``check-config FILE``: every error at once, or a summary."""
    try:
        subscriptions = load_subscriptions(args.file)
    except SubscriptionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    problems = runtime_problems(subscriptions, settings)
    if problems:
        print(
            f"{args.file}: {len(problems)} error(s) with the current settings:\n  "
            + "\n  ".join(problems),
            file=sys.stderr,
        )
        return 1
    print(summary(subscriptions))
    return 0


class Notifier:
    def __init__(
        self,
        settings: Settings,
        subscriptions: Subscriptions,
        http: httpx.AsyncClient | None = None,
    ):
        self.settings = settings
        self.subscriptions = subscriptions
        self.pipeline = Pipeline(subscriptions)
        self.store: NotificationLog | None = None
        self.js: JetStreamContext | None = None
        self.http = http
        self.annotator: Annotator | None = None
        self.resolutions: dict[str, c.ViolationResolved] = {}
        # Each organisation's latest scores, and its scores as of the last weekly digest.
        self.scores: dict[str, c.ScoresUpdated] = {}
        self.baseline: dict[str, dict[str, float]] = {}
        self.digest_slot: datetime | None = None
        self.ready = False
        self._kv_lock = asyncio.Lock()
        self._email_slots = asyncio.Semaphore(settings.notifier_send_concurrency)
        # One kept SMTP connection per e-mail slot at most: a flush's burst shares them.
        self.smtp = email.Connections(settings)
        self._http_slots = asyncio.Semaphore(settings.notifier_send_concurrency)
        self._inflight: dict[LogKey, asyncio.Task] = {}
        # E-mails begun before a restart and not recorded: sent again as they were, first.
        self._intents: dict[LogKey, Intent] = {}
        self._digest_task: asyncio.Task | None = None
        self._digest_retry_at: datetime | None = None
        self._gauges_at = datetime.min.replace(tzinfo=UTC)
        self._pending_at = 0.0  # time.monotonic() of the next pending-groups count

    async def restore(self, store: NotificationLog, *, schedule: bool = True) -> None:
        """Load the log, the alerts, the resolutions and the annotation ids from KV."""
        self.store = store
        alerts, entries, self._intents = await store.load_state()
        now = c.utcnow()
        self.pipeline = Pipeline(self.subscriptions, log=entries, silences=self.silences())
        for event in alerts:
            self.pipeline.ingest(event, now)
        await self._forget()
        for event in await store.load_resolutions(now):
            self._remember_resolution(event)
        for scores in await store.load_scores():
            self._remember_scores(scores)
        self.baseline = await store.load_baseline()
        annotations = await store.load_annotations()
        if self.http is not None:
            self.annotator = Annotator(self.http, self.settings, store, annotations)
        if schedule and self.settings.digest_enabled:
            self.digest_slot = await store.digest_slot()
            if self.digest_slot is None:
                # A first start sends nothing for a week that was not watched.
                self.digest_slot = digest.slot_of(now, self.settings)
                await store.set_digest_slot(self.digest_slot)
        log.info(
            "notification log loaded",
            extra={
                "alerts": len(alerts),
                "log_entries": len(entries),
                "unrecorded_emails": len(self._intents),
                "groups": len(self.pipeline.groups),
                "resolutions": len(self.resolutions),
                "scored_organisations": len(self.scores),
                "annotations": len(annotations),
            },
        )

    def silences(self) -> list[Silence]:
        return list(self.pipeline.silences.by_id.values())

    def set_silences(self, silences: list[Silence]) -> None:
        self.pipeline.set_silences(silences)
        SILENCES_ACTIVE.set(len(self.pipeline.silences.active_ids(c.utcnow())))
        log.info("silences updated", extra={"silences": len(silences)})

    def _remember_scores(self, event: c.ScoresUpdated) -> bool:
        """Keep the newer of the held and the given scores; True if the given ones were newer."""
        held = self.scores.get(event.labels.org_id)
        if held is not None and held.scored_at > event.scored_at:
            return False
        self.scores[event.labels.org_id] = compact(event)
        return True

    def _remember_resolution(self, event: c.ViolationResolved) -> None:
        held = self.resolutions.get(event.violation_id)
        if held is None or held.resolved_at <= event.resolved_at:
            self.resolutions[event.violation_id] = compact(event)

    # --- consumer --------------------------------------------------------------------------

    async def handle(self, messages: list) -> None:
        assert self.js is not None and self.store is not None
        log.debug("alert batch received", extra={"count": len(messages)})
        good: list[tuple[object, AlertEvent]] = []
        scored: list[tuple[object, c.ScoresUpdated]] = []
        for raw in messages:
            try:
                event = c.decode(raw.data, max_bytes=self.settings.max_message_bytes)
                if isinstance(event, c.ScoresUpdated):
                    scored.append((raw, event))
                    continue
                if not isinstance(event, c.ViolationOpened | c.ViolationResolved):
                    raise c.ContractError(
                        f"{event.schema_} does not belong on {raw.subject}", "wrong_type"
                    )
            except c.ContractError as exc:
                try:
                    headers = dict(raw.headers or {})
                    await bus.dead_letter(self.js, "notifier", raw.data, exc, headers)
                except Exception:
                    log.exception("cannot dead-letter a malformed alert, will retry")
                    await raw.nak(delay=NAK_DELAY_S)
                    continue
                DEAD_LETTERS.inc()
                await raw.ack()
                continue
            good.append((raw, event))
        if scored:
            await self._take_scores(scored)
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
            for event in latest.values():
                if isinstance(event, c.ViolationResolved):
                    self._remember_resolution(event)
            now = c.utcnow()
            for _, event in good:
                state = "firing" if isinstance(event, c.ViolationOpened) else "resolved"
                ALERTS_RECEIVED.labels(state=state).inc()
                self.pipeline.ingest(event, now)
            await self._forget_locked()
        for raw, _ in good:
            await raw.ack()

    async def _take_scores(self, scored: list[tuple[object, c.ScoresUpdated]]) -> None:
        """Store the newest scores per organisation, then ack; on a KV failure nak them all."""
        assert self.store is not None
        newest: dict[str, c.ScoresUpdated] = {}
        for _, event in scored:
            held = newest.get(event.labels.org_id)
            if held is None or held.scored_at <= event.scored_at:
                newest[event.labels.org_id] = event
        async with self._kv_lock:
            fresh = [
                e
                for e in newest.values()
                if (held := self.scores.get(e.labels.org_id)) is None
                or held.scored_at <= e.scored_at
            ]
            try:
                await self.store.save_scores(fresh)
            except Exception:
                log.exception("cannot store scores, will retry", extra={"count": len(scored)})
                for raw, _ in scored:
                    await raw.nak(delay=NAK_DELAY_S)
                return
            for event in fresh:
                self._remember_scores(event)
        SCORES_RECEIVED.inc(len(scored))
        for raw, _ in scored:
            await raw.ack()

    # --- ticker ----------------------------------------------------------------------------

    async def tick(self) -> None:
        now = c.utcnow()
        for key, intent in list(self._intents.items()):
            # Before any flush of its group: that flush is skipped while this is in flight.
            if key not in self._inflight:
                task = asyncio.create_task(self._redeliver(key, intent), name="redeliver")
                self._inflight[key] = task
                task.add_done_callback(partial(self._delivered, key))
        for notification in self.pipeline.due(now):
            key = notification.log_key
            if key in self._inflight:
                # Its predecessor is still being delivered: decided again at the next flush.
                log.debug("previous notification still in delivery", extra={"route": key[0]})
                continue
            task = asyncio.create_task(self._deliver(notification), name="deliver")
            self._inflight[key] = task
            task.add_done_callback(partial(self._delivered, key))
        await self._forget()
        if time.monotonic() >= self._pending_at:
            # A scan of every alert after any change: with hundreds of thousands held it would
            # take most of the loop on every tick. At most a twentieth of the time goes to it.
            started = time.monotonic()
            GROUPS_PENDING.set(self.pipeline.pending_groups(now))
            self._pending_at = time.monotonic() + PENDING_SHARE * (time.monotonic() - started)
        if now >= self._gauges_at:
            # A scan of every alert: a few seconds stale is fine for these gauges.
            self._gauges_at = now + GAUGE_PERIOD
            muted = self.pipeline.muted_counts(now)
            for reason in (INHIBITED, SILENCED):
                ALERTS_MUTED.labels(reason=reason).set(muted.get(reason, 0))
            SILENCES_ACTIVE.set(len(self.pipeline.silences.active_ids(now)))
        self._schedule_digest(now)

    def _delivered(self, key: LogKey, task: asyncio.Task) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every delivery (and a running digest) to finish and be recorded."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)
        if self._digest_task is not None:
            await asyncio.gather(self._digest_task, return_exceptions=True)
        await self._forget()
        await asyncio.to_thread(self.smtp.close)

    async def run_ticker(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.exception("notifier tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.notifier_tick_s)
        finally:
            await self.drain()

    async def _send(self, notification: Notification) -> tuple[bool, int | None, str, dict]:
        """Deliver to the notification's receiver: (ok, code, error, extra log fields)."""
        kind = notification.receiver.kind
        if kind == "email":
            async with self._email_slots:
                # Building MIME is the costliest step here; off the loop, NATS keeps flowing.
                message, intent = await asyncio.to_thread(self._render_email, notification)
                ok, code, error = await self._send_email(notification.log_key, message, intent)
            return ok, code, error, {"message_id": message["Message-ID"]}
        if kind == "webhook":
            assert self.http is not None
            async with self._http_slots:
                http_result = await webhook.send(self.http, notification, self.settings)
        elif kind == GRAFANA:
            assert self.annotator is not None
            http_result = await self.annotator.deliver(notification)
        else:
            return False, None, f"unknown receiver kind {kind!r}", {}
        return http_result.ok, http_result.status, http_result.error, {}

    def _render_email(self, notification: Notification) -> tuple[EmailMessage, Intent]:
        message = email.render(notification, self.settings, c.utcnow())
        intent = Intent(
            str(message["Message-ID"]),
            email.flatten(message),
            notification.firing_ids,
            notification.resolved_ids,
        )
        return message, intent

    async def _send_email(
        self, key: LogKey, message: EmailMessage, intent: Intent
    ) -> tuple[bool, int | None, str]:
        """Record the intent, then send; a refused message takes its intent back."""
        assert self.store is not None
        previous = self.pipeline.log.get(key)
        try:
            await self.store.begin(key, previous, intent)
        except Exception as exc:
            # Unsent is better than sent without a trace: the next flush decides again.
            log.warning("cannot record an e-mail before sending it", exc_info=True)
            return False, None, f"intent not recorded: {type(exc).__name__}"
        result = await email.send(
            self.settings, message, data=intent.message, connections=self.smtp
        )
        if not result.ok:
            try:
                await self.store.abandon(key, previous)
            except Exception:
                # Left in place it is sent on restart: a retry the next flush would make anyway.
                log.warning("cannot take back the intent of an unsent e-mail", exc_info=True)
        return result.ok, result.code, result.error

    async def _redeliver(self, key: LogKey, intent: Intent) -> None:
        """Send an e-mail begun before a restart exactly as it was, then record it."""
        assert self.store is not None
        extra = {"route": key[0], "message_id": intent.message_id}
        async with self._email_slots:
            result = await email.send(
                self.settings,
                email.from_bytes(intent.message),
                data=intent.message,
                connections=self.smtp,
            )
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
        entry = LogEntry(intent.firing, intent.resolved, c.utcnow())
        self.pipeline.record(key, entry)
        self._intents.pop(key, None)
        await self._put_entry(key, entry, extra)

    async def _put_entry(self, key: LogKey, entry: LogEntry, extra: dict) -> None:
        assert self.store is not None
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                await self.store.put_entry(key, entry)
                return
            except Exception:
                if attempt == RECORD_ATTEMPTS:
                    # Delivered but not recorded: this process will not resend; a restart
                    # sends the same message again under its Message-ID.
                    log.exception("cannot record a notification in the log", extra=extra)
                else:
                    await asyncio.sleep(0.2 * attempt)

    async def _deliver(self, notification: Notification) -> None:
        assert self.store is not None
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
            try:
                ok, code, error, more = await self._send(notification)
            except Exception as exc:
                log.exception("delivery raised", extra=extra)
                ok, code, error, more = False, None, type(exc).__name__, {}
            SEND_SECONDS.observe(time.monotonic() - started)
            if not ok:
                NOTIFICATIONS.labels(receiver=receiver, result="failed").inc()
                log.error(
                    "notification not delivered; retried at the next group interval",
                    extra={**extra, "code": code, "error": error},
                )
                return
            NOTIFICATIONS.labels(receiver=receiver, result="sent").inc()
            log.info("notification sent", extra={**extra, **more})
        entry = self.pipeline.mark_sent(notification, c.utcnow())
        await self._put_entry(notification.log_key, entry, extra)

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

    # --- weekly digest ---------------------------------------------------------------------

    def _schedule_digest(self, now: datetime) -> None:
        if not self.settings.digest_enabled or self.digest_slot is None:
            return
        if self._digest_task is not None and not self._digest_task.done():
            return
        if self._digest_retry_at is not None and now < self._digest_retry_at:
            return
        slot = digest.slot_of(now, self.settings)
        if slot > self.digest_slot:
            self._digest_task = asyncio.create_task(self._weekly_digest(slot), name="digest")

    async def build_digests(self, start: datetime, end: datetime) -> list[digest.Digest]:
        """Snapshot the state here (on the loop), build in a thread: many subscribers × alerts."""
        now = c.utcnow()
        open_alerts = [a.event for a in self.pipeline.alerts.values() if a.firing]
        resolutions = list(self.resolutions.values())
        muted = frozenset(
            event.violation_id
            for event in (*open_alerts, *resolutions)
            if self.pipeline.mute_reason(labels_of(event), now) is not None
        )
        scores = list(self.scores.values())
        baseline = dict(self.baseline)
        return await asyncio.to_thread(
            digest.build,
            self.subscriptions,
            open_alerts,
            resolutions,
            start,
            end,
            muted,
            scores,
            baseline,
        )

    async def send_digest(self, item: digest.Digest) -> bool:
        message = await asyncio.to_thread(digest.render, item, self.settings, c.utcnow())
        async with self._email_slots:
            result = await email.send(self.settings, message, connections=self.smtp)
        extra = {
            "to": item.address,
            "organisations": len(item.organisations),
            "open": item.open_total,
            "message_id": message["Message-ID"],
        }
        if result.ok:
            DIGESTS.labels(result="sent").inc()
            log.info("digest sent", extra=extra)
        else:
            DIGESTS.labels(result="failed").inc()
            log.error("digest not delivered", extra={**extra, "error": result.error})
        return result.ok

    async def _weekly_digest(self, slot: datetime) -> None:
        assert self.store is not None
        try:
            # Changes from a week before the slot until now: a digest sent late (the notifier
            # was down at the slot) still reports everything since the previous one.
            items = await self.build_digests(slot - digest.PERIOD, c.utcnow())
            failed = 0
            for item in items:
                if await self.store.digest_sent(slot, item.address):
                    continue  # sent before a restart
                if await self.send_digest(item):
                    await self.store.mark_digest_sent(slot, item.address)
                else:
                    failed += 1
            if failed:
                self._digest_retry_at = c.utcnow() + DIGEST_RETRY
                log.warning("some digests not delivered, will retry", extra={"failed": failed})
                return
            await self.store.set_digest_slot(slot)
            self.digest_slot = slot
            self._digest_retry_at = None
            await self._move_baseline(slot)
            await self.store.forget_digest_marks(slot, [item.address for item in items])
            cutoff = c.utcnow() - RESOLUTION_RETENTION
            for vid in [v for v, e in self.resolutions.items() if e.resolved_at < cutoff]:
                del self.resolutions[vid]
            log.info("weekly digest done", extra={"slot": slot.isoformat(), "sent": len(items)})
        except Exception:
            self._digest_retry_at = c.utcnow() + DIGEST_RETRY
            log.exception("weekly digest failed, will retry")

    async def _move_baseline(self, slot: datetime) -> None:
        """The scores now become what the next digest compares with."""
        assert self.store is not None
        current = {org_id: digest.baseline_of(e) for org_id, e in self.scores.items()}
        changed = {o: s for o, s in current.items() if self.baseline.get(o) != s}
        try:
            await self.store.save_baseline(changed, slot)
        except Exception:
            # The next digest then shows the change over two weeks: worth a warning, not a retry.
            log.warning("cannot store the scores of this digest", exc_info=True)
            return
        self.baseline.update(changed)

    async def digest_now(self) -> int:
        now = c.utcnow()
        items = await self.build_digests(now - digest.PERIOD, now)
        sent = 0
        for item in items:
            sent += await self.send_digest(item)
        await asyncio.to_thread(self.smtp.close)
        print(f"notifier: digest sent to {sent} of {len(items)} subscriber(s)", flush=True)
        return 0 if sent == len(items) else 1


async def consume_alerts(puller: Puller, notifier: Notifier, stop: asyncio.Event) -> None:
    """Fetch batches until ``stop``; the batch in hand is always finished (handled and acked)."""
    while not stop.is_set():
        try:
            messages = await puller.fetch(BATCH_SIZE, timeout=FETCH_TIMEOUT_S)
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


async def follow_silences(
    store: SilenceStore, notifier: Notifier, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    """Keep the pipeline's silences in step with the bucket; restart the watch if it breaks."""
    while not stop.is_set():
        try:
            await store.follow(notifier.set_silences, ready)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watching silences failed, restarting the watch")
            await asyncio.sleep(1.0)


def _load(args: argparse.Namespace, settings: Settings) -> tuple[Subscriptions, Settings] | int:
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
    digest_problem = _digest_problem(settings)
    if digest_problem:
        # Alerts matter more than the digest: run without it rather than not at all.
        log.error("weekly digests disabled", extra={"reason": digest_problem})
        settings = settings.model_copy(update={"digest_enabled": False})
    problems = runtime_problems(subscriptions, settings)
    if problems:
        print("notifier: " + "\n  ".join(problems), file=sys.stderr)
        return 2
    return subscriptions, settings


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    loaded = _load(args, settings)
    if isinstance(loaded, int):
        return loaded
    subscriptions, settings = loaded
    async with httpx.AsyncClient(follow_redirects=False) as http:
        notifier = Notifier(settings, subscriptions, http)
        if getattr(args, "digest_now", False):
            return await _digest_now(nats_url, settings, notifier)
        return await _run(nats_url, settings, notifier, stop)


async def _run(nats_url: str, settings: Settings, notifier: Notifier, stop: asyncio.Event) -> int:
    subscriptions = notifier.subscriptions
    health = await HealthServer(
        settings.http_host, settings.http_port, lambda: notifier.ready
    ).start()
    log.info(
        "notifier starting",
        extra={
            "routes": len(subscriptions.routes),
            "inhibit_rules": len(subscriptions.inhibit_rules),
            "subscriptions": subscriptions.source,
            "http_port": health.port,
        },
    )
    nc = await bus.connect(nats_url, settings, "notifier")
    tasks: list[asyncio.Task] = []
    watcher: asyncio.Task | None = None
    finish = asyncio.Event()
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        notifier.js = js
        await notifier.restore(await NotificationLog.open(js))
        runtime.keep_loaded_state_out_of_gc()
        # Silences first: a group may flush on the first tick, and a silenced alert must not slip.
        silences_ready = asyncio.Event()
        watcher = asyncio.create_task(
            follow_silences(await SilenceStore.open(js), notifier, silences_ready, finish),
            name="silences",
        )
        await asyncio.wait_for(silences_ready.wait(), SILENCES_LOAD_TIMEOUT_S)

        await bus.ensure_pull_consumer(
            js,
            c.ALERTS_STREAM,
            ConsumerConfig(
                name=c.NOTIFIER_DURABLE,
                durable_name=c.NOTIFIER_DURABLE,
                filter_subject="alerts.>",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_S,
            ),
        )
        puller = await Puller(nc, c.ALERTS_STREAM, c.NOTIFIER_DURABLE).start()
        tasks.append(asyncio.create_task(consume_alerts(puller, notifier, finish), name="consumer"))
        tasks.append(asyncio.create_task(notifier.run_ticker(finish), name="notifier-ticker"))
        notifier.ready = True
        log.info("notifier ready")
        await stop.wait()
    finally:
        notifier.ready = False
        finish.set()
        for task in tasks:
            await task
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await nc.close()
        await health.stop()
    log.info("notifier stopped")
    return 0


async def _digest_now(nats_url: str, settings: Settings, notifier: Notifier) -> int:
    nc = await bus.connect(nats_url, settings, "notifier-digest")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        notifier.js = js
        # Set before restore, which keeps the silences of the pipeline it replaces.
        notifier.pipeline.set_silences(await (await SilenceStore.open(js)).load())
        await notifier.restore(await NotificationLog.open(js), schedule=False)
        return await notifier.digest_now()
    finally:
        await nc.close()
