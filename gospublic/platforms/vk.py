"""Pure mapping of VK API objects to contract fields (shared: the collector and ``gospublic check``).

VK answers are untrusted input: a field of the wrong type raises ``MalformedResponse`` naming the
field, which the collector turns into ``PageUnavailable(api_error)`` for that page. Absent optional
fields map to "unknown" (``None``) rather than to a value that would accuse the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


# groups.getById ``fields`` behind each fact of a snapshot (``contracts.SNAPSHOT_FACTS``).
FACT_SOURCES: dict[str, tuple[str, ...]] = {
    "description": ("description",),
    "site": ("site",),
    "links": ("links",),
    "phones": ("contacts", "addresses"),
    "emails": ("contacts",),
    "address": ("addresses",),
}
# Default community pictures: VK shows one of these where no avatar was uploaded.
_DEFAULT_PHOTO = re.compile(r"/images/(?:community|camera|deactivated)_\d+\.png", re.IGNORECASE)


def snapshot_fields(group: object, requested: frozenset[str] | None = None) -> dict[str, Any]:
    """Fields of ``PageSnapshot`` (without the envelope) from one group object.

    ``requested`` is the set of groups.getById ``fields`` that were asked for. VK returns a
    requested empty field empty (``"description": ""``) or, for lists like ``contacts``, may leave
    it out, so a requested field that is absent is empty; with ``requested=None`` (an answer saved
    by someone else) an absent key is unknown, and the facts it feeds are listed in ``unknown``.
    """
    g = _obj(group, "group")
    where = f"group {g.get('id')!r:.20}"
    gid = _req_int(g, "id", where)

    def shown(field: str) -> bool:
        return g.get(field) is not None or (requested is not None and field in requested)

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
    has_address: bool | None = None
    address_phone_hidden = False
    addresses = g.get("addresses")
    if addresses is not None:
        info = _obj(addresses, f"{where}.addresses")
        enabled = _flag(info, "is_enabled", f"{where}.addresses")
        main = info.get("main_address")
        main_id = _int(info, "main_address_id", f"{where}.addresses")
        if enabled is not False and main is not None:
            main = _obj(main, f"{where}.addresses.main_address")
            address = _address_text(main, f"{where}.addresses.main_address")
            phones.append(_str(main, "phone", f"{where}.addresses.main_address", MAX_SHORT).strip())
            has_address = True if not address else None
        elif enabled is not False and main_id is not None:
            # Older API versions name the main address without its object: the page has an
            # address, but neither its text nor its phone is in the answer.
            has_address = True
            address_phone_hidden = True

    cover = g.get("cover")
    has_cover = None
    if cover is not None:
        has_cover = bool(_flag(_obj(cover, f"{where}.cover"), "enabled", f"{where}.cover"))
    has_photo = _flag(g, "has_photo", where)
    if has_photo is None:  # every object carries its picture's address, a default one included
        photo = g.get("photo_200") or g.get("photo_100") or g.get("photo_50")
        if isinstance(photo, str) and photo.startswith("http"):
            has_photo = not _DEFAULT_PHOTO.search(photo)

    unknown = [fact for fact, fields in FACT_SOURCES.items() if not all(shown(f) for f in fields)]
    if address_phone_hidden and "phones" not in unknown:
        unknown.append("phones")
        unknown.sort(key=c.SNAPSHOT_FACTS.index)

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
        "has_address": has_address,
        "members": _int(g, "members_count", where),
        "is_closed": is_closed,
        "is_government_organization": _flag(g, "is_government_organization", where),
        "verified": bool(_flag(g, "verified", where)),
        "wall": _int(g, "wall", where),
        "has_photo": has_photo,
        "has_cover": has_cover,
        "unknown": tuple(unknown),
        "widgets": menu_widgets(g, where, requested is not None and "menu" in requested),
    }


# The Госуслуги feedback platform («Обратная связь», ПОС): its widgets are menu links to this host.
GOSUSLUGI_WIDGET_HOST = "pos.gosuslugi.ru"
# Link path → widget kind: «Сообщить о проблеме» is the form, «Высказать мнение» the body's
# activities (polls, votes); the regional form ``og/org-activities?reg_code=…&utm_source=vk1`` and
# the municipal one ``…?mun_code=<ОКТМО>&utm_source=vk2`` are both the latter.
_WIDGET_PATHS = (("form", "problem"), ("og/org-activities", "opinion"))


def widget_from_link(title: str, url: str) -> c.Widget | None:
    """The Госуслуги widget a menu link is, or None when it points elsewhere.

    Recognised by the link, not the title: a page names its menu items as it likes, and only the
    link says where a citizen's message goes (and to which body, by its tracking parameters).
    """
    if GOSUSLUGI_WIDGET_HOST not in url.lower():  # most menu links: no need to split them
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    if host != GOSUSLUGI_WIDGET_HOST:
        return None
    path = parts.path.strip("/").lower()
    kind = next(
        (k for prefix, k in _WIDGET_PATHS if path == prefix or path.startswith(prefix + "/")),
        "other",
    )
    params = {k: v[0].strip() for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return c.Widget(
        kind=kind,
        title=title.strip()[:MAX_SHORT],
        url=url.strip()[:MAX_SHORT],
        region_code=(params.get("utm_medium") or params.get("reg_code") or "")[:64],
        municipality_code=params.get("mun_code", "")[:64],
        ogrn=params.get("utm_campaign", "")[:64],
        source=params.get("utm_source", "")[:64],
    )


def menu_widgets(g: dict[str, Any], where: str, requested: bool) -> tuple[c.Widget, ...] | None:
    """The Госуслуги widgets of a group's ``menu`` (``{"items": [{"title", "url", …}]}``).

    An absent menu is an empty one when ``menu`` was requested (VK leaves out a community's empty
    menu), unknown otherwise.
    """
    menu = g.get("menu")
    if menu is None:
        return () if requested else None
    if menu == []:  # an empty object as PHP encodes it
        return ()
    info = _obj(menu, f"{where}.menu")
    widgets: list[c.Widget] = []
    for i, item in enumerate(_list(info, "items", f"{where}.menu")):
        at = f"{where}.menu.items[{i}]"
        entry = _obj(item, at)
        widget = widget_from_link(
            _str(entry, "title", at, MAX_SHORT), _str(entry, "url", at, MAX_SHORT)
        )
        if widget is not None:
            widgets.append(widget)
    return tuple(widgets[:100])


def _address_text(main: dict[str, Any], where: str) -> str:
    text = _str(main, "address", where, MAX_SHORT).strip()
    city = main.get("city")
    if city is not None:
        title = _str(_obj(city, f"{where}.city"), "title", f"{where}.city", 200).strip()
        if title and title.lower() not in text.lower():
            text = f"{title}, {text}" if text else title
    return text


def build_snapshot(
    group: object,
    ref: c.PageRef,
    sweep_id: str,
    observed_at: datetime,
    requested: frozenset[str] | None = None,
) -> c.PageSnapshot:
    """The snapshot of one group object; ``requested`` as in ``snapshot_fields``."""
    fields = snapshot_fields(group, requested)
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

# A mention as the API writes it: ``[id123|Иван]``, ``[club45|Школа]`` (``[id123:bp-1_2|…]`` too).
_MENTION = re.compile(r"\[(id|club|public|event)([0-9]{1,20})(?::[^|\]]{0,100})?\|")
MAX_ADDRESSEES = 100


def addressees(text: str, reply_to_user: int | None) -> tuple[str, ...]:
    """Whom a comment addresses: ``reply_to_user`` first, then the mentions in its text, in order;
    a community as its negative id."""
    found = [] if reply_to_user is None else [str(reply_to_user)]
    for kind, number in _MENTION.findall(text):
        found.append(number if kind == "id" else f"-{number}")
    return _unique(found)[:MAX_ADDRESSEES]


def comment_from(
    item: object, group_id: int, post_id: str, thread_id: int | None = None
) -> c.Comment:
    """A comment or a thread reply; the page's own replies come ``from_id = -group_id``.

    A reply names its thread in ``parents_stack``; ``thread_id`` is the thread it was read from,
    for an answer that does not say.
    """
    p = _obj(item, "comment")
    try:
        comment_id = _req_int(p, "id", "")
        from_id = _req_int(p, "from_id", "")
        date = _req_int(p, "date", "")
        reply_to = _int(p, "reply_to_comment", "")
        stack = _list(p, "parents_stack", "")
        parents = [x for x in stack if type(x) is int]
        if reply_to is None and parents:
            reply_to = parents[-1]
        thread = parents[0] if parents else thread_id
        text = _str(p, "text", "")
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
            text=text,
            thread_id=None if thread is None or thread == comment_id else str(thread),
            addressees=addressees(text, _int(p, "reply_to_user", "")),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"comment {p.get('id')!r:.20}.{_first_error(exc)}") from None
    except MalformedResponse as exc:
        raise MalformedResponse(f"comment {p.get('id')!r:.20}.{exc.reason}") from None


def _root(item: dict[str, Any]) -> int | None:
    """The thread a reply names in ``parents_stack``; None for a top-level comment."""
    stack = _list(item, "parents_stack", "comment")
    return stack[0] if stack and type(stack[0]) is int else None


def _deleted(item: dict[str, Any]) -> bool:
    """A deleted comment keeps its place (id, date, thread) but has no author or text."""
    return item.get("deleted") is True or item.get("deleted") == 1


class CommentPages:
    """What ``wall.getComments`` answers showed of a page's posts, and what they did not.

    Each answer is either the top level of a post (with up to ``thread_items_count`` replies of
    each thread inline) or a page of one thread (``comment_id``). A thread whose count exceeds
    the replies seen, and a post whose top-level count exceeds the comments seen, are partial,
    unless a page shorter than asked for showed the read reached the end.
    """

    def __init__(self, group_id: int) -> None:
        self.group_id = group_id
        self.comments: dict[str, c.Comment] = {}
        self._thread_count: dict[str, int] = {}
        self._thread_seen: dict[str, set[str]] = {}
        self._thread_post: dict[str, str] = {}
        self._level_count: dict[str, int] = {}
        self._level_seen: dict[str, set[str]] = {}
        self._read_to_end: set[str] = set()  # "post:<id>" or "thread:<id>"
        self._lost: set[str] = set()  # the same keys: a read that failed or was not made
        self._claimed: set[int] = set()  # threads a follow-up read was planned for

    def add(
        self, response: object, post_id: str, thread: int | None = None, asked: int | None = None
    ) -> list[c.Comment]:
        """Add one answer: the top level of ``post_id``, or a page of ``thread`` in it. ``asked``
        is the ``count`` requested, when known. Returns the comments it held."""
        r = _obj(response, "wall.getComments")
        items = _list(r, "items", "wall.getComments")
        if thread is None:
            # A thread's page saved as it came (``comment_id`` given): every item names the root.
            roots = {_root(_obj(item, "comment")) for item in items}
            if len(roots) == 1 and None not in roots:
                thread = roots.pop()
        count = _int(r, "current_level_count", "wall.getComments")
        if count is None:
            count = _int(r, "count", "wall.getComments") if thread is not None else len(items)
        found: list[c.Comment] = []
        if thread is None:
            level, key = self._level_seen.setdefault(post_id, set()), f"post:{post_id}"
            self._level_count[post_id] = max(self._level_count.get(post_id, 0), count or 0)
        else:
            level, key = self._thread(str(thread), post_id, count or 0), f"thread:{thread}"
        for item in items:
            p = _obj(item, "comment")
            level.add(str(_req_int(p, "id", "comment")))
            if not _deleted(p):
                found.append(comment_from(p, self.group_id, post_id, thread))
            if thread is not None or p.get("thread") is None:
                continue
            inline = _obj(p["thread"], "thread")
            root = str(p["id"])
            replies = _list(inline, "items", "thread")
            seen = self._thread(root, post_id, _int(inline, "count", "thread", 0) or 0)
            for reply in replies:
                reply = _obj(reply, "comment")
                seen.add(str(_req_int(reply, "id", "comment")))
                if not _deleted(reply):
                    found.append(comment_from(reply, self.group_id, post_id, int(root)))
        if asked is not None and len(items) < asked:
            self._read_to_end.add(key)
        for comment in found:
            self.comments[comment.comment_id] = comment
        return found

    def _thread(self, root: str, post_id: str, count: int) -> set[str]:
        self._thread_count[root] = max(self._thread_count.get(root, 0), count)
        self._thread_post[root] = post_id
        return self._thread_seen.setdefault(root, set())

    def lost(self, post_id: str, thread: int | None = None) -> None:
        """A page of the post's top level, or of ``thread``, was not read (failed or capped)."""
        if thread is None:
            self._level_seen.setdefault(post_id, set())
            self._level_count.setdefault(post_id, 0)
            self._lost.add(f"post:{post_id}")
        else:
            self._thread(str(thread), post_id, 0)
            self._lost.add(f"thread:{thread}")

    def claim_thread(self, root: int) -> bool:
        """True the first time a follow-up read of the thread is planned."""
        if root in self._claimed:
            return False
        self._claimed.add(root)
        return True

    def top_level_count(self, post_id: str) -> int:
        return self._level_count.get(post_id, 0)

    def unread_threads(self, post_id: str | None = None) -> list[tuple[int, int]]:
        """(thread id, replies it holds) of the threads with replies not read yet."""
        return [
            (int(root), count)
            for root, count in self._thread_count.items()
            if (post_id is None or self._thread_post[root] == post_id)
            and count > len(self._thread_seen[root])
            and f"thread:{root}" not in self._read_to_end
        ]

    def partial_threads(self) -> tuple[str, ...]:
        unread = {str(root) for root, _ in self.unread_threads()}
        unread |= {root for root in self._thread_count if f"thread:{root}" in self._lost}
        return tuple(sorted(unread, key=int))

    def partial_posts(self) -> tuple[str, ...]:
        """Posts whose top level was not all read, and posts of a partial thread whose root the
        comments do not hold (a deleted comment): nothing else would tie that thread to them."""
        posts = {
            post
            for post, count in self._level_count.items()
            if f"post:{post}" in self._lost
            or (count > len(self._level_seen[post]) and f"post:{post}" not in self._read_to_end)
        }
        posts |= {
            self._thread_post[root] for root in self.partial_threads() if root not in self.comments
        }
        return tuple(sorted(posts))

    def build(
        self,
        ref: c.PageRef,
        sweep_id: str,
        observed_at: datetime,
        citizen_posts: tuple[str, ...] = (),
        unknown_posts: tuple[str, ...] = (),
    ) -> c.CommentsObserved:
        return build_comments(
            list(self.comments.values()),
            self.group_id,
            ref,
            sweep_id,
            observed_at,
            citizen_posts=citizen_posts,
            partial_threads=self.partial_threads(),
            partial_posts=self.partial_posts(),
            unknown_posts=unknown_posts,
        )


