"""Pure mapping of Odnoklassniki API answers to contract events (shared: the collector and
``gospublic check``).

``group.getInfo`` gives the profile, ``mediatopic.getTopics`` the wall, ``discussions.getComments``
a topic's comments. Answers are untrusted input: a field of the wrong type raises
``vk.MalformedResponse`` naming it, as for VK. A group with ``status: BLOCKED`` is ``banned``; a
closed group (``private``) keeps its snapshot with ``is_closed = 1``. The page's own replies are
comments with ``author_type: GROUP`` and the group's id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from gospublic import contracts as c
from gospublic.platforms import vk as vn

MSK = timezone(timedelta(hours=3))  # OK writes comment dates in Moscow time
MAX_TEXT = 100_000


def _first_error(exc: ValidationError) -> str:
    """Where and why a value does not fit the contract (a text with a lone surrogate, say)."""
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


# --- group.getInfo -------------------------------------------------------------------------------


def groups_of(answer: object) -> list[dict[str, Any]]:
    """The group objects of a ``group.getInfo`` answer (a list; some saved answers wrap it)."""
    if isinstance(answer, dict) and isinstance(answer.get("groups"), list):
        answer = answer["groups"]
    if not isinstance(answer, list):
        raise vn.MalformedResponse(f"group.getInfo: expected a list, got {type(answer).__name__}")
    return [g for g in answer if isinstance(g, dict)]


def deactivation(group: dict[str, Any]) -> c.Unavailability | None:
    """``banned`` for a blocked group; OK has no other marker for a page that is gone."""
    return c.Unavailability.BANNED if group.get("status") == "BLOCKED" else None


def build_snapshot(
    group: dict[str, Any], ref: c.PageRef, sweep_id: str, at: datetime
) -> c.PageSnapshot:
    def text(key: str, limit: int = MAX_TEXT) -> str:
        value = group.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise vn.MalformedResponse(f"group.{key}: expected a string")
        return value[:limit]

    members = group.get("members_count")
    if members is not None and (not isinstance(members, int) or isinstance(members, bool)):
        raise vn.MalformedResponse("group.members_count: expected an integer")
    site = text("homepage_url", 2000).strip()
    # OK's state-organisation mark, as OK's own clients name it; an answer without it (the
    # collector does not ask for it: no OK reference here lists it) leaves the mark unknown.
    gos_org = group.get("gos_org")
    if gos_org is not None and not isinstance(gos_org, bool):
        raise vn.MalformedResponse("group.gos_org: expected true or false")
    try:
        return c.PageSnapshot.create(
            observed_at=at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=str(group.get("uid")),
            screen_name=text("shortname", 200),
            name=text("name", 2000),
            description=text("description"),
            site=site,
            links=(site,) if site else (),
            members=members,
            is_closed=1 if group.get("private") is True else 0,
            is_government_organization=gos_org,
        )
    except ValidationError as exc:
        raise vn.MalformedResponse(
            f"snapshot does not fit the contract: {exc.errors()[0]['msg']}"
        ) from None


# --- mediatopic.getTopics ------------------------------------------------------------------------


def topics_of(answer: object) -> list[dict[str, Any]]:
    """The topics of a ``mediatopic.getTopics`` answer."""
    if not isinstance(answer, dict) or not isinstance(answer.get("media_topics"), list):
        raise vn.MalformedResponse("media_topics is not a list")
    topics = answer["media_topics"]
    for topic in topics:
        if not isinstance(topic, dict):
            raise vn.MalformedResponse("a topic is not an object")
    return topics


def build_posts(
    answer: object, gid: str, ref: c.PageRef, sweep_id: str, at: datetime
) -> c.PostsObserved:
    posts = []
    for topic in topics_of(answer):
        try:
            posts.append(post_from(topic, gid))
        except vn.MalformedResponse as exc:
            raise vn.MalformedResponse(f"topic {topic.get('id')!r:.20}.{exc.reason}") from None
    try:
        return c.PostsObserved.create(
            observed_at=at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=gid,
            posts=tuple(posts),
        )
    except ValidationError as exc:
        raise vn.MalformedResponse(
            f"topics do not fit the contract: {exc.errors()[0]['msg']}"
        ) from None


def _count(obj: dict[str, Any], key: str, field: str = "count") -> int:
    """A counter inside an optional summary object: absent is 0, anything but an integer is bad."""
    summary = obj.get(key)
    if summary is None:
        return 0
    if not isinstance(summary, dict):
        raise vn.MalformedResponse(f"{key}: expected an object")
    value = summary.get(field)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise vn.MalformedResponse(f"{key}.{field}: expected an integer")
    return value


def post_from(topic: dict[str, Any], gid: str) -> c.Post:
    topic_id = str(topic.get("id"))
    # Topic ids are numbers in strings; the collector's cursor compares them as integers.
    if not topic_id.isascii() or not topic_id.isdigit() or len(topic_id) > 30:
        raise vn.MalformedResponse("id: expected a numeric id")
    created = topic.get("created_ms")
    if not isinstance(created, int) or isinstance(created, bool):
        raise vn.MalformedResponse("created_ms: not an integer")
    try:
        posted_at = datetime.fromtimestamp(created / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise vn.MalformedResponse(f"created_ms: out of range: {created}") from None
    media = topic.get("media") if isinstance(topic.get("media"), list) else []
    reshare = any(isinstance(m, dict) and m.get("type") == "reshare" for m in media)
    text = " ".join(
        m["text"]
        for m in media
        if isinstance(m, dict) and m.get("type") == "text" and isinstance(m.get("text"), str)
    )
    author = topic.get("author_ref")
    author = author if isinstance(author, str) else ""
    try:
        return c.Post(
            post_id=topic_id,
            posted_at=posted_at,
            # Group authors as VK writes them: a negative id.
            from_id=(f"-{author[6:]}" if author.startswith("group:") else author[5:])[:64],
            is_own=author == f"group:{gid}" and not reshare,
            is_repost=reshare,
            is_pinned=topic.get("is_sticky") is True,
            comments_count=_count(topic, "discussion_summary", "comments_count"),
            likes=_count(topic, "like_summary"),
            reposts=_count(topic, "reshare_summary"),
            text=text[:MAX_TEXT],
        )
    except ValidationError as exc:
        raise vn.MalformedResponse(_first_error(exc)) from None


def topic_groups(answer: object) -> set[str]:
    """The group ids the topics of an answer belong to, for telling a saved answer of another
    group apart: ``owner_ref: group:<id>`` where the answer has it, else a group author's id
    (only the group itself posts on its feed as a group)."""
    out = set()
    for topic in topics_of(answer):
        owner = topic.get("owner_ref")
        if not isinstance(owner, str):
            owner = topic.get("author_ref")
        if isinstance(owner, str) and owner.startswith("group:"):
            out.add(owner[6:])
    return out


# --- discussions.getComments ---------------------------------------------------------------------


def comments_of(answer: object) -> list[Any]:
    """The comment items of one ``discussions.getComments`` answer."""
    if not isinstance(answer, dict) or not isinstance(answer.get("comments"), list):
        raise vn.MalformedResponse("discussions.getComments: comments is not a list")
    return answer["comments"]


def comment_from(item: Any, gid: str, topic: str) -> c.Comment:
    if not isinstance(item, dict):
        raise vn.MalformedResponse("a comment is not an object")
    try:
        posted = datetime.strptime(str(item.get("date")), "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)
        posted = posted.astimezone(UTC)
    except (ValueError, OverflowError):
        raise vn.MalformedResponse(f"comment {item.get('id')!r:.20}.date: unreadable") from None
    if item.get("id") is None:
        raise vn.MalformedResponse("comment without an id")
    for key in ("id", "author_id", "reply_to_comment_id"):
        value = item.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, str | int | None)
            or len(str(value)) > 64
        ):
            raise vn.MalformedResponse(f"comment {item.get('id')!r:.20}.{key}: not an id")
    group = item.get("author_type") == "GROUP"
    page = group and str(item.get("author_id")) == gid
    reply_to = item.get("reply_to_comment_id")
    try:
        return c.Comment(
            comment_id=str(item.get("id")),
            post_id=topic,
            # Groups as VK writes them, negative: another community's comment is then told from a
            # citizen's as on VK (the profile decides whether it is a request).
            from_id=f"-{item.get('author_id')}" if group else str(item.get("author_id")),
            author_kind="page" if page else "citizen",
            reply_to=None if reply_to is None else str(reply_to),
            posted_at=posted,
            text=text[:MAX_TEXT] if isinstance(text := item.get("text"), str) else "",
        )
    except ValidationError as exc:
        raise vn.MalformedResponse(f"comment {item.get('id')!r:.20}.{_first_error(exc)}") from None


def build_comments(
    comments: list[c.Comment],
    gid: str,
    ref: c.PageRef,
    sweep_id: str,
    at: datetime,
    *,
    citizen_posts: tuple[str, ...] = (),
    unknown_posts: tuple[str, ...] = (),
) -> c.CommentsObserved:
    """The page's comments; ``citizen_posts`` are topics a visitor wrote, ``unknown_posts`` topics
    whose author the data does not show (kept only where there are comments)."""
    unique = {comment.comment_id: comment for comment in comments}
    commented = {comment.post_id for comment in unique.values()}
    try:
        return c.CommentsObserved.create(
            observed_at=at,
            platform=ref.platform,
            page_ref=ref,
            sweep_id=sweep_id,
            page_id=gid,
            comments=tuple(sorted(unique.values(), key=lambda x: (x.posted_at, x.comment_id))),
            citizen_posts=tuple(p for p in citizen_posts if p in commented),
            unknown_posts=tuple(p for p in unknown_posts if p in commented),
        )
    except ValidationError as exc:
        raise vn.MalformedResponse(
            f"comments do not fit the contract: {_first_error(exc)}"
        ) from None


# --- descriptor ----------------------------------------------------------------------------------

from gospublic.platforms.descriptor import SCREEN_NAME, Descriptor  # noqa: E402

# OK group ids are 14 digits today; the bound keeps an id within the contract's and the API's reach.
_GROUP_ID_DIGITS = 20
_OK_CONTACTS = (
    "контакты группы в Одноклассниках не собираются (телефон и почту там указывают не только в "
    "описании)"
)


def _id_from_path(path: str, text: str) -> str:
    if path.startswith("group/"):
        number = path.removeprefix("group/")
        if not (number.isascii() and number.isdigit() and len(number) <= _GROUP_ID_DIGITS):
            raise ValueError(f"OK group id is not a number of 1 to 20 digits: {text!r:.80}")
        return str(int(number))
    if not SCREEN_NAME.match(path):
        raise ValueError(f"no page id or screen name in {text!r:.80}")
    return path


def page_url(page_id: str) -> str:
    return f"https://ok.ru/group/{page_id}"


DESCRIPTOR = Descriptor(
    platform=c.Platform.OK,
    name_ru="Одноклассники",
    name_in="в Одноклассниках",
    display="OK",
    column="ok",
    hosts=frozenset({"ok.ru", "m.ok.ru", "www.ok.ru", "odnoklassniki.ru"}),
    api_hosts=frozenset({"api.ok.ru"}),
    id_from_path=_id_from_path,
    page_url=page_url,
    legal=True,
    collector="services.collector.ok_collect",
    simulator="services.simulator.ok_api:OkSimulator",
    not_exposed={
        "NOT_VERIFIED": "Отметка «Госорганизация» есть только во ВКонтакте.",
        "ADDRESS_MISSING": "Адрес группы в Одноклассниках не собирается.",
        "AVATAR_MISSING": "Одноклассники: аватар группы не собирается.",
        "COVER_MISSING": "Одноклассники: обложка группы не собирается.",
        "WALL_CLOSED": "В Одноклассниках нет настройки стены, как во ВКонтакте.",
        "COMMENTS_CLOSED_POSTS": "Одноклассники не сообщают, закрыты ли комментарии к теме.",
    },
    partly_exposed={
        "CONTACT_PHONE_MISSING": f"В описании телефона нет, а {_OK_CONTACTS}.",
        "CONTACT_EMAIL_MISSING": f"В описании почты нет, а {_OK_CONTACTS}.",
    },
    order=1,
)
