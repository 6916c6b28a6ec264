"""The notifier as a service: real nats-server, real SMTP server (aiosmtpd), real clock."""

from __future__ import annotations

import argparse
import asyncio
import email
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from prometheus_client import REGISTRY

from gospublic import bus
from gospublic import contracts as c
from gospublic.runtime import free_port
from gospublic.settings import Settings
from services.notifier import email as mail
from services.notifier.mailsink import MailSink
from services.notifier.main import serve
from services.notifier.nflog import Intent, NotificationLog
from services.notifier.pipeline import Pipeline
from services.notifier.subscriptions import parse_subscriptions

pytestmark = pytest.mark.integration

TOWN = "Борисоглебский городской округ"
OTHER = "Аннинский муниципальный район"

# group_wait is short but not zero: the three alerts published before the start may arrive in more
# than one pull batch, and they should still go out as one e-mail per group.
SUBSCRIPTIONS = """
routes:
  - name: cur
    matchers:
      severity: "=~critical|high"
    receivers:
      email: [ops@cur.example.org, duty@cur.example.org]
    group_by: [municipality]
    group_wait: 500ms
    group_interval: 1s
    repeat_interval: 1h
  - name: founder
    matchers:
      municipality: "=~Борисоглеб.*"
      rule: "!=STALE"
    receivers:
      email: [edu@borisoglebsk.example.org]
    group_by: [founder]
    group_wait: 500ms
    group_interval: 1s
    repeat_interval: 1h
"""


