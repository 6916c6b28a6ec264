"""One collection task for VK: profiles through ``groups.getById``, posts and comments through
``execute``.

Orchestration only: the client does I/O and retries, ``gospublic.platforms.vk`` maps objects, the
caller reads and writes the cursors. Every page of the task ends with at least one event, except pages
the cursors show were collected in this sweep already (the task was delivered again). A failure
that concerns a call (garbage, an error for the whole call) becomes ``PageUnavailable(api_error)``
for the pages of that call; a failure that concerns us (``VkTransient``, ``VkNoTokens``)
propagates so the whole task is retried later.

Comments are read only for posts whose comment count differs from the page's cursor, 25 posts to
an ``execute``; a failed read keeps the old count in the cursor, so the next sweep tries again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from gospublic import contracts as c
from gospublic.bus import Outgoing
from gospublic.platforms import vk as vn
from gospublic.settings import Settings
from services.collector.cursors import Cursor, changed_posts, note_waiting

# The shared collector machinery, re-exported for the modules that import it from here.
from services.collector.outcomes import KIND as KIND
from services.collector.outcomes import Collected as Collected
from services.collector.outcomes import done_this_sweep
from services.collector.outcomes import to_outgoing as to_outgoing
from services.collector.outcomes import unavailable as unavailable
from services.collector.vk_client import (
    EXECUTE_MAX_CALLS,
    VkClient,
    VkError,
    VkGarbage,
    VkTransient,
)

log = logging.getLogger("gospublic.collector.vk")

GROUP_FIELDS = (
    "description,contacts,addresses,site,links,members_count,wall,is_closed,verified,has_photo,"
    "cover,is_government_organization,screen_name,activity,menu"
)
# What the snapshot reads as requested: a requested field absent from the answer is empty.
REQUESTED_FIELDS = frozenset(GROUP_FIELDS.split(","))
GET_BY_ID_MAX = 500
# Closed or private walls: the page exists, we may not read it.
PRIVATE_CODES = frozenset({15, 30, 203})
DELETED_CODE = 18  # the page was deleted after groups.getById saw it
INVALID_ID_CODE = 100  # owner_id names no page (any more)
# Sub-call errors inside ``execute`` that say "not now" rather than "not this page".
RETRY_SUBCALL_CODES = frozenset({6, 10, 29})
NOT_NOW_CODES = frozenset({6, 29})  # about our tokens, never a page's state
SUBCALL_RETRIES = 3
RUNTIME_ERROR = 13  # the VKScript as a whole failed: split the batch to isolate the culprit

API_ERROR = c.Unavailability.API_ERROR
NOT_FOUND = c.Unavailability.NOT_FOUND
PRIVATE = c.Unavailability.PRIVATE
# What a wall.get sub-call error says about the page; any other code is an API failure.
WALL_ERRORS = {
    **dict.fromkeys(PRIVATE_CODES, PRIVATE),
    DELETED_CODE: c.Unavailability.DELETED,
    INVALID_ID_CODE: NOT_FOUND,
}

COMMENTS_PAGE = 100  # wall.getComments returns at most 100 comments a call
THREAD_ITEMS = 10  # and at most 10 replies of each thread inline
# Follow-up calls per post (more top-level pages, threads): VK's counts have no upper bound, so
# a post with thousands of comments is read up to this many pages and the rest reported unread.
COMMENT_PAGES_MAX = 20
COMMENTS_DENIED = 212
_SCREEN_ID = re.compile(r"^(?:club|public|event)([0-9]+)$")


class VkApi(Protocol):
    async def call(self, method: str, params: dict[str, Any]) -> Any: ...

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]: ...


Failure = VkError | VkGarbage | vn.MalformedResponse


async def collect_chunk(
    client: VkApi, task: c.CollectTask, posts_per_page: int = 20
) -> list[Outgoing]:
    return [to_outgoing(event) for event in await collect_events(client, task, posts_per_page)]


async def collect_events(
    client: VkApi, task: c.CollectTask, posts_per_page: int = 20
) -> list[c.PageEvent]:
    """Events for every page of the task, grouped by page in task order (no cursors)."""
    return (await collect(client, task, posts_per_page, {}, comments=False)).events


async def collect(
    client: VkApi,
    task: c.CollectTask,
    posts_per_page: int,
    cursors: Mapping[str, Cursor],
    *,
    comments: bool = True,
    comment_pages: int = COMMENT_PAGES_MAX,
) -> Collected:
    """Events and new cursors for the task's pages; ``cursors`` are the pages' current ones."""
    chunk = Chunk(task)
    keys, resumed = done_this_sweep(chunk.refs, cursors, task.sweep_id)
    todo = [i for i in range(len(chunk.refs)) if i not in resumed]
    for start in range(0, len(todo), GET_BY_ID_MAX):
        await chunk.profiles(client, todo[start : start + GET_BY_ID_MAX])
    walls = await _walls(client, sorted(set(chunk.live.values())), posts_per_page)
    for index, gid in chunk.live.items():
        chunk.posts(index, gid, *walls[gid])

    new_cursors: dict[str, Cursor] = {}
    for i in todo:
        old = cursors.get(keys[i]) or Cursor()
        new_cursors[keys[i]] = Cursor(
            task.sweep_id, old.last_post, dict(old.comments), old.read_at, old.active_at
        )
    fetched = 0
    if comments:
        fetched = await _comments(client, chunk, keys, cursors, new_cursors, comment_pages)
    for i in todo:
        _note_activity(new_cursors[keys[i]], cursors.get(keys[i]), chunk.events[i])
        note_waiting(new_cursors[keys[i]], cursors.get(keys[i]), chunk.events[i])
    events = [event for i in todo for event in chunk.events[i]]
    return Collected(events, new_cursors, resumed, fetched)


def _note_activity(cursor: Cursor, old: Cursor | None, events: list[c.PageEvent]) -> None:
    """When the page was read and last active, for the scheduler's adaptive polling.

    A page counts as read when the platform answered for it (gone and closed pages included, so
    they are read as rarely as dormant ones); an API error leaves it due. Activity is the newest
    post, or this read when a comment count moved since the last one (known only where comments
    are tracked: the old cursor has counts).
    """
    if any(isinstance(e, c.PageUnavailable) and e.reason == API_ERROR for e in events):
        return
    if events:
        cursor.read_at = int(events[0].observed_at.timestamp())
    posts = next((e for e in events if isinstance(e, c.PostsObserved)), None)
    if posts is None or not posts.posts:
        return
    cursor.last_post = max(cursor.last_post, *(int(p.post_id) for p in posts.posts))
    newest = max(int(p.posted_at.timestamp()) for p in posts.posts)
    cursor.active_at = max(cursor.active_at, newest)
    if old is not None and old.comments:
        counts = {p.post_id: p.comments_count for p in posts.posts}
        if changed_posts(counts, old):
            cursor.active_at = max(cursor.active_at, int(posts.observed_at.timestamp()))


async def _comments(
    client: VkApi,
    chunk: Chunk,
    keys: list[str],
    cursors: Mapping[str, Cursor],
    new_cursors: dict[str, Cursor],
    max_pages: int = COMMENT_PAGES_MAX,
) -> int:
    """Read the comments of the page's own posts whose count changed; add ``CommentsObserved``
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
        for post in changed_posts(counts, cursors.get(keys[i])):
            if post in others:
                new_cursors[keys[i]].comments[post] = counts[post]
            else:
                wanted.append((i, gid, post, counts[post]))
    if not wanted:
        return 0
    calls = [("wall.getComments", _comments_params(gid, post)) for _, gid, post, _ in wanted]
    outcomes = await _batched(client, calls)
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
        more = await _batched(client, [("wall.getComments", p) for *_, p in allowed])
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


