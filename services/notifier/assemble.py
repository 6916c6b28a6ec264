"""The composition root: the notifier's parts built once, on their ports.

:func:`assemble` loads what the KV bucket holds (alerts, the notification log and its unrecorded
e-mails, resolutions, scores, annotation ids, the digest's slot) and wires the intake, the
dispatcher with its channels, the weekly digest and the ticker. Only here are the real adapters
chosen; the parts themselves see only :mod:`services.notifier.ports`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

import httpx
from nats.js import JetStreamContext

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings

from . import channels, digest, smtp
from .channels import EmailChannel, Parts
from .dispatch import Dispatcher
from .intake import Intake
from .intents import IntentRecord
from .nflog import NotificationLog
from .pipeline import Pipeline
from .ports import Clock, Reply, SystemClock
from .silences import Silence
from .state import Held
from .subscriptions import Subscriptions
from .ticker import Ticker
from .weekly import WeeklyDigest

log = logging.getLogger("gospublic.notifier")


class NatsBus:
    """The intake's bus port on JetStream: replies and the dead letters."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def reply(self, msg, how: Reply, *, delay: float | None = None) -> bool:
        return await bus.reply(msg, how, delay=delay)

    async def reply_all(self, msgs: list, how: Reply) -> bool:
        return await bus.reply_all(msgs, how)

    async def dead_letter(self, data: bytes, error: c.ContractError, headers: dict) -> None:
        await bus.dead_letter(self.js, "notifier", data, error, headers)


@dataclass
class Notifier:
    held: Held
    intake: Intake
    dispatcher: Dispatcher
    weekly: WeeklyDigest
    ticker: Ticker
    smtp: smtp.Connections

    async def close(self) -> None:
        """Say QUIT on the kept SMTP connections."""
        await asyncio.to_thread(self.smtp.close)


async def _load(
    store: NotificationLog,
    subscriptions: Subscriptions,
    silences: Iterable[Silence],
    clock: Clock,
) -> tuple[Held, IntentRecord, dict]:
    """The held state and the intent record, from the bucket (a restart neither resends nor
    forgets); the annotation ids for the Grafana channel."""
    alerts, entries, intents = await store.load_state()
    now = clock.now()
    held = Held(Pipeline(subscriptions, log=entries, silences=silences), clock)
    store.held.latest_of = held.latest_event
    for event in alerts:
        held.pipeline.ingest(event, now)
    await held.forget(store)
    for event in await store.load_resolutions(now):
        held.remember_resolution(event)
    for scores in store.loaded_scores:
        held.remember_scores(scores)
    held.baseline = await store.load_baseline()
    annotations = await store.load_annotations()
    record = IntentRecord(store, lambda key: held.pipeline.log.get(key), intents)
    log.info(
        "notification log loaded",
        extra={
            "alerts": len(alerts),
            "log_entries": len(entries),
            "unrecorded_emails": len(intents),
            "groups": len(held.pipeline.groups),
            "resolutions": len(held.resolutions),
            "scored_organisations": len(held.scores),
            "annotations": len(annotations),
        },
    )
    return held, record, annotations


async def assemble(
    settings: Settings,
    subscriptions: Subscriptions,
    store: NotificationLog,
    js: JetStreamContext,
    http: httpx.AsyncClient,
    *,
    silences: Iterable[Silence] = (),
    schedule: bool = True,
    clock: Clock | None = None,
) -> Notifier:
    clock = clock or SystemClock()
    held, record, annotations = await _load(store, subscriptions, silences, clock)
    slot = None
    if schedule and settings.digest_enabled:
        slot = await store.digest_slot()
        if slot is None:
            # A first start sends nothing for a week that was not watched.
            slot = digest.slot_of(clock.now(), settings)
            await store.set_digest_slot(slot)

    # One kept SMTP connection per e-mail slot at most: a flush's burst shares them.
    connections = smtp.Connections(settings)
    email_slots = asyncio.Semaphore(settings.notifier_send_concurrency)
    parts = Parts(
        settings=settings,
        http=http,
        smtp=connections,
        email_slots=email_slots,
        http_slots=asyncio.Semaphore(settings.notifier_send_concurrency),
        intents=record,
        annotation_store=store,
        annotations=annotations,
    )
    built = channels.build(parts)
    mailer = built[EmailChannel.kind]
    assert isinstance(mailer, EmailChannel)

    async def send_mail(message: EmailMessage) -> smtp.SendResult:
        async with email_slots:
            return await smtp.send(settings, message, connections=connections)

    dispatcher = Dispatcher(
        held,
        built,
        store,
        clock,
        pending=record.pending,
        resend=mailer.resend,
        on_resent=record.done,
    )
    weekly = WeeklyDigest(held, store, send_mail, settings, clock, slot)
    ticker = Ticker(held, dispatcher, weekly, store, clock, period_s=settings.notifier_tick_s)
    intake = Intake(
        held,
        store,
        NatsBus(js),
        max_message_bytes=settings.max_message_bytes,
        on_due=ticker.wake,
    )
    return Notifier(
        held=held,
        intake=intake,
        dispatcher=dispatcher,
        weekly=weekly,
        ticker=ticker,
        smtp=connections,
    )