def comments_page(
    response: object, group_id: int, post_id: str
) -> tuple[list[c.Comment], list[int], int]:
    """(comments with their inline thread replies, threads with replies not shown, top-level count)
    of a ``wall.getComments`` answer; a deleted comment is left out (its replies are not).
    """
    pages = CommentPages(group_id)
    comments = pages.add(response, post_id)
    threads = [root for root, _ in pages.unread_threads()]
    return comments, threads, pages.top_level_count(post_id)


def posts_by_others(posts: Iterable[c.Post], group_id: int) -> tuple[str, ...]:
    """Posts of the wall written by someone other than the page (a citizen, another community);
    a post whose author the answer did not show counts as the page's."""
    page = str(-group_id)
    return tuple(p.post_id for p in posts if p.from_id and p.from_id != page)


def build_comments(
    comments: list[c.Comment],
    group_id: int,
    ref: c.PageRef,
    sweep_id: str,
    observed_at: datetime,
    *,
    citizen_posts: tuple[str, ...] = (),
    partial_threads: tuple[str, ...] = (),
    partial_posts: tuple[str, ...] = (),
    unknown_posts: tuple[str, ...] = (),
) -> c.CommentsObserved:
    unique = {comment.comment_id: comment for comment in comments}
    commented = {comment.post_id for comment in unique.values()}
    try:
        return c.CommentsObserved.create(
            observed_at=observed_at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=str(group_id),
            comments=tuple(sorted(unique.values(), key=lambda x: (x.posted_at, x.comment_id))),
            citizen_posts=tuple(p for p in citizen_posts if p in commented),
            partial_threads=partial_threads,
            partial_posts=partial_posts,
            unknown_posts=tuple(p for p in unknown_posts if p in commented),
        )
    except ValidationError as exc:
        raise MalformedResponse(f"comments do not fit the contract: {_first_error(exc)}") from None


