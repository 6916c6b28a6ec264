"""The two push endpoints: verify the sender, read the payload, publish its events, answer.

``POST /vk/callback``: the body's ``secret`` must equal the one configured for its ``group_id``
(compared in constant time); the ``confirmation`` request is answered with the configured string,
every other notification with ``ok`` once its events are stored (VK sends again whatever was not
answered ``ok``). ``POST /max/webhook``: the ``X-Max-Bot-Api-Secret`` header must equal the
configured secret; MAX sends again whatever was not answered 200.

A wrong or missing secret is 403 and counted, with no event and no dead letter (anyone may call).
A body that is not what the platform sends is 400 with the reason, and a dead letter keeps it with
every configured secret blanked out (an authenticated notification whose item the mapping refuses
is dead-lettered too, but answered "ok": a retry would bring the same). NATS down: 503, so the platform retries; polling covers any
push that is given up on. Nothing here raises to the server: every request ends in an answer.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter

from gospublic import contracts as c
from gospublic.settings import Settings
from services.receiver import payloads as p
from services.receiver.pages import PageDirectory
from services.receiver.publisher import NotPublished, PushPublisher

log = logging.getLogger("gospublic.receiver")

MAX_SECRET_HEADER = "x-max-bot-api-secret"

REQUESTS = Counter(
    "gospublic_receiver_requests_total",
    "Push requests by platform and outcome (ok, confirmation, ignored, unknown_page, forbidden, "
    "too_large, unreadable, unavailable)",
    ["platform", "outcome"],
)
PUBLISHED = Counter(
    "gospublic_receiver_events_published_total",
    "Events a push turned into, stored on EVENTS (new) or dropped by the message id (duplicate)",
    ["platform", "kind", "result"],
)

DeadLetter = Callable[[str, bytes, p.Unreadable], Awaitable[None]]
# Tells the scheduler the page has news (gospublic.pushmarks): its next sweep reads it.
MarkPushed = Callable[[c.PageRef, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    outcome: str


OK = b"ok"


class Receiver:
    def __init__(
        self,
        settings: Settings,
        pages: PageDirectory,
        publisher: PushPublisher,
        dead_letter: DeadLetter,
        now: Callable[[], datetime] = c.utcnow,
        mark_pushed: MarkPushed | None = None,
    ) -> None:
        self.pages = pages
        self.publisher = publisher
        self.dead_letter = dead_letter
        self.mark_pushed = mark_pushed
        self.now = now
        self.body_limit = settings.receiver_max_body_bytes
        self._vk_secrets = {
            gid: s.get_secret_value().encode()
            for gid, s in settings.vk_callback_secrets.items()
            if s.get_secret_value()
        }
        self._vk_confirmations = dict(settings.vk_callback_confirmations)
        self._max_secret = settings.max_webhook_secret.get_secret_value().encode()
        self._secrets = [s for s in (*self._vk_secrets.values(), self._max_secret) if s]

    # --- VK ----------------------------------------------------------------------------------

    async def vk_callback(self, body: bytes) -> Answer:
        answer = await self._vk(body)
        REQUESTS.labels("vk", answer.outcome).inc()
        return answer

    async def _vk(self, body: bytes) -> Answer:
        if len(body) > self.body_limit:
            return too_large(self.body_limit)
        try:
            note = p.VkNotification.read(p.parse_object(body))
        except p.Unreadable as exc:
            return await self._unreadable("vk", body, exc)
        expected = self._vk_secrets.get(note.group_id)
        given = note.secret.encode()
        # The schema leaves ``secret`` optional, and the confirmation string is no secret (the
        # community's settings show it): a confirmation request without one is answered, for a
        # configured community only; one with a wrong secret is refused like any other request.
        unsigned_confirmation = note.type == "confirmation" and not given
        if expected is None or not (unsigned_confirmation or hmac.compare_digest(given, expected)):
            log.warning(
                "VK callback refused: wrong or missing secret, or a community not configured",
                extra={"group_id": note.group_id, "type": note.type[:64]},
            )
            return Answer(403, b"forbidden\n", "forbidden")
        if note.type == "confirmation":
            confirmation = self._vk_confirmations.get(note.group_id)
            if not confirmation:
                log.error(
                    "VK asks for confirmation; none configured", extra={"group_id": note.group_id}
                )
                return Answer(403, b"no confirmation string configured\n", "forbidden")
            return Answer(200, confirmation.encode(), "confirmation")
        ref = self.pages.find(c.Platform.VK, note.group_id)
        if ref is None:
            log.info(
                "VK callback about a page not in the registers", extra={"group_id": note.group_id}
            )
            return Answer(200, OK, "unknown_page")
        now = self.now()
        try:
            events = p.vk_events(note, ref, now)
        except p.Unreadable as exc:
            return await self._unreadable("vk", body, exc, authenticated=True)
        return await self._publish("vk", ref, events, now, OK)

    # --- MAX ---------------------------------------------------------------------------------

    def max_authorised(self, headers: Mapping[str, str]) -> bool:
        """Checked before the body is read: an unauthenticated caller costs no more than this."""
        given = headers.get(MAX_SECRET_HEADER, "").encode()
        return bool(self._max_secret) and hmac.compare_digest(given, self._max_secret)

    async def max_webhook(self, headers: Mapping[str, str], body: bytes) -> Answer:
        answer = await self._max(headers, body)
        REQUESTS.labels("max", answer.outcome).inc()
        return answer

    async def _max(self, headers: Mapping[str, str], body: bytes) -> Answer:
        if not self.max_authorised(headers):
            log.warning("MAX webhook refused: wrong or missing X-Max-Bot-Api-Secret")
            return Answer(403, b"forbidden\n", "forbidden")
        if len(body) > self.body_limit:
            return too_large(self.body_limit)
        try:
            update = p.MaxUpdate.read(p.parse_object(body))
        except p.Unreadable as exc:
            return await self._unreadable("max", body, exc)
        if not update.concerns_a_channel:
            return Answer(200, OK, "ignored")
        ref = self.pages.find(c.Platform.MAX, update.chat_id or 0)
        if ref is None:
            log.info(
                "MAX update about a channel not in the registers", extra={"chat_id": update.chat_id}
            )
            return Answer(200, OK, "unknown_page")
        now = self.now()
        try:
            events = p.max_events(update, ref, now)
        except p.Unreadable as exc:
            return await self._unreadable("max", body, exc, authenticated=True)
        return await self._publish("max", ref, events, now, OK)

    # --- shared --------------------------------------------------------------------------------

    async def _publish(
        self, platform: str, ref: c.PageRef, events: list[c.PageEvent], now: datetime, ok: bytes
    ) -> Answer:
        if not events:
            return Answer(200, ok, "ignored")
        partition = self.pages.partition(ref)
        messages = [p.to_outgoing(event, partition) for event in events]
        try:
            new = await self.publisher.publish(messages)
        except NotPublished as exc:
            log.warning(
                "push not stored; the platform is asked to send it again",
                extra={"platform": platform, "error": str(exc)},
            )
            return Answer(503, b"not stored, send again\n", "unavailable")
        for i, event in enumerate(events):
            result = "new" if i < new else "duplicate"
            PUBLISHED.labels(platform, p.KIND[type(event)], result).inc()
        await self._mark(platform, ref, now)
        return Answer(200, ok, "ok")

    async def _mark(self, platform: str, ref: c.PageRef, now: datetime) -> None:
        """The push is stored: the answer stays "ok" even if the mark is not (the page is then
        read when its regular turn comes)."""
        if self.mark_pushed is None:
            return
        try:
            await self.mark_pushed(ref, now)
        except Exception as failure:
            log.warning(
                "page not marked for the next sweep",
                extra={"platform": platform, "error": f"{type(failure).__name__}: {failure}"[:300]},
            )

    async def _unreadable(
        self, platform: str, body: bytes, exc: p.Unreadable, *, authenticated: bool = False
    ) -> Answer:
        """400 with the reason; but a notification the platform signed and the mapping refuses is
        answered "ok": sending it again would not change it (the dead letter keeps it, the next
        sweep reads the item), and VK pauses a server that keeps answering errors."""
        try:
            await self.dead_letter(f"receiver-{platform}", self._blanked(body), exc)
        except Exception as failure:  # NATS down: the answer still says what was wrong
            log.warning(
                "push not dead-lettered",
                extra={"platform": platform, "error": f"{type(failure).__name__}: {failure}"[:300]},
            )
        if authenticated:
            return Answer(200, OK, "unreadable")
        return Answer(400, f"unreadable: {exc.reason}\n".encode(), "unreadable")

    def _blanked(self, body: bytes) -> bytes:
        """The body with every configured secret replaced (a VK body carries its secret)."""
        for secret in self._secrets:
            body = body.replace(secret, b"***")
        return body


def too_large(limit: int) -> Answer:
    return Answer(413, f"body over {limit} bytes\n".encode(), "too_large")
