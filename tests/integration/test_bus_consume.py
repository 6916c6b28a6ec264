"""``bus.Consumer`` and ``bus.scan_kv`` on a real nats-server: prompt hand-over, statuses that end
a request, a stop that loses nothing, a server restart, and a bucket read once per live key."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, KeyValueConfig, StreamConfig

from gospublic import bus
from gospublic.runtime import EmbeddedNats
from gospublic.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

STREAM, DURABLE = "CONSUME", "consume-test"
NEXT = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DURABLE}"


@pytest.fixture
async def nc(nats_server: EmbeddedNats, settings: Settings):
    connection = await bus.connect(nats_server.url, settings, "test")
    await connection.jetstream().add_stream(StreamConfig(name=STREAM, subjects=["consume.>"]))
    yield connection
    await connection.close()


def config(**extra) -> ConsumerConfig:
    return ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, **extra)


class Recorder:
    """A handler that acks and records what it was handed, and when."""

    def __init__(self) -> None:
        self.handed: list[tuple[float, list[bytes]]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, messages: list[Msg]) -> None:
        self.handed.append((time.monotonic(), [m.data for m in messages]))
        await self.release.wait()
        for m in messages:
            await bus.reply(m, "ack")

    @property
    def data(self) -> list[bytes]:
        return [d for _, batch in self.handed for d in batch]


def statuses_of(consumer: bus.Consumer) -> list[str]:
    """Record the statuses reaching the consumer's inbox (wraps its callback before start)."""
    seen: list[str] = []
    on_message = consumer._on_message

    async def recording(msg: Msg) -> None:
        if msg.headers and not msg.data and "Status" in msg.headers:
            seen.append(msg.headers["Status"])
        await on_message(msg)

    consumer._on_message = recording
    return seen


async def requests_seen(nc: Client) -> list[float]:
    """When each pull request to the test's consumer went out (a copy of every request)."""
    times: list[float] = []

    async def seen(msg: Msg) -> None:
        times.append(time.monotonic())

    await nc.subscribe(NEXT, cb=seen)
    await nc.flush()
    return times


async def until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.005)


async def test_a_trickled_message_is_handed_over_at_once_while_a_big_request_is_open(nc) -> None:
    js = nc.jetstream()
    handler = Recorder()
    requests = await requests_seen(nc)
    consumer = bus.Consumer(
        nc, js, stream=STREAM, config=config(), handle=handler, batch=1000, expires_s=5.0
    )
    await consumer.start()
    try:
        await until(lambda: requests, "the first request")
        await asyncio.sleep(0.2)
        delays = []
        for n in range(5):
            sent = time.monotonic()
            await js.publish("consume.a", b"%d" % n)
            await until(lambda n=n: len(handler.data) == n + 1, "the message handed over", 2)
            delays.append(handler.handed[-1][0] - sent)
            await asyncio.sleep(0.05)
        assert max(delays) < 0.05, delays
        assert len(requests) == 1  # all of them came on the one open request
    finally:
        await consumer.stop()
    assert handler.data == [b"%d" % n for n in range(5)]
    assert await bus.consumer_pending(js, STREAM, DURABLE) == (0, 0)


async def test_a_backlog_is_handed_over_in_batches_of_at_most_the_request(nc) -> None:
    js = nc.jetstream()
    await bus.publish_all(js, [bus.Outgoing("consume.b", b"%d" % n, f"b-{n}") for n in range(2500)])
    handler = Recorder()
    consumer = bus.Consumer(
        nc, js, stream=STREAM, config=config(max_ack_pending=5000), handle=handler, batch=1000
    )
    await consumer.start()
    try:
        await until(lambda: len(handler.data) == 2500, "the backlog handed over")
    finally:
        await consumer.stop()
    assert handler.data == [b"%d" % n for n in range(2500)]  # in order, each once
    assert all(len(batch) <= 1000 for _, batch in handler.handed)
    assert await bus.consumer_pending(js, STREAM, DURABLE) == (0, 0)