# --- descriptor ----------------------------------------------------------------------------------

from gospublic.platforms.descriptor import SCREEN_NAME, Descriptor  # noqa: E402

# [0-9], not \d: \d also takes other scripts' digits ("club١٢٣"), which no API call accepts.
_NUMERIC_PAGE = re.compile(r"^(?:club|public|event)?([0-9]{1,12})$")


def _id_from_path(path: str, text: str) -> str:
    numeric = _NUMERIC_PAGE.match(path.lstrip("-"))
    if numeric:
        # Without its leading zeros: "club007" is group 7, and a page is listed once.
        return str(int(numeric.group(1)))
    if not SCREEN_NAME.match(path):
        raise ValueError(f"no page id or screen name in {text!r:.80}")
    return path


def page_url(page_id: str) -> str:
    return f"https://vk.com/club{page_id}" if page_id.isdigit() else f"https://vk.com/{page_id}"


DESCRIPTOR = Descriptor(
    platform=c.Platform.VK,
    name_ru="ВКонтакте",
    name_in="во ВКонтакте",
    display="VK",
    column="vk",
    hosts=frozenset({"vk.com", "m.vk.com", "vk.ru", "m.vk.ru", "www.vk.com"}),
    api_hosts=frozenset({"api.vk.com", "api.vk.ru"}),
    id_from_path=_id_from_path,
    page_url=page_url,
    legal=True,
    collector="services.collector.vk_collect",
    simulator="services.simulator.vk_api:VkSimulator",
    order=0,
)
