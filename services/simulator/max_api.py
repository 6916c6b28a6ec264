"""MAX's bot API answered from the simulated region, as its published OpenAPI schema says.

``GET /chats`` (the bot's chats, ``count`` ≤ 100, paged by an integer ``marker``), ``GET
/chats/{chatId}`` (a ``Chat``) and ``GET /messages?chat_id=…`` (a ``MessageList``, newest first,
``count`` ≤ 100, ``before``/``after`` in Unix milliseconds) and ``GET /messages/{mid}/comments`` (a
``CommentMessageList`` of a post, newest first: citizens' comments and the channel's replies, which
MAX shows without a sender as posted on behalf of the channel). Every request must carry the bot's
token in the ``Authorization`` header (a token in the query is refused like a missing one, as MAX
no longer reads it): a wrong or missing token is 401 with an ``Error`` body ``{"code",
"message"}``. ``throttle(n)`` makes the next ``n`` requests 429 (with ``Retry-After``), and a
``requests_per_second`` limit answers 429 beyond it, so a client's backoff can be tested.

Which organisation has a MAX channel is derived from its index, like everything else: a share of
them link ``https://max.ru/<slug>_gos`` (``max_link``). Planted states: channels the bot is not in
(not connected: absent from ``/chats``, 403 on their messages), empty and stale channels, channels
that copy the same organisation's posts (the same texts, hours later: its VK page's when it has a
live one the collector reads, else its Telegram channel's), and active ones, whose texts are their
own (each ends with the channel's name, so no text repeats one of another page by chance).
Channel ids are negative, as MAX's are.

The channels and their planted states are derived in ``max_channels``, rendered in ``max_view``
and judged in ``max_truth``; this module answers HTTP and keeps every name importable from here.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from typing import Any
from urllib.parse import unquote

from services.simulator.max_channels import (
    COPIED,
    COPY_CLEARANCE_S,
    COPY_LAG_S,
    COPY_WINDOW_S,
    EMPTY,
    JSON_TYPE,
    MAX_COUNT,
    MAX_ID_BASE,
    MAX_LINKED,
    NOT_CONNECTED,
    STALE,
    Channel,
    body_text,
    channel,
    max_link,
    max_name,
    shown_text,
)
from services.simulator.max_truth import planted, read_posts, scorecard_facts
from services.simulator.max_view import ChannelView
from services.simulator.region import Region

__all__ = [
    "COPIED",
    "COPY_CLEARANCE_S",
    "COPY_LAG_S",
    "COPY_WINDOW_S",
    "EMPTY",
    "JSON_TYPE",
    "MAX_COUNT",
    "MAX_ID_BASE",
    "MAX_LINKED",
    "NOT_CONNECTED",
    "STALE",
    "Channel",
    "MaxError",
    "MaxSimulator",
    "body_text",
    "channel",
    "max_link",
    "max_name",
    "planted",
    "read_posts",
    "scorecard_facts",
    "shown_text",
]


class MaxError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"code": self.code, "message": self.message}).encode()


class MaxSimulator(ChannelView):
    """Answers the bot API's GETs; ``token`` is the one bot token it accepts."""

    def __init__(
        self,
        region: Region,
        token: str = "max-bot-token",
        *,
        requests_per_second: float | None = None,
    ) -> None:
        self.region = region
        self.token = token
        self.requests_per_second = requests_per_second
        self.requests: Counter[str] = Counter()
        self.seen_authorization: list[str] = []  # the header of each request (tests read it)
        self.seen_queries: list[str] = []  # path?query of each request
        self.removed: set[int] = set()  # organisation indices whose channel removed the bot
        self._throttle = 0
        self._retry_after: str | None = "1"
        self._throttle_status = 429
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()
        self._by_name: dict[str, int] | None = None

    # --- steering (tests) ---------------------------------------------------------------------
    def throttle(self, n: int, retry_after: str | None = "1", status: int = 429) -> None:
        """Answer the next ``n`` requests with 429 (or 503) and this ``Retry-After`` (None: no
        header)."""
        with self._lock:
            self._throttle = n
            self._retry_after = retry_after
            self._throttle_status = status

    def remove_bot(self, name: str) -> None:
        """The channel's owner removes the bot: it leaves ``/chats`` and its messages are refused."""
        index = self.index_of(name)
        if index is not None:
            self.removed.add(index)

    def stats(self) -> dict:
        with self._lock:
            return {"requests": sum(self.requests.values()), "by_result": dict(self.requests)}

    # --- lookups ------------------------------------------------------------------------------
    def index_of(self, name: str) -> int | None:
        """The organisation index behind a channel name (any case)."""
        name = name.lower()
        if not name.endswith("_gos"):
            return None
        world = getattr(self.region.organisations, "world", None)
        if world is not None:
            try:
                index = int(name.removesuffix("_gos").rsplit("_", 1)[1], 36)
            except (IndexError, ValueError):
                return None
            ch = channel(self.region, index)
            return index if ch is not None and ch.name.lower() == name else None
        if self._by_name is None:
            self._by_name = {
                max_name(o).lower(): i for i, o in enumerate(self.region.organisations) if o.slug
            }
        return self._by_name.get(name)

    def connected(self, ch: Channel | None) -> bool:
        return ch is not None and ch.state != "not_connected" and ch.index not in self.removed

    def channels(self) -> list[Channel]:
        return [
            ch
            for i in range(len(self.region.organisations))
            if (ch := channel(self.region, i)) is not None
        ]

    # --- HTTP ---------------------------------------------------------------------------------
    def respond(
        self, path: str, query: dict[str, str], authorization: str | None
    ) -> tuple[int, bytes, dict[str, str]]:
        """(status, JSON body, extra headers) for ``GET <path>?<query>``."""
        with self._lock:
            self.seen_authorization.append(authorization or "")
            self.seen_queries.append(path + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
            throttled = self._throttle_status if self._throttle > 0 else 0
            if throttled:
                self._throttle -= 1
            over = self._over_limit()
        try:
            if throttled == 503:
                raise MaxError(503, "service.unavailable", "Service unavailable")
            if throttled or over:
                raise MaxError(429, "too.many.requests", "Too many requests")
            if not authorization or authorization != self.token:
                raise MaxError(401, "verify.token", "Invalid access_token")
            body = self._route(path, query)
        except MaxError as exc:
            with self._lock:
                self.requests[str(exc.status)] += 1
            retry = self._retry_after if throttled else "1"
            extra = {"Retry-After": retry} if exc.status in (429, 503) and retry else {}
            return exc.status, exc.body(), extra
        with self._lock:
            self.requests[path.split("/")[1] or "root"] += 1
        return 200, json.dumps(body, ensure_ascii=False).encode(), {}

    def _over_limit(self) -> bool:
        if self.requests_per_second is None:
            return False
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.requests_per_second:
            return True
        self._recent.append(now)
        return False

    def _route(self, path: str, query: dict[str, str]) -> Any:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["chats"]:
            return self._chats(query)
        if len(parts) == 2 and parts[0] == "chats":
            return self._chat(parts[1])
        if parts == ["messages"]:
            return self._messages(query)
        if len(parts) == 3 and parts[0] == "messages" and parts[2] == "comments":
            return self._comments(parts[1], query)
        raise MaxError(404, "not.found", f"Path {path[:100]} not found")

    @staticmethod
    def _number(query: dict[str, str], key: str, default: int | None, low: int, high: int) -> Any:
        value = query.get(key)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise MaxError(400, "proto.payload", f"{key}: not an integer") from None
        if not low <= number <= high:
            raise MaxError(400, "proto.payload", f"{key}: must be in {low}..{high}")
        return number

    def _chats(self, query: dict[str, str]) -> dict[str, Any]:
        count = self._number(query, "count", 50, 1, MAX_COUNT)
        start = self._number(query, "marker", 0, 0, 2**62)
        total = len(self.region.organisations)
        chats = []
        i = start
        while i < total and len(chats) < count:
            ch = channel(self.region, i)
            if self.connected(ch):
                chats.append(self._chat_object(ch))  # type: ignore[arg-type]
            i += 1
        # The marker points past the last chat given (the next page may be empty); null once the
        # list is done.
        return {"chats": chats, "marker": i if i < total else None}

    def _channel_by_id(self, text: str) -> Channel:
        try:
            chat_id = int(text)
        except ValueError:
            raise MaxError(400, "proto.payload", "chatId: not an integer") from None
        ch = channel(self.region, -chat_id - MAX_ID_BASE) if chat_id < 0 else None
        if ch is None:
            raise MaxError(404, "chat.not.found", f"Chat {chat_id} not found")
        if not self.connected(ch):
            raise MaxError(403, "chat.denied", "Bot is not a member of the chat")
        return ch

    def _chat(self, text: str) -> dict[str, Any]:
        return self._chat_object(self._channel_by_id(text), single=True)

    def _messages(self, query: dict[str, str]) -> dict[str, Any]:
        if "chat_id" not in query:
            raise MaxError(400, "proto.payload", "chat_id or message_ids is required")
        ch = self._channel_by_id(query["chat_id"])
        count = self._number(query, "count", 50, 1, MAX_COUNT)
        before = self._number(query, "before", None, 0, 2**62)
        after = self._number(query, "after", None, 0, 2**62)
        chosen = []
        for post, at in self._posts(ch):
            ms = at * 1000
            if before is not None and ms >= before:
                continue
            if after is not None and ms <= after:
                continue
            chosen.append(self._message(ch, post, at))
            if len(chosen) == count:
                break
        return {"messages": chosen}

    def _comments(self, mid: str, query: dict[str, str]) -> dict[str, Any]:
        """The comments of the post ``mid``, newest first."""
        if not mid.startswith("mid.") or len(mid) != 4 + 14 + 8:
            raise MaxError(404, "not.found", "Message not found")
        try:
            chat_id, post_id = -int(mid[4:18], 16), int(mid[18:], 16)
        except ValueError:
            raise MaxError(404, "not.found", "Message not found") from None
        ch = self._channel_by_id(str(chat_id))
        post = next((p for p, _ in self._posts(ch) if p.id == post_id), None)
        if post is None:
            raise MaxError(404, "not.found", "Message not found")
        count = self._number(query, "count", 50, 1, MAX_COUNT)
        before = self._number(query, "before", None, 0, 2**62)
        after = self._number(query, "after", None, 0, 2**62)
        comments = sorted(self.region.comments(ch.group, post), key=lambda cm: (-cm.date, -cm.id))
        chosen = []
        for comment in comments:
            ms = (comment.date + ch.lag_s) * 1000
            if (before is not None and ms >= before) or (after is not None and ms <= after):
                continue
            chosen.append(self._comment(ch, post, comment))
            if len(chosen) == count:
                break
        return {"messages": chosen}
