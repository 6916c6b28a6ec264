"""One collection task for MAX: the bot's chats matched to the task's pages, then each channel's
profile (``GET /chats/{chatId}``) and latest posts (``GET /messages?chat_id=…``, 100 a call).

MAX shows a channel to a bot only when the bot is a member of it. A register channel that is not
among the bot's chats (the body has not added the bot, or removed it) is
``PageUnavailable(not_connected)``: nothing is known about the channel itself, so it is not called
missing or deleted. A listed chat the bot was removed from (``status: removed|left``) or that MAX
refuses to show (403) is ``not_connected`` too; a closed one ``deleted``. The same events as the
other collectors: ``PageSnapshot``, ``PostsObserved``, ``PageUnavailable``. Comments are not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from gospublic import contracts as c
from gospublic.platforms import max as mx
from gospublic.platforms.vk import MalformedResponse
from services.collector.cursors import Cursor, cursor_key
from services.collector.max_client import FORBIDDEN, NOT_FOUND, MaxClient, MaxError
from services.collector.vk_client import VkGarbage
from services.collector.vk_collect import Collected, unavailable

log = logging.getLogger("gospublic.collector.max")

MESSAGES_PER_CALL = 100  # GET /messages count: 1..100
NOT_CONNECTED = c.Unavailability.NOT_CONNECTED


async def collect(
    client: MaxClient,
    task: c.CollectTask,
    posts_per_page: int,
    cursors: Mapping[str, Cursor],
    *,
    comments: bool = True,
    messages_per_call: int = MESSAGES_PER_CALL,
) -> Collected:
    refs = list(task.pages)
    keys = [cursor_key(ref) for ref in refs]
    resumed = {
        i for i, k in enumerate(keys) if (cur := cursors.get(k)) and cur.sweep == task.sweep_id
    }
    todo = [i for i in range(len(refs)) if i not in resumed]
    events: dict[int, list[c.PageEvent]] = {i: [] for i in todo}
    try:
        chats = await client.chats()
    except (MaxError, VkGarbage, MalformedResponse) as exc:
        # Without the listing no page can be matched: each is an API error, not "not connected".
        for i in todo:
            events[i].append(_down(refs[i], task, c.Unavailability.API_ERROR, f"getChats: {exc}"))
        chats = None
    if chats is not None:
        matched = mx.match_chats((refs[i].native_id for i in todo), chats)
        work = []
        for i in todo:
            chat = matched.get(refs[i].native_id)
            if chat is None:
                detail = (
                    f"not among the monitoring bot's {len(chats)} chats: the channel has not "
                    "added the bot, or removed it"
                )
                events[i].append(_down(refs[i], task, NOT_CONNECTED, detail))
            else:
                work.append(i)
        pages = await asyncio.gather(
            *(
                _page(client, refs[i], matched[refs[i].native_id], task, posts_per_page,
                      messages_per_call)
                for i in work
            )
        )  # fmt: skip
        for i, page_events in zip(work, pages, strict=True):
            events[i].extend(page_events)
    new_cursors: dict[str, Cursor] = {}
    for i in todo:
        old = cursors.get(keys[i]) or Cursor()
        last = old.last_post
        for event in events[i]:
            if isinstance(event, c.PostsObserved) and event.posts:
                # MAX's message ids are strings: the cursor keeps the newest post's time (ms).
                newest = max(p.posted_at for p in event.posts)
                last = max(last, int(newest.timestamp() * 1000))
        new_cursors[keys[i]] = Cursor(task.sweep_id, last, {})
    flat = [e for i in todo for e in events[i]]
    return Collected(flat, new_cursors, resumed, 0)


async def _page(
    client: MaxClient,
    ref: c.PageRef,
    listed: dict[str, Any],
    task: c.CollectTask,
    count: int,
    per_call: int,
) -> list[c.PageEvent]:
    chat_id = listed.get("chat_id")
    try:
        chat = await client.get("getChat", f"/chats/{int(chat_id)}")  # type: ignore[arg-type]
        if not isinstance(chat, dict):
            raise MalformedResponse("Chat: expected an object")
        state = mx.chat_state(chat)
        if state is not None:
            detail = f"getChat: status {chat.get('status')!s:.20}"
            return [_down(ref, task, state, detail)]
        at = c.utcnow()
        snapshot = mx.build_snapshot(chat, ref, task.sweep_id, at)
    except MaxError as exc:
        return [_down(ref, task, _reason(exc), f"getChat: {exc}", exc.status)]
    except (VkGarbage, MalformedResponse) as exc:
        return [_down(ref, task, c.Unavailability.API_ERROR, f"getChat: {exc}")]
    try:
        messages = await _messages(client, int(chat_id), count, per_call)  # type: ignore[arg-type]
        posts = mx.build_posts(messages, chat, ref, task.sweep_id, c.utcnow())
    except MaxError as exc:
        return [snapshot, _down(ref, task, _reason(exc), f"getMessages: {exc}", exc.status)]
    except (VkGarbage, MalformedResponse) as exc:
        return [snapshot, _down(ref, task, c.Unavailability.API_ERROR, f"getMessages: {exc}")]
    return [snapshot, posts]


async def _messages(client: MaxClient, chat_id: int, count: int, per_call: int) -> list[dict]:
    """The newest ``count`` messages, newest first, paging back with ``before`` (MAX's lists
    carry no marker: the next page is the messages before the oldest one seen)."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    before: int | None = None
    while len(found) < count:
        # ``before`` is strict, so it is set one past the oldest time seen: messages sharing that
        # millisecond are not skipped. The page then repeats the oldest one, which is dropped by
        # id, so one more is asked for.
        want = min(per_call, count - len(found) + (0 if before is None else 1))
        answer = await client.get(
            "getMessages",
            "/messages",
            {"chat_id": chat_id, "count": want, "before": before},
        )
        page = mx.messages_of(answer)
        for message in page:
            body = message.get("body")
            mid = body.get("mid") if isinstance(body, dict) else None
            if isinstance(mid, str) and mid in seen:
                continue
            if isinstance(mid, str):
                seen.add(mid)
            found.append(message)
        times = [m.get("timestamp") for m in page]
        if len(page) < want or not all(isinstance(t, int) for t in times):
            break  # the channel's first message, or an answer the mapping will refuse
        oldest = min(times)  # type: ignore[type-var]
        if before is not None and oldest + 1 >= before:
            break  # a whole page within one millisecond: no way further back
        before = oldest + 1
    return found[:count]


def _reason(exc: MaxError) -> c.Unavailability:
    if exc.status == FORBIDDEN:
        return NOT_CONNECTED  # the bot has no access to the chat (any more)
    if exc.status == NOT_FOUND:
        return c.Unavailability.NOT_FOUND
    return c.Unavailability.API_ERROR


def _down(
    ref: c.PageRef,
    task: c.CollectTask,
    reason: c.Unavailability,
    detail: str,
    code: int | None = None,
) -> c.PageUnavailable:
    return unavailable(ref, task.sweep_id, c.utcnow(), reason, detail, code)
