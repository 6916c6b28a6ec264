"""One collection task for VK: profiles through ``groups.getById``, posts and comments through
``execute``.

Orchestration only: the client does I/O and retries, ``gospublic.platforms.vk`` maps objects, the
caller reads and writes the cursors. Every page of the task ends with at least one event, except pages
the cursors show were collected in this sweep already (the task was delivered again). A failure
that concerns a call (garbage, an error for the whole call) becomes ``PageUnavailable(api_error)``
for the pages of that call; a failure that concerns us (``VkTransient``, ``VkNoTokens``)
propagates so the whole task is retried later.

Comments are read only for posts whose comment count differs from the page's cursor
(:mod:`.vk_comments`); the calls go in ``execute`` batches (:mod:`.vk_execute`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

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
    VkClient,
    VkError,
    VkGarbage,
)
from services.collector.vk_comments import COMMENT_PAGES_MAX as COMMENT_PAGES_MAX
from services.collector.vk_comments import read_comments
from services.collector.vk_execute import VkApi as VkApi
from services.collector.vk_execute import batched
from services.collector.vk_wall import SlowPath, WallAnswer, posts_event, snapshot_event

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

API_ERROR = c.Unavailability.API_ERROR
NOT_FOUND = c.Unavailability.NOT_FOUND
PRIVATE = c.Unavailability.PRIVATE
# What a wall.get sub-call error says about the page; any other code is an API failure.
WALL_ERRORS = {
    **dict.fromkeys(PRIVATE_CODES, PRIVATE),
    DELETED_CODE: c.Unavailability.DELETED,
    INVALID_ID_CODE: NOT_FOUND,
}

_SCREEN_ID = re.compile(r"^(?:club|public|event)([0-9]+)$")


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
        fetched = await read_comments(client, chunk, keys, cursors, new_cursors, comment_pages)
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
                    snapshot = _snapshot(group, ref, self.sweep_id, at)
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
            self.events[i].append(_posts(outcome, gid, self.refs[i], self.sweep_id, at))
        except vn.MalformedResponse as exc:
            self.down(i, at, API_ERROR, f"wall.get: {exc.reason}")


def _snapshot(group: object, ref: c.PageRef, sweep_id: str, at: datetime) -> c.PageSnapshot:
    """``vk.build_snapshot``, without validating again what the mapping already bounds."""
    fields = vn.snapshot_fields(group, REQUESTED_FIELDS)
    snapshot = snapshot_event(fields, ref, sweep_id, at)
    if snapshot is None:  # a number the contract may refuse: pydantic says why
        return vn.build_snapshot(group, ref, sweep_id, at, REQUESTED_FIELDS)
    return snapshot


def _posts(
    outcome: object, gid: int, ref: c.PageRef, sweep_id: str, at: datetime
) -> c.PostsObserved:
    """``vk.build_posts`` of a ``wall.get`` result; a typed one (``vk_wall``) takes the fast path
    unless it holds something only the mapping may judge."""
    if isinstance(outcome, WallAnswer):
        try:
            return posts_event(outcome, gid, ref, sweep_id, at)
        except SlowPath:
            outcome = msgspec.json.decode(msgspec.json.encode(outcome))
    return vn.build_posts(outcome, gid, ref, sweep_id, at)


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
    return dict(zip(group_ids, await batched(client, calls), strict=True))


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
