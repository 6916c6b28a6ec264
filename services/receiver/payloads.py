"""What a platform pushes, as the page events the collectors publish.

A VK Callback API notification (``wall_post_new``, ``wall_reply_new``, ``wall_reply_edit``) and a
MAX webhook update (``message_created`` in a channel, ``comment_created`` under a channel's post)
become a ``PostsObserved`` or ``CommentsObserved`` holding that one item, mapped by the same
functions the collectors use (``gospublic.platforms``), so a pushed post or comment reads exactly as
a polled one. What the push does not carry stays at the contract's "not known" value
(``total_count`` None; VK sends a new post with no views yet).

A pushed event's ``sweep_id`` starts with ``PUSH_SWEEP_PREFIX`` and names the item, and its message
id is built as the collectors build theirs (``message_id(platform, page, kind, sweep_id)``): the
same notification delivered twice (VK and MAX retry, a receiver restart) is one stored message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gospublic import bus
from gospublic import contracts as c
from gospublic.platforms import max as mx
from gospublic.platforms import vk as vn

PUSH_SWEEP_PREFIX = c.PUSH_SWEEP_PREFIX

# The collectors' subject kinds (services/collector/outcomes.py KIND), for the same subjects.
KIND = {c.PostsObserved: "posts_observed", c.CommentsObserved: "comments_observed"}

VK_POST_EVENTS = frozenset({"wall_post_new"})
VK_COMMENT_EVENTS = frozenset({"wall_reply_new", "wall_reply_edit"})
# Known and answered "ok" without an event: a deletion or restore has no contract of its own (the
# next poll shows the comments as they are); a suggested or postponed post is not on the wall yet.
VK_NOT_PUBLISHED_POST_TYPES = frozenset({"suggest", "postpone"})

MAX_POST_UPDATES = frozenset({"message_created"})
MAX_COMMENT_UPDATES = frozenset({"comment_created", "comment_edited"})


class Unreadable(ValueError):
    """A body that is not what the platform sends; ``kind`` is a ``contracts.REJECTION_KINDS``
    label, ``reason`` quotes the problem (for the 400 answer and the dead letter)."""

    def __init__(self, reason: str, kind: str = "invalid") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def parse_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or ``Unreadable`` saying why not."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Unreadable(f"not JSON: {exc}"[:300], "not_json") from None
    if not isinstance(value, dict):
        raise Unreadable(f"not a JSON object but {type(value).__name__}", "not_object")
    return value


@dataclass(frozen=True)
class VkNotification:
    """The envelope of a VK callback: ``callback_base`` of the official schema."""

    type: str
    group_id: int
    event_id: str
    secret: str
    object: Any

    @classmethod
    def read(cls, body: dict[str, Any]) -> VkNotification:
        kind, group_id = body.get("type"), body.get("group_id")
        if not isinstance(kind, str) or not kind:
            raise Unreadable("VK callback: 'type' missing or not a string", "no_schema")
        if type(group_id) is not int or group_id <= 0:
            raise Unreadable("VK callback: 'group_id' missing or not a positive integer")
        secret = body.get("secret")
        event_id = body.get("event_id")
        return cls(
            type=kind,
            group_id=group_id,
            event_id=event_id if isinstance(event_id, str) else "",
            secret=secret if isinstance(secret, str) else "",
            object=body.get("object"),
        )


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unreadable(f"VK callback: 'object' is not an object but {type(value).__name__}")
    return value


def push_sweep(platform: c.Platform, *item: object) -> str:
    """The pushed event's ``sweep_id``: bounded (the contract allows 64 characters) and the same
    for the same item, so a redelivered notification has the same message id."""
    return f"{PUSH_SWEEP_PREFIX}{platform.value}:{c.message_id(*item)[:24]}"


is_pushed = c.is_pushed


def vk_events(note: VkNotification, ref: c.PageRef, observed_at: datetime) -> list[c.PageEvent]:
    """The events of one authenticated VK notification about the page ``ref``; [] for a
    notification that has none. Raises ``Unreadable`` for an object the mapping refuses."""
    gid = note.group_id
    try:
        if note.type in VK_POST_EVENTS:
            item = _object(note.object)
            if item.get("post_type") in VK_NOT_PUBLISHED_POST_TYPES:
                return []
            post = vn.post_from(item, -gid)
            return [
                c.PostsObserved.create(
                    observed_at=observed_at,
                    platform=c.Platform.VK,
                    page_ref=ref,
                    sweep_id=push_sweep(c.Platform.VK, gid, "post", post.post_id),
                    page_id=str(gid),
                    posts=(post,),
                )
            ]
        if note.type in VK_COMMENT_EVENTS:
            item = _object(note.object)
            post_id = item.get("post_id")
            if type(post_id) is not int:
                raise Unreadable("VK callback: the comment's 'post_id' missing or not an integer")
            comment = vn.comment_from(item, gid, str(post_id))
            # An edit is a new fact about the same comment: its own message (the notification's
            # event_id), while a repeated delivery of the same notification stays one.
            edit = note.event_id if note.type == "wall_reply_edit" else ""
            return [
                c.CommentsObserved.create(
                    observed_at=observed_at,
                    platform=c.Platform.VK,
                    page_ref=ref,
                    sweep_id=push_sweep(c.Platform.VK, gid, "comment", comment.comment_id, edit),
                    page_id=str(gid),
                    comments=(comment,),
                    # Whose post it is the notification does not say: a comment without a
                    # visible answer is then not evaluable, never "unanswered" on a guess.
                    unknown_posts=(str(post_id),),
                )
            ]
    except vn.MalformedResponse as exc:
        raise Unreadable(f"VK {note.type}: {exc.reason}"[:300]) from None
    except ValueError as exc:  # the contract refused a value (pydantic's ValidationError)
        if isinstance(exc, Unreadable):
            raise
        raise Unreadable(f"VK {note.type}: {str(exc).splitlines()[0]}"[:300]) from None
    return []


@dataclass(frozen=True)
class MaxUpdate:
    """A MAX webhook ``Update`` that may hold a channel's post or comment."""

    update_type: str
    chat_id: int | None
    chat_type: str
    message: dict[str, Any] | None

    @classmethod
    def read(cls, body: dict[str, Any]) -> MaxUpdate:
        kind = body.get("update_type")
        if not isinstance(kind, str) or not kind:
            raise Unreadable("MAX update: 'update_type' missing or not a string", "no_schema")
        message = body.get("message")
        if kind not in MAX_POST_UPDATES | MAX_COMMENT_UPDATES:
            return cls(kind, None, "", None)
        if not isinstance(message, dict):
            raise Unreadable(f"MAX {kind}: 'message' missing or not an object")
        recipient = message.get("recipient")
        if not isinstance(recipient, dict):
            raise Unreadable(f"MAX {kind}: 'message.recipient' missing or not an object")
        chat_id = recipient.get("chat_id")
        chat_type = recipient.get("chat_type")
        return cls(
            kind,
            chat_id if type(chat_id) is int else None,
            chat_type if isinstance(chat_type, str) else "",
            message,
        )

    @property
    def concerns_a_channel(self) -> bool:
        return self.message is not None and self.chat_type == "channel" and self.chat_id is not None


