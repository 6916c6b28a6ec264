"""The intake: what the consumer hands over is decoded and routed, never flushed here.

A valid event goes into the buffer, into a batch being reassembled after a restart, or is held back
until a crashed run's messages are back (``restart``); a copy of a message held or done already is
kept or dropped (``deliveries``); anything else is dead-lettered at once. The intake waits whenever
the buffer holds a full batch, so a long list is not all decoded at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings

from .buffer import Buffer, Item
from .deliveries import Deliveries
from .fastdecode import decode
from .handlers import HANDLED_EVENTS
from .metrics import DECODE_SECONDS
from .restart import Replays, RestartHold


class _Done:
    """``accept``'s answer for a copy of a message already stored and acknowledged."""


DONE = _Done()


class Intake:
    def __init__(
        self,
        settings: Settings,
        buffer: Buffer,
        deliveries: Deliveries,
        hold: RestartHold,
        replays: Replays,
    ) -> None:
        self.max_messages = settings.batch_max_messages
        self.max_deliver = settings.max_deliver
        self.max_bytes = settings.max_message_bytes
        self.buffer = buffer
        self.deliveries = deliveries
        self.hold = hold
        self.replays = replays

    async def receive(self, messages: list[Any]) -> None:
        """Decode and buffer; dead-letter what is not a valid event."""
        done = 0
        started = time.perf_counter()
        try:
            for raw in messages:
                reason = self.accept(raw)
                if reason is DONE:
                    await self.deliveries.acknowledge_late_copy(raw)
                elif reason is not None:
                    await self.deliveries.dead_letter(raw, reason)
                done += 1
                if self.buffer.full:
                    DECODE_SECONDS.inc(time.perf_counter() - started)
                    await self.buffer.wait_for_space()
                    started = time.perf_counter()
            DECODE_SECONDS.inc(time.perf_counter() - started)
        except asyncio.CancelledError:
            # Stopping mid-batch: hand the rest back now rather than after ack_wait.
            for raw in messages[done:]:
                with contextlib.suppress(Exception):
                    await bus.reply(raw, "nak")
            raise

    def accept(self, raw: Any) -> str | c.ContractError | _Done | None:
        """Buffer a valid event and return None, or return why the message is dead-lettered
        (``DONE``: it was stored already, only this copy is left to acknowledge)."""
        metadata = raw.metadata
        seq = metadata.sequence.stream
        deliveries = self.deliveries
        if deliveries.copy_of_held(seq, raw):
            # Redelivered while this process still holds it (ack_wait ran out): keep one copy,
            # acknowledge the others with it.
            return None
        if deliveries.is_done(seq):
            return DONE
        delivered, limit = metadata.num_delivered, self.max_deliver
        if delivered > limit:
            return f"delivered {delivered} times, limit {limit}"
        try:
            event = decode(raw.data, max_bytes=self.max_bytes)
        except c.ContractError as exc:
            return exc
        if not isinstance(event, HANDLED_EVENTS):
            return c.ContractError(
                f"{event.schema_} is not an event the evaluator reads", "wrong_type"
            )
        deliveries.hold(seq)
        if self.hold.above is not None:  # a restart's hold (``hold.active``)
            self.route_all(self.hold.hold(raw, event))
            return None
        self.route(raw, event)
        return None

    def route(self, raw: Any, event: c.Event) -> None:
        """Into the batch a previous run recorded, or into the buffer."""
        if not self.replays.take(raw, event):
            self.buffer.add(raw, event)

    def route_all(self, items: list[Item]) -> None:
        for raw, event in items:
            self.route(raw, event)
