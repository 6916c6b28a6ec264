"""One collection task for MAX: the bot's chats matched to the task's pages, then each channel's
profile (``GET /chats/{chatId}``) and latest posts (``GET /messages?chat_id=…``, 100 a call).

MAX shows a channel to a bot only when the bot is a member of it. A register channel that is not
among the bot's chats (the body has not added the bot, or removed it) is
``PageUnavailable(not_connected)``: nothing is known about the channel itself, so it is not called
missing or deleted. A listed chat the bot was removed from (``status: removed|left``) or that MAX
refuses to show (403) is ``not_connected`` too; a closed one ``deleted``. The same events as the
other collectors: ``PageSnapshot``, ``PostsObserved``, ``CommentsObserved`` (the comments of the
newest posts: MAX gives no comment counts, so which posts changed cannot be told without reading
them) and ``PageUnavailable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gospublic import contracts as c
from gospublic.platforms import max as mx
from gospublic.platforms.vk import MalformedResponse
from gospublic.settings import Settings
from services.collector.cursors import Cursor
from services.collector.max_client import FORBIDDEN, NOT_FOUND, MaxClient, MaxError
from services.collector.outcomes import Collected, done_this_sweep, page_down
from services.collector.vk_client import VkGarbage

log = logging.getLogger("gospublic.collector.max")

MESSAGES_PER_CALL = 100  # GET /messages count: 1..100
# MAX's messages carry no comment count, so a post's comments cost a call whether or not it has
# any: they are read for the newest posts only, each sweep (answers come within days, on new posts).
COMMENT_POSTS = 5
COMMENTS_PER_CALL = 100
COMMENT_PAGES = 3  # beyond 300 comments the post is named partial
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
    keys, resumed = done_this_sweep(refs, cursors, task.sweep_id)
    todo = [i for i in range(len(refs)) if i not in resumed]
    events: dict[int, list[c.PageEvent]] = {i: [] for i in todo}
    comment_posts = 0
    try:
        chats = await client.chats()
    except (MaxError, VkGarbage, MalformedResponse) as exc:
        # Without the listing no page can be matched: each is an API error, not "not connected".
        for i in todo:
            events[i].append(
                page_down(refs[i], task, c.Unavailability.API_ERROR, f"getChats: {exc}")
            )
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
                events[i].append(page_down(refs[i], task, NOT_CONNECTED, detail))
            else:
                work.append(i)
        pages = await asyncio.gather(
            *(
                _page(client, refs[i], matched[refs[i].native_id], task, posts_per_page,
                      messages_per_call, comments)
                for i in work
            )
        )  # fmt: skip
        for i, (page_events, read) in zip(work, pages, strict=True):
            events[i].extend(page_events)
            comment_posts += read
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
    return Collected(flat, new_cursors, resumed, comment_posts)


async def _page(
    client: MaxClient,
    ref: c.PageRef,
    listed: dict[str, Any],
    task: c.CollectTask,
    count: int,
    per_call: int,
    comments: bool = True,
) -> tuple[list[c.PageEvent], int]:
    """The page's events and the number of posts whose comments were read."""
    chat_id = listed.get("chat_id")
    try:
        chat = await client.get("getChat", f"/chats/{int(chat_id)}")  # type: ignore[arg-type]
        if not isinstance(chat, dict):
            raise MalformedResponse("Chat: expected an object")
        state = mx.chat_state(chat)
        if state is not None:
            detail = f"getChat: status {chat.get('status')!s:.20}"
            return [page_down(ref, task, state, detail)], 0
        at = c.utcnow()
        snapshot = mx.build_snapshot(chat, ref, task.sweep_id, at)
    except MaxError as exc:
        return [page_down(ref, task, _reason(exc), f"getChat: {exc}", exc.status)], 0
    except (VkGarbage, MalformedResponse) as exc:
        return [page_down(ref, task, c.Unavailability.API_ERROR, f"getChat: {exc}")], 0
    try:
        messages = await _messages(client, int(chat_id), count, per_call)  # type: ignore[arg-type]
        posts = mx.build_posts(messages, chat, ref, task.sweep_id, c.utcnow())
    except MaxError as exc:
        return [snapshot, page_down(ref, task, _reason(exc), f"getMessages: {exc}", exc.status)], 0
    except (VkGarbage, MalformedResponse) as exc:
        return [
            snapshot,
            page_down(ref, task, c.Unavailability.API_ERROR, f"getMessages: {exc}"),
        ], 0
    if not comments or not posts.posts:
        return [snapshot, posts], 0
    return await _with_comments(client, ref, task, int(chat_id), snapshot, posts)  # type: ignore[arg-type]


