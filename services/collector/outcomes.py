"""What every platform's collector hands back, whatever the platform: the events of a task and
the pages' new cursors (``Collected``), a page the platform would not show (``unavailable``), and
the bus message of an event (``to_outgoing``), cut to fit one message when it must be.

An event's JSON is written by msgspec (``to_json``), not pydantic: it is the same JSON, and the
events the fast path builds without validation (``vk_wall``) hold structs pydantic cannot write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from pydantic import BaseModel

from gospublic import contracts as c
from gospublic.bus import Outgoing
from services.collector.cursors import Cursor, cursor_key

KIND = {
    c.PageSnapshot: "page_snapshot",
    c.PostsObserved: "posts_observed",
    c.CommentsObserved: "comments_observed",
    c.PageUnavailable: "page_unavailable",
}


@dataclass
class Collected:
    events: list[c.PageEvent]
    cursors: dict[str, Cursor]  # the pages' new cursors, to write once the events are stored
    resumed: set[int] = field(default_factory=set)  # task indices done earlier in this sweep
    comment_posts: int = 0  # posts whose comments were read


def done_this_sweep(
    refs: Sequence[c.PageRef], cursors: Mapping[str, Cursor], sweep_id: str
) -> tuple[list[str], set[int]]:
    """The pages' cursor keys, and the indices of those already collected in this sweep (a task
    given back after a crash is resumed, not read again)."""
    keys = [cursor_key(ref) for ref in refs]
    resumed = {
        i for i, key in enumerate(keys) if (cur := cursors.get(key)) and cur.sweep == sweep_id
    }
    return keys, resumed


def unavailable(
    ref: c.PageRef,
    sweep_id: str,
    observed_at: datetime,
    reason: c.Unavailability,
    detail: str,
    error_code: int | None = None,
) -> c.PageUnavailable:
    return c.PageUnavailable.create(
        observed_at=observed_at,
        platform=ref.platform,
        page_ref=ref,
        sweep_id=sweep_id,
        reason=reason,
        error_code=error_code,
        detail=detail[:2000],
    )


def page_down(
    ref: c.PageRef,
    task: c.CollectTask,
    reason: c.Unavailability,
    detail: str,
    code: int | None = None,
) -> c.PageUnavailable:
    """``unavailable`` for a page of ``task``, observed now."""
    return unavailable(ref, task.sweep_id, c.utcnow(), reason, detail, code)


def to_outgoing(event: c.PageEvent, partition: int | None = None) -> Outgoing:
    """The bus message; its id is stable per (platform, page, kind, sweep) for JetStream dedup.

    ``partition``: the partition of the page's organisation's region (the task's); None, a task
    that does not say, is the partition of no known region (``region_partition("")``).
    """
    kind = KIND[type(event)]
    payload = to_json(event)
    if len(payload) > c.MAX_EVENT_BYTES and isinstance(event, c.PostsObserved | c.CommentsObserved):
        # The items as validated models (the fast path's posts are structs), to cut them.
        full = c.decode(payload, max_bytes=len(payload))
        payload = _shrink(full).to_bytes()
    if partition is None:
        partition = c.region_partition("")
    return Outgoing(
        subject=c.event_subject(event.platform.value, kind, partition),
        payload=payload,
        msg_id=c.message_id(event.platform.value, event.page_ref.native_id, kind, event.sweep_id),
    )


def _shrink(event: c.PostsObserved | c.CommentsObserved):
    """Cut texts, then drop the oldest items, until the batch fits in one message."""
    field_name = "posts" if isinstance(event, c.PostsObserved) else "comments"
    for limit in (4000, 500, 0):
        items = tuple(
            i.model_copy(update={"text": i.text[:limit]}) for i in getattr(event, field_name)
        )
        event = event.model_copy(update={field_name: items})
        if len(event.to_bytes()) <= c.MAX_EVENT_BYTES:
            return event
    while getattr(event, field_name) and len(event.to_bytes()) > c.MAX_EVENT_BYTES:
        items = getattr(event, field_name)
        keep = items[: len(items) // 2] if field_name == "posts" else items[len(items) // 2 :]
        event = event.model_copy(update={field_name: keep})
    return event


def _model_fields(value: object) -> dict[str, Any]:
    """A model inside an event (PageRef, Widget, Post, Comment: none has aliases) as its fields."""
    if isinstance(value, BaseModel):
        return value.__dict__
    raise NotImplementedError(f"no JSON for {type(value).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_model_fields)
_KEYS: dict[type, tuple[tuple[str, str], ...]] = {}


def to_json(event: c.Event) -> bytes:
    """``event.to_bytes()``, written by msgspec: the same JSON (names, order, values) for an event
    whose fields hold strings, numbers, booleans, aware datetimes, enums, tuples, models and
    ``PostRecord``, five to ten times faster. Fields go out in the model's order, under their
    aliases (the envelope's ``schema_`` as ``schema``)."""
    cls = type(event)
    keys = _KEYS.get(cls)
    if keys is None:
        keys = _KEYS[cls] = tuple(
            (info.alias or name, name) for name, info in cls.model_fields.items()
        )
    fields = event.__dict__
    return _ENCODER.encode({key: fields[name] for key, name in keys})
