"""A collector whose NATS server restarts while its writes are in flight: every wait has a deadline.

``faultkit.PublishHold`` keeps a publish (and everything after it on that connection) from the
server, so it is in flight when the server is restarted on its store; its acknowledgement then
never comes. Each write must give up with an error the collector retries, never wait for ever.
"""

from __future__ import annotations

import asyncio

import pytest
from faultkit import PublishHold, wait_until
from nats.js.errors import BucketNotFoundError

from gospublic import bus
from gospublic import contracts as c
from gospublic.runtime import EmbeddedNats
from gospublic.settings import Settings
from services.collector.cursors import Cursor, CursorStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ACK_DEADLINE_S = 3.0  # the publisher's (30 s in service), short for the test


async def _restart(server: EmbeddedNats) -> EmbeddedNats:
    port = server.port
    await asyncio.to_thread(server.stop)
    return await asyncio.to_thread(EmbeddedNats(server.store_dir, port=port).start)


@pytest.mark.parametrize("held", ["$KV.cursors.", "events."])
async def test_a_write_in_flight_when_the_server_restarts_fails_instead_of_hanging(
    nats_server: EmbeddedNats, settings: Settings, held: str
) -> None:
    hold = await PublishHold(nats_server.url).start()
    nc = await bus.connect(hold.url, settings, "test")
    restarted = None
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        store = await CursorStore(js).start()
        bus.connection_publisher(nc).timeout_s = ACK_DEADLINE_S
        cursors = {f"vk.{n}": Cursor("s1", n) for n in range(20)}
        events = [bus.Outgoing(f"events.test.{n}", b"{}", f"e-{n}") for n in range(20)]

        hold.arm(held)
        write = asyncio.create_task(
            store.save(cursors) if held.startswith("$KV") else bus.publish_all(js, events)
        )
        await wait_until(lambda: _true(bool(hold.held)), "a write held in flight", 10)
        hold.disarm()
        restarted = await _restart(nats_server)
        # nats-py's publish_async futures are never resolved after the reconnect: the old save
        # waited here for ever (and its collector's heartbeat kept the task from redelivery).
        with pytest.raises(bus.PublishError, match="not acknowledged"):
            await asyncio.wait_for(write, ACK_DEADLINE_S + 10)
        # The connection is good again: the same writes now go through.
        await wait_until(lambda: _true(nc.is_connected), "the reconnection", 20)
        await store.save(cursors)
        assert (await store.load(cursors)) == cursors
    finally:
        await nc.close()
        await hold.stop()
        if restarted is not None:
            restarted.stop()


async def test_a_cursor_read_lost_in_a_restart_fails_the_task_and_keeps_batched_reads(
    nats_server: EmbeddedNats, settings: Settings
) -> None:
    """A batched read whose answer never came switched the store to one read per key for good,
    and a read per key that timed out was taken as "no cursor": the pages looked never read."""
    hold = await PublishHold(nats_server.url).start()
    nc = await bus.connect(hold.url, settings, "test")
    restarted = None
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        store = await CursorStore(js, timeout=1.0).start()
        cursors = {f"vk.{n}": Cursor("s1", n) for n in range(20)}
        await store.save(cursors)
        assert await store.load(cursors) == cursors  # batched reads are answered here

        hold.arm("$JS.API.DIRECT.GET.")
        with pytest.raises(bus.NetworkTimeout):  # the collector retries the task
            await asyncio.wait_for(store.load(cursors), 20)
        hold.disarm()
        restarted = await _restart(nats_server)
        await wait_until(lambda: _true(nc.is_connected), "the reconnection", 20)
        assert await store.load(cursors) == cursors
        assert store._batch, "batched reads were given up after one lost answer"
    finally:
        await nc.close()
        await hold.stop()
        if restarted is not None:
            restarted.stop()


async def test_a_process_that_loses_the_race_to_create_a_bucket_takes_it_as_found(
    settings: Settings,
) -> None:
    """Collectors started together: one found the cursor bucket missing, the other created it and
    turned on its direct gets, and the first one's create failed ("already in use with a
    different configuration"), ending that collector at start."""
    nc = await bus.connect(settings.nats_url, settings, "test")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        await CursorStore(js).start()  # the winner's next step: the configuration changes

        async def not_there_yet(bucket: str):  # what the loser saw a moment before
            raise BucketNotFoundError

        js.key_value = not_there_yet
        await bus.ensure_topology(js, settings)
        info = await js.stream_info(f"KV_{c.CURSORS_BUCKET}")
        assert info.config.allow_direct
    finally:
        await nc.close()


async def test_within_bounds_any_await() -> None:
    never = asyncio.get_running_loop().create_future()
    with pytest.raises(bus.NetworkTimeout, match=r"a reply: no answer in 0\.1 s"):
        await bus.within(never, 0.1, "a reply")
    assert never.cancelled()
    assert await bus.within(asyncio.sleep(0, "done"), 1, "x") == "done"


async def test_within_does_not_wait_for_a_wait_that_resists_cancelling() -> None:
    """nats-py's ``drain`` took 10 s to end after its deadline; ``wait_for`` waited for that."""
    ended = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.5)  # a clean-up on the network, as a drain's
            ended.set()
            raise

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(bus.NetworkTimeout, match="a drain"):
        await bus.within(stubborn(), 0.1, "a drain")
    assert loop.time() - started < 1.0
    await asyncio.wait_for(ended.wait(), 5)  # it ends on its own, nothing logged


async def _true(value: bool) -> bool:
    return value
