"""``wall.get`` and ``wall.getComments``: posts and comment threads as VK renders them.

Posts are rendered straight to JSON text (:class:`~services.simulator.vk_protocol.Raw`): a
national sweep reads millions of them.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from services.simulator.region import SALT_API, Comment, Post, Region, VkGroup, bits, unit
from services.simulator.vk_protocol import (
    MAX_COMMENTS_COUNT,
    MAX_THREAD_ITEMS,
    MAX_WALL_COUNT,
    ApiError,
    Raw,
    _hash,
    _int_param,
    _param_error,
)


class WallMethods:
    """The ``wall.*`` handlers of :class:`~services.simulator.vk_api.VkSimulator`."""

    region: Region

    def _wall_owner(self, params: dict[str, str]) -> VkGroup:
        if params.get("owner_id", "") == "" and params.get("domain"):
            group = self.region.resolve(params["domain"])
            if group is None:
                raise _param_error("domain is incorrect")
        else:
            owner_id = _int_param(params, "owner_id")
            group = self.region.groups.get(-owner_id) if owner_id < 0 else None
            if group is None:
                raise _param_error("owner_id is incorrect")
        if group.deactivated == "deleted":
            raise ApiError(18)
        if group.deactivated:
            raise ApiError(15)
        if group.is_closed:  # the wall of a closed community is for its members only
            raise ApiError(30)
        return group

    def _wall_get(self, params: dict[str, str]) -> dict[str, Any]:
        group = self._wall_owner(params)
        count = _int_param(params, "count", 20)
        offset = _int_param(params, "offset", 0)
        if count < 0:
            raise _param_error("count should be positive")
        if offset < 0:
            raise _param_error("offset should be positive")
        count = min(count, MAX_WALL_COUNT)
        posts = self.region.posts(group) if group.wall != 0 else []
        wall_filter = params.get("filter", "all") or "all"
        if wall_filter == "owner":
            posts = [p for p in posts if p.from_id == -group.id]
        elif wall_filter == "others":
            posts = [p for p in posts if p.from_id != -group.id]
        elif wall_filter != "all":
            posts = []
        items = [self.post_json(group, p) for p in posts[offset : offset + count]]
        return {"count": len(posts), "items": items}

    def post_object(self, group: VkGroup, post: Post) -> dict[str, Any]:
        return json.loads(self.post_json(group, post))

    def post_json(self, group: VkGroup, post: Post) -> Raw:
        """One wall post as VK renders it, built as text (the hot path of a national sweep)."""
        region = self.region
        seed, gid = region.seed, group.id
        b = bits(seed, gid, SALT_API, post.id)
        views = region.counted_views(group, post)
        # A page whose views are hidden: the posts come without ``views`` (its likes still follow).
        shown_views = "" if region.views_hidden(group) else f',"views":{{"count":{views}}}'
        likes = int(views * 0.06 * unit(b, 16))
        reposts = int(likes * 0.3 * unit(b, 32))
        source = "vk" if unit(b, 48) < 0.8 else "api"
        open_ = region.comments_open(group)
        comments = len(region.comments(group, post)) if open_ else 0
        key = _hash(bits(seed, gid, SALT_API, post.id, 1), bits(seed, gid, SALT_API, post.id, 2))
        text = encode_basestring(region.post_text(group, post))
        tail = ',"is_pinned":1' if post.pinned else ""
        if post.repost:
            source_id, _name, original, source_post = region.repost_source(group, post)
            shift = 600 + bits(seed, gid, SALT_API, post.id, 3) % (2 * 86_400 - 599)
            tail += (
                f',"copy_history":[{{"inner_type":"wall_wallpost","type":"post","attachments":[],'
                f'"date":{post.date - shift},"from_id":{-source_id},"id":{source_post},'
                f'"owner_id":{-source_id},"post_source":{{"type":"vk"}},"post_type":"post",'
                f'"text":{encode_basestring(original)}}}]'
            )
        return Raw(
            f'{{"inner_type":"wall_wallpost","donut":{{"is_donut":false}},'
            f'"comments":{{"can_post":{1 if open_ else 0},"can_view":1,"count":{comments},'
            f'"groups_can_post":true}},"marked_as_ads":0,"hash":"{key}","type":"post",'
            f'"attachments":[],"date":{post.date},"from_id":{post.from_id},"id":{post.id},'
            f'"is_favorite":false,"likes":{{"can_like":1,"count":{likes},"user_likes":0,'
            f'"can_publish":1,"repost_disabled":false}},"owner_id":{-gid},'
            f'"post_source":{{"type":"{source}"}},"post_type":"post",'
            f'"reposts":{{"count":{reposts},"user_reposted":0}},"text":{text}'
            f"{shown_views}{tail}}}"
        )

    # --- wall.getComments ---------------------------------------------------------------------
    def _wall_get_comments(self, params: dict[str, str]) -> dict[str, Any]:
        group = self._wall_owner(params)
        post_id = _int_param(params, "post_id")
        post = next((p for p in self.region.posts(group) if p.id == post_id), None)
        if group.wall == 0 or post is None:
            raise _param_error("post_id is incorrect")
        if not self.region.comments_open(group):
            raise ApiError(212)
        count = _int_param(params, "count", 10)
        offset = _int_param(params, "offset", 0)
        if count < 0 or offset < 0:
            raise _param_error("count and offset should be positive")
        count = min(count, MAX_COMMENTS_COUNT)
        thread_items = min(max(_int_param(params, "thread_items_count", 0), 0), MAX_THREAD_ITEMS)
        need_likes = params.get("need_likes", "0") in ("1", "true")
        sort = params.get("sort", "asc") or "asc"
        if sort not in ("asc", "desc", "smart"):
            raise _param_error("sort is invalid")
        comments = self.region.comments(group, post)
        replies: dict[int, list[Comment]] = {}
        for comment in comments:
            if comment.thread:
                replies.setdefault(comment.thread, []).append(comment)
        root_id = _int_param(params, "comment_id", 0)
        if root_id:
            if not any(c.id == root_id and not c.thread for c in comments):
                raise _param_error("comment_id is incorrect")
            level = replies.get(root_id, [])
            total = len(level)
        else:
            level = [c for c in comments if not c.thread]
            total = len(comments)
        start_id = _int_param(params, "start_comment_id", 0)
        if start_id:
            level = [c for c in level if c.id >= start_id]
        if sort == "desc":
            level = level[::-1]
        items = []
        for comment in level[offset : offset + count]:
            item = self.comment_object(group, comment, need_likes, post.from_id)
            if not comment.thread:
                # As VK answers: ``items`` is there, empty, unless thread_items_count asks for
                # replies, and never holds more than it asks for.
                thread = replies.get(comment.id, [])
                item["thread"] = {
                    "count": len(thread),
                    "items": [
                        self.comment_object(group, r, need_likes, post.from_id)
                        for r in thread[:thread_items]
                    ],
                    "can_post": True,
                    "show_reply_button": True,
                    "groups_can_post": True,
                }
            items.append(item)
        return {
            "count": total,
            "items": items,
            "current_level_count": len(level),
            "can_post": True,
            "show_reply_button": True,
            "groups_can_post": True,
        }

    def comment_object(
        self, group: VkGroup, comment: Comment, need_likes: bool, post_author: int | None = None
    ) -> dict:
        """One comment as VK renders it; ``post_author`` is the from_id of the post it is under
        (the page's by default)."""
        item: dict[str, Any] = {
            "id": comment.id,
            "from_id": comment.from_id,
            "date": comment.date,
            "text": self.region.comment_text(comment),
            "post_id": comment.post_id,
            "owner_id": -group.id,
            "parents_stack": [comment.thread] if comment.thread else [],
        }
        if comment.reply_to_user:  # a thread reply, or a top-level answer naming its citizen
            item["reply_to_user"] = comment.reply_to_user
        if comment.thread:
            item["reply_to_comment"] = comment.thread
        if comment.from_id == (-group.id if post_author is None else post_author):
            item["is_from_post_author"] = True
        if need_likes:
            b = self.region.bits(group, SALT_API, comment.id)
            item["likes"] = {
                "can_like": 1,
                "count": int(unit(b) * 5),
                "user_likes": 0,
                "can_publish": 1,
            }
        return item
