"""Read every live key of a KV bucket (under a prefix) exactly once, deterministically.

Why not ``KeyValue.watch()`` and its "initial values done" marker (``None``): nats-py decides that
marker from a consumer-info reply, and the server may answer that request before the pushed values
reach the client. The marker then arrives first and a reader stops early, with part of the bucket
(seen here as a restarted notifier resending mail whose log entries it had not read).

A pull consumer has no such race: nothing is delivered until asked for, so its ``num_pending`` at
creation is exactly the number of keys to read (one message per key, with ``LAST_PER_SUBJECT``).
Writes made while scanning are not waited for; a caller that needs them follows the bucket after.
"""

from __future__ import annotations

import contextlib
import time

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

BATCH = 1000
FETCH_TIMEOUT_S = 5.0
SCAN_TIMEOUT_S = 120.0
_DELETE_OPS = ("DEL", "PURGE")


async def scan(js: JetStreamContext, bucket: str, prefix: str = "") -> list[tuple[str, bytes]]:
    """(key, value) of every key under ``prefix`` that has a value (deleted keys left out)."""
    stream = f"KV_{bucket}"
    head = f"$KV.{bucket}."
    psub = await js.pull_subscribe(
        f"{head}{prefix}>",
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        ),
    )
    found: dict[str, bytes] = {}
    info = None
    try:
        info = await psub.consumer_info()
        remaining = info.num_pending or 0
        deadline = time.monotonic() + SCAN_TIMEOUT_S
        while remaining > 0:
            try:
                messages = await psub.fetch(min(remaining, BATCH), timeout=FETCH_TIMEOUT_S)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {bucket} stalled with {remaining} left") from None
                continue
            for message in messages:
                remaining -= 1
                key = message.subject[len(head) :]
                operation = (message.headers or {}).get("KV-Operation")
                if operation in _DELETE_OPS or not message.data:
                    found.pop(key, None)
                else:
                    found[key] = message.data
        return list(found.items())
    finally:
        await psub.unsubscribe()
        if info is not None:
            # Otherwise it goes away by itself after inactive_threshold.
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, info.name)
