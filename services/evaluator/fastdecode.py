"""The evaluator's decoder: ``contracts.decode`` with a faster path for its two bulk events.

A national sweep is mostly ``PostsObserved`` messages of some twenty posts each, and validating one
with pydantic costs about three times as much as decoding it with msgspec into the mirror structs
below and wrapping the result in an unvalidated ``PostsObserved`` whose posts are ``PostRecord``
(read like ``Post``: same attribute names, types and values). ``OrganisationsRegistered`` is the
other bulk event: a national register is 175,000 organisations, which arrive together at the start
of a backlog; as pydantic models they take about 2 kB each while the first batch is evaluated, as
``OrganisationRecord`` a fifth of that.

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


# The contracts' Int64 (a ClickHouse column): a larger number is refused on both paths.
_Int64 = Annotated[int, Meta(ge=c.INT64_MIN, le=c.INT64_MAX)]


class PageRefRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    platform: c.Platform
    native_id: _text(200, 1)
    org_id: _text(32, 1)

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.native_id}"


class OrganisationRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # ``org_id`` is also all digits (the model's pattern): checked after decoding, see ``decode``.
    org_id: _text(15, 13)
    name: _text(1000, 1)
    level: _text(64)
    founder: _text(1000)
    municipality: _text(200)
    sphere: _text(64)
    exempt: bool = False
    pages: tuple[PageRefRecord, ...] = ()
    gospubliki: bool | None = None

    def page(self, platform: c.Platform) -> PageRefRecord | None:
        return next((p for p in self.pages if p.platform == platform), None)


class OrganisationsRegisteredRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    schema: str
    event_id: _text(64)  # required here, as in PostsObservedRecord
    observed_at: _Aware
    registry_version: _text(64)
    region: _text(64)
    chunk: int
    chunks: int
    organisations: tuple[OrganisationRecord, ...]


class PostRecord(Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    post_id: _text(64)
    posted_at: _Aware
    from_id: _text(64) = ""
    is_own: bool
    is_repost: bool
    is_pinned: bool = False
    comments_count: _Int64 = 0
    comments_open: bool = True
    likes: _Int64 = 0
    reposts: _Int64 = 0
    views: _Int64 | None = None
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
    total_count: _Int64 | None = None
    posts: tuple[PostRecord, ...] = ()


_POSTS = msgspec.json.Decoder(PostsObservedRecord)
_POSTS_SCHEMA = c.PostsObserved.schema_id()
_ORGS = msgspec.json.Decoder(OrganisationsRegisteredRecord)
_ORGS_SCHEMA = c.OrganisationsRegistered.schema_id()
_ORGS_PREFIX = b'{"schema":"' + _ORGS_SCHEMA.encode() + b'"'


def decode(data: bytes, *, max_bytes: int = c.MAX_EVENT_BYTES) -> c.Event:
    """``contracts.decode``, faster for a well-formed ``PostsObserved`` or
    ``OrganisationsRegistered``."""
    if len(data) <= max_bytes and not _LONG_FRACTION.search(data):
        try:
            if data.startswith(_PREFIX):
                posts = _POSTS.decode(data)
                if posts.schema == _POSTS_SCHEMA:  # a repeated "schema" key: the last one counts
                    return _posts_observed(posts)
            elif data.startswith(_ORGS_PREFIX):
                orgs = _ORGS.decode(data)
                if orgs.schema == _ORGS_SCHEMA and all(
                    o.org_id.isascii() and o.org_id.isdigit() for o in orgs.organisations
                ):
                    return _organisations_registered(orgs)
        except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError on bad UTF-8
            pass
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


def _organisations_registered(record: OrganisationsRegisteredRecord) -> c.OrganisationsRegistered:
    return c.OrganisationsRegistered.model_construct(
        schema_=record.schema,
        event_id=record.event_id,
        observed_at=record.observed_at,
        registry_version=record.registry_version,
        region=record.region,
        chunk=record.chunk,
        chunks=record.chunks,
        organisations=record.organisations,
    )