class Chunk:
    """The events of one task so far, one list per page reference."""

    def __init__(self, task: c.CollectTask) -> None:
        self.sweep_id = task.sweep_id
        self.refs = list(task.pages)
        self.events: list[list[c.PageEvent]] = [[] for _ in self.refs]
        self.live: dict[int, int] = {}  # ref index → group id, for pages that get a wall.get

    def down(
        self, i: int, at: datetime, reason: c.Unavailability, detail: str, code: int | None = None
    ) -> None:
        self.events[i].append(unavailable(self.refs[i], self.sweep_id, at, reason, detail, code))

    async def profiles(self, client: VkApi, indices: Sequence[int]) -> None:
        ids = list(dict.fromkeys(self.refs[i].native_id for i in indices))
        try:
            response = await client.call(
                "groups.getById", {"group_ids": ids, "fields": GROUP_FIELDS}
            )
            at = c.utcnow()
            groups = vn.groups_of(response)
        except (VkError, VkGarbage, vn.MalformedResponse) as exc:
            at = c.utcnow()
            detail, code = _describe("groups.getById", exc)
            log.warning(
                "groups.getById failed for a whole call",
                extra={"sweep_id": self.sweep_id, "pages": len(ids), "detail": detail},
            )
            for i in indices:
                self.down(i, at, API_ERROR, detail, code)
            return

        by_id: dict[int, dict[str, Any]] = {}
        by_screen: dict[str, dict[str, Any]] = {}
        malformed = 0
        for group in groups:
            try:
                gid = vn.group_id(group)
            except vn.MalformedResponse:
                malformed += 1
                continue
            by_id[gid] = group
            screen = group.get("screen_name")
            if isinstance(screen, str) and screen:
                by_screen[screen.lower()] = group

        for i in indices:
            ref = self.refs[i]
            group = match_group(ref.native_id, by_id, by_screen)
            if group is None and malformed:
                # One of the unreadable objects may be this page: "not found" would be a guess.
                self.down(i, at, API_ERROR, f"groups.getById: {malformed} group(s) without an id")
            elif group is None:
                self.down(i, at, NOT_FOUND, "groups.getById did not return the page")
            elif (gone := vn.deactivation(group)) is not None:
                self.down(i, at, gone, f"deactivated: {str(group['deactivated'])[:100]}")
            else:
                try:
                    snapshot = vn.build_snapshot(group, ref, self.sweep_id, at, REQUESTED_FIELDS)
                except vn.MalformedResponse as exc:
                    self.down(i, at, API_ERROR, f"groups.getById: {exc.reason}")
                    continue
                self.events[i].append(snapshot)
                self.live[i] = int(snapshot.page_id)

    def posts(self, i: int, gid: int, outcome: object, at: datetime) -> None:
        if isinstance(outcome, VkError):
            reason = WALL_ERRORS.get(outcome.code, API_ERROR)
            self.down(
                i, at, reason, f"wall.get: VK error {outcome.code}: {outcome.msg}", outcome.code
            )
            return
        if isinstance(outcome, VkGarbage):
            self.down(i, at, API_ERROR, f"wall.get: {outcome.reason}")
            return
        try:
            self.events[i].append(vn.build_posts(outcome, gid, self.refs[i], self.sweep_id, at))
        except vn.MalformedResponse as exc:
            self.down(i, at, API_ERROR, f"wall.get: {exc.reason}")


