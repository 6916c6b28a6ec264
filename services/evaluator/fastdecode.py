"""The evaluator's decoder: ``contracts.decode`` with a faster path for ``PostsObserved``.

A national sweep is mostly ``PostsObserved`` messages of some twenty posts each, and validating one
with pydantic costs about three times as much as decoding it with msgspec into the mirror structs
below and wrapping the result in an unvalidated ``PostsObserved`` whose posts are ``PostRecord``
(read like ``Post``: same attribute names, types and values).

The mirror is at least as strict as the pydantic schema, never looser: msgspec accepts no coercions
(a bool as ``"true"``, an int as ``1.0``), and anything it refuses goes to ``contracts.decode``,
which accepts or rejects it with its usual reason. So the fast path changes how long a valid message
takes, never whether a message is valid. Where the two parsers would read the same text
differently (fractions of a second beyond microseconds: msgspec rounds, pydantic truncates), the
message takes the pydantic path too. ``tests/unit/test_evaluator_fastdecode.py`` checks the mirror
against the pydantic models, field by field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from gospublic import contracts as c

_Aware = Annotated[datetime, Meta(tz=True)]
_PREFIX = b'{"schema":"' + c.PostsObserved.schema_id().encode() + b'"'
# A time with more than six digits of a second's fraction: the parsers round it differently. (It
# may match elsewhere too, in a text: that message merely takes the slower path.)
_LONG_FRACTION = re.compile(rb"\.\d{7}")


def _text(max_length: int, min_length: int = 0) -> type:
    return Annotated[str, Meta(min_length=min_length, max_length=max_length)]


class PageRefRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    platform: c.Platform
    native_id: _text(200, 1)
    org_id: _text(32, 1)


class PostRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    post_id: _text(64)
    posted_at: _Aware
    from_id: _text(64) = ""
    is_own: bool
    is_repost: bool
    is_pinned: bool = False
    comments_count: int = 0
    comments_open: bool = True
    likes: int = 0
    reposts: int = 0
    views: int | None = None
    text: _text(100_000) = ""
    links: tuple[str, ...] = ()


class PostsObservedRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # ``event_id`` has a generated default in the model; here it is required (the producers
    # always send it), so a message without one takes the pydantic path and gets its default.
    schema: str
    event_id: _text(64)
    observed_at: _Aware
    platform: c.Platform
    page_ref: PageRefRecord
    sweep_id: _text(64)
    page_id: _text(64)
    total_count: int | None = None
    posts: tuple[PostRecord, ...] = ()


_POSTS = msgspec.json.Decoder(PostsObservedRecord)
_POSTS_SCHEMA = c.PostsObserved.schema_id()


def decode(data: bytes, *, max_bytes: int = c.MAX_EVENT_BYTES) -> c.Event:
    """``contracts.decode``, faster for a well-formed ``PostsObserved``."""
    if data.startswith(_PREFIX) and len(data) <= max_bytes and not _LONG_FRACTION.search(data):
        try:
            record = _POSTS.decode(data)
        except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError on bad UTF-8
            pass
        else:
            if record.schema == _POSTS_SCHEMA:  # a repeated "schema" key: the last one counts
                return _posts_observed(record)
    return c.decode(data, max_bytes=max_bytes)


def _posts_observed(record: PostsObservedRecord) -> c.PostsObserved:
    ref = record.page_ref
    return c.PostsObserved.model_construct(
        schema_=record.schema,
        event_id=record.event_id,
        observed_at=record.observed_at,
        platform=record.platform,
        page_ref=c.PageRef.model_construct(
            platform=ref.platform, native_id=ref.native_id, org_id=ref.org_id
        ),
        sweep_id=record.sweep_id,
        page_id=record.page_id,
        total_count=record.total_count,
        posts=record.posts,
    )
