"""``bus.publish_all``: the server's reason for a refusal, duplicates, calls that overlap."""

from __future__ import annotations

import asyncio
import dataclasses
from urllib.parse import urlsplit

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, StreamConfig

from gospublic import bus
from gospublic.runtime import EmbeddedNats
from gospublic.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_server: EmbeddedNats, settings: Settings):
    connection = await bus.connect(nats_server.url, settings, "test")
    yield connection
    await connection.close()


def batch(prefix: str, n: int) -> list[bus.Outgoing]:
    return [bus.Outgoing(f"t.{i}", b"x" * 100, f"{prefix}-{i}") for i in range(n)]


async def test_a_refused_publish_raises_the_servers_reason_at_once(nc: Client) -> None:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(name="T", subjects=["t.>"], max_msgs=2, discard=DiscardPolicy.NEW)
    )
    # Bounded well below the publisher's 30 s: a refusal must not look like a lost ack.
    with pytest.raises(bus.PublishError, match=r"nowhere\.x: no stream captures"):
        await asyncio.wait_for(bus.publish_all(js, [bus.Outgoing("nowhere.x", b"a", "")]), 5)
    with pytest.raises(bus.PublishError, match=r"2 of 4 .* maximum messages exceeded"):
        await asyncio.wait_for(bus.publish_all(js, batch("full", 4)), 5)
    # The same connection goes on publishing after a refusal.
    await js.purge_stream("T")
    assert await bus.publish_all(js, batch("after", 2)) == 2


async def test_duplicates_are_not_new_and_calls_may_overlap(nc: Client) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="T", subjects=["t.>"]))
    assert await bus.publish_all(js, batch("a", 500)) == 500
    assert await bus.publish_all(js, batch("a", 502)) == 2  # same ids: 500 duplicates
    assert await bus.publish_all(js, []) == 0
    # Overlapping calls share the connection's publisher; each counts its own acks.
    counts = await asyncio.gather(
        bus.publish_all(js, batch("b", 300)),
        bus.publish_all(js, batch("a", 10) + batch("c", 20)),
    )
    assert counts == [300, 20]
    assert (await js.stream_info("T")).state.messages == 822
    publisher = bus.connection_publisher(nc)
    assert publisher is bus.connection_publisher(nc) and publisher._waiting == {}


async def test_a_pull_consumer_is_created_once_and_an_existing_one_is_left_as_it_is(
    nc: Client,
) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="C", subjects=["c.>"]))
    first = ConsumerConfig(
        name="d", durable_name="d", filter_subject="c.>", ack_policy=AckPolicy.EXPLICIT,
        ack_wait=60,
    )  # fmt: skip
    await bus.ensure_pull_consumer(js, "C", first)
    await bus.publish_all(js, [bus.Outgoing(f"c.{i}", b"x", f"c-{i}") for i in range(3)])
    sub = await js.pull_subscribe_bind("d", stream="C")
    (msg,) = await sub.fetch(1, timeout=5)
    await msg.ack_sync()  # a plain ack may still be queued in the server when consumer_info answers
    changed = dataclasses.replace(first, ack_wait=120)
    await bus.ensure_pull_consumer(js, "C", changed)
    info = await js.consumer_info("C", "d")
    assert info.config.ack_wait == 60  # not updated
    assert info.num_pending == 2 and info.ack_floor.stream_seq == 1  # its progress kept
    assert [x.name for x in await js.consumers_info("C")] == ["d"]


async def slow_replies(target_port: int, delay_s: float) -> tuple[asyncio.Server, str]:
    """A TCP proxy to the nats-server that hands each of the server's writes on ``delay_s`` late."""

    async def pipe(reader, writer, delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            pipe(client_reader, server_writer, 0.0), pipe(server_reader, client_writer, delay_s)
        )

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    return proxy, f"nats://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"


async def test_a_connection_keeps_reading_after_a_flush_timed_out(
    nats_server: EmbeddedNats, settings: Settings
) -> None:
    """nats-py alone ends the read loop when the PONG of a flush that timed out arrives."""
    js_port = urlsplit(nats_server.url).port
    proxy, url = await slow_replies(js_port, delay_s=0.3)
    nc = await bus.connect(url, settings, "test")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="P", subjects=["p.>"]))
        with pytest.raises(nats.errors.FlushTimeoutError):
            await nc.flush(timeout=0.05)  # its PONG comes 0.3 s late
        await asyncio.sleep(0.5)  # and arrives
        messages = [bus.Outgoing(f"p.{i}", b"x", f"p-{i}") for i in range(10)]
        assert await asyncio.wait_for(bus.publish_all(js, messages), 5) == 10
        await nc.flush(timeout=5)
    finally:
        await nc.close()
        proxy.close()
