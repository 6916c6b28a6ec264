"""Odnoklassniki's REST API (``fb.do``) answered from the simulated region.

``url.getInfo`` (a group link, by id or short name, to ``{"type": "GROUP", "objectId": …}``),
``group.getInfo``, ``mediatopic.getTopics`` and ``discussions.getComments``, JSON format. Every
request must carry ``application_key``, ``access_token`` and ``sig``: the md5 of the sorted
``key=value`` pairs (all but ``sig`` and ``access_token``) followed by
``md5(access_token + application_secret_key)``, lower-case hex, as OK checks it. Errors are OK's
bodies with HTTP 200: ``{"error_code": 104, "error_msg": "PARAM_SIGNATURE : ...",
"error_data": null}``.

Topics are the region's wall posts of the group (ids ``group id * 1000 + post id``), comments
its comment threads: a reply by the group has ``author_type: GROUP`` and ``author_id`` = the
group id.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic_core import to_json

from gospublic.contracts import Platform
from gospublic.registry import parse_page_link
from services.simulator.other_pages import ok_group, ok_private
from services.simulator.region import Comment, Region, VkGroup

MSK = timezone(timedelta(hours=3))
_VK_MENTION = re.compile(r"\[id[0-9]+\|([^\]]*)\]")
MAX_UIDS = 100
MAX_COUNT = 100
OK_ERRORS = {
    1: "UNKNOWN",
    3: "METHOD",
    10: "PERMISSION_DENIED",
    100: "PARAM",
    101: "PARAM_API_KEY",
    102: "PARAM_SESSION_EXPIRED",
    104: "PARAM_SIGNATURE",
    160: "PARAM_GROUP_ID",
    300: "NOT_FOUND",
}


class OkError(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {
            "error_code": self.code,
            "error_msg": f"{OK_ERRORS.get(self.code, 'UNKNOWN')} : {self.detail}",
            "error_data": None,
        }


def signature(params: dict[str, str], access_token: str, secret_key: str) -> str:
    """OK's request signature (the collector computes the same)."""
    session_secret = hashlib.md5((access_token + secret_key).encode()).hexdigest()
    pairs = "".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sig", "access_token")
    )
    return hashlib.md5((pairs + session_secret).encode()).hexdigest()