def max_events(update: MaxUpdate, ref: c.PageRef, observed_at: datetime) -> list[c.PageEvent]:
    """The events of one authenticated MAX update about the channel ``ref``."""
    if not update.concerns_a_channel or update.message is None or update.chat_id is None:
        return []
    chat_id, message = update.chat_id, update.message
    try:
        if update.update_type in MAX_POST_UPDATES:
            post = mx.post_from(message, chat_id, "message")
            return [
                c.PostsObserved.create(
                    observed_at=observed_at,
                    platform=c.Platform.MAX,
                    page_ref=ref,
                    sweep_id=push_sweep(c.Platform.MAX, chat_id, "post", post.post_id),
                    page_id=str(chat_id),
                    posts=(post,),
                )
            ]
        recipient = message.get("recipient") or {}
        post_id = recipient.get("post_id")
        if not isinstance(post_id, str) or not post_id:
            raise Unreadable(f"MAX {update.update_type}: 'message.recipient.post_id' missing")
        comment = mx.comment_from(message, chat_id, post_id, "message")
        edit = update.update_type == "comment_edited"
        sweep = push_sweep(
            c.Platform.MAX, chat_id, "comment", comment.comment_id,
            str(message.get("timestamp")) if edit else "",
        )  # fmt: skip
        return [
            c.CommentsObserved.create(
                observed_at=observed_at,
                platform=c.Platform.MAX,
                page_ref=ref,
                sweep_id=sweep,
                page_id=str(chat_id),
                comments=(comment,),
            )
        ]
    except mx.MalformedResponse as exc:
        raise Unreadable(f"MAX {update.update_type}: {exc.reason}"[:300]) from None
    except ValueError as exc:
        if isinstance(exc, Unreadable):
            raise
        raise Unreadable(f"MAX {update.update_type}: {str(exc).splitlines()[0]}"[:300]) from None


def to_outgoing(event: c.PageEvent, partition: int | None = None) -> bus.Outgoing:
    """The bus message, subject and id exactly as the collectors build them
    (``services/collector/outcomes.to_outgoing``: platform, page, kind, sweep; the partition of
    the page's organisation's region, None for no known region)."""
    kind = KIND[type(event)]
    if partition is None:
        partition = c.region_partition("")
    return bus.Outgoing(
        subject=c.event_subject(event.platform.value, kind, partition),
        payload=event.to_bytes(),
        msg_id=c.message_id(event.platform.value, event.page_ref.native_id, kind, event.sweep_id),
    )
