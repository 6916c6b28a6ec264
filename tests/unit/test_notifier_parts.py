"""The notifier's parts on fakes: a channel registered by kind, the dispatcher, the intent record,
the intake. No NATS, no SMTP: each part is given the ports it needs (clock, bus, stores)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from gospublic.contracts import AlertLabels, ScoresUpdated, ViolationOpened
from gospublic.settings import Settings
from services.notifier import channels
from services.notifier.channels.email import EmailChannel
from services.notifier.dispatch import RECORD_ATTEMPTS, Dispatcher
from services.notifier.intake import Intake
from services.notifier.intents import IntentRecord
from services.notifier.nflog import Intent
from services.notifier.pipeline import LogEntry, LogKey, Notification, Pipeline
from services.notifier.ports import Delivery
from services.notifier.smtp import SendResult
from services.notifier.state import Held
from services.notifier.subscriptions import RECEIVER_KINDS, parse_subscriptions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    at: datetime = T0

    def now(self) -> datetime:
        return self.at


class FakeChannel:
    kind: ClassVar[str] = "fake"

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> Delivery:
        self.sent.append(notification)
        return Delivery(self.ok, None if self.ok else 503, "" if self.ok else "down")


@dataclass
class FakeStore:
    """The KV bucket as dicts; ``fail_puts`` puts of an entry raise before one succeeds."""

    entries: dict[LogKey, LogEntry | None] = field(default_factory=dict)
    intents: dict[LogKey, tuple[LogEntry | None, Intent]] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    fail_puts: int = 0
    fail_saves: bool = False
    put_attempts: int = 0

    async def put_entry(self, key: LogKey, entry: LogEntry | None) -> None:
        self.put_attempts += 1
        if self.fail_puts:
            self.fail_puts -= 1
            raise ConnectionError("KV unavailable")
        self.intents.pop(key, None)
        self.entries[key] = entry

    async def begin(self, key: LogKey, previous: LogEntry | None, intent: Intent) -> None:
        self.intents[key] = (previous, intent)

    async def abandon(self, key: LogKey, previous: LogEntry | None) -> None:
        await self.put_entry(key, previous)

    async def save_alerts(self, messages: list) -> None:
        if self.fail_saves:
            raise ConnectionError("KV unavailable")
        for event in (e for m in messages for e in m.latest):
            if isinstance(event, ScoresUpdated):
                self.scores[event.labels.org_id] = event
            else:
                self.alerts[event.violation_id] = event

    async def forget_alerts(self, violation_ids: list[str]) -> None:
        for vid in violation_ids:
            self.alerts.pop(vid, None)


@dataclass
class FakeBus:
    replies: list[tuple[str, str]] = field(default_factory=list)
    dead: list[bytes] = field(default_factory=list)

    async def reply(self, msg: Any, how: str, *, delay: float | None = None) -> bool:
        self.replies.append((msg.subject, how))
        return True

    async def reply_all(self, msgs: list[Any], how: str) -> bool:
        self.replies.extend((msg.subject, how) for msg in msgs)
        return True

    async def dead_letter(self, data: bytes, error: Exception, headers: dict) -> None:
        self.dead.append(data)


@dataclass
class Msg:
    data: bytes
    subject: str = "alerts.opened.high"
    headers: dict | None = None


def held_with(kind: str, clock: FakeClock) -> Held:
    receivers = {"webhook": ["https://hooks.example.org/a"]} if kind == "webhook" else {kind: True}
    if kind == "email":
        receivers = {"email": ["ops@example.org"]}
    subs = parse_subscriptions(
        {"routes": [{"name": "all", "receivers": receivers, "group_wait": "0s"}]}
    )
    return Held(Pipeline(subs), clock)


def opened(vid: str) -> ViolationOpened:
    return ViolationOpened.create(
        violation_id=vid,
        labels=AlertLabels(
            org_id="1023600000001",
            org_name="МБОУ СОШ 1",
            founder="Отдел образования",
            municipality="Борисоглебский городской округ",
            sphere="education",
            level="municipal",
            platform="vk",
            page_id="210000123",
            page_url="https://vk.com/club210000123",
            rule="DESCRIPTION_MISSING",
            severity="high",
        ),
        summary=f"summary {vid}",
        observed_at=T0,
        opened_at=T0,
    )


def test_every_receiver_kind_has_one_registered_channel() -> None:
    assert set(channels.CHANNELS) == set(RECEIVER_KINDS)
    for kind, channel in channels.CHANNELS.items():
        assert channel.kind == kind


async def test_a_channel_registered_by_kind_receives_the_notification_and_it_is_recorded() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    channel, store = FakeChannel(), FakeStore()
    dispatcher = Dispatcher(held, {"webhook": channel}, store, clock)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert [n.firing_ids for n in channel.sent] == [frozenset({"v1"})]
    (key,) = store.entries
    assert store.entries[key].firing == frozenset({"v1"})
    # Recorded: the next flush has nothing new to say.
    clock.at += timedelta(minutes=10)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert len(channel.sent) == 1


async def test_a_failed_delivery_is_not_recorded_and_is_tried_again() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    channel, store = FakeChannel(ok=False), FakeStore()
    dispatcher = Dispatcher(held, {"webhook": channel}, store, clock)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert store.entries == {}
    channel.ok = True
    clock.at += timedelta(minutes=10)  # the group interval (5m) has passed
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert len(channel.sent) == 2 and len(store.entries) == 1


async def test_a_kind_without_a_channel_is_a_failed_delivery() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    store = FakeStore()
    dispatcher = Dispatcher(held, {"email": FakeChannel()}, store, clock)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert store.entries == {}


async def test_recording_is_retried_with_growing_pauses() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    store = FakeStore(fail_puts=RECORD_ATTEMPTS - 1)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    dispatcher = Dispatcher(held, {"webhook": FakeChannel()}, store, clock, sleep=sleep)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert store.put_attempts == RECORD_ATTEMPTS
    assert pauses == [0.2, 0.4]
    assert len(store.entries) == 1


async def test_recording_gives_up_after_its_attempts_without_raising() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    store = FakeStore(fail_puts=RECORD_ATTEMPTS)

    async def sleep(seconds: float) -> None:
        pass

    dispatcher = Dispatcher(held, {"webhook": FakeChannel()}, store, clock, sleep=sleep)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert store.put_attempts == RECORD_ATTEMPTS and store.entries == {}


async def test_the_intent_record_keeps_the_replaced_entry_and_gives_it_back() -> None:
    store = FakeStore()
    key: LogKey = ("all", "email:ops@example.org", "{}")
    before = LogEntry(frozenset({"v0"}), frozenset(), T0)
    record = IntentRecord(store, {key: before}.get)
    intent = Intent("<m1@gospublic>", b"message", frozenset({"v0", "v1"}), frozenset())
    previous = await record.begin(key, intent)
    assert previous == before
    assert store.intents[key] == (before, intent)
    await record.abandon(key, previous)
    assert key not in store.intents and store.entries[key] == before


async def test_an_unrecorded_email_is_sent_again_as_it_was_then_recorded() -> None:
    clock = FakeClock()
    held = held_with("email", clock)
    store = FakeStore()
    key: LogKey = ("all", "email:ops@example.org", "{}")
    intent = Intent("<m1@gospublic>", b"message", frozenset({"v1"}), frozenset())
    record = IntentRecord(store, held.pipeline.log.get, {key: intent})
    resent: list[Intent] = []

    @dataclass
    class Sent:
        ok: bool = True
        code: int | None = None
        error: str = ""

    async def resend(it: Intent) -> Sent:
        resent.append(it)
        return Sent()

    dispatcher = Dispatcher(
        held, {}, store, clock, pending=record.pending, resend=resend, on_resent=record.done
    )
    dispatcher.start(clock.now())
    await dispatcher.drain()
    assert resent == [intent]
    assert record.pending() == []
    assert store.entries[key] == LogEntry(intent.firing, intent.resolved, T0)
    assert held.pipeline.log[key].firing == frozenset({"v1"})


async def test_intake_stores_and_acks_alerts_and_dead_letters_the_malformed() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    store, bus = FakeStore(), FakeBus()
    intake = Intake(held, store, bus, max_message_bytes=1 << 20)
    good = Msg(opened("v1").to_bytes())
    bad = Msg(b"not an event", subject="alerts.opened.bad")
    await intake.handle([good, bad])
    assert bus.dead == [b"not an event"]
    assert sorted(bus.replies) == [("alerts.opened.bad", "ack"), ("alerts.opened.high", "ack")]
    assert set(store.alerts) == {"v1"} and "v1" in held.pipeline.alerts


async def test_intake_naks_a_batch_the_store_refused() -> None:
    clock = FakeClock()
    held = held_with("webhook", clock)
    store, bus = FakeStore(fail_saves=True), FakeBus()
    await Intake(held, store, bus, max_message_bytes=1 << 20).handle([Msg(opened("v1").to_bytes())])
    assert bus.replies == [("alerts.opened.high", "nak")]
    assert held.pipeline.alerts == {}


async def test_intake_wakes_the_ticker_for_a_group_due_at_once_only() -> None:
    clock = FakeClock()
    wakes: list[str] = []
    held = held_with("webhook", clock)  # group_wait 0s
    intake = Intake(
        held, FakeStore(), FakeBus(), max_message_bytes=1 << 20, on_due=lambda: wakes.append("x")
    )
    await intake.handle([Msg(opened("v1").to_bytes())])
    assert wakes == ["x"]
    held.pipeline.due(clock.now())  # flushed: nothing new is due
    await intake.handle([Msg(opened("v1").to_bytes())])  # the same alert again
    assert wakes == ["x"]

    waiting = Held(
        Pipeline(
            parse_subscriptions(
                {"routes": [{"name": "all", "receivers": {"grafana": True}, "group_wait": "30s"}]}
            )
        ),
        clock,
    )
    intake = Intake(
        waiting, FakeStore(), FakeBus(), max_message_bytes=1 << 20, on_due=lambda: wakes.append("y")
    )
    await intake.handle([Msg(opened("v2").to_bytes())])
    assert wakes == ["x"]  # its group flushes in 30 s, at a tick


class FakeTransport:
    """The SMTP side: notes each message with what the store held when it was sent."""

    def __init__(self, store: FakeStore, result: SendResult) -> None:
        self.store = store
        self.result = result
        self.sent: list[tuple[bytes | None, bool]] = []

    async def __call__(self, message: Any, data: bytes | None) -> SendResult:
        self.sent.append((data, bool(self.store.intents)))
        return self.result


def email_channel(store: FakeStore, held: Held, result: SendResult) -> tuple[EmailChannel, Any]:
    transport = FakeTransport(store, result)
    record = IntentRecord(store, held.pipeline.log.get)
    settings = Settings(_env_file=None, mail_from="GosPublic <monitor@gospublic.local>")
    return EmailChannel(settings, transport, record, asyncio.Semaphore(1)), transport


async def test_the_email_channel_records_its_intent_before_it_sends() -> None:
    clock = FakeClock()
    held = held_with("email", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    store = FakeStore()
    channel, transport = email_channel(store, held, SendResult(True, 1))
    dispatcher = Dispatcher(held, {"email": channel}, store, clock)
    dispatcher.start(clock.now())
    await dispatcher.drain()
    ((data, intent_held),) = transport.sent
    assert intent_held  # the intent was in the store when the message left
    assert data is not None and b"Message-ID" in data
    # Then the log entry replaced the intent.
    (key,) = store.entries
    assert store.intents == {} and store.entries[key].firing == frozenset({"v1"})


async def test_a_refused_email_takes_its_intent_back() -> None:
    clock = FakeClock()
    held = held_with("email", clock)
    held.pipeline.ingest(opened("v1"), clock.now())
    store = FakeStore()
    channel, _ = email_channel(store, held, SendResult(False, 1, 550, "no such user"))
    (notification,) = held.pipeline.due(clock.now())
    delivery = await channel.send(notification)
    assert (delivery.ok, delivery.code) == (False, 550)
    assert store.intents == {} and store.entries == {notification.log_key: None}


async def test_an_email_whose_intent_cannot_be_recorded_is_not_sent() -> None:
    clock = FakeClock()
    held = held_with("email", clock)
    held.pipeline.ingest(opened("v1"), clock.now())

    class RefusingStore(FakeStore):
        async def begin(self, key: LogKey, previous: LogEntry | None, intent: Intent) -> None:
            raise ConnectionError("KV unavailable")

    store = RefusingStore()
    channel, transport = email_channel(store, held, SendResult(True, 1))
    (notification,) = held.pipeline.due(clock.now())
    delivery = await channel.send(notification)
    assert not delivery.ok and delivery.error == "intent not recorded: ConnectionError"
    assert transport.sent == []
