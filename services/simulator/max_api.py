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
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from services.simulator.other_pages import ok_group_like, tg_channel
from services.simulator.region import (
    DAY_S,
    DESCRIPTION_MIN_CHARS,
    WALL_WINDOW,
    Comment,
    Organisation,
    Post,
    Region,
    ScorecardFacts,
    VkGroup,
    bits,
    unit,
)

JSON_TYPE = "application/json; charset=utf-8"
MAX_ID_BASE = 72_000_000_000_000  # channel ids are -(base + organisation index)
MAX_COUNT = 100
_SALT_MAX = 0x3A
_VK_MENTION = re.compile(r"\[id[0-9]+\|([^\]]*)\]")

# Shares of planted states among the organisations that link a MAX channel.
MAX_LINKED = 0.7
NOT_CONNECTED, EMPTY, STALE, COPIED = 0.15, 0.08, 0.12, 0.2
COPY_LAG_S = (600, 6 * 3600)  # a copied post appears this long after the original
# A copying channel skips the posts whose copy would land within two hours of the epoch or of
# four weeks before it (COPIED_CONTENT's window): its verdict is planted at the epoch, and the
# minutes a sweep takes must not bring a copy in or take one out of the window read.
COPY_CLEARANCE_S = 2 * 3600
COPY_WINDOW_S = 28 * DAY_S


@dataclass(frozen=True)
class Channel:
    index: int  # the organisation's index
    chat_id: int
    name: str
    state: str  # connected | not_connected | empty | stale | copied
    group: VkGroup  # the wall's shape and texts (a copied channel: the copied page's)
    lag_s: int = 0
    copies: str = ""  # a copied channel: the platform it copies (vk | telegram)


def max_name(org: Organisation) -> str:
    return f"{org.slug}_gos" if org.slug else ""


def _org_index(region: Region, org: Organisation) -> int:
    world = getattr(region.organisations, "world", None)
    if world is not None:
        return int(org.slug.rsplit("_", 1)[1], 36)
    return region._org_index()[org.ogrn]


def max_link(region: Region, org: Organisation) -> str:
    """The register's ``max`` cell for the organisation: its channel's link, or "" if none."""
    name = max_name(org)
    if not name:
        return ""
    return f"https://max.ru/{name}" if _linked(region, _org_index(region, org)) else ""


def _linked(region: Region, index: int) -> bool:
    return unit(bits(region.seed, index, _SALT_MAX)) < MAX_LINKED


def channel(region: Region, index: int) -> Channel | None:
    """The MAX channel of the organisation with this index, or None if it links none."""
    if not 0 <= index < len(region.organisations) or not _linked(region, index):
        return None
    org = region.organisations[index]
    name = max_name(org)
    if not name:
        return None
    b = bits(region.seed, index, _SALT_MAX, 1)
    u = unit(b)
    chat_id = -(MAX_ID_BASE + index)
    base = ok_group_like(org, index, MAX_ID_BASE + index)
    members = 20 + int(3000 * unit(b, 16) ** 2)
    base = replace(
        base,
        custom_screen_name=name,
        members=members,
        has_photo=int(unit(b, 32) < 0.8),
        comments_open=True,  # MAX channels take comments under posts (a copying one does not)
    )
    if u < NOT_CONNECTED:
        return Channel(index, chat_id, name, "not_connected", base)
    if u < NOT_CONNECTED + EMPTY:
        return Channel(index, chat_id, name, "empty", replace(base, wall_kind="empty"))
    if u < NOT_CONNECTED + EMPTY + STALE:
        return Channel(index, chat_id, name, "stale", replace(base, wall_kind="stale_critical"))
    if u < NOT_CONNECTED + EMPTY + STALE + COPIED:
        platform, source = _copy_source(region, org)
        if source is not None:
            lag = COPY_LAG_S[0] + int((COPY_LAG_S[1] - COPY_LAG_S[0]) * unit(b, 48))
            group = replace(source, members=members, has_photo=base.has_photo, comments_open=False)
            return Channel(index, chat_id, name, "copied", group, lag, platform)
    return Channel(index, chat_id, name, "connected", base)


