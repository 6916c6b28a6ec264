"""The notifier's Puller: every message of a durable pull consumer once, in batches, promptly."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from gospublic import bus
from services.notifier.pull import Puller, PullError

pytestmark = pytest.mark.integration

STREAM, DURABLE = "PULLTEST", "pull-test"


async def consumer(nats_server, settings):
    nc = await bus.connect(nats_server.url, settings, "test")
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=["pulltest.>"]))
    await js.pull_subscribe(
        "pulltest.>",
        durable=DURABLE,
        stream=STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
    )
    return nc, js


async def test_a_backlog_comes_in_full_batches_then_the_rest_at_once(nats_server, settings):
    nc, js = await consumer(nats_server, settings)
    try:
        for n in range(450):
            await js.publish("pulltest.a", str(n).encode())
        puller = await Puller(nc, STREAM, DURABLE).start()
        sizes, seen = [], []
        for _ in range(3):
            started = time.monotonic()
            batch = await puller.fetch(200, timeout=5.0)
            # What is waiting comes at once, even a batch that is not full.
            assert time.monotonic() - started < 2.0
            sizes.append(len(batch))
            seen += [int(m.data) for m in batch]
            for m in batch:
                await m.ack()
        assert sizes == [200, 200, 50]
        assert seen == list(range(450))
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await puller.fetch(200, timeout=0.3)
        assert 0.25 < time.monotonic() - started < 2.0
    finally:
        await nc.close()


async def test_a_message_published_while_waiting_is_fetched(nats_server, settings):
    nc, js = await consumer(nats_server, settings)
    try:
        puller = await Puller(nc, STREAM, DURABLE).start()

        async def publish_later() -> None:
            await asyncio.sleep(0.2)
            await js.publish("pulltest.a", b"late")

        task = asyncio.create_task(publish_later())
        batch = await puller.fetch(200, timeout=1.0)
        await task
        assert [m.data for m in batch] == [b"late"]
        await batch[0].ack()
        # Unacked, a message comes back after the ack wait; acked, it does not.
        with pytest.raises(TimeoutError):
            await puller.fetch(200, timeout=0.3)
    finally:
        await nc.close()


async def test_the_first_message_of_a_quiet_stream_is_returned_at_once(nats_server, settings):
    # A lingering request for a whole batch held the first alert until the batch filled or the
    # fetch timed out; the notifier's alert latency tripled.
    nc, js = await consumer(nats_server, settings)
    try:
        puller = await Puller(nc, STREAM, DURABLE).start()
        published_at: list[float] = []

        async def publish_later() -> None:
            await asyncio.sleep(0.3)
            published_at.append(time.monotonic())
            await js.publish("pulltest.a", b"first")

        task = asyncio.create_task(publish_later())
        batch = await puller.fetch(200, timeout=5.0)
        returned_at = time.monotonic()
        await task
        assert [m.data for m in batch] == [b"first"]
        assert returned_at - published_at[0] < 1.0
        await batch[0].ack()
        # What comes next is not lost: the next fetch takes it as a batch.
        for n in range(3):
            await js.publish("pulltest.a", str(n).encode())
        batch = await puller.fetch(200, timeout=5.0)
        assert [m.data for m in batch] == [b"0", b"1", b"2"]
    finally:
        await nc.close()


async def test_a_message_for_a_request_given_up_on_comes_with_the_next_fetch(nats_server, settings):
    nc, js = await consumer(nats_server, settings)
    try:
        puller = await Puller(nc, STREAM, DURABLE).start()
        # A request no fetch waits for any more (one that outlived its fetch's timeout).
        request = json.dumps({"batch": 5, "expires": 5_000_000_000}).encode()
        await nc.publish(puller._api, request, reply=puller._inbox + ".given-up")
        await js.publish("pulltest.a", b"kept")
        await wait_until(lambda: puller._messages)
        started = time.monotonic()
        batch = await puller.fetch(200, timeout=5.0)
        assert [m.data for m in batch] == [b"kept"]
        assert time.monotonic() - started < 1.0
    finally:
        await nc.close()


async def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_missing_consumer_is_an_error_not_a_timeout(nats_server, settings):
    nc, js = await consumer(nats_server, settings)
    try:
        await js.delete_consumer(STREAM, DURABLE)
        puller = await Puller(nc, STREAM, DURABLE).start()
        with pytest.raises(PullError, match="503"):
            await puller.fetch(200, timeout=2.0)
    finally:
        await nc.close()