def match_group(
    native_id: str, by_id: dict[int, dict[str, Any]], by_screen: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The group a registry id names: a numeric id, ``club123``/``public123``, or a screen name."""
    key = native_id.strip().lower()
    numeric = key.lstrip("-")
    if numeric.isascii() and numeric.isdigit():
        return by_id.get(int(numeric))
    screen = by_screen.get(key)
    if screen is not None:
        return screen
    m = _SCREEN_ID.match(key)
    return by_id.get(int(m.group(1))) if m else None


async def _walls(
    client: VkApi, group_ids: list[int], posts_per_page: int
) -> dict[int, tuple[Any, datetime]]:
    """``wall.get`` of every group in ``execute`` batches, run concurrently (the pool paces them)."""
    calls = [("wall.get", {"owner_id": -gid, "count": posts_per_page}) for gid in group_ids]
    return dict(zip(group_ids, await _batched(client, calls), strict=True))


async def _batched(
    client: VkApi, calls: list[tuple[str, dict[str, Any]]]
) -> list[tuple[Any, datetime]]:
    """Calls in ``execute`` batches of 25, run concurrently; per call (result or failure, time)."""
    batches = [calls[i : i + EXECUTE_MAX_CALLS] for i in range(0, len(calls), EXECUTE_MAX_CALLS)]
    try:
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(_execute(client, batch)) for batch in batches]
    except BaseExceptionGroup as failed:
        # The first failure (transient or no tokens) decides the task; the rest were cancelled.
        raise failed.exceptions[0] from None
    return [outcome for job in jobs for outcome in job.result()]


async def _execute(
    client: VkApi, calls: list[tuple[str, dict[str, Any]]], attempt: int = 0
) -> list[tuple[Any, datetime]]:
    """Per call (result or failure, time received). Splits on error 13, retries "not now".

    Sub-calls refused for the rate or the quota (6, 29) go again, and the client picks a token
    that is not parked; if they are still refused after a few rounds, the task is retried later
    rather than reporting pages VK never looked at.
    """
    try:
        results: list[Any] = await client.execute(calls)
    except VkGarbage as exc:
        return [(exc, c.utcnow())] * len(calls)
    except VkError as exc:
        if exc.code == RUNTIME_ERROR and len(calls) > 1:
            half = len(calls) // 2
            return await _execute(client, calls[:half], attempt) + await _execute(
                client, calls[half:], attempt
            )
        return [(exc, c.utcnow())] * len(calls)
    observed_at = c.utcnow()
    outcomes = [(result, observed_at) for result in results]
    again = [
        i
        for i, result in enumerate(results)
        if isinstance(result, VkError) and result.code in RETRY_SUBCALL_CODES
    ]
    if again and attempt < SUBCALL_RETRIES:
        retried = await _execute(client, [calls[i] for i in again], attempt + 1)
        for i, outcome in zip(again, retried, strict=True):
            outcomes[i] = outcome
    elif again:
        codes = sorted({results[i].code for i in again} & NOT_NOW_CODES)
        if codes:
            raise VkTransient(f"{len(again)} sub-call(s) still refused with error(s) {codes}")
    return outcomes


def _describe(call: str, exc: Failure) -> tuple[str, int | None]:
    if isinstance(exc, VkError):
        return f"{call}: VK error {exc.code}: {exc.msg}", exc.code
    return f"{call}: {exc.reason}", None


# --- entry point (named by gospublic.platforms.vk.DESCRIPTOR) ------------------------------------


def make_client(settings: Settings) -> VkClient | str:
    """The VK client the settings describe, or the reason the collector cannot start."""
    tokens = [t for t in settings.vk_tokens if t.get_secret_value()]
    if not tokens:
        return (
            "no VK access token configured: set GOSPUBLIC_VK_TOKENS "
            "(comma-separated service or user tokens)"
        )
    return VkClient(
        settings.vk_api_url,
        tokens,
        settings.vk_api_version,
        settings.vk_requests_per_second,
        settings.vk_timeout_s,
        daily_quota=settings.vk_daily_quota,
        backoff_s=settings.vk_retry_backoff_s,
    )
