"""The ``email`` channel: render, record the intent, send over SMTP (one message per address)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import ClassVar

from gospublic import contracts as c
from gospublic.settings import Settings

from .. import email, smtp
from ..intents import IntentRecord
from ..nflog import Intent
from ..pipeline import Notification
from ..ports import Delivery
from .parts import Parts

log = logging.getLogger("gospublic.notifier")

# Up to this many alerts a message is rendered on the event loop, beyond it in a worker thread.
INLINE_ALERTS = 10

# Sends one message (as already flattened, when given): smtp.send on the kept connections.
Transport = Callable[[EmailMessage, bytes | None], Awaitable[smtp.SendResult]]


class EmailChannel:
    kind: ClassVar[str] = "email"

    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        intents: IntentRecord,
        slots: asyncio.Semaphore,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.intents = intents
        self.slots = slots

    @classmethod
    def create(cls, parts: Parts) -> EmailChannel:
        async def transport(message: EmailMessage, data: bytes | None) -> smtp.SendResult:
            return await smtp.send(parts.settings, message, data=data, connections=parts.smtp)

        return cls(parts.settings, transport, parts.intents, parts.email_slots)

    async def send(self, notification: Notification) -> Delivery:
        """Record the intent, then send; a refused message takes its intent back."""
        key = notification.log_key
        async with self.slots:
            if len(notification.firing) + len(notification.resolved) <= INLINE_ALERTS:
                # A message of a few alerts renders in a millisecond or two: less than the trip
                # through a worker thread, which under load decided the alert latency's tail.
                message, intent = self._render(notification)
            else:
                # Building MIME is the costliest step here; off the loop, NATS keeps flowing.
                message, intent = await asyncio.to_thread(self._render, notification)
            fields = {"message_id": message["Message-ID"]}
            try:
                previous = await self.intents.begin(key, intent)
            except Exception as exc:
                # Unsent is better than sent without a trace: the next flush decides again.
                log.warning("cannot record an e-mail before sending it", exc_info=True)
                return Delivery(False, None, f"intent not recorded: {type(exc).__name__}", fields)
            result = await self.transport(message, intent.message)
        if not result.ok:
            await self.intents.abandon(key, previous)
        return Delivery(result.ok, result.code, result.error, fields)

    async def resend(self, intent: Intent) -> smtp.SendResult:
        """An e-mail begun before a restart, exactly as it was (same bytes, same Message-ID)."""
        async with self.slots:
            return await self.transport(email.from_bytes(intent.message), intent.message)

    def _render(self, notification: Notification) -> tuple[EmailMessage, Intent]:
        """The message's headers (the transport's envelope) and the intent with its bytes."""
        headers, parts = email.render_bytes(notification, self.settings, c.utcnow())
        intent = Intent(
            str(headers["Message-ID"]),
            parts.message(),
            notification.firing_ids,
            notification.resolved_ids,
            parts,
        )
        return headers, intent
