"""Publishing pushed events through FastStream's ``NatsBroker``, acknowledged before the answer.

Each message goes to JetStream (``stream=``, so FastStream waits for the PubAck) with the
``Nats-Msg-Id`` header, the collectors' deduplication key. A push is answered "ok" only once every
one of its messages is stored or known as a duplicate; a publish that fails or is not acknowledged
in time raises ``NotPublished`` and the platform is told to come back later (VK and MAX retry).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from gospublic import bus

log = logging.getLogger("gospublic.receiver.publish")

MSG_ID_HEADER = "Nats-Msg-Id"


class NotPublished(RuntimeError):
    """NATS did not store a message (down, reconnecting, refused, no ack in time)."""


class PushPublisher:
    """Publishes ``bus.Outgoing`` messages through a FastStream ``NatsBroker`` (a real one, or one
    under ``TestNatsBroker``); returns how many were new, the rest being duplicates."""

    def __init__(self, broker: Any, stream: str, timeout_s: float = 5.0) -> None:
        self.broker = broker
        self.stream = stream
        self.timeout_s = timeout_s

    async def publish(self, messages: Sequence[bus.Outgoing]) -> int:
        new = 0
        for message in messages:
            try:
                ack = await self.broker.publish(
                    message.payload,
                    message.subject,
                    headers={MSG_ID_HEADER: message.msg_id},
                    stream=self.stream,
                    timeout=self.timeout_s,
                )
            except (
                Exception
            ) as exc:  # nats-py and FastStream raise several kinds: all mean "not stored"
                raise NotPublished(f"{message.subject}: {type(exc).__name__}: {exc}"[:300]) from exc
            # A real broker answers with the PubAck; the in-memory test broker with nothing.
            if not getattr(ack, "duplicate", False):
                new += 1
        return new

    @property
    def connected(self) -> bool:
        """Whether the broker holds a live connection to NATS (the receiver's readiness)."""
        try:
            connection = self.broker.connection
        except Exception:  # not connected yet
            return False
        return bool(getattr(connection, "is_connected", False))