def _copy_source(region: Region, org: Organisation) -> tuple[str, VkGroup | None]:
    """The page a copying channel mirrors: the organisation's VK page when it is live, open and
    stays so (the collector reads its wall), else its Telegram channel; ("", None): neither."""
    vk = region.vk_group_of(org)
    if vk is not None and vk.live and not vk.is_closed and vk.wall != 0 and region.fate(vk) is None:
        return "vk", vk
    if org.telegram:
        tg = tg_channel(region, org.telegram.rsplit("/", 1)[-1])
        if tg is not None:
            return "telegram", tg
    return "", None


class MaxError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"code": self.code, "message": self.message}).encode()


class MaxSimulator:
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

    def _posts(self, ch: Channel, now_ts: float | None = None) -> list[tuple[Post, int]]:
        """(post, its time in MAX) of the channel's own and forwarded posts, newest first, at
        the region's clock or at ``now_ts`` (the ground truth's)."""
        now = self.region.now_ts if now_ts is None else now_ts
        found = []
        for post in self.region.posts(ch.group, now):
            if post.from_id > 0:  # a citizen's post on a VK wall; channels have none
                continue
            at = post.date + ch.lag_s
            if ch.state == "copied" and self._near_an_edge(at):
                continue
            if at <= now:
                found.append((post, at))
        found.sort(key=lambda pa: (-pa[1], -pa[0].id))
        return found

    def _near_an_edge(self, at: int) -> bool:
        epoch = self.region.epoch_ts
        return any(abs(at - edge) < COPY_CLEARANCE_S for edge in (epoch, epoch - COPY_WINDOW_S))

    def _chat_object(self, ch: Channel, single: bool = False) -> dict[str, Any]:
        region = self.region
        posts = self._posts(ch)
        description = region.description(ch.group)
        last = posts[0][1] if posts else region.epoch_ts - 86_400 * 30
        chat: dict[str, Any] = {
            "chat_id": ch.chat_id,
            "type": "channel",
            "status": "active",
            "title": region.organisations[ch.index].name[:200],
            "icon": (
                {"url": f"https://i.max.ru/icons/{abs(ch.chat_id):x}.webp"}
                if ch.group.has_photo
                else None
            ),
            "last_event_time": last * 1000,
            "participants_count": ch.group.members,
            "is_public": True,
            "link": f"https://max.ru/{ch.name}",
            "description": description or None,
            "messages_count": len(posts),
        }
        if not single:
            chat["participants"] = None
        return chat

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

    def _message(self, ch: Channel, post: Post, at: int) -> dict[str, Any]:
        region = self.region
        mid = self._mid(ch, post.id)
        views = self.views(ch, post)
        message: dict[str, Any] = {
            "sender": None,  # posted on behalf of the channel
            "recipient": {"chat_id": ch.chat_id, "chat_type": "channel"},
            "timestamp": at * 1000,
            "body": {"mid": mid, "seq": post.id, "text": body_text(region, ch, post)},
            "stat": {"views": views},
            "url": f"https://max.ru/{ch.name}/{mid}",
        }
        if post.repost:
            source, _name, text, original = region.repost_source(ch.group, post)
            message["link"] = {
                "type": "forward",
                "chat_id": -source,
                "message": {"mid": f"mid.{source:014x}{original:08x}", "seq": original,
                            "text": text},
            }  # fmt: skip
        return message

    def views(self, ch: Channel, post: Post) -> int:
        """A post's views (``stat.views``): a fifth to all of the channel's participants."""
        return int(
            ch.group.members * (0.2 + 0.8 * unit(bits(self.region.seed, ch.chat_id, post.id)))
        )

    def _mid(self, ch: Channel, post_id: int) -> str:
        return f"mid.{abs(ch.chat_id):014x}{post_id:08x}"

    def _comment_mid(self, ch: Channel, post: Post, comment_id: int) -> str:
        return f"mid.{abs(ch.chat_id):014x}{post.id:08x}c{comment_id:06x}"

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

    def _comment(self, ch: Channel, post: Post, comment: Comment) -> dict[str, Any]:
        own = comment.from_id == -ch.group.id
        message: dict[str, Any] = {
            "sender": None
            if own
            else {
                "user_id": abs(comment.from_id),
                "first_name": "Житель",
                "last_name": None,
                "username": None,
                "is_bot": False,
            },
            "recipient": {
                "chat_id": ch.chat_id,
                "chat_type": "channel",
                "post_id": self._mid(ch, post.id),
            },
            "timestamp": (comment.date + ch.lag_s) * 1000,
            "body": {
                "mid": self._comment_mid(ch, post, comment.id),
                "seq": comment.id,
                "text": _VK_MENTION.sub(r"\1", self.region.comment_text(comment)),
            },
        }
        if comment.thread:
            message["link"] = {
                "type": "reply",
                "message": {
                    "mid": self._comment_mid(ch, post, comment.thread),
                    "seq": comment.thread,
                },
            }
        return message