def labels(org_name: str, municipality: str = TOWN, **extra: str) -> c.AlertLabels:
    fields = {
        "org_id": "1023600000001",
        "org_name": org_name,
        "founder": "Отдел образования",
        "municipality": municipality,
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": "210000123",
        "page_url": "https://vk.com/club210000123",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    fields.update(extra)
    return c.AlertLabels(**fields)


def opened(vid: str, org_name: str, **kw: str) -> c.ViolationOpened:
    now = c.utcnow()
    return c.ViolationOpened.create(
        violation_id=vid,
        labels=labels(org_name, **kw),
        summary=f"Описание: {org_name}",
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


def outgoing(event: c.ViolationOpened | c.ViolationResolved) -> bus.Outgoing:
    subject = c.alert_subject(event.labels.severity, event.labels.rule)
    return bus.event_message(subject, event, event.violation_id, event.schema_id(), event.event_id)


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def parsed(content: bytes) -> EmailMessage:
    return email.message_from_bytes(content, policy=policy.default)  # type: ignore[return-value]


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def pending() -> float | None:
    return REGISTRY.get_sample_value("gospublic_notifier_groups_pending")


class Running:
    """``serve()`` as a task, stopped the way the CLI stops it."""

    def __init__(self, nats_url: str, settings: Settings):
        self.stop = asyncio.Event()
        args = argparse.Namespace(subscriptions=None)
        self.task = asyncio.create_task(serve(nats_url, settings, args, self.stop))

    async def close(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, 10)


@pytest.fixture
def sink(tmp_path: Path):
    with MailSink(tmp_path / "mail") as running:
        yield running


@pytest.fixture
def notifier_settings(tmp_path: Path, settings: Settings, sink: MailSink) -> Settings:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(SUBSCRIPTIONS, encoding="utf-8")
    return settings.model_copy(
        update={
            "subscriptions_file": path,
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "notifier_tick_s": 0.05,
            "smtp_retry_backoff_s": 0.05,
        }
    )


async def test_alerts_become_grouped_emails_once(nats_server, notifier_settings, sink) -> None:
    nc = await bus.connect(nats_server.url, notifier_settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, notifier_settings)
    hostile = '<script>alert("x")</script> Школа\r\nBcc: victim@example.org'
    school = opened("v1", "МБОУ СОШ №1")
    evil = opened("v2", hostile, rule="WALL_CLOSED")
    far = opened("v3", "Аннинская СОШ", municipality=OTHER, severity="critical", rule="STALE")
    await bus.publish_all(js, [outgoing(e) for e in (school, evil, far)])
    await js.publish("alerts.high.garbage", b"{not json")

    running = Running(nats_server.url, notifier_settings)
    try:
        # cur: 2 municipalities x 2 addresses; founder: 1 group x 1 address (STALE excluded).
        await wait_for(lambda: len(sink.messages) >= 5)
        await wait_for(lambda: pending() == 0)
        assert len(sink.messages) == 5
        by_rcpt: dict[str, list[EmailMessage]] = {}
        for received in sink.messages:
            assert len(received.rcpt_tos) == 1
            by_rcpt.setdefault(received.rcpt_tos[0], []).append(parsed(received.content))
        assert sorted(by_rcpt) == [
            "duty@cur.example.org",
            "edu@borisoglebsk.example.org",
            "ops@cur.example.org",
        ]
        subjects = sorted(m["Subject"] for m in by_rcpt["ops@cur.example.org"])
        assert subjects == [
            f"[GosPublic] {OTHER}: 1 нарушение (1 новое)",
            f"[GosPublic] {TOWN}: 2 нарушения (2 новых)",
        ]
        [founder] = by_rcpt["edu@borisoglebsk.example.org"]
        assert founder["Subject"] == "[GosPublic] Отдел образования: 2 нарушения (2 новых)"
        assert founder["Bcc"] is None and founder["To"] == "edu@borisoglebsk.example.org"
        body = html_of(founder)
        # Autoescaping (markupsafe) writes the quote as &#34;, the same character as &quot;.
        assert "<script>" not in body and "&lt;script&gt;alert(&#34;x&#34;)" in body
        assert "Стена закрыта" in body and "МБОУ СОШ №1" in body

        # The malformed message went to the dead letters with its reason.
        info = await js.stream_info(c.DEADLETTER_STREAM)
        assert info.state.messages == 1

        # A resolution: one resolved notice per receiver of the groups that held it.
        await bus.publish_all(js, [outgoing(resolved(school))])
        await wait_for(lambda: len(sink.messages) >= 8)
        notices = [parsed(r.content) for r in sink.messages[5:]]
        assert sorted(m["To"] for m in notices) == [
            "duty@cur.example.org",
            "edu@borisoglebsk.example.org",
            "ops@cur.example.org",
        ]
        for notice in notices:
            assert "(1 устранено)" in notice["Subject"]
            assert "Устранены: 1" in notice.get_body(("plain",)).get_content()
        await wait_for(lambda: pending() == 0)
        # Quiet afterwards: nothing changed, the repeat interval is an hour away.
        await asyncio.sleep(1.2)
        assert len(sink.messages) == 8
    finally:
        assert await running.close() == 0

    # A restart reloads the log from KV: nothing is sent twice...
    running = Running(nats_server.url, notifier_settings)
    try:
        await asyncio.sleep(1.2)
        assert len(sink.messages) == 8
        # ...and nothing is forgotten: resolving the rest still reaches everyone who was told.
        await bus.publish_all(js, [outgoing(resolved(evil)), outgoing(resolved(far))])
        # cur: two groups x two addresses; founder: one group x one address.
        await wait_for(lambda: len(sink.messages) >= 13)
        await wait_for(lambda: pending() == 0)
        assert len(sink.messages) == 13
        later = [parsed(r.content) for r in sink.messages[8:]]
        assert all("все нарушения устранены (1)" in m["Subject"] for m in later)
        assert sorted(m["To"] for m in later).count("ops@cur.example.org") == 2
        assert len({parsed(r.content)["Message-ID"] for r in sink.messages}) == 13
    finally:
        assert await running.close() == 0
        await nc.close()


async def test_missing_or_bad_subscriptions_exit_with_2(nats_server, settings, tmp_path) -> None:
    stop = asyncio.Event()
    assert await serve(nats_server.url, settings, argparse.Namespace(subscriptions=None), stop) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  - name: x\n    receivers: {email: [nope]}\n", encoding="utf-8")
    args = argparse.Namespace(subscriptions=bad)
    assert await serve(nats_server.url, settings, args, stop) == 2


# --- SMTP delivery against a real server with scripted replies ----------------------------


class Scripted:
    """Answers RCPT with the next scripted reply (then 250); records the accepted messages."""

    def __init__(self, replies: list[str]):
        self.replies = list(replies)
        self.accepted: list[bytes] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.replies:
            return self.replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.content)
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret-Pa55", handled=False)


def a_message() -> EmailMessage:
    p = Pipeline(
        parse_subscriptions(
            {"routes": [{"name": "r", "receivers": {"email": ["ops@x.org"]}, "group_wait": "0s"}]}
        )
    )
    p.ingest(opened("v1", "Школа"), c.utcnow())
    [n] = p.due(c.utcnow() + timedelta(seconds=1))
    return mail.render(n, Settings(_env_file=None), c.utcnow())


@pytest.fixture
def scripted(request):
    handler = Scripted(getattr(request, "param", []))
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def smtp_settings(port: int, **extra) -> Settings:
    return Settings(
        _env_file=None,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_retry_backoff_s=0.01,
        smtp_timeout_s=5,
        **extra,
    )


@pytest.mark.parametrize("scripted", [["451 4.3.0 try later", "421 4.7.0 busy"]], indirect=True)
async def test_temporary_failures_are_retried(scripted) -> None:
    handler, port = scripted
    result = await mail.send(smtp_settings(port), a_message())
    assert result.ok and result.attempts == 3
    assert len(handler.accepted) == 1


@pytest.mark.parametrize("scripted", [["550 5.1.1 no such user"]], indirect=True)
async def test_permanent_failure_gives_up_with_the_code(scripted, caplog) -> None:
    handler, port = scripted
    with caplog.at_level(logging.ERROR, logger="gospublic.notifier.email"):
        result = await mail.send(smtp_settings(port), a_message())
    assert not result.ok and result.attempts == 1 and result.code == 550
    assert handler.accepted == []
    assert any(getattr(r, "smtp_code", None) == 550 for r in caplog.records)


async def test_unreachable_server_gives_up_after_attempts() -> None:
    result = await mail.send(smtp_settings(free_port(), smtp_max_attempts=2), a_message())
    assert not result.ok and result.attempts == 2 and result.code is None


async def test_auth_without_leaking_the_password(scripted, caplog) -> None:
    handler, port = scripted
    good = smtp_settings(port, smtp_user="monitor", smtp_password="s3cret-Pa55")
    assert (await mail.send(good, a_message())).ok
    assert handler.logins == [("monitor", "s3cret-Pa55")]
    bad = smtp_settings(port, smtp_user="monitor", smtp_password="wrong-Pa55word")
    with caplog.at_level(logging.DEBUG):
        result = await mail.send(bad, a_message())
    assert not result.ok and result.code == 535
    assert "wrong-Pa55word" not in caplog.text and "wrong-Pa55word" not in result.error


async def test_an_email_sent_but_not_recorded_is_sent_again_as_it_was(
    nats_server, notifier_settings, sink
) -> None:
    """The state a kill -9 between the server's 250 and the record leaves: the intent, no entry."""
    nc = await bus.connect(nats_server.url, notifier_settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, notifier_settings)
    school = opened("v1", "МБОУ СОШ №1")
    await bus.publish_all(js, [outgoing(school)])
    running = Running(nats_server.url, notifier_settings)
    try:
        # cur: two addresses; founder: one.
        await wait_for(lambda: len(sink.messages) >= 3)
        await wait_for(lambda: pending() == 0)
    finally:
        assert await running.close() == 0

    store = await NotificationLog.open(js)
    _, entries, intents = await store.load_state()
    assert intents == {}
    [key] = [k for k in entries if k[0] == "cur" and "ops@cur.example.org" in k[1]]
    [first] = [r for r in sink.messages if list(r.rcpt_tos) == ["ops@cur.example.org"]]
    first_id = parsed(first.content)["Message-ID"]
    intent = Intent(first_id, first.content, entries[key].firing, entries[key].resolved)
    await store.begin(key, None, intent)
    # Meanwhile another alert joined the group: it alone is new in the next message.
    newcomer = opened("v4", "МБОУ СОШ №4")
    await bus.publish_all(js, [outgoing(newcomer)])

    running = Running(nats_server.url, notifier_settings)
    try:
        await wait_for(lambda: len(sink.messages) >= 7)
        await wait_for(lambda: pending() == 0)
        await asyncio.sleep(1.2)
        later = [parsed(r.content) for r in sink.messages[3:]]
        assert len(later) == 4
    finally:
        assert await running.close() == 0
        await nc.close()
    to_ops = [m for m in later if m["To"] == "ops@cur.example.org"]
    assert to_ops[0]["Message-ID"] == first_id
    assert to_ops[0]["Subject"] == f"[GosPublic] {TOWN}: 1 нарушение (1 новое)"
    assert to_ops[1]["Message-ID"] != first_id
    assert to_ops[1]["Subject"] == f"[GosPublic] {TOWN}: 2 нарушения (1 новое)"
    assert sorted(m["Subject"] for m in later if m["To"] != "ops@cur.example.org") == [
        f"[GosPublic] {TOWN}: 2 нарушения (1 новое)",
        "[GosPublic] Отдел образования: 2 нарушения (1 новое)",
    ]
    _, entries, intents = await _reload(nats_server.url, notifier_settings)
    assert intents == {} and entries[key].firing == frozenset({"v1", "v4"})


async def _reload(url: str, settings: Settings):
    nc = await bus.connect(url, settings, "test-reload")
    try:
        return await (await NotificationLog.open(nc.jetstream())).load_state()
    finally:
        await nc.close()
