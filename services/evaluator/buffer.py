"""The intake buffer: decoded messages waiting for the next flush, bounded in size and age."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from gospublic import contracts as c

from .ports import Clock

ORGANISATIONS_PER_MESSAGE = 5  # see batch_weight

# A decoded message: (the JetStream message, its event).
Item = tuple[Any, c.Event]


def batch_weight(event: c.Event) -> int:
    """What an event counts for in a batch of ``batch_max_messages``, in messages.

    A register chunk holds hundreds of organisations, each making about a fifth of the rows one
    page's posts make. Counted as one message, a national register (350 chunks) came in a single
    batch whose rows, serialised, took the evaluator's memory from 0.4 to 1.7 GB, and the Python
    heap kept that size for the rest of the run.
    """
    if isinstance(event, c.OrganisationsRegistered):
        return max(1, len(event.organisations) // ORGANISATIONS_PER_MESSAGE)
    return 1


class Buffer:
    """Messages in arrival order with their weight (``batch_weight``) and the age of the oldest.

    The intake waits on ``wait_for_space`` while a full batch is here; the flush loop sleeps on
    ``sleep`` until a message arrives or a deadline passes.
    """

    def __init__(self, max_messages: int, clock: Clock = time.monotonic) -> None:
        self.max_messages = max_messages
        self.clock = clock
        self.items: list[Item] = []
        self.weight = 0  # of the items, in messages
        self.since = 0.0  # when the oldest item came
        # Take messages past a full batch: the intake is handing over its last ones, or the
        # service stops (a flush that cannot finish must not hold the intake's stop).
        self.overfull_ok = False
        self._wakeup = asyncio.Event()
        self.space = asyncio.Condition()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def full(self) -> bool:
        return self.weight >= self.max_messages

    def add(self, raw: Any, event: c.Event) -> None:
        if not self.items:
            self.since = self.clock()
            self._wakeup.set()
        self.items.append((raw, event))
        self.weight += batch_weight(event)

    def take(self) -> list[Item]:
        """Everything buffered, as the next batch."""
        batch, self.items, self.weight = self.items, [], 0
        return batch

    def put_back(self, batch: list[Item]) -> None:
        """Return a batch taken too early to the front."""
        self.items = batch + self.items
        self.weight += sum(batch_weight(event) for _, event in batch)
        if self.items:
            self.since = self.clock()

    def wake(self) -> None:
        self._wakeup.set()

    async def sleep(self, timeout: float | None) -> None:
        """Until ``wake`` (a first message, a replay ready, a stop) or ``timeout`` seconds."""
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def wait_for_space(self) -> None:
        self._wakeup.set()
        async with self.space:
            await self.space.wait_for(lambda: self.overfull_ok or not self.full)

    async def notify_space(self) -> None:
        async with self.space:
            self.space.notify_all()
