"""``bus.Consumer``'s hand-over and status handling, and ``bus.reply``, on a fake connection.

The fake records the pull requests the consumer publishes and lets a test deliver messages and
statuses to the consumer's inbox callback, as the server would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.api import ConsumerConfig

from gospublic import bus
from gospublic.bus import consume

API = "$JS.API.CONSUMER.MSG.NEXT.S.d"


class FakeConnection:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, str]] = []
        self.callback = None
        self.subscribed = ""
        self.unsubscribed = False
        self.refuse_publish = False

    def new_inbox(self) -> str:
        return "_INBOX.t"

    async def subscribe(self, subject: str, cb, **_: object) -> FakeConnection:
        self.subscribed, self.callback = subject, cb
        return self

    async def unsubscribe(self) -> None:
        self.unsubscribed = True

    async def publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        if self.refuse_publish:
            raise ConnectionClosedError
        self.requests.append((subject, json.loads(payload), reply))

    @property
    def reply_to(self) -> str:
        """The reply subject of the latest request."""
        return self.requests[-1][2]

    async def message(self, n: int) -> None:
        await self.callback(Msg(None, subject=f"s.{n}", reply=f"$JS.ACK.{n}", data=b"%d" % n))

    async def status(self, status: str, reply: str | None = None, description: str = "") -> None:
        headers = {"Status": status, "Description": description}
        await self.callback(Msg(None, subject=reply or self.reply_to, data=b"", headers=headers))


class Handler:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, messages: list[Msg]) -> None:
        self.calls.append([m.subject for m in messages])
        await self.release.wait()

    @property
    def subjects(self) -> list[str]:
        return [s for call in self.calls for s in call]


async def until(condition, what: str, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.001)


async def started(
    batch: int = 10, expires_s: float = 1.0
) -> tuple[FakeConnection, Handler, bus.Consumer]:
    nc, handler = FakeConnection(), Handler()
    consumer = bus.Consumer(
        nc, None, stream="S", config=ConsumerConfig(durable_name="d"), handle=handler,
        batch=batch, expires_s=expires_s, create=False,
    )  # fmt: skip
    await consumer.start()
    await until(lambda: len(nc.requests) == 1, "the first request")
    return nc, handler, consumer


async def test_a_request_asks_for_a_batch_with_an_expiry_on_a_reply_subject_of_its_own() -> None:
    nc, _, consumer = await started(batch=7, expires_s=0.5)
    subject, request, reply_to = nc.requests[0]
    assert subject == API and nc.subscribed == "_INBOX.t.*"
    assert request["batch"] == 7 and request["expires"] == 500_000_000
    assert reply_to.startswith("_INBOX.t.")
    await nc.status("408")
    await until(lambda: len(nc.requests) == 2, "the next request")
    assert nc.reply_to != reply_to
    await nc.status("408")
    await consumer.stop()


async def test_a_message_is_handed_over_as_it_arrives_not_when_the_batch_fills() -> None:
    nc, handler, consumer = await started(batch=1000)
    await nc.message(1)
    await until(lambda: handler.subjects == ["s.1"], "the first message handed over")
    await nc.message(2)
    await until(lambda: handler.subjects == ["s.1", "s.2"], "the second one")
    assert len(nc.requests) == 1  # the request is still open: no second one
    await nc.status("408")
    await until(lambda: len(nc.requests) == 2, "the next request")
    await nc.status("408")
    await consumer.stop()


async def test_the_next_request_waits_until_the_batch_is_handled() -> None:
    nc, handler, consumer = await started(batch=2)
    handler.release.clear()
    await nc.message(1)
    await nc.message(2)  # the batch is full: the request has ended
    await until(lambda: handler.calls, "the hand-over")
    await asyncio.sleep(0.05)
    assert len(nc.requests) == 1  # handle() has not returned
    handler.release.set()
    await until(lambda: len(nc.requests) == 2, "the next request")
    await nc.status("408")
    await consumer.stop()


@pytest.mark.parametrize("status", ["404", "408", "409"])
async def test_the_statuses_that_end_a_request_quietly(status, caplog) -> None:
    nc, handler, consumer = await started()
    await nc.message(1)
    await nc.status(status, description="Batch Completed")
    await until(lambda: len(nc.requests) == 2, "a new request")
    assert handler.subjects == ["s.1"]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    await nc.status("408")
    await consumer.stop()


async def test_a_heartbeat_and_the_late_end_of_a_request_given_up_on_change_nothing() -> None:
    nc, _, consumer = await started()
    first = nc.reply_to
    await nc.status("100")
    await nc.status("408")
    await until(lambda: len(nc.requests) == 2, "the second request")
    await nc.status("408", reply=first)  # again, for the first request: not the second's end
    await asyncio.sleep(0.05)
    assert len(nc.requests) == 2
    await nc.status("408")
    await consumer.stop()


async def test_a_refused_request_is_logged_and_asked_again_after_a_pause(caplog) -> None:
    nc, _, consumer = await started()
    loop = asyncio.get_running_loop()
    refused_at = loop.time()
    await nc.status("400", description="Bad Request")
    await until(lambda: len(nc.requests) == 2, "the request asked again")
    assert loop.time() - refused_at >= consume._RETRY_AFTER_ERROR_S * 0.9
    [warning] = [r for r in caplog.records if r.getMessage() == "pull request refused"]
    assert (warning.status, warning.description) == ("400", "Bad Request")
    await nc.status("408")
    await consumer.stop()


async def test_a_request_whose_end_was_lost_is_asked_again(monkeypatch) -> None:
    monkeypatch.setattr(consume, "_LOST_AFTER_S", 0.1)
    nc, _, consumer = await started(expires_s=0.1)
    await until(lambda: len(nc.requests) == 2, "the request asked again", timeout=1.0)
    await nc.status("408")
    await consumer.stop()


async def test_a_request_that_cannot_be_sent_is_tried_again(monkeypatch) -> None:
    monkeypatch.setattr(consume, "_RETRY_AFTER_ERROR_S", 0.01)
    nc, _, consumer = await started()
    nc.refuse_publish = True
    await nc.status("408")
    await asyncio.sleep(0.1)
    assert consumer.running
    nc.refuse_publish = False
    await until(lambda: len(nc.requests) == 2, "the request sent once the connection is back")
    await nc.status("408")
    await consumer.stop()


async def test_stop_sends_no_more_requests_and_hands_over_what_arrived() -> None:
    nc, handler, consumer = await started()
    handler.release.clear()
    await nc.message(1)
    await until(lambda: handler.calls, "the first hand-over")
    await nc.message(2)  # arrives while handle() still has the first
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # the outstanding request has not ended
    await nc.message(3)
    await nc.status("408")
    handler.release.set()
    await asyncio.wait_for(stopping, 2)
    assert handler.subjects == ["s.1", "s.2", "s.3"]
    assert len(nc.requests) == 1 and nc.unsubscribed and not consumer.running


async def test_a_handler_that_raises_is_logged_and_the_consumer_goes_on(caplog) -> None:
    nc, _, consumer = await started()

    async def failing(messages) -> None:
        raise RuntimeError("boom")

    consumer.handle = failing
    await nc.message(1)
    await nc.status("408")
    await until(lambda: len(nc.requests) == 2, "the next request")
    assert consumer.running
    assert "handler failed" in caplog.text
    await nc.status("408")
    await consumer.stop()


class FakeMsg:
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.sent: list[tuple[str, object]] = []

    async def _send(self, what: str, detail: object = None) -> None:
        if self.outcome == "hangs":
            await asyncio.sleep(3600)
        if self.outcome == "closed":
            raise ConnectionClosedError
        self.sent.append((what, detail))

    def ack(self):
        return self._send("ack")

    def ack_sync(self, timeout: float):
        return self._send("ack_sync", timeout)

    def nak(self, delay=None):
        return self._send("nak", delay)

    def in_progress(self):
        return self._send("in_progress")

    def term(self):
        return self._send("term")


async def test_reply_sends_each_kind_and_passes_the_nak_delay() -> None:
    msg = FakeMsg("ok")
    for how in ("ack", "in_progress", "term"):
        assert await bus.reply(msg, how) is True
    assert await bus.reply(msg, "nak", delay=3.0) is True
    assert await bus.reply(msg, "ack_sync", timeout_s=1.5) is True
    assert msg.sent == [
        ("ack", None), ("in_progress", None), ("term", None), ("nak", 3.0), ("ack_sync", 1.5),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="delay"):
        await bus.reply(msg, "ack", delay=1.0)


@pytest.mark.parametrize("outcome", ["hangs", "closed"])
async def test_reply_on_a_dead_connection_returns_false_in_time(outcome, caplog) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await bus.reply(FakeMsg(outcome), "nak", timeout_s=0.1) is False
    assert loop.time() - began < 1.0
    assert "could not reply to JetStream" in caplog.text


def test_another_nats_py_release_is_refused_at_import() -> None:
    code = "import nats.aio.client as client; client.__version__ = '9.9.9'\nimport gospublic.bus\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "UnverifiedNatsClient: nats-py 9.9.9 is not a release" in result.stderr
    assert "nats-io/nats.py/issues/624" in result.stderr


async def test_reply_all_answers_every_message_under_one_deadline(caplog) -> None:
    messages = [FakeMsg("ok") for _ in range(3)]
    assert await bus.reply_all(messages, "ack") is True
    assert [m.sent for m in messages] == [[("ack", None)]] * 3
    stuck = [FakeMsg("ok"), FakeMsg("hangs"), FakeMsg("ok")]
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await bus.reply_all(stuck, "ack", timeout_s=0.1) is False
    assert loop.time() - began < 1.0
    assert stuck[0].sent and not stuck[2].sent  # the rest come back after ack_wait
    assert caplog.text.count("could not reply to JetStream") == 1
