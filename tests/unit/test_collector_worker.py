"""The collector's worker: its heartbeat follows progress, a stuck worker says so, a stop is bounded.

The worker is driven with a stand-in for the JetStream message (it records the replies) and a
platform client whose calls either answer or never do.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector.vk_collect import Collected
from services.collector.worker import Worker

REF = c.PageRef(platform=c.Platform.VK, native_id="club1", org_id="1027700132195")


class Message:
    """What the worker uses of a JetStream message; the replies it sent, with their times."""

    def __init__(self) -> None:
        task = c.CollectTask.create(
            observed_at=datetime.now(UTC), sweep_id="s1", platform=c.Platform.VK, pages=(REF,)
        )
        self.data = task.to_bytes()
        self.headers = None
        self.metadata = SimpleNamespace(num_delivered=1)
        self.replies: list[tuple[str, float]] = []

    def sent(self, kind: str) -> list[float]:
        return [at for what, at in self.replies if what == kind]

    async def in_progress(self) -> None:
        self.replies.append(("progress", time.monotonic()))

    async def nak(self, delay: float | None = None) -> None:
        self.replies.append(("nak", time.monotonic()))

    async def ack_sync(self, timeout: float = 1.0) -> None:
        self.replies.append(("ack", time.monotonic()))

    async def ack(self) -> None:
        self.replies.append(("ack", time.monotonic()))


class Client:
    """A platform client: each call answers after ``answer_s``, or never when it is None."""

    tokens_alive = 1

    def __init__(self, answer_s: float | None, calls: int) -> None:
        self.answer_s = answer_s
        self.calls = calls

    async def call(self, method: str, params: dict) -> dict:
        if self.answer_s is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.answer_s)
        return {}


async def collect(client, task, posts, cursors, comments) -> Collected:
    for _ in range(client.calls):
        await client.call("wall.get", {})
    return Collected([], {}, set(), 0)


class Connection:
    """No events are published in these tests; the bus only looks the connection up."""

    is_closed = False


class Cursors:
    async def load(self, keys) -> dict:
        list(keys)
        return {}

    async def save(self, cursors) -> None:
        pass


def worker(client: Client, stall_after_s: float = 0.4) -> Worker:
    js = SimpleNamespace(_nc=Connection())
    return Worker(
        "vk",
        Settings(_env_file=None),
        js,
        client,
        asyncio.Event(),
        Cursors(),
        collect,
        stall_after_s=stall_after_s,
        heartbeat_s=0.1,
    )


async def test_a_stuck_worker_stops_extending_its_task_and_is_reported() -> None:
    stuck = worker(Client(answer_s=None, calls=1))
    message = Message()
    handling = asyncio.create_task(stuck.handle(message))
    started = time.monotonic()
    await asyncio.sleep(1.2)
    assert stuck.stalled()  # /readyz answers 503 on this
    beats = message.sent("progress")
    # Extended while the stall was young; after 0.4 s without progress, never again, so
    # JetStream hands the task to another instance once its ack wait runs out.
    assert beats and all(at - started < 0.4 + 0.15 for at in beats), beats
    assert not handling.done()
    # SIGTERM: the drain gives the task its timeout, then cancels it and gives it back.
    stop_started = time.monotonic()
    await stuck.drain(timeout_s=0.3)
    assert time.monotonic() - stop_started < 1.0
    await asyncio.wait_for(handling, 1)
    assert message.sent("nak") and not message.sent("ack")
    assert not stuck.stalled()


async def test_a_worker_that_moves_keeps_its_task_however_long() -> None:
    busy = worker(Client(answer_s=0.15, calls=10))
    message = Message()
    handling = asyncio.create_task(busy.handle(message))
    stalled_seen = False
    while not handling.done():
        stalled_seen |= busy.stalled()
        await asyncio.sleep(0.05)
    await handling
    assert not stalled_seen
    assert len(message.sent("progress")) >= 10  # 1.5 s of work at one beat per 0.1 s
    assert message.sent("ack") and not message.sent("nak")


async def test_a_drain_lets_a_task_that_moves_finish_within_the_timeout() -> None:
    busy = worker(Client(answer_s=0.1, calls=3))
    message = Message()
    handling = asyncio.create_task(busy.handle(message))
    await asyncio.sleep(0.05)
    await busy.drain(timeout_s=5)
    await handling
    assert message.sent("ack") and not message.sent("nak")
    refused = Message()
    await busy.handle(refused)  # after the drain: given back at once
    assert refused.sent("nak") and not refused.sent("ack")