def body_text(region: Region, ch: Channel, post: Post) -> str:
    """A post's text in MAX: a copying channel's is the copied post's, word for word; any other
    channel's ends with its name, so it is its own (the region draws every page's texts from one
    pool of announcements, and a chance repeat of the body's VK post is no copy)."""
    text = region.post_text(ch.group, post)
    if ch.state == "copied" or not text:
        return text
    return f"{text}\n\n{ch.name} в MAX"


def shown_text(region: Region, ch: Channel, post: Post) -> str:
    """The text a reader of the post sees: its own, or the forwarded message's when it has none."""
    text = body_text(region, ch, post)
    if post.repost and not text:
        return region.repost_source(ch.group, post)[2]
    return text


def planted(region: Region) -> dict[str, dict[str, Any]]:
    """The ground truth of MAX per organisation (``ogrn``) that links a channel: its name, id, the
    planted state, how many posts it has and how old its newest post and its newest own (not
    forwarded) post are (days, None: none).

    A copying channel's posts are its organisation's VK or Telegram posts (``copies``), ``lag_s``
    later.
    """
    now = region.now_ts
    simulator = MaxSimulator(region)
    truth: dict[str, dict[str, Any]] = {}
    for index in range(len(region.organisations)):
        ch = channel(region, index)
        if ch is None:
            continue
        posts = [] if ch.state == "not_connected" else simulator._posts(ch)
        newest = max((at for _, at in posts), default=None)
        own = max((at for post, at in posts if not post.repost), default=None)
        truth[region.organisations[index].ogrn] = {
            "name": ch.name,
            "chat_id": ch.chat_id,
            "state": ch.state,
            "posts": len(posts),
            "newest_post_age_days": None if newest is None else round((now - newest) / 86_400, 2),
            # Forwarded posts are not the channel's own: a stale channel may still forward.
            "newest_own_post_age_days": None if own is None else round((now - own) / 86_400, 2),
            "copy_lag_s": ch.lag_s,
            "copies": ch.copies,
        }
    return truth


def read_posts(
    region: Region, ch: Channel, now_ts: float | None = None, window: int = WALL_WINDOW
) -> tuple[list[tuple[Post, int]], bool]:
    """What the collector reads of a channel the bot sees: the ``window`` newest posts as (post,
    its time in MAX), newest first, and whether they are all of the channel's posts."""
    posts = MaxSimulator(region)._posts(ch, now_ts)
    return posts[:window], len(posts) <= window


def scorecard_facts(
    region: Region, now_ts: float | None = None, window: int = WALL_WINDOW
) -> dict[str, ScorecardFacts]:
    """Per organisation (ОГРН), what the scorecard reads of its MAX channel, for the channels the
    bot sees: the icon as the avatar, the description, participants, own posts and their views.
    MAX has no «Госорганизация» mark, cover or widgets: those criteria give no points. The
    register's «Госпаблики» column is left unknown here (it is the organisation's, not the
    page's): the caller takes it from the organisation's facts."""
    now = region.now_ts if now_ts is None else now_ts
    since = now - 7 * DAY_S
    simulator = MaxSimulator(region)
    out: dict[str, ScorecardFacts] = {}
    for index, org in enumerate(region.organisations):
        ch = channel(region, index)
        if ch is None or ch.state == "not_connected":
            continue
        seen, complete = read_posts(region, ch, now, window)
        own = [(post, at) for post, at in seen if not post.repost]
        week = [(post, at) for post, at in own if since <= at <= now]
        edge = min((at for _, at in seen), default=None)
        description = region.description(ch.group)
        out[org.ogrn] = ScorecardFacts(
            gospubliki=None,
            page_live=True,
            avatar=bool(ch.group.has_photo),
            description=len(description.strip()) >= DESCRIPTION_MIN_CHARS,
            members=ch.group.members,
            week_posts=len(week),
            weekly_views=sum(simulator.views(ch, post) for post, _ in week),
            week_seen=complete or (edge is not None and edge < since),
            own_post_dates=tuple(at for _, at in own),
            wall_complete=complete,
            wall_edge=edge,
        )
    return out
