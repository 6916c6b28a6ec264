"""E-mail over kept SMTP connections, against a real aiosmtpd server that misbehaves on purpose.

A burst shares connections; a server that closes a connection between messages, or refuses a
message with 421 and hangs up, still ends up with every message exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from gospublic import contracts as c
from gospublic.runtime import free_port
from gospublic.settings import Settings
from services.notifier import email as mail
from services.notifier.pipeline import Pipeline
from services.notifier.subscriptions import parse_subscriptions


class Dropping:
    """Accepts every message; once ``hang_up_after`` were accepted on one connection it drops that
    connection at the next MAIL, without a reply; every ``refuse_every``-th message overall it
    refuses with 421 and closes, without keeping the message."""

    def __init__(self, hang_up_after: int = 0, refuse_every: int = 0):
        self.hang_up_after = hang_up_after
        self.refuse_every = refuse_every
        self.accepted: list[bytes] = []
        self.connections: set[tuple] = set()
        self.per_connection: dict[tuple, int] = {}
        self.seen = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.hang_up_after and self.per_connection.get(session.peer, 0) >= self.hang_up_after:
            server.transport.close()
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        self.connections.add(session.peer)
        if self.refuse_every and self.seen % self.refuse_every == 0:
            asyncio.get_running_loop().call_later(0.01, server.transport.close)
            return "421 Too busy, closing"
        self.accepted.append(envelope.content)
        count = self.per_connection.get(session.peer, 0) + 1
        self.per_connection[session.peer] = count
        return "250 Message accepted"


@pytest.fixture
def server(request):
    handler = Dropping(**getattr(request, "param", {}))
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def messages(count: int) -> list[EmailMessage]:
    route = {"name": "r", "receivers": {"email": ["ops@x.org"]}, "group_by": ["..."]}
    routes = {"routes": [{**route, "group_wait": "0s"}]}
    pipeline = Pipeline(parse_subscriptions(routes))
    now = c.utcnow()
    for n in range(count):
        labels = c.AlertLabels(
            org_id=f"1023600{n:06d}",
            org_name=f"Школа № {n}",
            founder="Отдел образования",
            municipality=f"Округ {n}",
            sphere="education",
            level="municipal",
            platform="vk",
            page_id=str(n),
            page_url=f"https://vk.com/club{n}",
            rule="DESCRIPTION_MISSING",
            severity="high",
        )
        event = c.ViolationOpened.create(
            violation_id=f"v{n}", labels=labels, summary="Нет описания", observed_at=now,
            opened_at=now,
        )  # fmt: skip
        pipeline.ingest(event, now)
    notes = pipeline.due(now + timedelta(seconds=1))
    return [mail.render(note, Settings(_env_file=None), now) for note in notes]


def settings(port: int) -> Settings:
    return Settings(
        _env_file=None,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_s=5,
        smtp_retry_backoff_s=0.01,
    )


def ids(contents: list[bytes]) -> list[str]:
    from email import message_from_bytes, policy

    return sorted(str(message_from_bytes(b, policy=policy.default)["Message-ID"]) for b in contents)


async def burst(port: int, batch: list[EmailMessage], concurrency: int) -> list[mail.SendResult]:
    connections = mail.Connections(settings(port))
    slots = asyncio.Semaphore(concurrency)

    async def one(message: EmailMessage) -> mail.SendResult:
        async with slots:
            return await mail.send(
                settings(port), message, data=message.as_bytes(), connections=connections
            )

    try:
        return await asyncio.gather(*(one(m) for m in batch))
    finally:
        await asyncio.to_thread(connections.close)


async def test_a_burst_shares_connections(server) -> None:
    handler, port = server
    batch = messages(40)
    results = await burst(port, batch, concurrency=4)
    assert all(r.ok and r.attempts == 1 for r in results)
    assert ids(handler.accepted) == sorted(str(m["Message-ID"]) for m in batch)
    assert len(handler.connections) <= 4


@pytest.mark.parametrize("server", [{"hang_up_after": 3}], indirect=True)
async def test_a_connection_closed_between_messages_loses_and_doubles_nothing(server) -> None:
    handler, port = server
    batch = messages(30)
    results = await burst(port, batch, concurrency=2)
    assert all(r.ok for r in results)
    # Each message exactly once: the one that found its connection closed went on a new one.
    assert ids(handler.accepted) == sorted(str(m["Message-ID"]) for m in batch)
    assert len(handler.connections) >= 10  # never more than three on one


@pytest.mark.parametrize("server", [{"refuse_every": 4}], indirect=True)
async def test_a_message_refused_mid_burst_is_sent_again_once(server) -> None:
    handler, port = server
    batch = messages(20)
    results = await burst(port, batch, concurrency=3)
    assert all(r.ok for r in results)
    assert any(r.attempts > 1 for r in results)
    assert ids(handler.accepted) == sorted(str(m["Message-ID"]) for m in batch)


async def test_the_flattened_message_goes_out_as_send_message_sends_it(server) -> None:
    handler, port = server
    [message] = messages(1)
    data = message.as_bytes()  # as the notifier keeps it in the intent; fixes the boundary
    await asyncio.to_thread(mail.send_now, settings(port), message)
    await asyncio.to_thread(mail.send_now, settings(port), message, data)
    first, second = handler.accepted
    assert first == second


async def test_an_idle_connection_past_its_time_is_not_reused(server) -> None:
    handler, port = server
    connections = mail.Connections(settings(port), idle_s=0.0)
    for message in messages(3):
        await asyncio.to_thread(connections.send, message, message.as_bytes())
        await asyncio.sleep(0.01)
    connections.close()
    assert len(handler.accepted) == 3 and len(handler.connections) == 3
