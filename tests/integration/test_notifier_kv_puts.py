"""The notification log's pipelined puts: all stored before they return, or an error."""

from __future__ import annotations

import pytest
from nats.js.api import KeyValueConfig

from gospublic import bus
from gospublic import contracts as c
from services.notifier.nflog import NotificationLog

pytestmark = pytest.mark.integration


async def test_a_batch_of_puts_is_stored_before_it_returns(nats_server, settings) -> None:
    nc = await bus.connect(nats_server.url, settings, "test")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        store = await NotificationLog.open(js)
        first = [(f"test.{n}", f"value {n}".encode()) for n in range(500)]
        await store._put_all(first)
        # A second batch on the same reply subscription; the same keys get new values.
        await store._put_all([(key, value + b" again") for key, value in first[:10]])
        await store._put_all([])
        kv = await js.key_value(c.NOTIFICATION_LOG_BUCKET)
        for n in (0, 9, 10, 499):
            entry = await kv.get(f"test.{n}")
            assert entry.value == f"value {n}".encode() + (b" again" if n < 10 else b"")
        assert store._puts._waiting == {}
    finally:
        await nc.close()


async def test_a_put_nothing_stores_raises(nats_server, settings) -> None:
    nc = await bus.connect(nats_server.url, settings, "test")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        kv = await js.key_value(c.NOTIFICATION_LOG_BUCKET)
        # No stream listens on this bucket's subjects: the server answers "no responders".
        missing = NotificationLog(kv, js, bucket="no-such-bucket")
        with pytest.raises(bus.PublishError, match="503"):
            await missing._put_all([("a", b"1"), ("b", b"2")])
        assert missing._puts._waiting == {}
        # The error of one batch does not spoil the next on the same connection.
        store = await NotificationLog.open(js)
        await store._put_all([("test.after", b"ok")])
        assert (await kv.get("test.after")).value == b"ok"
    finally:
        await nc.close()


async def test_a_put_the_server_refuses_raises(nats_server, settings) -> None:
    nc = await bus.connect(nats_server.url, settings, "test")
    try:
        js = nc.jetstream()
        tiny = await js.create_key_value(KeyValueConfig(bucket="tiny", max_value_size=8))
        store = NotificationLog(tiny, js, bucket="tiny")
        with pytest.raises(bus.PublishError, match="refused"):
            await store._put_all([("a", b"short"), ("b", b"longer than eight bytes")])
        assert (await tiny.get("a")).value == b"short"
    finally:
        await nc.close()
