"""The notifier in operation: silences from the CLI, a restart mid-stream, weekly digests.

Real nats-server, real aiosmtpd (the mail sink), the notifier's own ``serve()`` as a task.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import re
import time
from collections import Counter
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings
from services.notifier import digest, silence_cli
from services.notifier.mailsink import MailSink
from services.notifier.main import serve
from services.notifier.nflog import NotificationLog

pytestmark = pytest.mark.integration

SUBSCRIPTIONS = """
routes:
  - name: each
    receivers: {email: [ops@x.org]}
    group_by: ["..."]
    group_wait: 0s
    group_interval: 500ms
    repeat_interval: 1h
  - name: town
    matchers: {municipality: Борисоглеб}
    receivers: {email: [mo@x.org]}
    group_by: [municipality]
    group_wait: 1h
    group_interval: 1h
  - name: quiet
    matchers: {severity: info}
    receivers: {email: [quiet@x.org]}
    digest: false
inhibit_rules: []
"""


@pytest.fixture
def sink(tmp_path: Path):
    with MailSink(tmp_path / "mail") as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, settings: Settings, sink: MailSink) -> Settings:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(SUBSCRIPTIONS, encoding="utf-8")
    return settings.model_copy(
        update={
            "subscriptions_file": path,
            "smtp_port": sink.port,
            "notifier_tick_s": 0.05,
            "smtp_retry_backoff_s": 0.05,
        }
    )


def opened(n: int, municipality: str = "Борисоглеб", **extra: str) -> c.ViolationOpened:
    now = c.utcnow()
    labels = {
        "org_id": f"1023600{n:06d}",
        "org_name": f"Школа №{n}",
        "founder": "Отдел образования",
        "municipality": municipality,
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": str(n),
        "page_url": f"https://vk.com/club{n}",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    labels.update(extra)
    return c.ViolationOpened.create(
        violation_id=f"v{n}",
        labels=c.AlertLabels(**labels),
        summary="Описание короче 50 знаков",
        observed_at=now,
        opened_at=now,
    )


def resolved(event: c.ViolationOpened) -> c.ViolationResolved:
    now = c.utcnow()
    return c.ViolationResolved.create(
        violation_id=event.violation_id,
        labels=event.labels,
        summary="Описание заполнено",
        observed_at=now,
        opened_at=event.opened_at,
        resolved_at=now,
    )


def outgoing(event) -> bus.Outgoing:
    subject = c.alert_subject(event.labels.severity, event.labels.rule)
    return bus.event_message(subject, event, event.violation_id, event.event_id)


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def mails(sink: MailSink, to: str = "ops@x.org") -> list[email.message.EmailMessage]:
    found = []
    for received in sink.messages:
        if received.rcpt_tos == (to,):
            found.append(email.message_from_bytes(received.content, policy=policy.default))
    return found


def schools(messages) -> list[str]:
    """The school named in each per-alert e-mail (group_by all labels: one alert per mail)."""
    return [re.search(r"Школа №(\d+)", m["Subject"])[1] for m in messages]


class Running:
    def __init__(self, nats_url: str, settings: Settings, **args):
        self.stop = asyncio.Event()
        namespace = argparse.Namespace(subscriptions=None, **args)
        self.task = asyncio.create_task(serve(nats_url, settings, namespace, self.stop))

    async def close(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, 15)


async def connect(url: str, settings: Settings):
    nc = await bus.connect(url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    return nc, js


async def silence(url: str, settings: Settings, capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    silence_cli.add_arguments(parser)
    code = await silence_cli.serve(url, settings, parser.parse_args(argv), asyncio.Event())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def active_silences() -> float | None:
    return REGISTRY.get_sample_value("gospublic_notifier_silences_active")


async def test_silences_from_the_cli_reach_a_running_notifier(
    nats_server, config, sink, capsys
) -> None:
    nc, js = await connect(nats_server.url, config)
    running = Running(nats_server.url, config)
    try:
        await bus.publish_all(js, [outgoing(opened(1))])
        await wait_for(lambda: schools(mails(sink)) == ["1"])  # it runs

        code, out, _ = await silence(
            nats_server.url, config, capsys,
            "add", "org_name=Школа №2", "rule=~DESC.*", "-d", "1h", "-c", "ЦУР-1: ремонт", "-a",
            "Иванов",
        )  # fmt: skip
        assert code == 0
        silence_id = out.strip()
        assert re.fullmatch(r"[0-9a-f]{32}", silence_id)
        await wait_for(lambda: active_silences() == 1)

        await bus.publish_all(js, [outgoing(opened(2)), outgoing(opened(3))])
        await wait_for(lambda: sorted(schools(mails(sink))) == ["1", "3"])
        await asyncio.sleep(0.7)  # a group interval passes: №2 stays silenced
        assert sorted(schools(mails(sink))) == ["1", "3"]

        code, out, _ = await silence(nats_server.url, config, capsys, "list")
        assert code == 0 and silence_id in out and "active" in out and "Иванов" in out
        assert "org_name='Школа №2'" in out and "ЦУР-1: ремонт" in out

        code, out, _ = await silence(nats_server.url, config, capsys, "expire", silence_id)
        assert code == 0 and f"{silence_id} expired" in out
        await wait_for(lambda: sorted(schools(mails(sink))) == ["1", "2", "3"], timeout_s=5)

        code, out, _ = await silence(nats_server.url, config, capsys, "list")
        assert out.strip() == "no silences"
        code, out, _ = await silence(nats_server.url, config, capsys, "list", "--all", "--json")
        assert '"state": "expired"' in out
        code, _, err = await silence(nats_server.url, config, capsys, "expire", "no-such", "a.>")
        assert code == 1 and "no silence 'no-such'" in err and "no silence 'a.>'" in err
        code, _, err = await silence(
            nats_server.url, config, capsys, "add", "rule!=STALE", "-c", "everything"
        )
        assert code == 1 and "must not match the empty string" in err
    finally:
        assert await running.close() == 0
        await nc.close()
    assert len(mails(sink)) == 3


async def test_restart_mid_stream_sends_each_mail_once(nats_server, config, sink) -> None:
    total, fixed = 60, 20
    nc, js = await connect(nats_server.url, config)
    events = [opened(n) for n in range(total)]

    sent = [0]

    async def publish(items, pause_s: float) -> None:
        sent[0] = 0
        for item in items:
            await bus.publish_all(js, [outgoing(item)])
            sent[0] += 1
            await asyncio.sleep(pause_s)  # a steady stream, not one burst

    async def restart_while(publishing: asyncio.Task, running: Running, mailed: int) -> Running:
        await wait_for(lambda: sent[0] >= 10 and len(sink.messages) >= mailed)
        assert not publishing.done()  # alerts are still flowing
        assert await running.close() == 0
        await asyncio.sleep(0.3)
        return Running(nats_server.url, config)

    running = Running(nats_server.url, config)
    try:
        publishing = asyncio.create_task(publish(events, 0.02))
        running = await restart_while(publishing, running, 5)
        await publishing
        # Counted cheaply: parsing every mail on each poll would starve the notifier's loop.
        await wait_for(lambda: len(sink.messages) >= total, timeout_s=15)

        publishing = asyncio.create_task(publish([resolved(e) for e in events[:fixed]], 0.03))
        running = await restart_while(publishing, running, total)
        await publishing
        await wait_for(lambda: len(sink.messages) >= total + fixed, timeout_s=15)
        await asyncio.sleep(0.7)  # a group interval: nothing late, nothing twice
    finally:
        assert await running.close() == 0
        await nc.close()

    messages = mails(sink)
    firing = [m for m in messages if "устранены" not in m["Subject"]]
    cleared = [m for m in messages if "устранены" in m["Subject"]]
    assert Counter(schools(firing)) == Counter(str(n) for n in range(total))
    assert Counter(schools(cleared)) == Counter(str(n) for n in range(fixed))
    assert len({m["Message-ID"] for m in messages}) == total + fixed


async def test_weekly_digest_once_per_slot_and_on_demand(nats_server, config, sink, capsys) -> None:
    nc, js = await connect(nats_server.url, config)
    kept = [opened(1, rule="STALE", severity="critical"), opened(2), opened(3, municipality="Анна")]
    gone = opened(4)
    running = Running(nats_server.url, config)  # the first start: no digest for an unseen week
    try:
        await bus.publish_all(js, [outgoing(e) for e in (*kept, gone)])
        await wait_for(lambda: len(mails(sink)) == 4)
        await bus.publish_all(js, [outgoing(resolved(gone))])
        await wait_for(lambda: len(mails(sink)) == 5)
    finally:
        assert await running.close() == 0
    assert not [
        m for to in ("ops@x.org", "mo@x.org") for m in mails(sink, to) if "Сводка" in m["Subject"]
    ]

    # As if last week's digest was the last one sent, and this week's already reached mo@.
    store = await NotificationLog.open(js)
    slot = digest.slot_of(c.utcnow(), config)
    await store.set_digest_slot(slot - digest.PERIOD)
    await store.mark_digest_sent(slot, "mo@x.org")

    running = Running(nats_server.url, config)
    try:
        await wait_for(lambda: any("Сводка" in m["Subject"] for m in mails(sink, "ops@x.org")))
        # The slot is recorded after the mail is accepted: give the notifier a moment to write it.
        deadline = time.monotonic() + 10
        while await store.digest_slot() != slot and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await store.digest_slot() == slot
    finally:
        assert await running.close() == 0
    [weekly] = [m for m in mails(sink, "ops@x.org") if "Сводка" in m["Subject"]]
    assert "3 нарушения в 3 организациях, +4 / −1 за неделю" in weekly["Subject"]
    text = weekly.get_body(("plain",)).get_content()
    assert "Школа №1" in text and "Школа №3" in text and "Устранены: 1" in text
    assert "Давно нет собственных публикаций" in text.split("Что исправить")[1]
    assert not [m for m in mails(sink, "mo@x.org") if "Сводка" in m["Subject"]]
    assert not mails(sink, "quiet@x.org")

    # A restart in the same week sends nothing again; --digest-now sends at once and exits.
    running = Running(nats_server.url, config)
    await asyncio.sleep(0.5)
    assert await running.close() == 0
    assert (
        await serve(
            nats_server.url,
            config,
            argparse.Namespace(subscriptions=None, digest_now=True),
            asyncio.Event(),
        )
        == 0
    )
    assert "digest sent to 2 of 2 subscriber(s)" in capsys.readouterr().out
    summaries = Counter(
        r.rcpt_tos[0]
        for r in sink.messages
        if "Сводка" in email.message_from_bytes(r.content, policy=policy.default)["Subject"]
    )
    assert summaries == {"ops@x.org": 2, "mo@x.org": 1}
    await nc.close()


def scored(
    n: int,
    at,
    municipality: str = "Борисоглеб",
    card: c.OrgScorecard | None = None,
    **values: float,
) -> bus.Outgoing:
    event = c.ScoresUpdated.create(
        observed_at=at,
        labels=c.OrgLabels(
            org_id=f"1023600{n:06d}",
            org_name=f"Школа №{n}",
            founder="Отдел образования",
            municipality=municipality,
            sphere="education",
            level="municipal",
        ),
        scores=values,
        scored_at=at,
        scorecard=card,
    )
    return bus.Outgoing(c.scores_subject(event.labels.org_id), event.to_bytes(), event.event_id)


CARD_RED = c.OrgScorecard(total=35.0, out_of=95.0, colour="red", version=1)
CARD_YELLOW = c.OrgScorecard(total=60.0, out_of=95.0, colour="yellow", version=1)


async def weekly_digest_to(running_with, store: NotificationLog, sink: MailSink, to: str) -> str:
    """Run the notifier from last week's slot until this week's digest is sent; its plain text."""
    slot = digest.slot_of(c.utcnow(), running_with.settings)
    await store.set_digest_slot(slot - digest.PERIOD)
    before = len([m for m in mails(sink, to) if "Сводка" in m["Subject"]])
    running = Running(running_with.url, running_with.settings)
    try:
        await wait_for(
            lambda: len([m for m in mails(sink, to) if "Сводка" in m["Subject"]]) > before
        )
        deadline = time.monotonic() + 10
        while await store.digest_slot() != slot and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await store.digest_slot() == slot
    finally:
        assert await running.close() == 0
    weekly = [m for m in mails(sink, to) if "Сводка" in m["Subject"]][-1]
    return weekly.get_body(("plain",)).get_content() + weekly.get_body(("html",)).get_content()


async def test_weekly_digest_shows_scores_and_their_change_across_restarts(
    nats_server, config, sink
) -> None:
    """ScoresUpdated and violations in, a digest with the scores out; the latest scores and the
    week's base survive restarts (NATS KV), so the next digest shows the change."""
    nc, js = await connect(nats_server.url, config)
    store = await NotificationLog.open(js)
    target = argparse.Namespace(url=nats_server.url, settings=config)
    now = c.utcnow()
    running = Running(nats_server.url, config)
    try:
        await bus.publish_all(
            js,
            [
                outgoing(opened(1, rule="STALE", severity="critical")),
                scored(1, now, compliance=60.0, design=70.5, response=40.0, card=CARD_RED),
                scored(9, now, compliance=100.0, design=90.0),  # covered, without violations
                scored(8, now, municipality="Анна", compliance=10.0),  # not mo@'s
            ],
        )
        await wait_for(lambda: len(mails(sink)) == 1)

        async def consumed() -> bool:
            pending = await bus.consumer_pending(js, c.ALERTS_STREAM, c.NOTIFIER_DURABLE)
            return pending == (0, 0)

        deadline = time.monotonic() + 10
        while not await consumed():
            assert time.monotonic() < deadline, "the notifier did not take the scores"
            await asyncio.sleep(0.05)
    finally:
        assert await running.close() == 0
    assert {e.labels.org_id[-1] for e in await store.load_scores()} == {"1", "8", "9"}

    first = await weekly_digest_to(target, store, sink, "mo@x.org")
    assert "Школа №1" in first and "Школа №9" in first and "Школа №8" not in first
    assert "Оценки: Соответствие 60,0, Оформление 70,5, Отклик 40,0" in first
    assert "Соответствие 100,0<br>Оформление 90,0" in first
    assert "Исправить: Давно нет собственных публикаций" in first
    assert "Светофор: красный, 35 из 95" in first
    baseline = await store.load_baseline()
    assert baseline["1023600000001"] == {
        "compliance": 60.0, "design": 70.5, "response": 40.0, "scorecard": 35.0
    }  # fmt: skip

    # A week later: new scores for 1 (an older, late message for it changes nothing).
    running = Running(nats_server.url, config)
    try:
        later = c.utcnow()
        await bus.publish_all(
            js,
            [
                scored(1, later, compliance=75.0, design=70.5, response=35.5, card=CARD_YELLOW),
                scored(1, now - digest.PERIOD, compliance=1.0),
            ],
        )
        deadline = time.monotonic() + 10
        while True:
            held = {e.labels.org_id: e for e in await store.load_scores()}
            if held["1023600000001"].scores.get("compliance") == 75.0:
                break
            assert time.monotonic() < deadline, "the notifier did not store the new scores"
            await asyncio.sleep(0.05)
    finally:
        assert await running.close() == 0

    second = await weekly_digest_to(target, store, sink, "mo@x.org")
    assert "Оценки: Соответствие 75,0 (+15,0), Оформление 70,5 (±0,0), Отклик 35,5 (−4,5)" in second
    assert "Соответствие 75,0 (+15,0)<br>Оформление 70,5 (±0,0)<br>Отклик 35,5 (−4,5)" in second
    assert "Светофор: жёлтый, 60 из 95 (+25,0)" in second
    await nc.close()
