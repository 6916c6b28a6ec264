"""What the evaluator's parts need from the outside, as protocols, and the NATS side of them.

The parts (buffer, deliveries, restart, flusher, writer) are given these rather than a store, a
JetStream context or the clock, so a unit test hands them in-memory fakes. ``main.serve`` is the one
place that builds the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gospublic import bus
from gospublic import contracts as c

# Seconds on a monotonic clock (``time.monotonic``); a test passes its own.
Clock = Callable[[], float]

# (table, rows, column names, insert_deduplication_token)
Insert = tuple[str, Sequence[Sequence[Any]], Sequence[str], str | None]


class Store(Protocol):
    """Where a batch's rows go (``store.ClickHouseStore``)."""

    async def insert_tables(self, inserts: Sequence[Insert], written: dict[str, int]) -> None:
        """Insert in order; ``written`` gets each table's row count as soon as it is stored."""


class Outbox(Protocol):
    """What the evaluator publishes: alerts and scores, and the messages it gives up on."""

    async def publish(self, messages: list[bus.Outgoing]) -> None: ...

    async def dead_letter(self, raw: Any, reason: str | c.ContractError) -> None: ...


class BatchRecords(Protocol):
    """Which messages made up each batch in flight (``batchlog.BatchLog``)."""

    async def record(self, token: str, sequences: list[int]) -> None: ...

    async def forget(self, token: str) -> None: ...


class JetStreamOutbox:
    """The outbox on JetStream: publishes wait for the stream's acknowledgement."""

    def __init__(self, js: Any) -> None:
        self.js = js

    async def publish(self, messages: list[bus.Outgoing]) -> None:
        await bus.publish_all(self.js, messages)

    async def dead_letter(self, raw: Any, reason: str | c.ContractError) -> None:
        await bus.dead_letter(self.js, "evaluator", raw.data, reason, dict(raw.headers or {}))
