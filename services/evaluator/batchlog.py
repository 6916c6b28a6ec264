"""Which messages made up each batch in flight, so that a batch is retried exactly as it was.

ClickHouse drops a repeated insert by its ``insert_deduplication_token``, and the token is derived
from the batch's messages. If the evaluator dies after some of a batch's inserts but before the
acks, the messages come back, possibly grouped differently, and a different grouping would mean new
tokens and rows stored twice. So before its first insert a batch is recorded here (NATS KV: token →
stream sequences); a restarted evaluator waits for those messages, flushes them together again under
the same token, and the record is deleted once the batch is acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

log = logging.getLogger("gospublic.evaluator.batchlog")

BUCKET = "evaluator-batches"
RECORD_TTL_S = 86_400.0


@dataclass
class Replay:
    """A recorded batch being reassembled from redelivered messages."""

    token: str
    sequences: frozenset[int]
    received: dict[int, Any] = field(default_factory=dict)  # stream sequence → (raw, event)

    @property
    def complete(self) -> bool:
        return len(self.received) == len(self.sequences)


class BatchLog:
    def __init__(self, js: Any) -> None:
        self.js = js
        self.kv: Any = None

    async def open(self) -> dict[str, Replay]:
        """The batches a previous run left unacknowledged."""
        try:
            self.kv = await self.js.key_value(BUCKET)
        except BucketNotFoundError:
            # Records (and delete markers) expire after a day: a crashed evaluator restarts sooner.
            self.kv = await self.js.create_key_value(
                KeyValueConfig(bucket=BUCKET, history=1, ttl=RECORD_TTL_S)
            )
        replays: dict[str, Replay] = {}
        try:
            keys = await self.kv.keys()
        except Exception:  # nats-py raises NoKeysError on an empty bucket
            return replays
        for key in keys:
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue
            try:
                sequences = frozenset(int(s) for s in json.loads(entry.value))
            except (ValueError, TypeError):
                log.warning("unreadable batch record dropped", extra={"token": key})
                await self.forget(key)
                continue
            replays[key] = Replay(key, sequences)
        if replays:
            log.info("batches to replay", extra={"batches": len(replays)})
        return replays

    async def record(self, token: str, sequences: list[int]) -> None:
        if self.kv is not None:
            await self.kv.put(token, json.dumps(sequences).encode())

    async def forget(self, token: str) -> None:
        if self.kv is not None:
            with contextlib.suppress(KeyNotFoundError):
                await self.kv.delete(token)
