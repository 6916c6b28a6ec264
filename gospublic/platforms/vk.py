"""Pure mapping of VK API objects to contract fields (shared: the collector and ``gospublic check``).

VK answers are untrusted input: a field of the wrong type raises ``MalformedResponse`` naming the
field, which the collector turns into ``PageUnavailable(api_error)`` for that page. Absent optional
fields map to "unknown" (``None``) rather than to a value that would accuse the page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from gospublic import contracts as c

MAX_NAME = 2000
MAX_TEXT = 100_000
MAX_SHORT = 2000


class MalformedResponse(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- typed field access ------------------------------------------------------------------------


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _obj(value: object, where: str) -> dict[str, Any]:
    if type(value) is dict:
        return value
    if not isinstance(value, dict):
        raise MalformedResponse(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _int(obj: dict[str, Any], key: str, where: str, default: int | None = None) -> int | None:
    value = obj.get(key)
    if type(value) is int:
        return value
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedResponse(
            f"{_at(where, key)}: expected an integer, got {type(value).__name__}"
        )
    return value


def _req_int(obj: dict[str, Any], key: str, where: str) -> int:
    value = _int(obj, key, where)
    if value is None:
        raise MalformedResponse(f"{_at(where, key)}: missing")
    return value


def _flag(obj: dict[str, Any], key: str, where: str) -> bool | None:
    """VK's 0/1 integers (sometimes JSON booleans)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise MalformedResponse(f"{_at(where, key)}: expected 0/1, got {value!r:.40}")


def _str(obj: dict[str, Any], key: str, where: str, limit: int = MAX_TEXT) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedResponse(f"{_at(where, key)}: expected a string, got {type(value).__name__}")
    return value[:limit]


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResponse(f"{_at(where, key)}: expected a list, got {type(value).__name__}")
    return value


def _unique(values: list[str], key=lambda v: v) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for value in values:
        k = key(value)
        if value and k not in seen:
            seen.add(k)
            out.append(value)
    return tuple(out)


