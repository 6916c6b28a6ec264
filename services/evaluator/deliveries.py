"""Every message's way out of the evaluator, and the memory that keeps a copy from counting twice.

A message leaves acknowledged once its batch is stored (or it is dead-lettered), or handed back
with a delayed nak for a redelivery. JetStream may deliver a message again while this process still
holds it (its ack_wait ran out in the buffer) or just after it was acknowledged; the copies are
acknowledged with the original, or dropped, never evaluated again: evaluated twice, a page's rows
would be stored twice. Every reply goes through ``bus.reply``.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from gospublic import bus
from gospublic import contracts as c

from .metrics import DEAD_LETTERS, LATE_COPIES
from .ports import Outbox

log = logging.getLogger("gospublic.evaluator")

# Stream seqs remembered as done, for dropping late redelivered copies: far more than can be
# delivered and not yet acknowledged at once (max_ack_pending), a few MB.
REMEMBERED_DONE = 200_000
MAX_NAK_DELAY_S = 30.0


def stream_seq(raw: Any) -> int:
    return raw.metadata.sequence.stream


class Deliveries:
    def __init__(self, outbox: Outbox, remembered: int = REMEMBERED_DONE) -> None:
        self.outbox = outbox
        self.remembered = remembered
        self._in_process: dict[int, list[Any]] = {}  # stream seq → other deliveries of it
        # Stream seqs stored and acknowledged lately, oldest first (see ``acknowledge``).
        self._done: deque[int] = deque()
        self._done_set: set[int] = set()

    # --- what arrives ----------------------------------------------------------------------

    def copy_of_held(self, seq: int, raw: Any) -> bool:
        """A redelivery of a message held here: kept to be acknowledged with it."""
        again = self._in_process.get(seq)
        if again is None:
            return False
        again.append(raw)
        return True

    def is_done(self, seq: int) -> bool:
        return seq in self._done_set

    def hold(self, seq: int) -> None:
        self._in_process[seq] = []

    def release(self, raw: Any) -> None:
        """No longer held here (handed back to JetStream)."""
        self._in_process.pop(stream_seq(raw), None)

    def remember_done(self, seq: int) -> None:
        if seq not in self._done_set:
            self._done.append(seq)
            self._done_set.add(seq)
            if len(self._done) > self.remembered:
                self._done_set.discard(self._done.popleft())

    # --- replies ---------------------------------------------------------------------------

    async def acknowledge(self, raw: Any) -> bool:
        """Ack a message done with (stored, or dead-lettered) and the copies of it held here.

        Its seq is remembered for a while: JetStream redelivers a message whose ack_wait ran out
        while it waited in the intake or the buffer, and such a copy may arrive after this ack.
        False when the ack could not be sent (the copies are left to come back, and be dropped).
        """
        seq = stream_seq(raw)
        self.remember_done(seq)  # first: a failed ack below brings a copy back too
        if not await bus.reply(raw, "ack"):
            return False
        for other in self._in_process.pop(seq, ()):
            await bus.reply(other, "ack")
        return True

    async def acknowledge_all(self, batch: list[tuple[Any, c.Event]]) -> None:
        """A stored batch: all of it is remembered as done, even if an ack below fails, and
        acknowledged with the copies of it held here, under one deadline."""
        replies = []
        for raw, _ in batch:
            seq = stream_seq(raw)
            self.remember_done(seq)
            replies.append(raw)
            replies.extend(self._in_process.pop(seq, ()))
        if not await bus.reply_all(replies, "ack"):  # the rest come back, and are dropped
            log.warning("ack failed after the batch was stored")

    async def acknowledge_late_copy(self, raw: Any) -> None:
        """A copy of a message stored and acknowledged already: acknowledged, not evaluated (if
        the ack is lost it comes back once more, and is dropped again)."""
        LATE_COPIES.inc()
        await bus.reply(raw, "ack")

    async def dead_letter(self, raw: Any, reason: str | c.ContractError) -> None:
        await self.outbox.dead_letter(raw, reason)
        await self.acknowledge(raw)
        DEAD_LETTERS.inc()

    async def dead_letter_quietly(self, raw: Any, reason: str) -> None:
        try:
            await self.dead_letter(raw, reason)
        except Exception as exc:  # the message stays unacked and comes back after ack_wait
            log.warning("dead-letter failed", extra={"error": str(exc)[:300]})

    async def keep_in_progress(self, messages: list[Any]) -> None:
        """Messages held for longer than ack_wait are not ours to lose: JetStream is told they
        are being worked on (until the first reply that cannot be sent: the rest would fail too)."""
        for raw in messages:
            if not await bus.reply(raw, "in_progress"):
                return

    async def hand_back(
        self, batch: list[tuple[Any, c.Event]], error: str, limit: int
    ) -> list[int]:
        """Nak each message for a delayed redelivery, or dead-letter it past ``limit`` deliveries;
        the stream seqs handed back."""
        again: list[int] = []
        nak_failed = False
        for raw, _ in batch:
            self.release(raw)
            delivered = raw.metadata.num_delivered
            if delivered >= limit:
                reason = f"failed {delivered} deliveries, last error: {error}"
                await self.dead_letter_quietly(raw, reason)
                continue
            again.append(stream_seq(raw))
            if nak_failed:  # the connection is away: the rest would fail the same way
                continue
            delay = min(MAX_NAK_DELAY_S, 0.5 * 2**delivered)
            nak_failed = not await bus.reply(raw, "nak", delay=delay)
        if nak_failed:
            log.warning(
                "nak failed, the server redelivers after ack_wait", extra={"messages": len(again)}
            )
        return again
