"""Reading the comments of a VK task's posts: only posts whose comment count changed since the page's
cursor, 25 posts to an ``execute``; follow-up calls for more top-level pages and threads, capped per
post. A failed read keeps the old count in the cursor, so the next sweep tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from services.collector.cursors import Cursor, posts_to_read
from services.collector.vk_client import VkError, VkGarbage
from services.collector.vk_execute import VkApi, batched

if TYPE_CHECKING:
    from services.collector.vk_collect import Chunk

log = logging.getLogger("gospublic.collector.vk")

COMMENTS_PAGE = 100  # wall.getComments returns at most 100 comments a call
THREAD_ITEMS = 10  # and at most 10 replies of each thread inline
# Follow-up calls per post (more top-level pages, threads): VK's counts have no upper bound, so
# a post with thousands of comments is read up to this many pages and the rest reported unread.
COMMENT_PAGES_MAX = 20
COMMENTS_DENIED = 212


async def read_comments(
    client: VkApi,
    chunk: Chunk,
    keys: list[str],
    cursors: Mapping[str, Cursor],
    new_cursors: dict[str, Cursor],
    max_pages: int = COMMENT_PAGES_MAX,
) -> int:
    """Read the comments of the page's own posts whose count changed or that hold a citizen's
    comment seen waiting (``posts_to_read``); add ``CommentsObserved``
    per page and record the counts read in the new cursors. Returns the number of posts read.

    A post's first call shows its oldest 100 top-level comments with up to 10 replies of each
    thread; the rest of the top level and of every thread is read with follow-up calls, at most
    ``max_pages`` per post (VK's counts are unbounded). What a cap or a failed call left unread
    is named in the event (``partial_threads``, ``partial_posts``), so the rules do not take the
    unread part for "no answer". Comments under a citizen's post are not read at all: they are
    not requests to the page (their count is still kept, for the page's activity).
    """
    wanted: list[tuple[int, int, str, int]] = []  # (task index, group id, post id, count)
    for i, gid in chunk.live.items():
        posts = next((e for e in chunk.events[i] if isinstance(e, c.PostsObserved)), None)
        if posts is None:
            continue
        counts = {p.post_id: p.comments_count for p in posts.posts}
        # Posts gone from the window are forgotten; the rest keep their last known count.
        new_cursors[keys[i]].comments = {
            post: n for post, n in new_cursors[keys[i]].comments.items() if post in counts
        }
        others = set(vn.posts_by_others(posts.posts, gid))
        for post in posts_to_read(counts, cursors.get(keys[i])):
            if post in others:
                new_cursors[keys[i]].comments[post] = counts[post]
            else:
                wanted.append((i, gid, post, counts[post]))
    if not wanted:
        return 0
    calls = [("wall.getComments", _comments_params(gid, post)) for _, gid, post, _ in wanted]
    outcomes = await batched(client, calls)
    found: dict[int, vn.CommentPages] = {}
    follow: list[tuple[int, str, dict[str, Any]]] = []  # (task index, post, params)
    read: set[tuple[int, str]] = set()
    for (i, gid, post, count), (outcome, _) in zip(wanted, outcomes, strict=True):
        if isinstance(outcome, VkError) and outcome.code == COMMENTS_DENIED:
            new_cursors[keys[i]].comments[post] = count  # closed: nothing to read until it opens
            continue
        if isinstance(outcome, VkError | VkGarbage):
            log.warning(
                "comments not read; the next sweep tries again",
                extra={"page": chunk.refs[i].native_id, "post": post, "error": str(outcome)},
            )
            continue
        pages = found.setdefault(i, vn.CommentPages(gid))
        try:
            pages.add(outcome, post, asked=COMMENTS_PAGE)
        except vn.MalformedResponse as exc:
            log.warning("comments unreadable", extra={"post": post, "error": exc.reason})
            continue
        read.add((i, post))
        new_cursors[keys[i]].comments[post] = count
        # One offset past the cap is enough to see it reached (the counts have no bound).
        offsets = range(COMMENTS_PAGE, pages.top_level_count(post), COMMENTS_PAGE)
        for offset in offsets[: max_pages + 1]:
            follow.append((i, post, {**_comments_params(gid, post), "offset": offset}))
        follow.extend(_thread_reads(pages, i, gid, post, max_pages + 1))
    budget = dict.fromkeys(read, max_pages)
    cut: set[tuple[int, str]] = set()
    while follow:
        allowed = []
        for i, post, params in follow:
            if budget[(i, post)] > 0:
                budget[(i, post)] -= 1
                allowed.append((i, post, params))
            else:
                cut.add((i, post))
                found[i].lost(post, params.get("comment_id"))
        follow = []
        more = await batched(client, [("wall.getComments", p) for *_, p in allowed])
        for (i, post, params), (outcome, _) in zip(allowed, more, strict=True):
            thread = params.get("comment_id")
            try:
                if isinstance(outcome, VkError | VkGarbage):
                    raise vn.MalformedResponse(str(outcome))
                found[i].add(outcome, post, thread, asked=COMMENTS_PAGE)
            except vn.MalformedResponse:
                # Part of the post's comments is missing: said in the event, read again next sweep.
                found[i].lost(post, thread)
                new_cursors[keys[i]].comments.pop(post, None)
                continue
            if thread is None:  # a later top-level page: its threads are read in the next round
                follow.extend(_thread_reads(found[i], i, found[i].group_id, post, max_pages + 1))
    for i, post in sorted(cut):
        log.warning(
            "comments of a post cut at the follow-up cap; the rest is reported as not read",
            extra={"page": chunk.refs[i].native_id, "post": post, "pages": max_pages},
        )
    at = c.utcnow()
    for i, pages in found.items():
        try:
            event = pages.build(chunk.refs[i], chunk.sweep_id, at)
        except vn.MalformedResponse as exc:
            log.warning("comments do not fit the contract", extra={"error": exc.reason})
            continue
        chunk.events[i].append(event)
    return len(read)


def _thread_reads(
    pages: vn.CommentPages, i: int, gid: int, post: str, limit: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """Follow-up calls for the threads of ``post`` with replies not read yet (each once), at most
    ``limit`` per thread."""
    calls = []
    for root, count in pages.unread_threads(post):
        if not pages.claim_thread(root):
            continue
        for offset in range(0, count, COMMENTS_PAGE)[:limit]:
            params = {**_comments_params(gid, post), "comment_id": root}
            if offset:
                params["offset"] = offset
            calls.append((i, post, params))
    return calls


def _comments_params(gid: int, post: str) -> dict[str, Any]:
    return {
        "owner_id": -gid,
        "post_id": int(post),
        "count": COMMENTS_PAGE,
        "thread_items_count": THREAD_ITEMS,
        "sort": "asc",
    }
