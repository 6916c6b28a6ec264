"""VK API 5.199 answered from a synthetic region: ``groups.getById``, ``wall.get``,
``wall.getComments`` and ``execute``.

:class:`VkSimulator` is a request handler without I/O: ``handle(method, params)`` returns the JSON
body VK would return (errors are bodies too, as VK sends them with HTTP 200). ``respond`` adds the
HTTP layer's view, including injected faults (an HTML 502 page, a truncated body, an error code),
and :mod:`services.simulator.server` puts it on a socket.

Shapes follow the official 5.199 schema (``groups_getById_object_response``, ``wall_get_response``,
``wall_getComments_response``, ``base_error``) plus the undocumented fields real responses carry
(``is_government_organization``, ``owner_id`` on posts, ``inner_type``). Every request is counted
per ``(method, token)`` and logged without its access token; every API call (an ``execute`` runs
several) goes to a call log as well, so a test can prove which pages were read and how often.

With :class:`VkLimits` the simulator enforces VK's limits: 3 requests a second per token (error 6)
and daily quotas per token and method, ``execute`` sub-calls included (error 29). Posts are rendered
straight to JSON text: a national sweep reads millions of them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring
from typing import Any

from pydantic_core import to_json

from services.simulator.region import SALT_API, Comment, Post, Region, VkGroup, bits, unit

API_VERSION = "5.199"
MAX_GROUP_IDS = 500
MAX_WALL_COUNT = 100
MAX_COMMENTS_COUNT = 100
MAX_THREAD_ITEMS = 10
MAX_EXECUTE_CALLS = 25
FAULT_KINDS = ("html", "truncated", "error")
MOSCOW = timezone(timedelta(hours=3))

ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error: Unknown error, try later",
    12: "Unable to compile code",
    13: "Runtime error occurred during code invocation: Too many API calls",
    15: "Access denied: group is blocked",
    18: "User was deleted or banned",
    29: "Rate limit reached",
    30: "This profile is private",
    100: "One of the parameters specified was missing or invalid",
    203: "Access to group denied",
    212: "Access to post comments denied",
}
_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, code: int, msg: str | None = None):
        self.code = code
        self.msg = msg or ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        super().__init__(self.msg)


@dataclass(frozen=True)
class SimResponse:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class VkLimits:
    """VK's limits as the simulator enforces them (``None`` in the simulator: count, never refuse).

    ``requests_per_second`` per token within any ``window_s`` of arrival times (an ``execute`` is
    one request); ``daily`` per token and method, every ``execute`` sub-call included, resetting at
    midnight Moscow time.
    """

    requests_per_second: int = 3
    window_s: float = 1.0
    daily: dict[str, int] = field(default_factory=lambda: {"wall.get": 5000})


class Raw(str):
    """JSON text rendered already: :func:`render` puts it into a body as it is."""

    __slots__ = ()


def render(value: Any) -> str:
    """JSON text of a body whose heavy parts are :class:`Raw` (compact, UTF-8, as VK sends it)."""
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode_basestring(k)}:{render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return to_json(value).decode()


def _param_error(detail: str) -> ApiError:
    return ApiError(100, f"{ERROR_MESSAGES[100]}: {detail}")


def _compile_error(detail: str) -> ApiError:
    return ApiError(12, f"{ERROR_MESSAGES[12]}: {detail}")


def _int_param(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name, "")
    if raw == "":
        if default is None:
            raise _param_error(f"{name} is undefined")
        return default
    try:
        return int(raw)
    except ValueError:
        raise _param_error(f"{name} not integer") from None


def moscow_day(wall_time: float) -> str:
    return datetime.fromtimestamp(wall_time, MOSCOW).date().isoformat()


class VkSimulator:
    """Answers VK API calls for ``region``; ``tokens=None`` accepts any non-empty token."""

    def __init__(
        self,
        region: Region,
        tokens: set[str] | None = None,
        *,
        limits: VkLimits | None = None,
        log_limit: int = 100_000,
        clock=time.monotonic,
        wall_clock=time.time,
    ):
        self.region = region
        self.tokens = frozenset(tokens) if tokens is not None else None
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock
        # HTTP-level requests (an execute is one) and API calls (each execute sub-call counts).
        self.requests: Counter[tuple[str, str]] = Counter()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[int] = Counter()
        self.rate_limited = 0  # error 6 answered because a token went over its rate
        self.quota_exceeded = 0  # error 29 answered because a token used up a daily quota
        self.request_log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.call_log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._faults: deque[tuple[str, int | None, str | None]] = deque()
        self._recent: dict[str, deque[float]] = {}  # token → arrival times inside the window
        self._used: Counter[tuple[str, str, str]] = Counter()  # (token, method, day) → calls
        self._call_faults: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # --- Test hooks ---------------------------------------------------------------------------
    def fail_next(
        self,
        kind: str,
        count: int = 1,
        error_code: int | None = None,
        method: str | None = None,
    ) -> None:
        """Make the next ``count`` requests (of ``method``, if given) fail: ``html`` (HTTP 502
        page), ``truncated`` (half of a valid JSON body, HTTP 200) or ``error`` (an error body
        with ``error_code``, default 10).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, not {kind!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.extend([(kind, error_code, method)] * count)

    def fail_calls(self, method: str, owner_id: int, error_code: int) -> None:
        """Make every ``method`` call for ``owner_id`` (an ``execute`` sub-call too) answer
        ``error_code``: a page that went private, was deleted or closed its comments between
        two calls of a sweep. ``error_code=0`` clears it.
        """
        with self._lock:
            if error_code:
                self._call_faults[(method, str(owner_id))] = error_code
            else:
                self._call_faults.pop((method, str(owner_id)), None)

    def request_count(self, method: str | None = None, token: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (m, t), n in self.requests.items()
                if (method is None or m == method) and (token is None or t == token)
            )

    def log_entries(self) -> list[dict[str, Any]]:
        """A copy of the request log (safe while the server keeps appending)."""
        with self._lock:
            return list(self.request_log)

    def call_entries(self, method: str | None = None) -> list[dict[str, Any]]:
        """A copy of the call log: one entry per API call, ``execute`` sub-calls included."""
        with self._lock:
            return [e for e in self.call_log if method is None or e["method"] == method]

    def quota_used(self, token: str, method: str) -> int:
        with self._lock:
            return self._used[(token, method, moscow_day(self.wall_clock()))]

    def stats(self) -> dict[str, Any]:
        """Counters a benchmark reads back (no tokens in it)."""
        with self._lock:
            by_method: Counter[str] = Counter()
            for (method, _), n in self.requests.items():
                by_method[method] += n
            calls: Counter[str] = Counter()
            for (method, _), n in self.calls.items():
                calls[method] += n
            return {
                "requests": sum(by_method.values()),
                "requests_by_method": dict(by_method),
                "calls_by_method": dict(calls),
                "errors": {str(code): n for code, n in sorted(self.errors.items())},
                "rate_limited": self.rate_limited,
                "quota_exceeded": self.quota_exceeded,
                "limits": self.limits is not None,
            }

    def reset_log(self) -> None:
        """Forget the counters and logs, keep what limits remember (quotas used today)."""
        with self._lock:
            self.requests.clear()
            self.calls.clear()
            self.errors.clear()
            self.rate_limited = self.quota_exceeded = 0
            self.request_log.clear()
            self.call_log.clear()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.calls.clear()
            self.errors.clear()
            self.rate_limited = self.quota_exceeded = 0
            self.request_log.clear()
            self.call_log.clear()
            self._faults.clear()
            self._recent.clear()
            self._used.clear()
            self._call_faults.clear()

    # --- Entry points -------------------------------------------------------------------------
    def handle(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """The JSON body VK returns for one request (faults are not applied here)."""
        return json.loads(render(self._handle(method, params, fault=None)))

    def respond(self, method: str, params: dict[str, str]) -> SimResponse:
        """HTTP status, content type and bytes for one request, with injected faults applied."""
        with self._lock:
            fault = next((f for f in self._faults if f[2] in (None, method)), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is None:
            body = render(self._handle(method, params, fault=None)).encode()
            return SimResponse(200, JSON_TYPE, body)
        kind, code, _ = fault
        clean = _clean_params(params)
        token = str(params.get("access_token", ""))
        if kind == "html":
            self._record(method, token, clean, None, "html", 502)
            return SimResponse(502, "text/html", _BAD_GATEWAY)
        if kind == "truncated":
            body = render(self._handle(method, params, fault="truncated")).encode()
            cut = max(1, len(body) // 2)
            while cut > 1 and 0x80 <= body[cut] < 0xC0:  # not inside a character
                cut -= 1
            return SimResponse(200, JSON_TYPE, body[:cut])
        error = ApiError(code or 10)
        self._record(method, token, clean, error.code, "error", 200)
        return SimResponse(200, JSON_TYPE, _dump(_error_body(error, method, clean)))

    # --- Dispatch -----------------------------------------------------------------------------
    def _handle(self, method: str, params: dict[str, str], fault: str | None) -> dict[str, Any]:
        params = {str(k): str(v) for k, v in params.items()}
        token = params.get("access_token", "")
        clean = _clean_params(params)
        try:
            if not token:
                raise ApiError(5, "User authorization failed: no access_token passed.")
            if self.tokens is not None and token not in self.tokens:
                raise ApiError(5)
            if not params.get("v"):
                raise ApiError(8)
            self._admit(token)
            if method == "execute":
                response, errors = self._execute(params, token)
                body: dict[str, Any] = {"response": response}
                if errors:
                    body["execute_errors"] = errors
            else:
                body = {"response": self._call(method, params, token)}
            code = None
        except ApiError as error:
            body = _error_body(error, method, clean)
            code = error.code
        self._record(method, token, clean, code, fault, 200)
        return body

    def _admit(self, token: str) -> None:
        """Error 6 if this request would be one too many for the token in the last window."""
        if self.limits is None:
            return
        with self._lock:  # read the clock inside: arrivals must be recorded in time order
            now = self.clock()
            recent = self._recent.setdefault(token, deque())
            while recent and recent[0] <= now - self.limits.window_s:
                recent.popleft()
            if len(recent) >= self.limits.requests_per_second:
                self.rate_limited += 1
                raise ApiError(6)
            recent.append(now)

    def _spend(self, token: str, method: str) -> None:
        """Count a call against the token's daily quota for the method; error 29 when used up."""
        with self._lock:
            self.calls[(method, token)] += 1
            if self.limits is None:
                return
            quota = self.limits.daily.get(method)
            key = (token, method, moscow_day(self.wall_clock()))
            if quota is not None and self._used[key] >= quota:
                self.quota_exceeded += 1
                raise ApiError(29)
            self._used[key] += 1

    def _record(
        self,
        method: str,
        token: str,
        params: dict[str, str],
        error_code: int | None,
        fault: str | None,
        status: int,
    ) -> None:
        with self._lock:
            self.requests[(method, token)] += 1
            if error_code is not None:
                self.errors[error_code] += 1
            self.request_log.append(
                {
                    "time": time.time(),
                    "method": method,
                    "token": token,
                    "params": params,
                    "status": status,
                    "error_code": error_code,
                    "fault": fault,
                }
            )

    def _call(self, method: str, params: dict[str, str], token: str) -> Any:
        entry = {"method": method, "token": token, "params": _clean_params(params)}
        try:
            if method not in _METHODS:
                raise ApiError(3)
            self._spend(token, method)
            injected = self._call_faults.get((method, params.get("owner_id", "")))
            if injected:
                raise ApiError(injected)
            result = getattr(self, _METHODS[method])(params)
        except ApiError as error:
            entry["error_code"] = error.code
            raise
        else:
            entry["error_code"] = None
            return result
        finally:
            with self._lock:
                self.call_log.append(entry)

    # --- execute ------------------------------------------------------------------------------
    def _execute(self, params: dict[str, str], token: str) -> tuple[Any, list[dict[str, Any]]]:
        calls, as_list = parse_execute_code(params.get("code", ""))
        if len(calls) > MAX_EXECUTE_CALLS:
            raise ApiError(13)
        results: list[Any] = []
        errors: list[dict[str, Any]] = []
        for method, args in calls:
            sub = {k: _param_text(v) for k, v in args.items()}
            try:
                if method == "execute":
                    raise ApiError(3)
                results.append(self._call(method, sub, token))
            except ApiError as error:
                results.append(False)
                errors.append({"method": method, "error_code": error.code, "error_msg": error.msg})
                with self._lock:
                    self.errors[error.code] += 1
        return (results if as_list else results[0]), errors

    # --- groups.getById -----------------------------------------------------------------------
    def _groups_get_by_id(self, params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("group_ids") or params.get("group_id") or ""
        refs = [ref.strip() for ref in raw.split(",") if ref.strip()]
        if not refs:
            raise _param_error("group_ids is undefined")
        if len(refs) > MAX_GROUP_IDS:
            raise _param_error(f"group_ids is too long, max {MAX_GROUP_IDS}")
        fields = {f.strip() for f in params.get("fields", "").split(",") if f.strip()}
        seen: set[int] = set()
        groups = []
        for ref in refs:
            group = self.region.resolve(ref)
            if group is None or group.id in seen:
                continue
            seen.add(group.id)
            groups.append(Raw(to_json(self.group_object(group, fields)).decode()))
        if not groups:
            raise _param_error("group_ids is undefined")
        return {"groups": groups, "profiles": []}

    def group_object(self, group: VkGroup, fields: set[str]) -> dict[str, Any]:
        region = self.region
        photo = _photos(region, group)
        obj: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "screen_name": group.screen_name,
            "is_closed": group.is_closed,
            "type": group.type,
        }
        if group.deactivated:
            obj["deactivated"] = group.deactivated
            obj.update(photo)
            return obj
        obj.update({"is_admin": 0, "is_member": 0, "is_advertiser": 0})
        if "verified" in fields:
            obj["verified"] = group.verified
        if "is_government_organization" in fields:
            obj["is_government_organization"] = group.is_gov
        if "members_count" in fields:
            obj["members_count"] = group.members
        if "activity" in fields:
            obj["activity"] = "Государственная организация"
        if "description" in fields:
            obj["description"] = region.description(group)
        if "status" in fields:
            obj["status"] = ""
        if "wall" in fields:
            obj["wall"] = group.wall
        if "can_post" in fields:
            obj["can_post"] = 0
        if "fixed_post" in fields:
            pinned = next((p.id for p in region.posts(group) if p.pinned), None)
            if pinned is not None and group.wall != 0:
                obj["fixed_post"] = pinned
        if "site" in fields:
            obj["site"] = region.site(group)
        if "has_photo" in fields:
            obj["has_photo"] = group.has_photo
        if "menu" in fields:
            # An empty menu is left out, as VK leaves out the other requested empty fields.
            items = region.menu_items(group)
            if items:
                obj["menu"] = {"items": items, "count": len(items)}
        if "cover" in fields:
            obj["cover"] = _cover(region, group)
        if "contacts" in fields:
            contacts = []
            for contact in region.contacts(group):
                item: dict[str, Any] = {}
                if contact.user_id:
                    item["user_id"] = contact.user_id
                item["desc"] = contact.desc
                if contact.phone:
                    item["phone"] = contact.phone
                if contact.email:
                    item["email"] = contact.email
                contacts.append(item)
            if contacts:
                obj["contacts"] = contacts
        if "links" in fields:
            site = region.site(group)
            if site:
                obj["links"] = [
                    {
                        "id": group.id % 100_000 + 1,
                        "url": site,
                        "edit_title": 0,
                        "name": "Официальный сайт",
                        "desc": site.removeprefix("https://"),
                        "photo_50": "https://vk.com/images/camera_50.png",
                        "photo_100": "https://vk.com/images/camera_100.png",
                    }
                ]
        if "addresses" in fields:
            address = region.main_address(group)
            if address is None:
                obj["addresses"] = {"is_enabled": False}
            else:
                main: dict[str, Any] = {
                    "id": address.id,
                    "additional_address": "",
                    "address": address.address,
                    "city_id": address.city_id,
                    "country_id": 1,
                    "latitude": address.latitude,
                    "longitude": address.longitude,
                    "title": address.title,
                    "time_offset": 180,
                    "work_info_status": "no_information",
                }
                if address.phone:
                    main["phone"] = address.phone
                obj["addresses"] = {
                    "is_enabled": True,
                    "main_address_id": address.id,
                    "main_address": main,
                    "count": 1,
                }
        obj.update(photo)
        return obj

    # --- wall.get -----------------------------------------------------------------------------
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


_METHODS = {
    "groups.getById": "_groups_get_by_id",
    "wall.get": "_wall_get",
    "wall.getComments": "_wall_get_comments",
}


# --- execute code ------------------------------------------------------------------------------

_RETURN = re.compile(r"\s*return\b\s*(?P<body>.*?)\s*;?\s*", re.S)
_CALL = re.compile(r"\s*API\.(?P<method>[A-Za-z]+\.[A-Za-z]+)\(\s*")
_DECODER = json.JSONDecoder()


def parse_execute_code(code: str) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """Parse ``return [API.m({...}), ...];`` or ``return API.m({...});`` strictly.

    Returns the calls and whether the code returns a list. Anything else is VK error 12.
    """
    m = _RETURN.fullmatch(code or "")
    if m is None:
        raise _compile_error("code must be 'return [API.method({...}), ...];'")
    body = m.group("body")
    as_list = body.startswith("[")
    if as_list:
        if not body.endswith("]"):
            raise _compile_error("unterminated list")
        body = body[1:-1]
    calls: list[tuple[str, dict[str, Any]]] = []
    pos = 0
    while body[pos:].strip():
        call = _CALL.match(body, pos)
        if call is None:
            raise _compile_error(f"expected API call at {pos}")
        pos = call.end()
        args: Any = {}
        if body[pos] != ")":
            try:
                args, pos = _DECODER.raw_decode(body, pos)
            except json.JSONDecodeError as exc:
                raise _compile_error(f"bad arguments: {exc.msg}") from None
            if not isinstance(args, dict):
                raise _compile_error("arguments must be an object")
        pos = _skip_spaces(body, pos)
        if body[pos : pos + 1] != ")":
            raise _compile_error(f"expected ')' at {pos}")
        pos = _skip_spaces(body, pos + 1)
        calls.append((call.group("method"), args))
        if pos < len(body):
            if not as_list or body[pos] != ",":
                raise _compile_error(f"expected ',' at {pos}")
            pos += 1
    if not as_list and len(calls) != 1:
        raise _compile_error("expected one API call")
    return calls, as_list


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ",".join(_param_text(v) for v in value)
    return str(value)


# --- Small pieces ------------------------------------------------------------------------------


def _clean_params(params: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in params.items() if k != "access_token"}


def _error_body(error: ApiError, method: str, params: dict[str, str]) -> dict[str, Any]:
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    request_params += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    return {
        "error": {
            "inner_type": "base_error",
            "error_code": error.code,
            "error_msg": error.msg,
            "request_params": request_params,
        }
    }


def _dump(body: dict[str, Any]) -> bytes:
    return to_json(body)


def _hash(*values: int, length: int = 18) -> str:
    """A VK-style opaque key (``A-Za-z0-9-_``) from 64-bit values."""
    raw = b"".join(v.to_bytes(8, "little") for v in values)
    return base64.urlsafe_b64encode(raw).decode()[:length]


def _photos(region: Region, group: VkGroup) -> dict[str, str]:
    if group.deactivated or not group.has_photo:
        return {f"photo_{n}": f"https://vk.com/images/community_{n}.png" for n in (50, 100, 200)}
    key = _key(region, group, 1)
    server = group.id % 9 + 1
    return {
        f"photo_{n}": (
            f"https://sun{server}-{group.id % 90 + 10}.userapi.com/s/v1/ig2/{key}.jpg"
            f"?size={n}x{n}&quality=95&crop=0,0,400,400&ava=1"
        )
        for n in (50, 100, 200)
    }


def _cover(region: Region, group: VkGroup) -> dict[str, Any]:
    if not group.has_cover:
        return {"enabled": 0}
    key = _key(region, group, 2)
    return {
        "enabled": 1,
        "images": [
            {
                "url": f"https://sun9-1.userapi.com/impf/{key}.jpg?size={w}x{h}",
                "width": w,
                "height": h,
            }
            for w, h in ((200, 50), (400, 101), (795, 200), (1080, 272), (1590, 400))
        ],
    }


def _key(region: Region, group: VkGroup, n: int) -> str:
    parts = [region.bits(group, SALT_API, n * 10 + i) for i in range(4)]
    return _hash(*parts, length=40)
