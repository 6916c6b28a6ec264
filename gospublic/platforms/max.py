"""Pure mapping of MAX bot API answers to contract events (shared by the collector and tests).

MAX shows a channel to a bot only when the bot is a member of it: the operator runs one bot, each
body adds it to its channel, and the collector lists the bot's chats (``GET /chats``), matches them
to the register by link (``https://max.ru/<name>``) or id, reads each channel (``GET
/chats/{chatId}``), its posts (``GET /messages?chat_id=…``) and their comments (``GET
/messages/{mid}/comments``). The shapes are those of the published OpenAPI schema (``Chat``,
``ChatList``, ``MessageList``, ``Message``, ``CommentMessage``): times are Unix milliseconds,
channel ids negative 64-bit integers, a post or comment made on behalf of the channel has no
``sender``, a forwarded post a ``link`` of type ``forward``, a reply one of type ``reply``, and
``stat.views`` is a post's views.

Answers are untrusted input: a field of the wrong type raises ``vk.MalformedResponse`` naming it,
as for VK and OK; the collector turns it into ``PageUnavailable(api_error)`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from gospublic import contracts as c
from gospublic.platforms.vk import MalformedResponse

MAX_TEXT = 100_000
# Public names as MAX's link form shows them (``https://max.ru/<name>``): a letter first, then
# letters, digits, "_" or "-" (the older published schema's pattern for a chat link).
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
CHAT_ID = re.compile(r"^-?[0-9]{1,19}$")
_LINK = re.compile(r"^(?:https?://)?(?:www\.)?max\.ru/([^/?#\s]+)/?$", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"']+")
# Paths of max.ru that are not channel names (invitations by hash, the site's own pages).
_NOT_NAMES = frozenset({"join", "u", "c", "business_bot", "app", "apps", "about", "help"})
# Times before 2000 or after 2100 are not a channel's posts: a garbled answer, not a date.
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000


def name_from_link(link: str) -> str | None:
    """``minobr_gos`` from ``https://max.ru/minobr_gos`` (any case, with or without scheme), or
    None for a link that names no public channel (an invitation ``max.ru/join/…``, another site)."""
    m = _LINK.match(link.strip())
    if m is None:
        return None
    name = m.group(1)
    if name.lower() in _NOT_NAMES or not NAME.match(name):
        return None
    return name


def ref_from_link(value: str) -> str | None:
    """The register's ``native_id`` for a MAX cell: a channel's public name or its numeric id."""
    value = value.strip()
    if CHAT_ID.match(value):
        return value
    if NAME.match(value):
        return value
    return name_from_link(value)


def page_url(native_id: str) -> str:
    """Where a person opens the channel: its public link (an id has none, so the site's root)."""
    return f"https://max.ru/{native_id}" if NAME.match(native_id) else "https://max.ru/"


# --- typed access --------------------------------------------------------------------------------


def _int(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> int | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedResponse(f"{where}.{key}: expected an integer")
    if not c.INT64_MIN <= value <= c.INT64_MAX:
        raise MalformedResponse(f"{where}.{key}: out of the 64-bit range")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str, limit: int = MAX_TEXT) -> str:
    """A nullable string field: "" when absent or null."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedResponse(f"{where}.{key}: expected a string")
    return value[:limit]


def _obj(obj: Mapping[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedResponse(f"{where}.{key}: expected an object")
    return value


def _mid(value: object, where: str) -> str:
    """A message id: a non-empty string of at most 64 characters that UTF-8 can carry (an id is
    published as it is, so a lone surrogate in it would fail the whole batch)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise MalformedResponse(f"{where}: expected a message id")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise MalformedResponse(f"{where}: not a valid text") from None
    return value


def _time(ms: int, where: str) -> datetime:
    if not _MIN_MS <= ms <= _MAX_MS:
        raise MalformedResponse(f"{where}: {ms} is not a time in milliseconds")
    return datetime.fromtimestamp(ms / 1000, UTC)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


# --- GET /chats ----------------------------------------------------------------------------------


def chats_of(answer: object) -> tuple[list[dict[str, Any]], int | None]:
    """The chats of one ``ChatList`` page and the marker of the next (None: the last page)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("chats"), list):
        raise MalformedResponse("chats: expected a ChatList object with a 'chats' list")
    chats = answer["chats"]
    for i, chat in enumerate(chats):
        if not isinstance(chat, dict):
            raise MalformedResponse(f"chats[{i}]: expected an object")
        _int(chat, "chat_id", f"chats[{i}]")
    marker = _int(answer, "marker", "ChatList", optional=True)
    return chats, marker


def chat_names(chat: Mapping[str, Any]) -> set[str]:
    """The keys a register entry may name the chat by: its id and, if public, its link's name
    (lower-case: MAX names are not case-sensitive)."""
    names = {str(chat.get("chat_id"))}
    link = chat.get("link")
    if isinstance(link, str) and (name := name_from_link(link)):
        names.add(name.lower())
    return names


def match_chats(
    native_ids: Iterable[str], chats: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``native_id`` → the bot's chat it names (by id or public name); unnamed ones are absent."""
    by_key: dict[str, dict[str, Any]] = {}
    for chat in chats:
        for key in chat_names(chat):
            by_key.setdefault(key, dict(chat))
    found: dict[str, dict[str, Any]] = {}
    for native_id in native_ids:
        key = native_id if CHAT_ID.match(native_id) else native_id.lower()
        if key in by_key:
            found[native_id] = by_key[key]
    return found


# --- GET /chats/{chatId} -------------------------------------------------------------------------


def chat_state(chat: Mapping[str, Any]) -> c.Unavailability | None:
    """Why the bot cannot read the chat although it is listed, or None for an active member.

    ``removed`` (the bot was removed) and ``left`` mean the channel is no longer connected;
    ``closed`` is a channel that was closed (gone).
    """
    status = chat.get("status")
    if status == "active":
        return None
    if status == "closed":
        return c.Unavailability.DELETED
    if status in ("removed", "left", "suspended"):
        return c.Unavailability.NOT_CONNECTED
    raise MalformedResponse(f"Chat.status: unknown status {str(status)[:20]!r}")


def build_snapshot(
    chat: Mapping[str, Any], ref: c.PageRef, sweep_id: str, at: datetime
) -> c.PageSnapshot:
    """The channel's profile: title, description (and its links), icon, link, participants."""
    chat_id = _int(chat, "chat_id", "Chat")
    members = _int(chat, "participants_count", "Chat", optional=True)
    is_public = chat.get("is_public")
    if is_public is not None and not isinstance(is_public, bool):
        raise MalformedResponse("Chat.is_public: expected a boolean")
    icon = _obj(chat, "icon", "Chat")
    if icon is not None and not isinstance(icon.get("url"), str):
        raise MalformedResponse("Chat.icon.url: expected a string")
    link = _str(chat, "link", "Chat", 2000)
    description = _str(chat, "description", "Chat")
    name = name_from_link(link) or ""
    try:
        return c.PageSnapshot.create(
            observed_at=at,
            platform=c.Platform.MAX,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=str(chat_id),
            screen_name=name[:200],
            name=_str(chat, "title", "Chat", 2000),
            description=description,
            links=tuple(dict.fromkeys(u[:2000] for u in _URL.findall(description)))[:50],
            members=members,
            # A private channel exists but only its members see it.
            is_closed=0 if is_public is not False else 1,
            has_photo=icon is not None and bool(icon.get("url")),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"Chat does not fit the contract: {_first_error(exc)}") from None


# --- GET /messages -------------------------------------------------------------------------------


def messages_of(answer: object) -> list[dict[str, Any]]:
    """The messages of a ``MessageList`` (newest first, as MAX sends them)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("messages"), list):
        raise MalformedResponse("messages: expected a MessageList object with a 'messages' list")
    messages = answer["messages"]
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise MalformedResponse(f"messages[{i}]: expected an object")
    return messages


def post_from(message: Mapping[str, Any], chat_id: int, where: str = "Message") -> c.Post:
    body = _obj(message, "body", where)
    if body is None:
        raise MalformedResponse(f"{where}.body: missing")
    mid = _mid(body.get("mid"), f"{where}.body.mid")
    posted_at = _time(_int(message, "timestamp", where) or 0, f"{where}.timestamp")
    sender = _obj(message, "sender", where)
    sender_id = "" if sender is None else str(_int(sender, "user_id", f"{where}.sender"))
    link = _obj(message, "link", where)
    forwarded = link is not None and link.get("type") == "forward"
    text = _str(body, "text", f"{where}.body")
    if forwarded and not text and link is not None:
        original = _obj(link, "message", f"{where}.link")
        text = _str(original or {}, "text", f"{where}.link.message")
    stat = _obj(message, "stat", where)
    views = None if stat is None else _int(stat, "views", f"{where}.stat")
    links = list(_URL.findall(text))
    markup = body.get("markup")
    if isinstance(markup, list):
        links += [m["url"] for m in markup if isinstance(m, dict) and isinstance(m.get("url"), str)]
    try:
        return _post(mid, posted_at, sender_id, chat_id, forwarded, views, text, links)
    except ValidationError as exc:
        raise MalformedResponse(f"{where}.{_first_error(exc)}") from None


def _post(
    mid: str,
    posted_at: datetime,
    sender_id: str,
    chat_id: int,
    forwarded: bool,
    views: int | None,
    text: str,
    links: list[str],
) -> c.Post:
    return c.Post(
        post_id=mid,
        posted_at=posted_at,
        # Posted on behalf of the channel (no sender): the channel's own; an admin's name shows
        # as the sender, still the channel's post, unless it is forwarded from elsewhere.
        from_id=sender_id or str(chat_id),
        is_own=not forwarded,
        is_repost=forwarded,
        # MAX does not say whether a post takes comments: not claimed open (as on Telegram); the
        # collector sets the count of the comments it read.
        comments_open=False,
        views=views,
        text=text[:MAX_TEXT],
        links=tuple(dict.fromkeys(u[:2000] for u in links))[:50],
    )


def build_posts(
    messages: Sequence[Mapping[str, Any]],
    chat: Mapping[str, Any],
    ref: c.PageRef,
    sweep_id: str,
    at: datetime,
) -> c.PostsObserved:
    """The channel's latest posts, newest first; ``total_count`` is the chat's ``messages_count``."""
    chat_id = _int(chat, "chat_id", "Chat") or 0
    posts = []
    for i, message in enumerate(messages):
        posts.append(post_from(message, chat_id, f"messages[{i}]"))
    posts.sort(key=lambda p: p.posted_at, reverse=True)
    try:
        return c.PostsObserved.create(
            observed_at=at,
            platform=c.Platform.MAX,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=str(chat_id),
            total_count=_int(chat, "messages_count", "Chat", optional=True),
            posts=tuple(posts),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"messages do not fit the contract: {_first_error(exc)}") from None


# --- GET /messages/{messageId}/comments ----------------------------------------------------------


def comment_from(message: Mapping[str, Any], chat_id: int, post_id: str, where: str) -> c.Comment:
    """One ``CommentMessage``: the channel's own reply has no sender (posted on its behalf); a
    reply names the comment it answers in ``link`` (type ``reply``)."""
    body = _obj(message, "body", where)
    if body is None:
        raise MalformedResponse(f"{where}.body: missing")
    mid = _mid(body.get("mid"), f"{where}.body.mid")
    posted_at = _time(_int(message, "timestamp", where) or 0, f"{where}.timestamp")
    sender = _obj(message, "sender", where)
    link = _obj(message, "link", where)
    reply_to = None
    if link is not None and link.get("type") == "reply":
        replied = _obj(link, "message", f"{where}.link")
        reply_to = _mid((replied or {}).get("mid"), f"{where}.link.message.mid")
    try:
        return c.Comment(
            comment_id=mid,
            post_id=post_id,
            from_id=str(chat_id) if sender is None else str(_int(sender, "user_id", where)),
            author_kind="page" if sender is None else "citizen",
            reply_to=reply_to,
            posted_at=posted_at,
            text=_str(body, "text", f"{where}.body"),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"{where}.{_first_error(exc)}") from None


def build_comments(
    messages: Sequence[Mapping[str, Any]], chat_id: int, post_id: str
) -> list[c.Comment]:
    """A post's comments, each naming the top-level comment of its thread (``thread_id``) when
    the comment it answers is among them: MAX names only the comment replied to."""
    comments = [comment_from(m, chat_id, post_id, f"comments[{i}]") for i, m in enumerate(messages)]
    parent = {cm.comment_id: cm.reply_to for cm in comments}
    threaded = []
    for cm in comments:
        root, hops = cm.reply_to, 0
        while root is not None and parent.get(root) is not None and hops < len(parent):
            root, hops = parent[root], hops + 1
        threaded.append(cm.model_copy(update={"thread_id": root}) if root else cm)
    return threaded


# --- descriptor ----------------------------------------------------------------------------------

from gospublic.platforms.descriptor import Descriptor  # noqa: E402

_MAX_CONTACTS = "у канала MAX нет полей контактов: их ищут только в описании"


def _id_from_path(path: str, text: str) -> str:
    """A channel's numeric id or its public name (``max.ru/<name>``); an invitation link
    (``max.ru/join/…``) or a site page names no channel the bot could match."""
    if CHAT_ID.match(path):
        return path
    name = name_from_link(f"https://max.ru/{path}")
    if name is None:
        raise ValueError(
            "not a MAX channel: a link https://max.ru/<name> (a latin letter, then letters, "
            f"digits, '_' or '-'), or the channel's numeric id: {text!r:.80}"
        )
    return name


DESCRIPTOR = Descriptor(
    platform=c.Platform.MAX,
    name_ru="MAX",
    name_in="в MAX",
    display="MAX",
    column="max",
    hosts=frozenset({"max.ru", "www.max.ru"}),
    api_hosts=frozenset({"platform-api2.max.ru", "platform-api.max.ru"}),
    id_from_path=_id_from_path,
    page_url=page_url,
    legal=False,
    collector="services.collector.max_collect",
    simulator="services.simulator.max_api:MaxSimulator",
    column_optional=True,
    needs_connection=True,
    not_exposed={
        "NOT_VERIFIED": "Отметка «Госорганизация» есть только во ВКонтакте.",
        "ADDRESS_MISSING": "У канала MAX нет поля адреса.",
        "COVER_MISSING": "У канала MAX нет обложки.",
        "WALL_CLOSED": "У канала MAX нет стены, как во ВКонтакте.",
        "COMMENTS_CLOSED_POSTS": "MAX не сообщает боту, открыты ли комментарии к посту.",
        "LOW_ENGAGEMENT": "MAX показывает боту только просмотры, без реакций: "
        "вовлечённость не посчитать.",
    },
    partly_exposed={
        "CONTACT_PHONE_MISSING": f"В описании телефона нет, а {_MAX_CONTACTS}.",
        "CONTACT_EMAIL_MISSING": f"В описании почты нет, а {_MAX_CONTACTS}.",
    },
    order=3,
)