async def test_stop_lets_the_open_request_end_and_hands_over_what_arrived(nc) -> None:
    js = nc.jetstream()
    handler = Recorder()
    consumer = bus.Consumer(
        nc, js, stream=STREAM, config=config(), handle=handler, batch=1000, expires_s=1.0
    )
    await consumer.start()
    handler.release.clear()  # the handler is busy with the first message
    await js.publish("consume.c", b"first")
    await until(lambda: handler.handed, "the first hand-over")
    for n in range(20):
        await js.publish("consume.c", b"%d" % n)
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.1)
    handler.release.set()
    await asyncio.wait_for(stopping, 5)
    assert handler.data == [b"first"] + [b"%d" % n for n in range(20)]
    assert not consumer.running
    assert await bus.consumer_pending(js, STREAM, DURABLE) == (0, 0)


async def test_an_expired_request_is_followed_by_a_new_one(nc) -> None:
    js = nc.jetstream()
    handler = Recorder()
    requests = await requests_seen(nc)
    consumer = bus.Consumer(
        nc, js, stream=STREAM, config=config(), handle=handler, batch=100, expires_s=0.2
    )
    statuses = statuses_of(consumer)
    await consumer.start()
    try:
        await asyncio.sleep(1.1)
        assert statuses.count("408") >= 3
        assert len(requests) >= 4
        await js.publish("consume.d", b"after")
        await until(lambda: handler.data == [b"after"], "a message after the expiries")
    finally:
        await consumer.stop()


async def test_a_conflict_ends_a_request_and_consuming_resumes_on_a_new_durable(nc, caplog) -> None:
    """Deleting the durable ends its open request with 409; requests to no consumer are refused
    (503, logged) and asked again after a pause; once the durable is back, messages flow."""
    js = nc.jetstream()
    handler = Recorder()
    consumer = bus.Consumer(
        nc, js, stream=STREAM, config=config(), handle=handler, batch=10, expires_s=3.0
    )
    statuses = statuses_of(consumer)
    await consumer.start()
    try:
        await js.publish("consume.e", b"before")
        await until(lambda: handler.data == [b"before"], "the first message")
        await js.delete_consumer(STREAM, DURABLE)
        await until(lambda: "409" in statuses, "the open request ended by a conflict")
        await until(lambda: "503" in statuses, "a request to no consumer refused")
        assert "pull request refused" in caplog.text
        await bus.ensure_pull_consumer(js, STREAM, config())
        await js.publish("consume.e", b"after")  # the new durable delivers from the start
        await until(lambda: b"after" in handler.data, "consuming resumed", 10)
    finally:
        await consumer.stop()


async def test_consuming_resumes_after_a_server_restart(
    nats_server: EmbeddedNats, settings: Settings
) -> None:
    """The open request dies with the server; its end never comes, so it is asked again."""
    nc = await bus.connect(nats_server.url, settings, "test")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["consume.>"]))
    handler = Recorder()
    consumer = bus.Consumer(
        nc, js, stream=STREAM, config=config(), handle=handler, batch=100, expires_s=1.0
    )
    await consumer.start()
    try:
        await js.publish("consume.f", b"before")
        await until(lambda: handler.data == [b"before"], "the first message")
        nats_server.stop()
        await asyncio.sleep(0.5)
        nats_server.start()
        await until(lambda: nc.is_connected, "the reconnection", 20)
        await js.publish("consume.f", b"after")
        await until(lambda: handler.data == [b"before", b"after"], "consuming resumed", 15)
    finally:
        await consumer.stop()
        await nc.close()


async def test_scan_kv_reads_every_live_key_once_and_leaves_deleted_ones_out(nc) -> None:
    js = nc.jetstream()
    kv = await js.create_key_value(KeyValueConfig(bucket="scan", history=5))
    for n in range(2500):  # more than one request's worth
        await kv.put(f"log.{n}", b"v1")
    await kv.put("log.7", b"v2")  # the last value counts
    await kv.delete("log.8")
    await kv.purge("log.9")
    await kv.put("other.1", b"elsewhere")
    began = time.monotonic()
    found = await bus.scan_kv(js, "scan", "log.")
    took = time.monotonic() - began
    keys = [key for key, _ in found]
    assert len(keys) == len(set(keys)) == 2498
    assert set(keys) == {f"log.{n}" for n in range(2500)} - {"log.8", "log.9"}
    assert dict(found)["log.7"] == b"v2" and dict(found)["log.6"] == b"v1"
    assert sorted(await bus.scan_kv(js, "scan", "other.")) == [("other.1", b"elsewhere")]
    assert await bus.scan_kv(js, "scan", "none.") == []
    assert took < 3.0  # no request left to run out its expiry
    assert [c.name for c in await js.consumers_info("KV_scan")] == []  # no consumer left behind