class OkSimulator:
    """Answers ``fb.do`` requests; ``tokens=None`` accepts any non-empty access token."""

    def __init__(
        self,
        region: Region,
        application_key: str = "CBAQOKAPPKEY",
        secret_key: str = "ok-application-secret",
        tokens: set[str] | None = None,
    ) -> None:
        self.region = region
        self.application_key = application_key
        self.secret_key = secret_key
        self.tokens = frozenset(tokens) if tokens is not None else None
        self.requests: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=100_000)
        self._lock = threading.Lock()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.requests.values()),
                "requests_by_method": dict(self.requests),
                "errors": {str(k): n for k, n in sorted(self.errors.items())},
            }

    def respond(self, params: dict[str, str]) -> bytes:
        return to_json(self.handle(params))

    def handle(self, params: dict[str, str]) -> Any:
        method = params.get("method", "")
        code = None
        try:
            self._check(params)
            body = self._dispatch(method, params)
        except OkError as error:
            body, code = error.body(), error.code
        with self._lock:
            self.requests[method] += 1
            if code is not None:
                self.errors[code] += 1
            clean = {k: v for k, v in params.items() if k not in ("access_token", "sig")}
            self.request_log.append({"method": method, "params": clean, "error_code": code})
        return body

    def _check(self, params: dict[str, str]) -> None:
        if params.get("application_key") != self.application_key:
            raise OkError(101, "Missing or unknown application_key")
        token = params.get("access_token", "")
        if not token or (self.tokens is not None and token not in self.tokens):
            raise OkError(102, "Session expired")
        expected = signature(params, token, self.secret_key)
        if params.get("sig", "").lower() != expected:
            raise OkError(104, f"Invalid signature {params.get('sig', '')[:32]}")
        if params.get("format", "json").lower() != "json":
            raise OkError(100, "Only format=json is simulated")

    def _dispatch(self, method: str, params: dict[str, str]) -> Any:
        if method == "url.getInfo":
            return self._url_info(params)
        if method == "group.getInfo":
            return self._group_info(params)
        if method == "mediatopic.getTopics":
            return self._topics(params)
        if method == "discussions.getComments":
            return self._comments(params)
        raise OkError(3, f"Method {method or '(none)'} not found")

    # --- url.getInfo ------------------------------------------------------------------------
    def _url_info(self, params: dict[str, str]) -> dict[str, Any]:
        url = params.get("url", "")
        if not url:
            raise OkError(100, "Missing required parameter url")
        try:
            ref = parse_page_link(Platform.OK, url)
        except ValueError:
            raise OkError(100, f"url: not an ok.ru link {url[:60]}") from None
        if ref.isdigit():
            group = ok_group(self.region, int(ref))
        else:
            org = self.region.org_by_ok_name(ref)
            group = ok_group(self.region, org.ok_id) if org is not None else None
        if group is None or group.deactivated == "deleted":
            raise OkError(300, f"Object {ref[:60]} not found")
        return {"type": "GROUP", "objectId": group.id, "objectIdEncoded": f"g{group.id:x}"}

    # --- group.getInfo ----------------------------------------------------------------------
    def _group_info(self, params: dict[str, str]) -> list[dict[str, Any]]:
        uids = [u.strip() for u in params.get("uids", "").split(",") if u.strip()]
        if not uids:
            raise OkError(100, "Missing required parameter uids")
        if len(uids) > MAX_UIDS:
            raise OkError(100, f"uids: too many values, max {MAX_UIDS}")
        answer = []
        for uid in dict.fromkeys(uids):
            if not uid.isdigit():
                raise OkError(160, f"Invalid group id {uid[:30]}")
            group = ok_group(self.region, int(uid))
            if group is None or group.deactivated == "deleted":
                continue  # OK leaves out groups that are not there
            answer.append(self.group_object(group))
        return answer

    def group_object(self, group: VkGroup) -> dict[str, Any]:
        blocked = group.deactivated == "banned"
        obj: dict[str, Any] = {
            "uid": str(group.id),
            "name": group.name,
            "shortname": group.custom_screen_name,
            "description": "" if blocked else self.region.description(group),
            "members_count": group.members,
            "premium": False,
            "private": ok_private(self.region, group),
            "status": "BLOCKED" if blocked else "ACTIVE",
            "photo_id": str(group.id * 7 % 10**12),
        }
        if group.has_site and not blocked:
            obj["homepage_url"] = self.region.site(group)
        return obj

    # --- mediatopic.getTopics ---------------------------------------------------------------
    def _readable(self, gid_text: str) -> VkGroup:
        if not gid_text.isdigit():
            raise OkError(160, f"Invalid group id {gid_text[:30]}")
        group = ok_group(self.region, int(gid_text))
        if group is None or group.deactivated == "deleted":
            raise OkError(300, f"Group {gid_text} not found")
        if group.deactivated or ok_private(self.region, group):
            raise OkError(10, f"Access to group {gid_text} content denied")
        return group

    def _topics(self, params: dict[str, str]) -> dict[str, Any]:
        group = self._readable(params.get("gid", ""))
        count = min(max(_int(params, "count", 20), 1), MAX_COUNT)
        posts = self.region.posts(group)
        start = _int(params, "anchor", 0)
        page = posts[start : start + count]
        topics = [self.topic_object(group, p) for p in page]
        more = start + count < len(posts)
        return {"media_topics": topics, "has_more": more, "anchor": str(start + len(page))}

    def topic_object(self, group: VkGroup, post) -> dict[str, Any]:
        region = self.region
        comments = len(region.comments(group, post))
        own = post.from_id == -group.id
        author = f"group:{group.id}" if own else f"user:{post.from_id}"
        media = (
            [{"type": "reshare", "reshare_owner": "group:5000000000001", "text": ""}]
            if post.repost
            else [{"type": "text", "text": region.post_text(group, post)}]
        )
        topic: dict[str, Any] = {
            "id": str(group.id * 1000 + post.id),
            "created_ms": post.date * 1000,
            "author_ref": author,
            "owner_ref": f"group:{group.id}",
            "media": media,
            "discussion_summary": {"comments_count": comments},
            "like_summary": {"count": (post.id * 7) % 40},
            "reshare_summary": {"count": (post.id * 3) % 9},
        }
        if post.pinned:
            topic["is_sticky"] = True
        return topic

    # --- discussions.getComments ------------------------------------------------------------
    def _comments(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("discussionType", "GROUP_TOPIC") != "GROUP_TOPIC":
            raise OkError(100, "discussionType: only GROUP_TOPIC is simulated")
        topic = params.get("discussionId", "")
        if not topic.isdigit():
            raise OkError(100, "Missing or invalid discussionId")
        gid, post_id = divmod(int(topic), 1000)
        group = self._readable(str(gid))
        post = next((p for p in self.region.posts(group) if p.id == post_id), None)
        if post is None:
            raise OkError(300, f"Discussion {topic} not found")
        comments = self.region.comments(group, post)
        count = min(max(_int(params, "count", 20), 1), MAX_COUNT)
        start = _int(params, "anchor", 0)
        page = comments[start : start + count]
        items = []
        for comment in page:
            community = comment.from_id < 0  # the page itself or another group
            item: dict[str, Any] = {
                "id": str(group.id * 10**7 + comment.id),
                "date": datetime.fromtimestamp(comment.date, MSK).strftime("%Y-%m-%d %H:%M:%S"),
                "author_id": str(abs(comment.from_id)),
                "author_type": "GROUP" if community else "USER",
                # OK writes a name where VK writes its ``[id…|Имя]`` markup.
                "text": _VK_MENTION.sub(r"\1", self.region.comment_text(comment)),
            }
            thread = comment.thread or _answered_thread(comments, comment)
            if thread:
                item["reply_to_comment_id"] = str(group.id * 10**7 + thread)
                item["reply_to_id"] = str(abs(comment.reply_to_user or comment.mention))
            items.append(item)
        more = start + count < len(comments)
        return {"comments": items, "has_more": more, "anchor": str(start + len(page))}


def _answered_thread(comments: list[Comment], answer: Comment) -> int:
    """OK has no answer by name: a VK-style top-level answer naming a citizen is written as a
    reply to the thread of that citizen's latest comment before it (0: no such comment)."""
    citizen = answer.mention or answer.reply_to_user
    if not citizen or citizen < 0:
        return 0
    asked = [c for c in comments if c.from_id == citizen and c.date <= answer.date]
    return (asked[-1].thread or asked[-1].id) if asked else 0


def _int(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise OkError(100, f"{name} is not a number") from None
