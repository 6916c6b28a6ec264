"""After a restart: evaluate in the order an uninterrupted run would have.

Two things a crashed run leaves behind. Messages it held unacknowledged: JetStream redelivers them
only after ``ack_wait`` while newer ones come at once, so newer messages are held back until the
old ones are back (``RestartHold``). Batches it had begun to store: their inserts carry a token
derived from the batch, so the batch is reassembled from its redelivered messages and flushed again
as it was, under the same token (``Replays``; ``batchlog`` records them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .batchlog import Replay
from .buffer import Item
from .deliveries import stream_seq
from .ports import BatchRecords, Clock

log = logging.getLogger("gospublic.evaluator")


class RestartHold:
    """Newer messages held back until the ones a crashed run held are back (or patience ends)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.above: int | None = None  # holding while set: messages up to it were out
        self.held: list[Item] = []
        self._returned: set[int] = set()
        self._awaiting = 0
        self.until = 0.0
        self.last_progress = 0.0  # when the held messages were last reported in progress

    @property
    def active(self) -> bool:
        return self.above is not None

    def start(self, delivered_seq: int, unacked: int, patience_s: float) -> None:
        """Called at start with the durable's state: messages up to ``delivered_seq`` of which
        ``unacked`` are still out with a previous (crashed) run."""
        if unacked > 0:
            self.above = delivered_seq
            self._awaiting = unacked
            self.until = self.clock() + patience_s
            log.info(
                "waiting for a previous run's unacknowledged messages",
                extra={"unacked": unacked, "up_to_seq": delivered_seq},
            )

    def hold(self, raw: Any, event: Any) -> list[Item]:
        """Keep a message back; the held messages in stream order once all are back (else [])."""
        # Redeliveries come back in no particular order either: hold them too, then sort.
        self.held.append((raw, event))
        if self.above is not None and stream_seq(raw) <= self.above:
            self._returned.add(stream_seq(raw))
        if len(self._returned) >= self._awaiting or self.clock() >= self.until:
            return self.release()
        return []

    def overdue(self) -> bool:
        return self.above is not None and self.clock() >= self.until

    def release(self) -> list[Item]:
        held, self.held = sorted(self.held, key=lambda m: stream_seq(m[0])), []
        self.above = None
        self._returned.clear()
        return held


class Replays:
    """Batches a previous run left half-stored, reassembled from their redelivered messages."""

    def __init__(
        self,
        replays: dict[str, Replay] | None = None,
        records: BatchRecords | None = None,
        on_ready: Callable[[], None] = lambda: None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.clock = clock
        self.records = records
        self.on_ready = on_ready
        self.waiting: dict[str, Replay] = replays or {}
        self._token_of = {seq: r.token for r in self.waiting.values() for seq in r.sequences}
        self.since = clock()
        # Reassembled batches, to flush before anything else: (token, or "" for a new one; batch).
        self.ready: list[tuple[str, list[Item]]] = []

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def add(self, token: str, sequences: list[int]) -> None:
        """A batch handed back to JetStream after some of its inserts: wait for it again."""
        self.waiting[token] = Replay(token, frozenset(sequences))
        self._token_of.update(dict.fromkeys(sequences, token))
        self.since = self.clock()

    def take(self, raw: Any, event: Any) -> bool:
        """True if the message belongs to a batch being reassembled (and is kept for it)."""
        if not self._token_of:
            return False
        token = self._token_of.get(stream_seq(raw))
        if token is None:
            return False
        replay = self.waiting[token]
        replay.received[stream_seq(raw)] = (raw, event)
        if replay.complete:
            self._finish(token)
        return True

    def next_ready(self) -> tuple[str | None, list[Item]]:
        token, batch = self.ready.pop(0)
        return token or None, batch

    def _finish(self, token: str) -> None:
        replay = self.waiting.pop(token)
        for seq in replay.sequences:
            self._token_of.pop(seq, None)
        self.ready.append((token, [replay.received[seq] for seq in sorted(replay.received)]))
        self.on_ready()

    def overdue(self, patience_s: float) -> bool:
        return bool(self.waiting) and self.clock() - self.since > patience_s

    def give_up(self) -> None:
        """Messages of a recorded batch that never came back (dead-lettered, expired): go on."""
        for token in list(self.waiting):
            replay = self.waiting[token]
            log.warning(
                "batch to replay incomplete, flushing what came",
                extra={"token": token, "expected": len(replay.sequences),
                       "received": len(replay.received)},
            )  # fmt: skip
            if replay.received:
                self._finish(token)
                self.ready[-1] = ("", self.ready[-1][1])  # a different batch: a new token
            else:
                self.waiting.pop(token)
                for seq in replay.sequences:
                    self._token_of.pop(seq, None)
            if self.records is not None:
                asyncio.get_running_loop().create_task(self.records.forget(token))
