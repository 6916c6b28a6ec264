"""Faults in the middle of a sweep, with real processes; each ends with exact counts.

The whole topology runs as processes on a small region slice (``conftest.slice_pipeline``): a
collector or the notifier is killed with SIGKILL and started again, the nats-server is restarted on
its store (also with the collectors' cursor saves or event publishes held in flight, at several
points), ClickHouse's directory is made unwritable for a while, the SMTP server refuses mail for a
while. Afterwards every page and post the simulator planted is a row in ClickHouse exactly once,
and every violation opened reached the SMTP server as a new alert under exactly one Message-ID. A
notifier killed between the server's acceptance and its own record sends that very message again
after the restart, under the same Message-ID (SMTP cannot be told twice is once; see
docs/DESIGN.md). (The kill -9 of the evaluator is ``test_evaluator_crash.py``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import pytest
from faultkit import (
    FlakySink,
    PublishHold,
    acked_events,
    assert_exactly_once,
    dead_letters,
    tasks_left,
    unwritable,
    wait_until,
)

from gospublic import bus
from gospublic import contracts as c
from services.collector.main import DRAIN_TIMEOUT_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# A collector's task comes back to the survivors after the consumer's ack wait (30 s).
SETTLE_S = 90.0


async def test_collector_killed_mid_sweep(slice_pipeline) -> None:
    pipeline = slice_pipeline()
    nc, js = await pipeline.connect()
    try:
        started = time.monotonic()
        await pipeline.schedule(js)
        total = pipeline.tasks
        await wait_until(lambda: _fewer_tasks_than(js, total * 2 // 3), "a third of the tasks done")
        victim = pipeline.service("collector-1")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        left = await tasks_left(js)
        assert left > 0, "the kill came after the sweep"
        pipeline.spawn_collector(0)
        await pipeline.wait_settled(js, started, SETTLE_S)
        assert await dead_letters(js) == 0
    finally:
        await nc.close()
    assert_exactly_once(pipeline)


async def test_notifier_killed_mid_stream(slice_pipeline) -> None:
    pipeline = slice_pipeline()
    nc, js = await pipeline.connect()
    try:
        started = time.monotonic()
        await pipeline.schedule(js)
        total = pipeline.tasks
        # Mail has gone out and alerts are still coming: the collectors are not half-way yet.
        await wait_until(
            lambda: _true(len(pipeline.sink.messages) > 0), "the first e-mail", timeout_s=60
        )
        victim = pipeline.service("notifier")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        assert await tasks_left(js) > 0 and await tasks_left(js) < total
        mailed_before = await _settled_count(pipeline.sink.messages)
        pipeline.spawn_notifier()
        await pipeline.wait_settled(js, started, SETTLE_S)
        assert len(pipeline.sink.messages) > mailed_before
        assert await dead_letters(js) == 0
    finally:
        await nc.close()
    assert_exactly_once(pipeline, killed_after_mails=mailed_before)


async def test_nats_server_restarted_mid_sweep(slice_pipeline) -> None:
    pipeline = slice_pipeline()
    nc, js = await pipeline.connect()
    try:
        started = time.monotonic()
        await pipeline.schedule(js)
        total = pipeline.tasks
        await wait_until(lambda: _fewer_tasks_than(js, total * 2 // 3), "a third of the tasks done")
        await asyncio.to_thread(pipeline.restart_nats, 1.0)
        # Everyone reconnects: this client too, and the services (their /readyz says so).
        await wait_until(lambda: _true(nc.is_connected), "the test's reconnection")
        assert await tasks_left(js) > 0, "the restart came after the sweep"
        await pipeline.wait_settled(js, started, SETTLE_S)
        assert all(s.ready() for s in pipeline.group.services)
        assert await dead_letters(js) == 0
    finally:
        await nc.close()
    assert_exactly_once(pipeline)


@pytest.mark.parametrize(
    "held",
    [("$KV.cursors.",), ("events.",), ("$KV.cursors.", "events.")],
    ids=["cursor-save", "event-publish", "either"],
)
async def test_nats_server_restarted_with_writes_in_flight(slice_pipeline, held) -> None:
    """The collectors' cursor saves or event publishes are on their way when the server stops.

    ``PublishHold`` keeps each collector's next write to ``held`` (and all it sends after it)
    from the server; the server is then restarted on its store, so those writes are never
    acknowledged. A cursor save caught so waited for ever, while its heartbeat kept the task
    from being redelivered: the sweep never settled, and the collector ignored SIGTERM. Now one
    collector is stopped meanwhile (and must be gone within the drain timeout), and the sweep
    settles with every page and post stored exactly once.
    """
    pipeline = slice_pipeline()
    assert pipeline.nats is not None
    hold = await PublishHold(pipeline.nats.url).start()
    nc, js = await pipeline.connect()
    try:
        await _collectors_through(pipeline, hold)
        started = time.monotonic()
        await pipeline.schedule(js)
        total = pipeline.tasks
        await wait_until(lambda: _fewer_tasks_than(js, total * 2 // 3), "a third of the tasks done")
        hold.arm(*held)
        with contextlib.suppress(AssertionError):  # one collector may have had no task left
            await wait_until(lambda: _true(len(hold.held) >= 2), "both collectors held", 20)
        assert hold.held, "no write was caught in flight"
        hold.disarm()
        if len(hold.held) >= 2:  # each collector waits on a write that will never be acked
            # SIGTERM is honoured within the drain timeout all the same (it was ignored).
            victim = pipeline.service("collector-1")
            victim.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(victim.process.wait, DRAIN_TIMEOUT_S + 15)
            pipeline.spawn_collector(0)
        await asyncio.to_thread(pipeline.restart_nats, 1.0)
        await wait_until(lambda: _true(nc.is_connected), "the test's reconnection")
        assert await tasks_left(js) > 0, "the restart came after the sweep"
        await pipeline.wait_settled(js, started, SETTLE_S)
        assert all(s.ready() for s in pipeline.group.services)
        assert await dead_letters(js) == 0
    finally:
        await nc.close()
        await hold.stop()
    assert_exactly_once(pipeline)


async def _collectors_through(pipeline, hold: PublishHold) -> None:
    """Start the collectors again, connected to the server through ``hold``."""
    pipeline.collector_env = {**pipeline.collector_env, "GOSPUBLIC_NATS_URL": hold.url}
    for n in range(pipeline.collectors):
        old = pipeline.service(f"collector-{n + 1}")
        old.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(old.process.wait, 30)
        pipeline.spawn_collector(n)
    late = await asyncio.to_thread(pipeline.group.wait_ready, 60)
    assert not late, [s.name for s in late]


async def test_clickhouse_failing_for_a_while(slice_pipeline) -> None:
    pipeline = slice_pipeline()
    evaluator = pipeline.service("evaluator")
    nc, js = await pipeline.connect()
    try:
        started = time.monotonic()
        await pipeline.schedule(js)
        await wait_until(lambda: _more_acked_than(js, 50), "the first batches stored")
        with unwritable(pipeline.chdb_dir):
            await wait_until(
                lambda: asyncio.to_thread(lambda: not evaluator.ready()),
                "the evaluator to report not ready",
                timeout_s=30,
            )
            # Nothing is acknowledged while nothing can be stored, yet events keep arriving.
            floor = await acked_events(js)
            await asyncio.sleep(4)
            assert await acked_events(js) == floor
            pending, unacked = await bus.consumer_pending(js, c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
            assert pending + unacked > 0
            assert not evaluator.ready()
        await wait_until(
            lambda: asyncio.to_thread(evaluator.ready), "the evaluator ready again", timeout_s=60
        )
        await pipeline.wait_settled(js, started, SETTLE_S)
        assert await dead_letters(js) == 0
    finally:
        await nc.close()
    log = evaluator.log_path.read_text()
    assert "cannot store or publish, not ready" in log
    assert "storing again, ready" in log
    assert_exactly_once(pipeline)


async def test_smtp_server_refusing_then_accepting(slice_pipeline, tmp_path) -> None:
    sink = FlakySink(tmp_path / "mail")
    sink.refusing = True
    pipeline = slice_pipeline(sink=sink)
    nc, js = await pipeline.connect()
    try:
        started = time.monotonic()
        await pipeline.schedule(js)
        await wait_until(lambda: _true(sink.refused >= 3), "three refusals", timeout_s=60)
        await wait_until(lambda: _fewer_tasks_than(js, 1), "the collection done", timeout_s=60)
        assert sink.messages == []
        sink.refusing = False
        await pipeline.wait_settled(js, started, SETTLE_S)
        assert await dead_letters(js) == 0
    finally:
        await nc.close()
    counted = assert_exactly_once(pipeline)
    assert counted["emails"] > 0 and sink.refused >= 3


async def _fewer_tasks_than(js, n: int) -> bool:
    return await tasks_left(js) < n


async def _more_acked_than(js, n: int) -> bool:
    return await acked_events(js) > n


async def _settled_count(messages: list, quiet_s: float = 0.5) -> int:
    """How many messages the server holds once none has come for ``quiet_s``: one whose data had
    all arrived before the kill may still be on its way to the list."""
    count = len(messages)
    while True:
        await asyncio.sleep(quiet_s)
        if len(messages) == count:
            return count
        count = len(messages)


async def _true(value: bool) -> bool:
    return value