async def _with_comments(
    client: MaxClient,
    ref: c.PageRef,
    task: c.CollectTask,
    chat_id: int,
    snapshot: c.PageSnapshot,
    posts: c.PostsObserved,
) -> tuple[list[c.PageEvent], int]:
    """The page's events with the comments of its newest posts; a post whose comments MAX does
    not give (an error, a malformed answer) is left out and logged, the page is not failed."""
    newest = sorted(posts.posts, key=lambda p: p.posted_at, reverse=True)[:COMMENT_POSTS]
    found: list[c.Comment] = []
    partial: list[str] = []
    counts: dict[str, int] = {}
    for post in newest:
        try:
            messages, complete = await _comment_messages(client, post.post_id)
            read = mx.build_comments(messages, chat_id, post.post_id)
        except (MaxError, VkGarbage, MalformedResponse) as exc:
            log.warning(
                "MAX comments not read; next sweep tries again",
                extra={"page": ref.key, "error": str(exc)[:300]},
            )
            continue
        counts[post.post_id] = len(read)
        found.extend(read)
        if not complete:
            partial.append(post.post_id)
    posts = posts.model_copy(
        update={
            "posts": tuple(
                p.model_copy(update={"comments_count": counts[p.post_id]})
                if p.post_id in counts
                else p
                for p in posts.posts
            )
        }
    )
    events: list[c.PageEvent] = [snapshot, posts]
    if found:
        events.append(
            c.CommentsObserved.create(
                observed_at=c.utcnow(),
                platform=ref.platform,
                page_ref=ref,
                sweep_id=task.sweep_id,
                page_id=str(chat_id),
                comments=tuple(found),
                partial_posts=tuple(partial),
            )
        )
    return events, len(counts)


async def _comment_messages(client: MaxClient, mid: str) -> tuple[list[dict[str, Any]], bool]:
    """A post's comments, newest first, up to ``COMMENT_PAGES`` calls; and whether that is all."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    before: int | None = None
    for _ in range(COMMENT_PAGES):
        want = COMMENTS_PER_CALL
        answer = await client.get(
            "getComments", f"/messages/{quote(mid, safe='')}/comments",
            {"count": want, "before": before},
        )  # fmt: skip
        page = mx.messages_of(answer)
        for message in page:
            body = message.get("body")
            key = body.get("mid") if isinstance(body, dict) else None
            if isinstance(key, str) and key in seen:
                continue
            if isinstance(key, str):
                seen.add(key)
            found.append(message)
        times = [m.get("timestamp") for m in page]
        if len(page) < want or not all(isinstance(t, int) for t in times):
            return found, True
        oldest = min(times)  # type: ignore[type-var]
        if before is not None and oldest + 1 >= before:
            return found, False
        before = oldest + 1  # strict, as for messages: the oldest repeats and is dropped
    return found, False


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


# --- entry point (named by gospublic.platforms.max.DESCRIPTOR) -----------------------------------


def make_client(settings: Settings) -> MaxClient | str:
    """The MAX client the settings describe, or the reason the collector cannot start."""
    if not settings.max_token.get_secret_value():
        return "no MAX bot token configured: set GOSPUBLIC_MAX_TOKEN (the monitoring bot's token)"
    return MaxClient(
        settings.max_api_url,
        settings.max_token,
        settings.max_requests_per_second,
        settings.vk_timeout_s,
        backoff_s=settings.vk_retry_backoff_s,
    )
