"""A MAX channel as the bot API shows it: its posts as MAX dates them, chats, messages, comments.

Needs only the region, so the ground truth (``max_truth``) reads channels the same way the
simulator answers for them; :class:`~services.simulator.max_api.MaxSimulator` adds the HTTP side.
"""

from __future__ import annotations

from typing import Any

from services.simulator.max_channels import (
    _VK_MENTION,
    COPY_CLEARANCE_S,
    COPY_WINDOW_S,
    Channel,
    body_text,
)
from services.simulator.region import Comment, Post, Region, bits, unit


class ChannelView:
    """Rendering of channels, posts and comments in the bot API's shapes."""

    def __init__(self, region: Region) -> None:
        self.region = region

    def _posts(self, ch: Channel, now_ts: float | None = None) -> list[tuple[Post, int]]:
        """(post, its time in MAX) of the channel's own and forwarded posts, newest first, at
        the region's clock or at ``now_ts`` (the ground truth's)."""
        now = self.region.now_ts if now_ts is None else now_ts
        found = []
        for post in self.region.posts(ch.group, now):
            if post.from_id > 0:  # a citizen's post on a VK wall; channels have none
                continue
            at = post.date + ch.lag_s
            if ch.state == "copied" and self._near_an_edge(at):
                continue
            if at <= now:
                found.append((post, at))
        found.sort(key=lambda pa: (-pa[1], -pa[0].id))
        return found

    def _near_an_edge(self, at: int) -> bool:
        epoch = self.region.epoch_ts
        return any(abs(at - edge) < COPY_CLEARANCE_S for edge in (epoch, epoch - COPY_WINDOW_S))

    def _chat_object(self, ch: Channel, single: bool = False) -> dict[str, Any]:
        region = self.region
        posts = self._posts(ch)
        description = region.description(ch.group)
        last = posts[0][1] if posts else region.epoch_ts - 86_400 * 30
        chat: dict[str, Any] = {
            "chat_id": ch.chat_id,
            "type": "channel",
            "status": "active",
            "title": region.organisations[ch.index].name[:200],
            "icon": (
                {"url": f"https://i.max.ru/icons/{abs(ch.chat_id):x}.webp"}
                if ch.group.has_photo
                else None
            ),
            "last_event_time": last * 1000,
            "participants_count": ch.group.members,
            "is_public": True,
            "link": f"https://max.ru/{ch.name}",
            "description": description or None,
            "messages_count": len(posts),
        }
        if not single:
            chat["participants"] = None
        return chat

    def _message(self, ch: Channel, post: Post, at: int) -> dict[str, Any]:
        region = self.region
        mid = self._mid(ch, post.id)
        views = self.views(ch, post)
        message: dict[str, Any] = {
            "sender": None,  # posted on behalf of the channel
            "recipient": {"chat_id": ch.chat_id, "chat_type": "channel"},
            "timestamp": at * 1000,
            "body": {"mid": mid, "seq": post.id, "text": body_text(region, ch, post)},
            "stat": {"views": views},
            "url": f"https://max.ru/{ch.name}/{mid}",
        }
        if post.repost:
            source, _name, text, original = region.repost_source(ch.group, post)
            message["link"] = {
                "type": "forward",
                "chat_id": -source,
                "message": {"mid": f"mid.{source:014x}{original:08x}", "seq": original,
                            "text": text},
            }  # fmt: skip
        return message

    def views(self, ch: Channel, post: Post) -> int:
        """A post's views (``stat.views``): a fifth to all of the channel's participants."""
        return int(
            ch.group.members * (0.2 + 0.8 * unit(bits(self.region.seed, ch.chat_id, post.id)))
        )

    def _mid(self, ch: Channel, post_id: int) -> str:
        return f"mid.{abs(ch.chat_id):014x}{post_id:08x}"

    def _comment_mid(self, ch: Channel, post: Post, comment_id: int) -> str:
        return f"mid.{abs(ch.chat_id):014x}{post.id:08x}c{comment_id:06x}"

    def _comment(self, ch: Channel, post: Post, comment: Comment) -> dict[str, Any]:
        own = comment.from_id == -ch.group.id
        message: dict[str, Any] = {
            "sender": None
            if own
            else {
                "user_id": abs(comment.from_id),
                "first_name": "Житель",
                "last_name": None,
                "username": None,
                "is_bot": False,
            },
            "recipient": {
                "chat_id": ch.chat_id,
                "chat_type": "channel",
                "post_id": self._mid(ch, post.id),
            },
            "timestamp": (comment.date + ch.lag_s) * 1000,
            "body": {
                "mid": self._comment_mid(ch, post, comment.id),
                "seq": comment.id,
                "text": _VK_MENTION.sub(r"\1", self.region.comment_text(comment)),
            },
        }
        if comment.thread:
            message["link"] = {
                "type": "reply",
                "message": {
                    "mid": self._comment_mid(ch, post, comment.thread),
                    "seq": comment.thread,
                },
            }
        return message
