"""The collector's fast path for a sweep's bulk: ``wall.get`` answers decoded by msgspec into typed
structs, and page events written to JSON by msgspec rather than validated and dumped by pydantic.

A national sweep is some twenty posts per page. Decoding an ``execute`` answer into dicts, walking
them with the checked getters of ``gospublic.platforms.vk`` and validating every post with pydantic
made most of a collector's CPU. Here the decoder does the checking: the structs below accept only
what ``vk.post_from`` maps without complaint (the same JSON types, counters within Int64), so an
answer they refuse is not an error but the slow path's business. ``vk_client`` then decodes it as
before and ``vk.build_posts`` maps it, and rejects what is wrong with the reason it always gave. The
fast path changes how long a good answer takes, never whether an answer is good or what it becomes:
``posts_event`` makes the same ``PostsObserved`` as ``vk.build_posts`` (its posts are ``PostRecord``,
read like ``Post``), which ``outcomes.to_json`` writes as ``Event.to_bytes`` would.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from gospublic import contracts as c
from gospublic.platforms import vk as vn

Int64 = Annotated[int, Meta(ge=c.INT64_MIN, le=c.INT64_MAX)]
# VK's 0/1 flags, sometimes JSON booleans (``vk._flag``).
Flag = bool | Annotated[int, Meta(ge=0, le=1)] | None


class _Counter(Struct):
    count: Int64 | None = None


class _Comments(Struct):
    count: Int64 | None = None
    can_post: Flag = None


class _Link(Struct):
    url: str | None = None


class _Attachment(Struct):
    type: str | None = None
    link: _Link | None = None


class WallPost(Struct):
    # Ids within Int64: a longer number may not fit the contract's 64 characters.
    id: Int64
    date: int
    from_id: Int64 | None = None
    copy_history: list[msgspec.Raw] | None = None
    comments: _Comments | None = None
    attachments: list[_Attachment] | None = None
    is_pinned: Flag = None
    likes: _Counter | None = None
    reposts: _Counter | None = None
    views: _Counter | None = None
    text: str | None = None


class WallAnswer(Struct):
    """One ``wall.get`` result as ``vk.wall_posts`` reads it."""

    count: Int64 | None = None
    items: list[WallPost] | None = None


class WallExecute(Struct):
    """An ``execute`` answer of ``wall.get`` calls: a result per call, ``false`` for a failed one.

    An answer with ``error`` goes the slow way, which raises it; ``true`` in ``response`` too
    (``vk.build_posts`` says why it is no wall)."""

    response: list[WallAnswer | bool]
    execute_errors: list[Any] | None = None
    error: msgspec.Raw | None = None


WALL_EXECUTE = msgspec.json.Decoder(WallExecute)
POSTS_SCHEMA = c.PostsObserved.schema_id()
SNAPSHOT_SCHEMA = c.PageSnapshot.schema_id()
PAGE_ID_MAX = 64  # the contract's bound on ``page_id``


class PostRecord(Struct, frozen=True):
    """``contracts.Post`` as the fast path builds it: the same fields, in the same order."""

    post_id: str
    posted_at: datetime
    from_id: str
    is_own: bool
    is_repost: bool
    is_pinned: bool
    comments_count: int
    comments_open: bool
    likes: int
    reposts: int
    views: int | None
    text: str
    links: tuple[str, ...]


class SlowPath(Exception):
    """The answer holds something the fast path does not map; ``vk.build_posts`` decides."""


def decode_walls(body: bytes) -> WallExecute | None:
    """The typed answer, or None when it is not one the fast path takes (the caller decodes it
    the usual way)."""
    try:
        answer = WALL_EXECUTE.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return None if answer.error is not None else answer


def _post(p: WallPost, owner_id: int) -> PostRecord:
    try:
        posted_at = datetime.fromtimestamp(p.date, UTC)
    except (OverflowError, OSError, ValueError):
        raise SlowPath from None
    links: list[str] = []
    for attachment in p.attachments or ():
        if attachment.type == "link":
            if attachment.link is None:
                raise SlowPath
            url = (attachment.link.url or "")[: vn.MAX_SHORT].strip()
            if url and url not in links:
                links.append(url)
    comments = p.comments
    likes, reposts, views = p.likes, p.reposts, p.views
    return PostRecord(
        str(p.id),
        posted_at,
        "" if p.from_id is None else str(p.from_id),
        p.from_id == owner_id and not p.copy_history,
        bool(p.copy_history),
        bool(p.is_pinned),
        0 if comments is None else comments.count or 0,
        True if comments is None or comments.can_post is None else bool(comments.can_post),
        0 if likes is None else likes.count or 0,
        0 if reposts is None else reposts.count or 0,
        None if views is None else views.count,
        (p.text or "")[: vn.MAX_TEXT],
        tuple(links),
    )


def posts_event(
    wall: WallAnswer, group_id: int, ref: c.PageRef, sweep_id: str, observed_at: datetime
) -> c.PostsObserved:
    """``vk.build_posts`` of a typed answer; ``SlowPath`` where that one should decide."""
    posts = tuple(_post(p, -group_id) for p in wall.items or ())
    return c.built(
        c.PostsObserved,
        schema_=POSTS_SCHEMA,
        event_id=uuid.uuid4().hex,
        observed_at=observed_at,
        platform=ref.platform,
        page_ref=ref,
        sweep_id=sweep_id,
        page_id=str(group_id),
        total_count=wall.count,
        posts=posts,
    )


def snapshot_event(
    fields: dict[str, Any], ref: c.PageRef, sweep_id: str, observed_at: datetime
) -> c.PageSnapshot | None:
    """``PageSnapshot.create`` of ``vk.snapshot_fields`` without validating them again, or None
    where the contract could refuse them (a number beyond Int64, an id of over 64 digits):
    ``vk.build_snapshot`` decides.

    Everything else the mapping already bounds: texts cut to the contract's lengths, widgets
    built as validated models, at most 100 of them."""
    if len(fields["page_id"]) > PAGE_ID_MAX:
        return None
    for key in ("members", "is_closed", "wall"):
        value = fields[key]
        if value is not None and not c.INT64_MIN <= value <= c.INT64_MAX:
            return None
    return c.built(
        c.PageSnapshot,
        schema_=SNAPSHOT_SCHEMA,
        event_id=uuid.uuid4().hex,
        observed_at=observed_at,
        platform=ref.platform,
        page_ref=ref,
        sweep_id=sweep_id,
        **fields,
    )