def phone_key(phone: str) -> str:
    """Digits with the Russian trunk prefix unified, so +7 (473) 255-12-34 == 84732551234."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11 and digits[0] in "78":
        return "7" + digits[1:]
    return digits


# --- groups.getById ----------------------------------------------------------------------------


def groups_of(response: object) -> list[dict[str, Any]]:
    """The group objects of a ``groups.getById`` response (5.199 wraps them in ``groups``)."""
    if isinstance(response, dict):
        groups = response.get("groups")
        if not isinstance(groups, list):
            raise MalformedResponse("groups.getById: 'groups' is not a list")
    elif isinstance(response, list):  # versions before 5.139
        groups = response
    else:
        raise MalformedResponse(
            f"groups.getById: expected an object or a list, got {type(response).__name__}"
        )
    return groups


def group_id(group: object) -> int:
    return _req_int(_obj(group, "group"), "id", "group")


def deactivation(group: dict[str, Any]) -> c.Unavailability | None:
    """``deleted`` / ``banned`` for a deactivated group (any other marker counts as deleted)."""
    value = group.get("deactivated")
    if not value:
        return None
    if value == "banned":
        return c.Unavailability.BANNED
    return c.Unavailability.DELETED


def snapshot_fields(group: object) -> dict[str, Any]:
    """Fields of ``PageSnapshot`` (without the envelope) from one group object."""
    g = _obj(group, "group")
    where = f"group {g.get('id')!r:.20}"
    gid = _req_int(g, "id", where)
    description = _str(g, "description", where)

    links = []
    for i, item in enumerate(_list(g, "links", where)):
        url = _str(_obj(item, f"{where}.links[{i}]"), "url", f"{where}.links[{i}]", MAX_SHORT)
        links.append(url.strip())

    phones: list[str] = []
    emails: list[str] = []
    for i, item in enumerate(_list(g, "contacts", where)):
        contact = _obj(item, f"{where}.contacts[{i}]")
        phones.append(_str(contact, "phone", f"{where}.contacts[{i}]", MAX_SHORT).strip())
        emails.append(_str(contact, "email", f"{where}.contacts[{i}]", MAX_SHORT).strip())

    address = ""
    addresses = g.get("addresses")
    if addresses is not None:
        info = _obj(addresses, f"{where}.addresses")
        main = info.get("main_address")
        if main is not None and info.get("is_enabled", True) is not False:
            main = _obj(main, f"{where}.addresses.main_address")
            address = _address_text(main, f"{where}.addresses.main_address")
            phones.append(_str(main, "phone", f"{where}.addresses.main_address", MAX_SHORT).strip())

    cover = g.get("cover")
    has_cover = None
    if cover is not None:
        has_cover = bool(_flag(_obj(cover, f"{where}.cover"), "enabled", f"{where}.cover"))

    is_closed = _int(g, "is_closed", where, 0)
    return {
        "page_id": str(gid),
        "screen_name": _str(g, "screen_name", where, 200),
        "name": _str(g, "name", where, MAX_NAME),
        "description": description,
        "site": _str(g, "site", where, MAX_SHORT).strip(),
        "links": _unique(links),
        # Structured fields only: the description stays text for the rules to read, so a number
        # written there is not copied here (it would count twice). One entry per number however
        # it is formatted.
        "phones": _unique(phones, phone_key),
        "emails": _unique(emails, str.lower),
        "address": address[:MAX_SHORT],
        "members": _int(g, "members_count", where),
        "is_closed": is_closed,
        "is_government_organization": _flag(g, "is_government_organization", where),
        "verified": bool(_flag(g, "verified", where)),
        "wall": _int(g, "wall", where),
        "has_photo": _flag(g, "has_photo", where),
        "has_cover": has_cover,
    }


def _address_text(main: dict[str, Any], where: str) -> str:
    text = _str(main, "address", where, MAX_SHORT).strip()
    city = main.get("city")
    if city is not None:
        title = _str(_obj(city, f"{where}.city"), "title", f"{where}.city", 200).strip()
        if title and title.lower() not in text.lower():
            text = f"{title}, {text}" if text else title
    return text


def build_snapshot(
    group: object, ref: c.PageRef, sweep_id: str, observed_at: datetime
) -> c.PageSnapshot:
    fields = snapshot_fields(group)
    try:
        return c.PageSnapshot.create(
            observed_at=observed_at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            **fields,
        )
    except ValidationError as exc:
        raise MalformedResponse(
            f"snapshot does not fit the contract: {_first_error(exc)}"
        ) from None


# --- wall.get ----------------------------------------------------------------------------------


def post_from(item: object, owner_id: int) -> c.Post:
    p = _obj(item, "wall item")
    try:
        return _post(p, owner_id)
    except MalformedResponse as exc:
        # Field paths inside are static; the post id is added once, only when something is wrong.
        raise MalformedResponse(f"post {p.get('id')!r:.20}.{exc.reason}") from None


def _post(p: dict[str, Any], owner_id: int) -> c.Post:
    post_id = _req_int(p, "id", "")
    date = _req_int(p, "date", "")
    from_id = _int(p, "from_id", "")
    copy_history = _list(p, "copy_history", "")
    comments = p.get("comments")
    comments_count, comments_open = 0, True
    if comments is not None:
        comments = _obj(comments, "comments")
        comments_count = _int(comments, "count", "comments", 0) or 0
        can_post = _flag(comments, "can_post", "comments")
        comments_open = True if can_post is None else can_post
    links = []
    for i, attachment in enumerate(_list(p, "attachments", "")):
        attachment = _obj(attachment, f"attachments[{i}]")
        if attachment.get("type") == "link":
            link = _obj(attachment.get("link"), f"attachments[{i}].link")
            url = _str(link, "url", f"attachments[{i}].link", MAX_SHORT).strip()
            if url:
                links.append(url)
    try:
        posted_at = datetime.fromtimestamp(date, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedResponse(f"date: out of range: {date}") from None
    try:
        return c.Post(
            post_id=str(post_id),
            posted_at=posted_at,
            from_id="" if from_id is None else str(from_id),
            is_own=from_id == owner_id and not copy_history,
            is_repost=bool(copy_history),
            is_pinned=bool(_flag(p, "is_pinned", "")),
            comments_count=comments_count,
            comments_open=comments_open,
            likes=_counter(p, "likes") or 0,
            reposts=_counter(p, "reposts") or 0,
            views=_counter(p, "views"),
            text=_str(p, "text", ""),
            links=_unique(links),
        )
    except ValidationError as exc:  # an id of over 64 digits, say
        raise MalformedResponse(_first_error(exc)) from None


def _counter(post: dict[str, Any], key: str) -> int | None:
    value = post.get(key)
    if value is None:
        return None
    return _int(_obj(value, key), "count", key)


def wall_posts(response: object, owner_id: int) -> tuple[int | None, list[c.Post]]:
    """(total count, posts) of a ``wall.get`` response for the wall of ``owner_id``."""
    r = _obj(response, "wall.get")
    count = _int(r, "count", "wall.get")
    return count, [post_from(item, owner_id) for item in _list(r, "items", "wall.get")]


def build_posts(
    response: object, group_id: int, ref: c.PageRef, sweep_id: str, observed_at: datetime
) -> c.PostsObserved:
    count, posts = wall_posts(response, -group_id)
    try:
        return c.PostsObserved.create(
            observed_at=observed_at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=str(group_id),
            total_count=count,
            posts=tuple(posts),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"posts do not fit the contract: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


# --- wall.getComments --------------------------------------------------------------------------


def comment_from(item: object, group_id: int, post_id: str) -> c.Comment:
    """A comment or a thread reply; the page's own replies come ``from_id = -group_id``."""
    p = _obj(item, "comment")
    try:
        comment_id = _req_int(p, "id", "")
        from_id = _req_int(p, "from_id", "")
        date = _req_int(p, "date", "")
        reply_to = _int(p, "reply_to_comment", "")
        if reply_to is None:
            stack = _list(p, "parents_stack", "")
            reply_to = stack[-1] if stack and type(stack[-1]) is int else None
        try:
            posted_at = datetime.fromtimestamp(date, UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedResponse(f"date: out of range: {date}") from None
        return c.Comment(
            comment_id=str(comment_id),
            post_id=post_id,
            from_id=str(from_id),
            author_kind="page" if from_id == -group_id else "citizen",
            reply_to=None if reply_to is None else str(reply_to),
            posted_at=posted_at,
            text=_str(p, "text", ""),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"comment {p.get('id')!r:.20}.{_first_error(exc)}") from None
    except MalformedResponse as exc:
        raise MalformedResponse(f"comment {p.get('id')!r:.20}.{exc.reason}") from None


def comments_page(
    response: object, group_id: int, post_id: str
) -> tuple[list[c.Comment], list[int], int]:
    """(comments with their inline thread replies, threads with replies not shown, top-level count)
    of a ``wall.getComments`` answer.
    """
    r = _obj(response, "wall.getComments")
    comments: list[c.Comment] = []
    partial_threads: list[int] = []
    items = _list(r, "items", "wall.getComments")
    for item in items:
        comment = comment_from(item, group_id, post_id)
        comments.append(comment)
        thread = _obj(item, "comment").get("thread")
        if thread is None:
            continue
        thread = _obj(thread, "thread")
        replies = _list(thread, "items", "thread")
        comments.extend(comment_from(reply, group_id, post_id) for reply in replies)
        if (_int(thread, "count", "thread", 0) or 0) > len(replies):
            partial_threads.append(int(comment.comment_id))
    level = _int(r, "current_level_count", "wall.getComments")
    return comments, partial_threads, len(items) if level is None else level


def build_comments(
    comments: list[c.Comment],
    group_id: int,
    ref: c.PageRef,
    sweep_id: str,
    observed_at: datetime,
) -> c.CommentsObserved:
    unique = {comment.comment_id: comment for comment in comments}
    try:
        return c.CommentsObserved.create(
            observed_at=observed_at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=str(group_id),
            comments=tuple(sorted(unique.values(), key=lambda x: (x.posted_at, x.comment_id))),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"comments do not fit the contract: {_first_error(exc)}") from None
