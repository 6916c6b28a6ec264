"""``gospublic check``: every rule's verdict for one page, from saved platform answers, offline.

    gospublic check --group G.json [--wall W.json] [--comments C.json] [--fields F1,F2]
    gospublic check --platform ok --group getInfo.json [--wall topics.json] [--comments C.json]
    gospublic check --platform tg --group channel.html
                    [--profile NAME] [--now ISO] [--org-name NAME] [--format table|json] [--lang ru|en]

The files are what the platform returned (VK: ``groups.getById``, ``wall.get``,
``wall.getComments``, with or without the ``{"response": ...}`` envelope; OK: ``group.getInfo``,
``mediatopic.getTopics``, ``discussions.getComments``; Telegram: the channel's public page
``t.me/s/<name>`` saved as HTML). They are read by the same mapping the collectors use
(``gospublic.platforms``) into the same events, and run through the same batch step as the stream,
on an empty state; every rule the profile enables gets a verdict, ``not_evaluable`` with the reason
when its data is not there.

Without ``--profile`` the page is checked with the profile its organisation is assigned
(``--region``, ``--org-level``, ``--org-sphere`` against the profile assignment, as on the stream).

What a person really has is not always what the command expects, so the input is looked at before
it is believed: a deleted or banned VK group comes with the wall's error answer (15, 18, 30), which
is the expected rest of a gone page, not a broken input; a wall or comments file of another page
is refused with both ids named; a saved web page, or another platform's answer, is refused with a
one-line hint saying what to give instead.

Exit code 0: nothing failed; 1: some rule failed; 2: the input could not be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gospublic import contracts as c
from gospublic import display
from gospublic import rulebook as book
from gospublic.platforms import max as mx
from gospublic.platforms import ok, tg, vk
from gospublic.platforms.descriptor import platform_ids
from gospublic.settings import Settings
from services.evaluator import rules as r
from services.evaluator.assignment import load_book
from services.evaluator.handlers import process_batch
from services.evaluator.profiles import Profile, ProfileError, load_profile
from services.evaluator.state import EvaluatorState

CHECK_ORG_ID = "0000000000000"
SWEEP = "check"
MOSCOW = ZoneInfo("Europe/Moscow")
# VK errors that are the expected answer for the wall of a page that is gone or closed.
VK_ACCESS_DENIED = 15
VK_GROUP_GONE = 18
VK_PRIVATE = 30
WRAP = 100


class InputError(ValueError):
    """An input that cannot be checked; the message says why in Russian, and what to give."""


@dataclass(frozen=True)
class ApiError:
    """A saved error answer of the platform instead of data."""

    code: int | None
    message: str

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        return f"ошибка{code} ({self.message[:160]})" if self.message else f"ошибка{code}"


@dataclass
class Inputs:
    """The events a collector would have published, and why some data is missing."""

    platform: str
    events: list[c.Event]
    missing: dict[str, str] = field(default_factory=dict)  # rule source → reason
    notes: list[str] = field(default_factory=list)  # what the user should know about the input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Проверить одну страницу по сохранённым ответам площадки, без сети. "
        "Check one page offline from saved platform answers."
    )
    parser.add_argument(
        "--platform",
        choices=list(platform_ids()),
        default="vk",
        help="vk (default): JSON answers of the VK API; ok: JSON answers of the OK API; "
        "tg: the channel's page t.me/s/<name> saved as HTML; max: JSON answers of MAX's bot API "
        "(GET /chats/{chatId}, GET /messages)",
    )
    parser.add_argument(
        "--group",
        type=Path,
        required=True,
        help="vk: groups.getById answer; ok: group.getInfo answer; tg: the saved t.me/s/<name> page",
    )
    parser.add_argument(
        "--wall",
        type=Path,
        help="vk: wall.get answer (an error answer of a deleted, banned or closed page is "
        "accepted); ok: mediatopic.getTopics answer; tg: not needed, the posts are on the page",
    )
    parser.add_argument(
        "--comments",
        type=Path,
        help="vk: wall.getComments answer, a list of them, or {post_id: answer}; "
        "ok: discussions.getComments answer, a list, or {topic_id: answer}",
    )
    parser.add_argument(
        "--fields",
        default=None,
        help="vk: the groups.getById fields that were requested, comma-separated "
        "(e.g. description,contacts,addresses,site,links): a requested field VK left out is empty. "
        "Without it a missing field is unknown and its rules are not evaluated",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="rule profile (default: the one assigned to --region/--org-level/--org-sphere, "
        "else GOSPUBLIC_PROFILE)",
    )
    parser.add_argument("--profiles-dir", type=Path, default=None)
    parser.add_argument(
        "--profile-assignment",
        type=Path,
        default=None,
        help="YAML assigning profiles per region, level or sphere "
        "(default: GOSPUBLIC_PROFILE_ASSIGNMENT or the shipped one)",
    )
    parser.add_argument(
        "--now",
        help="the moment of the check, ISO 8601 (default: now); a time without a zone is "
        "Moscow time (Europe/Moscow), e.g. 2026-03-02T12:00 = 2026-03-02T12:00+03:00",
    )
    parser.add_argument(
        "--org-name", default="", help="the official name in the register (for NAME_MISMATCH)"
    )
    parser.add_argument("--org-level", default="", help="the organisation's level (register)")
    parser.add_argument("--org-sphere", default="", help="the organisation's sphere (register)")
    parser.add_argument("--region", default="", help="register region code (time zone, cohort)")
    parser.add_argument("--format", choices=["json", "table"], default="table")
    parser.add_argument(
        "--lang",
        choices=["ru", "en"],
        default="ru",
        help="language of the table: ru (default) or en; JSON keys stay as they are",
    )


# --- reading the files ---------------------------------------------------------------------------


def _text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{what} {path}: нет такого файла") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path}: это каталог, а нужен файл") from None
    except OSError as exc:
        raise InputError(
            f"{what} {path}: не удалось прочитать файл ({exc.strerror or exc})"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: файл не в кодировке UTF-8") from None


def _looks_like_html(text: str) -> bool:
    # JSON never starts with "<": whatever markup it is, it is not an API answer.
    return text.lstrip()[:1] == "<"


def _html_hint(text: str, platform: str) -> str:
    if "tgme_" in text:  # the classes t.me marks its elements with
        if platform == "tg":
            return ""
        return "это сохранённая страница Telegram: проверьте её с --platform tg --group ФАЙЛ."
    if platform == "ok":
        return (
            "это HTML (сохранённая веб-страница), а нужны ответы API Одноклассников в JSON: "
            "group.getInfo, mediatopic.getTopics, discussions.getComments."
        )
    if "ok.ru" in text or "odnoklassniki" in text.lower():
        return (
            "это сохранённая веб-страница Одноклассников, а нужны ответы API в JSON "
            "(group.getInfo) с --platform ok."
        )
    return (
        "это HTML (сохранённая веб-страница), а нужен ответ API в JSON: для ВКонтакте — "
        "groups.getById, wall.get, wall.getComments; страницу t.me/s/<канал> — с --platform tg."
    )


def _read(path: Path, what: str, platform: str) -> Any:
    """The data of a saved JSON answer (the envelope removed), or ``ApiError``."""
    text = _text(path, what)
    if _looks_like_html(text):
        raise InputError(f"{what} {path}: {_html_hint(text, platform)}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} {path}: не JSON (строка {exc.lineno}, столбец {exc.colno}: {exc.msg})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{what} {path}: не JSON ({type(exc).__name__})") from None
    return unwrap(data)


def unwrap(data: Any) -> Any:
    """The answer without the envelope; an error answer (VK's or OK's) as ``ApiError``."""
    if isinstance(data, dict) and "error" in data and "response" not in data:
        error = data["error"]
        if isinstance(error, dict):
            code = error.get("error_code")
            return ApiError(code if type(code) is int else None, str(error.get("error_msg", "")))
        return ApiError(None, str(error))
    if isinstance(data, dict) and "error_code" in data and "error_msg" in data:  # OK's shape
        code = data["error_code"]
        return ApiError(code if type(code) is int else None, str(data["error_msg"]))
    if isinstance(data, dict) and "response" in data:
        return data["response"]
    return data


def _moment(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--now: {text!r:.60} — не дата и время ISO 8601 (например 2026-03-02T12:00+03:00)"
        ) from None
    # A moment without a zone is what a clock in Moscow shows: the organisations' default time.
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


def _fields(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    # "" is a request without fields: VK then returns none of the optional ones, and an absent
    # field stays unknown, as without --fields.
    return frozenset(f.strip() for f in text.split(",") if f.strip())


# --- which platform's answer is it ---------------------------------------------------------------


def _platform_of(data: Any, platform: str) -> str | None:
    """The platform whose answer this looks like, when it is not ``platform``'s."""
    items = data.get("groups") if isinstance(data, dict) else data
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None
    if isinstance(data, dict) and "media_topics" in data:
        return "ok" if platform != "ok" else None
    if isinstance(data, dict) and "items" in data and platform == "ok":
        return "vk"
    if first is not None:
        if "uid" in first and "id" not in first and platform != "ok":
            return "ok"
        if "id" in first and "uid" not in first and platform == "ok":
            return "vk"
    return None


def _wrong_platform(data: Any, what: str, path: Path, platform: str) -> None:
    other = _platform_of(data, platform)
    if other is None:
        return
    names = {"vk": "ВКонтакте", "ok": "Одноклассников"}
    raise InputError(
        f"{what} {path}: это ответ {names[other]}, а проверяется --platform {platform}: "
        f"укажите --platform {other}."
    )


def _vk_method_of(data: Any) -> str | None:
    """Which VK method's answer this looks like: a file given to the wrong option is named."""
    if isinstance(data, dict) and isinstance(data.get("groups"), list) and "items" not in data:
        return "groups.getById"
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return None
    first = items[0]
    if "post_id" in first or "parents_stack" in first or "current_level_count" in data:
        return "wall.getComments"
    if "date" in first and ("owner_id" in first or "from_id" in first):
        return "wall.get"
    if "screen_name" in first or "is_closed" in first or "deactivated" in first:
        return "groups.getById"
    return None


_VK_METHOD = {"--group": "groups.getById", "--wall": "wall.get", "--comments": "wall.getComments"}


def _wrong_method(data: Any, what: str, path: Path) -> None:
    found = _vk_method_of(data)
    if found is None or found == _VK_METHOD[what]:
        return
    option = next(o for o, m in _VK_METHOD.items() if m == found)
    raise InputError(
        f"{what} {path}: это ответ {found}, а нужен {_VK_METHOD[what]}: "
        f"этот файл передайте в {option}."
    )


# --- VK ------------------------------------------------------------------------------------------


def _vk_other_owner(items: list[Any], gid: int, kind: str) -> int | None:
    """The owner of the first item that belongs to another page than group ``gid``."""
    for item in items:
        if not isinstance(item, dict):
            continue
        owner = item.get("owner_id")
        if type(owner) is int and owner != -gid:
            return owner
        author = item.get("from_id")
        # Only the page itself posts on its wall as a community: another community's id as the
        # author of a wall post means the wall is another page's. (A comment may come from
        # another community, so comments are judged by owner_id only.)
        foreign_author = type(author) is int and author < 0 and author != -gid
        if kind == "wall" and owner is None and foreign_author:
            return author
    return None


def _refuse_other_page(what: str, path: Path, owner: int, gid: int, platform: str = "vk") -> None:
    if platform == "vk":
        theirs = f"club{-owner}" if owner < 0 else f"id{owner}"
        raise InputError(
            f"{what} {path}: данные другой страницы — {theirs} (owner_id {owner}), а в --group "
            f"сообщество club{gid} (owner_id {-gid}). Сохраните ответы одной страницы."
        )
    raise InputError(
        f"{what} {path}: данные другой страницы — группа {owner}, а в --group группа {gid}. "
        "Сохраните ответы одной страницы."
    )


def _comment_items(page: Any) -> list[Any]:
    items = page.get("items") if isinstance(page, dict) else None
    out = list(items) if isinstance(items, list) else []
    for item in out[:]:
        thread = item.get("thread") if isinstance(item, dict) else None
        replies = thread.get("items") if isinstance(thread, dict) else None
        if isinstance(replies, list):
            out.extend(replies)
    return out


def build_events(
    group_response: Any,
    wall_response: Any | None,
    comments_response: Any | None,
    now: datetime,
    org: c.Organisation | None = None,
    region: str = "",
    requested: frozenset[str] | None = None,
) -> list[c.Event]:
    """The events a VK collector would publish for this page (plus the register entry, if given)."""
    return vk_inputs(group_response, wall_response, comments_response, now, org, region,
                     requested).events  # fmt: skip


def _registered(org: c.Organisation | None, ref: c.PageRef, now: datetime, region: str):
    if org is None:
        return []
    org = org.model_copy(update={"pages": (ref,)})
    return [
        c.OrganisationsRegistered.create(
            observed_at=now, registry_version="check", region=region, chunk=0, chunks=1,
            organisations=(org,),
        )
    ]  # fmt: skip


def _gone(
    ref: c.PageRef, now: datetime, reason: c.Unavailability, detail: str
) -> c.PageUnavailable:
    """The platform's word that the page is gone or closed, as the collector would publish it."""
    return c.PageUnavailable.create(
        observed_at=now, platform=ref.platform, page_ref=ref, sweep_id=SWEEP, reason=reason,
        detail=detail[:200],
    )  # fmt: skip


def vk_inputs(
    group_response: Any,
    wall_response: Any | None,
    comments_response: Any | None,
    now: datetime,
    org: c.Organisation | None = None,
    region: str = "",
    requested: frozenset[str] | None = None,
    paths: dict[str, Path] | None = None,
) -> Inputs:
    paths = paths or {}
    if isinstance(group_response, ApiError):
        raise InputError(
            f"--group {paths.get('group', '')}: вместо сообщества ВКонтакте ответил "
            f"{group_response}: проверять нечего.".replace("  ", " ")
        )
    try:
        groups = vk.groups_of(group_response)
        if not groups:
            raise InputError("--group: groups.getById не вернул ни одного сообщества")
        group = groups[0]
        gid = vk.group_id(group)
        org_id = org.org_id if org else CHECK_ORG_ID
        ref = c.PageRef(platform=c.Platform.VK, native_id=f"club{gid}", org_id=org_id)
        inputs = Inputs("vk", _registered(org, ref, now, region))
        if len(groups) > 1:
            many = book.counted(len(groups), "сообщество", "сообщества", "сообществ")
            inputs.notes.append(f"В --group {many}: проверяется первое, club{gid}.")
        gone = vk.deactivation(group)
        if gone is not None:
            # The wall and comments of a deleted or banned group are error answers (15, 18, 30):
            # the expected rest of a gone page, whatever they hold.
            inputs.events.append(_gone(ref, now, gone, str(group.get("deactivated", ""))))
            return inputs
        wall = _vk_wall(wall_response, gid, inputs, paths.get("wall"))
        comment_pages = _vk_comment_pages(comments_response, gid, inputs, paths.get("comments"))
        inputs.events.append(vk.build_snapshot(group, ref, SWEEP, now, requested=requested))
        posts = vk.build_posts(wall, gid, ref, SWEEP, now) if wall is not None else None
        if posts is not None:
            inputs.events.append(posts)
        if comment_pages is not None:
            pages = vk.CommentPages(gid)
            for post_id, response in comment_pages:
                pages.add(response, post_id)
            # Comments under a citizen's post on an open wall are citizens talking to each other;
            # under a post the files do not show, nobody can say whose post it is.
            others = vk.posts_by_others(posts.posts, gid) if posts is not None else ()
            unknown = _unknown_posts(pages.comments.values(), posts, inputs)
            observed = pages.build(ref, SWEEP, now, citizen_posts=others, unknown_posts=unknown)
            if observed.partial_threads:
                unloaded = len(observed.partial_threads)
                inputs.notes.append(
                    f"В --comments у {book.counted(unloaded, 'ветки', 'веток', 'веток')} "
                    "ответов загружена не целиком (thread.count больше, чем items): вопрос без "
                    "видимого ответа там не считается неотвеченным. Сохраните ветки "
                    "(wall.getComments с comment_id) и передайте их вместе."
                )
            inputs.events.append(observed)
        return inputs
    except vk.MalformedResponse as exc:
        raise InputError(f"ответ не похож на ответ API ВКонтакте: {exc.reason}") from None


def _unknown_posts(
    comments: Iterable[c.Comment], posts: c.PostsObserved | None, inputs: Inputs
) -> tuple[str, ...]:
    """Commented posts whose author the files do not show (every one, without a wall), noted."""
    commented = sorted({x.post_id for x in comments} - {""})
    shown = {p.post_id for p in posts.posts} if posts is not None else set()
    unknown = tuple(p for p in commented if p not in shown)
    if unknown:
        listed = ", ".join(unknown[:5]) + (" и др." if len(unknown) > 5 else "")
        where = "которых нет в --wall" if posts is not None else "а стена (--wall) не передана"
        inputs.notes.append(
            f"Комментарии к записям {listed}, {where}: чья это запись — страницы или жителя, — "
            "по файлам не видно, поэтому вопрос без ответа там не считается нарушением."
        )
    return unknown


def _vk_wall(wall: Any, gid: int, inputs: Inputs, path: Path | None) -> Any | None:
    if wall is None:
        return None
    if isinstance(wall, ApiError):
        why = {
            VK_ACCESS_DENIED: "доступ к стене закрыт",
            VK_GROUP_GONE: "страница удалена или заблокирована",
            VK_PRIVATE: "страница закрыта",
        }.get(wall.code or 0, "")
        reason = f"Вместо записей стены ВКонтакте ответил {wall}" + (f": {why}" if why else "")
        inputs.missing["posts"] = f"{reason}; правило не проверялось."
        inputs.notes.append(f"--wall {path or ''}: {reason}.".replace("  ", " "))
        return None
    items = wall.get("items") if isinstance(wall, dict) else None
    if isinstance(items, list):
        owner = _vk_other_owner(items, gid, "wall")
        if owner is not None:
            _refuse_other_page("--wall", path or Path(""), owner, gid)
    return wall


def _vk_comment_pages(
    data: Any, gid: int, inputs: Inputs, path: Path | None
) -> list[tuple[str, Any]] | None:
    if data is None:
        return None
    if isinstance(data, ApiError):
        reason = f"Вместо комментариев ВКонтакте ответил {data}"
        inputs.missing["comments"] = f"{reason}; правило не проверялось."
        inputs.notes.append(f"--comments {path or ''}: {reason}.".replace("  ", " "))
        return None
    pages = []
    for post_id, page in _comment_pages(data):
        page = unwrap(page)
        if isinstance(page, ApiError):
            inputs.notes.append(f"--comments: к записи {post_id or '?'} — {page}; пропущено.")
            continue
        owner = _vk_other_owner(_comment_items(page), gid, "comments")
        if owner is not None:
            _refuse_other_page("--comments", path or Path(""), owner, gid)
        pages.append((post_id, page))
    return pages


def _comment_pages(data: Any, items_key: str = "items") -> list[tuple[str, Any]]:
    """(post id, comments answer) pairs from the accepted shapes of the file."""
    if isinstance(data, dict) and items_key in data:
        pages = [data]
    elif isinstance(data, list):
        pages = [d.get("response", d) if isinstance(d, dict) else d for d in data]
    elif isinstance(data, dict):
        return [(str(k), v) for k, v in data.items()]
    else:
        raise InputError(
            "--comments: ожидался ответ с комментариями, список таких ответов или "
            "{id записи: ответ}"
        )
    out = []
    for page in pages:
        items = page.get(items_key) if isinstance(page, dict) else None
        # A deleted comment carries no post_id: the post is named by any other item.
        named = (
            item.get("post_id")
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and item.get("post_id") is not None
        )
        out.append((str(next(named, "")), page))
    return out


# --- OK ------------------------------------------------------------------------------------------


def ok_inputs(
    group_response: Any,
    wall_response: Any | None,
    comments_response: Any | None,
    now: datetime,
    org: c.Organisation | None = None,
    region: str = "",
    paths: dict[str, Path] | None = None,
) -> Inputs:
    paths = paths or {}
    if isinstance(group_response, ApiError):
        raise InputError(
            f"--group {paths.get('group', '')}: вместо группы Одноклассники ответили "
            f"{group_response}: проверять нечего."
        )
    try:
        groups = ok.groups_of(group_response)
        if not groups:
            raise InputError(
                "--group: group.getInfo не вернул ни одной группы: группа не найдена или удалена"
            )
        group = groups[0]
        gid = str(group.get("uid", ""))
        if not (gid.isascii() and gid.isdigit() and len(gid) <= 20):
            raise InputError(f"--group: у группы нет числового uid ({gid!r:.30})")
        ref = c.PageRef(
            platform=c.Platform.OK, native_id=gid, org_id=org.org_id if org else CHECK_ORG_ID
        )
        inputs = Inputs("ok", _registered(org, ref, now, region))
        gone = ok.deactivation(group)
        if gone is not None:
            inputs.events.append(_gone(ref, now, gone, "status: BLOCKED"))
            return inputs
        inputs.events.append(ok.build_snapshot(group, ref, SWEEP, now))
        posts = None
        if isinstance(wall_response, ApiError):
            reason = f"Вместо тем группы Одноклассники ответили {wall_response}"
            inputs.missing["posts"] = f"{reason}; правило не проверялось."
            inputs.notes.append(f"--wall: {reason}.")
        elif wall_response is not None:
            owners = ok.topic_groups(wall_response)
            if owners and gid not in owners:
                _refuse_other_page("--wall", paths.get("wall", Path("")), int(min(owners)),
                                   int(gid), "ok")  # fmt: skip
            posts = ok.build_posts(wall_response, gid, ref, SWEEP, now)
            inputs.events.append(posts)
        if isinstance(comments_response, ApiError):
            reason = f"Вместо комментариев Одноклассники ответили {comments_response}"
            inputs.missing["comments"] = f"{reason}; правило не проверялось."
            inputs.notes.append(f"--comments: {reason}.")
        elif comments_response is not None:
            found: list[c.Comment] = []
            for topic, answer in _comment_pages(comments_response, "comments"):
                answer = unwrap(answer)
                if isinstance(answer, ApiError):
                    inputs.notes.append(f"--comments: к теме {topic or '?'} — {answer}; пропущено.")
                    continue
                found.extend(ok.comment_from(item, gid, topic) for item in ok.comments_of(answer))
            others = (
                tuple(p.post_id for p in posts.posts if p.from_id != f"-{gid}") if posts else ()
            )
            inputs.events.append(
                ok.build_comments(
                    found, gid, ref, SWEEP, now, citizen_posts=others,
                    unknown_posts=_unknown_posts(found, posts, inputs),
                )
            )  # fmt: skip
        return inputs
    except vk.MalformedResponse as exc:
        raise InputError(f"ответ не похож на ответ API Одноклассников: {exc.reason}") from None


# --- MAX -----------------------------------------------------------------------------------------


def max_inputs(
    chat: Any,
    messages: Any,
    now: datetime,
    org: c.Organisation | None = None,
    region: str = "",
) -> Inputs:
    """A MAX channel from the bot API's answers: ``GET /chats/{chatId}`` (--group) and
    ``GET /messages?chat_id=…`` (--wall)."""
    try:
        if not isinstance(chat, dict) or "chat_id" not in chat:
            raise InputError("--group: это не ответ GET /chats/{chatId} (нет chat_id)")
        name = mx.name_from_link(str(chat.get("link") or "")) or str(chat["chat_id"])
        ref = c.PageRef(
            platform=c.Platform.MAX, native_id=name, org_id=org.org_id if org else CHECK_ORG_ID
        )
        inputs = Inputs("max", _registered(org, ref, now, region))
        gone = mx.chat_state(chat)
        if gone is not None:
            inputs.events.append(_gone(ref, now, gone, f"status: {chat.get('status')}"))
            return inputs
        inputs.events.append(mx.build_snapshot(chat, ref, SWEEP, now))
        if messages is not None:
            posts = mx.build_posts(mx.messages_of(messages), chat, ref, SWEEP, now)
            inputs.events.append(posts)
        inputs.missing["comments"] = "Комментарии MAX из файла не читаются; правило не проверялось."
        return inputs
    except vk.MalformedResponse as exc:
        raise InputError(f"ответ не похож на ответ API MAX: {exc.reason}") from None


# --- Telegram ------------------------------------------------------------------------------------


def tg_inputs(
    html: str,
    now: datetime,
    org: c.Organisation | None = None,
    region: str = "",
    path: Path | None = None,
) -> Inputs:
    if html.lstrip()[:1] in ("{", "["):
        raise InputError(
            f"--group {path or ''}: это JSON (ответ API), а для --platform tg нужна сохранённая "
            "страница t.me/s/<канал>; ответы ВКонтакте и Одноклассников — с --platform vk или ok."
        )
    if "tgme_" not in html:
        raise InputError(
            f"--group {path or ''}: это не страница t.me/s/<канал>; откройте в браузере "
            "https://t.me/s/<имя канала> и сохраните страницу (HTML) целиком."
        )
    preview = tg.parse_preview(html)
    name = preview.channel
    if not tg.CHANNEL_NAME.match(name or ""):
        stem = path.stem if path else ""
        name = stem if tg.CHANNEL_NAME.match(stem) else "channel"
    ref = c.PageRef(
        platform=c.Platform.TG, native_id=name, org_id=org.org_id if org else CHECK_ORG_ID
    )
    inputs = Inputs("tg", _registered(org, ref, now, region))
    inputs.events.extend(tg.preview_events(ref, SWEEP, preview, max(1, len(preview.messages)), now))
    if preview.is_channel and not preview.messages:
        inputs.notes.append("На сохранённой странице канала нет ни одной записи.")
    return inputs


# --- verdicts ------------------------------------------------------------------------------------


def verdicts(
    events: list[c.Event],
    profile: Profile,
    now: datetime,
    comments_given: bool,
    missing: dict[str, str] | None = None,
    platform: str = "vk",
):
    """(platform, page_id, result) for every rule the profile enables, in catalogue order."""
    out = process_batch(EvaluatorState(), events, profile, now, keep_verdicts=True)
    posts = next((e for e in events if isinstance(e, c.PostsObserved)), None)
    latest: dict[tuple[str, str], tuple[str, str, r.RuleResult]] = {}
    for _org, row_platform, page_id, result in out.verdicts or []:
        if posts is not None and result.rule == r.WALL_CLOSED:
            # A saved answer may lack ``wall`` (not requested); visitors' recent posts on the wall
            # show it open. (The collector always asks for ``wall``, so the stream needs no such.)
            result = r.wall_open_in_posts(result, posts, now)
        latest[(result.rule, row_platform)] = (row_platform, page_id, result)
    seen = {rule for rule, _ in latest}
    page_id = next((e.page_id for e in events if isinstance(e, c.PageSnapshot)), "")
    reasons = {
        "comments": "Комментарии не переданы (--comments): правило не проверялось.",
        "posts": "Записи стены не переданы (--wall): правило не проверялось.",
        "registry": "Организация не указана (--org-name): правило не проверялось.",
        "profile": "Профиль страницы недоступен: правило не проверялось.",
        "profile+posts": "Нужны и профиль, и записи стены.",
        **(missing or {}),
    }
    for rule in profile.enabled_rules:
        if rule in seen:
            continue
        source = r.RULES[rule].source if rule in r.RULES else "registry"
        reason = reasons.get(source, "Нет данных.")
        if source == "comments" and comments_given and "comments" not in (missing or {}):
            reason = "Нет данных для проверки."
        result = r.not_evaluable(rule, profile, reason)
        if result is not None:
            scope = r.RULES[rule].scope if rule in r.RULES else "organisation"
            latest[(rule, "any")] = ("any" if scope == "organisation" else platform,
                                     "" if scope == "organisation" else page_id, result)  # fmt: skip
    order = {rule: i for i, rule in enumerate(r.RULES)}
    return sorted(latest.values(), key=lambda x: (order.get(x[2].rule, 999), x[0]))


# --- output --------------------------------------------------------------------------------------


def _wrapped(label: str, text: str, indent: int = 3) -> list[str]:
    """``label text`` wrapped at the table's width, never cut."""
    lead = " " * indent + label
    # Page names, values and error texts come from outside: no controls or direction overrides.
    text = display.clean(text).replace("№ ", "№\xa0")  # "№ 8-ФЗ" stays on one line
    return textwrap.wrap(
        text, WRAP, initial_indent=lead, subsequent_indent=" " * len(lead),
        break_long_words=False, break_on_hyphens=False,
    ) or [lead.rstrip()]  # fmt: skip


_DAYS = re.compile(r"\b(\d+)\.(\d)d\b")


_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
# Rules whose value is a measurement, not text from the page (an address or a phone keeps its dots).
MEASURED = frozenset(
    {
        r.NAME_MISMATCH, r.DESIGN_SCORE_LOW, r.STALE, r.LOW_FREQUENCY, r.REPOST_HEAVY,
        r.LOW_ENGAGEMENT, r.COMMENTS_CLOSED_POSTS, r.UNANSWERED_COMMENT, r.UNANSWERED_COMMENT_SOON,
        r.SLOW_RESPONSE_MEDIAN, r.LOW_REPLY_RATE,
    }
)  # fmt: skip


def _value(rule: str, value: str) -> str:
    """A rule's measured value for a Russian reader: "2.0d" is "2,0 дн.", 576.3 is 576,3."""
    if rule not in MEASURED:
        return value
    return _DECIMAL.sub(r"\1,\2", _DAYS.sub(r"\1,\2 дн.", value))


def _page_line(events: list[c.Event], platform: str) -> str:
    snapshot = next((e for e in events if isinstance(e, c.PageSnapshot)), None)
    ref = next((e.page_ref for e in events if isinstance(e, c.PageEvent)), None)
    where = book.PLATFORM_TITLES.get(platform, platform)
    page = ref.native_id if ref else ""
    title = display.clean(snapshot.name, 120) if snapshot is not None else ""
    name = f" «{title}»" if title else ""
    gone = next((e for e in events if isinstance(e, c.PageUnavailable)), None)
    reasons = {
        "deleted": "удалена", "banned": "заблокирована", "private": "закрыта",
        "not_found": "не найдена", "api_error": "площадка ответила ошибкой",
    }  # fmt: skip
    state = (
        f" — недоступна: {reasons.get(gone.reason.value, gone.reason.value)}"
        if gone is not None
        else ""
    )
    return f"Страница: {where}, {display.clean(page, 200)}{name}{state}"


def table_ru(
    rows: list[tuple[str, str, r.RuleResult]], profile: Profile, now: datetime,
    events: list[c.Event], platform: str, notes: list[str],
) -> str:  # fmt: skip
    failed = [x for *_, x in rows if x.status == r.FAIL]
    unknown = [x for *_, x in rows if x.status == r.NOT_EVALUABLE]
    passed = [x for *_, x in rows if x.status == r.PASS]
    moment = now.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")
    lines = [
        _page_line(events, platform),
        f"Профиль правил: {profile.name}" + (f" ({profile.title})" if profile.title else ""),
        f"Момент проверки: {moment} по московскому времени",
        f"Итог: {book.counted(len(rows), 'правило', 'правила', 'правил')} — "
        f"{book.counted(len(failed), 'нарушение', 'нарушения', 'нарушений')}, "
        f"не проверяется {len(unknown)}, выполнено {len(passed)}",
    ]
    for note in notes:
        lines.extend(_wrapped("Внимание: ", note, 0))

    def head(x: r.RuleResult) -> str:
        return (
            f"{book.status_title(x.status)} · {book.severity_title(x.severity)} · "
            f"{book.title(x.rule)} [{x.rule}]"
        )

    if failed:
        lines += ["", f"НАРУШЕНИЯ ({len(failed)})"]
        for x in failed:
            lines.append(head(x))
            lines += _wrapped("Норма: ", book.norm(x.rule, profile.rule(x.rule)) or x.threshold)
            if x.value:
                lines += _wrapped("Найдено: ", _value(x.rule, x.value))
            lines += _wrapped("", x.summary)
            lines += _wrapped("Что сделать: ", book.fix(x.rule))
            if criterion := book.rule_criterion(x.rule):
                lines += _wrapped("В оценочной таблице: ", book.criterion_title(criterion))
            lines += _wrapped("Основание: ", x.basis)
    if unknown:
        lines += ["", f"НЕ ПРОВЕРЯЕТСЯ ({len(unknown)})"]
        for x in unknown:
            lines.append(head(x))
            lines += _wrapped("Почему: ", x.summary)
    if passed:
        lines += ["", f"ВЫПОЛНЕНО ({len(passed)})"]
        for x in passed:
            text = book.norm(x.rule, profile.rule(x.rule)) or book.title(x.rule)
            # A 0/1 flag says nothing the norm does not; a measured value does.
            value = f" — {_value(x.rule, x.value)}" if x.value and x.value not in ("0", "1") else ""
            line = f"{text}{value} [{x.rule}]"
            lines += _wrapped(f"{book.status_title(x.status)} · ", line, 0)
    return "\n".join(lines) + "\n"


def table_en(rows: list[tuple[str, str, r.RuleResult]], profile: Profile, now: datetime) -> str:
    marks = {r.PASS: "pass", r.FAIL: "FAIL", r.NOT_EVALUABLE: "n/a"}
    lines = [
        f"profile {profile.name}, checked at {now.isoformat()}",
        f"{'rule':<26} {'status':<6} {'severity':<9} {'value':<24} threshold",
    ]
    for _platform, _page, x in rows:
        lines.append(
            f"{x.rule:<26} {marks[x.status]:<6} {x.severity:<9} {display.clean(x.value, 24):<24} "
            f"{display.clean(x.threshold)}"
        )
        if x.status != r.PASS:
            lines += _wrapped("", x.summary, 27)
        if x.status == r.FAIL:
            lines += _wrapped("basis: ", x.basis, 27)
    failed = sum(1 for *_, x in rows if x.status == r.FAIL)
    lines.append(f"{len(rows)} rules: {failed} failed, "
                 f"{sum(1 for *_, x in rows if x.status == r.NOT_EVALUABLE)} not evaluable")  # fmt: skip
    return "\n".join(lines) + "\n"


def choose_profile(settings: Settings, args: argparse.Namespace) -> Profile:
    """``--profile`` if given, else the organisation's assigned profile, as the stream picks it."""
    profiles_dir = args.profiles_dir or settings.profiles_dir
    if args.profile:
        return load_profile(args.profile, profiles_dir)
    assignment = load_book(
        settings.profile,
        profiles_dir,
        getattr(args, "profile_assignment", None) or settings.profile_assignment,
    )
    return assignment.resolve(
        args.region.strip().lower(), args.org_level.strip().lower(), args.org_sphere.strip().lower()
    )


def read_inputs(args: argparse.Namespace, now: datetime, org: c.Organisation | None) -> Inputs:
    """The page's events from the files the arguments name (``InputError`` if they cannot be)."""
    platform = args.platform
    requested = _fields(getattr(args, "fields", None))
    if platform != "vk" and requested is not None:
        raise InputError("--fields относится только к ВКонтакте (поля groups.getById)")
    if platform == "tg":
        if args.wall or args.comments:
            raise InputError(
                "для Telegram нужна только --group: сохранённая страница t.me/s/<канал> "
                "(записи уже на ней, комментариев превью не показывает)"
            )
        return tg_inputs(_text(args.group, "--group"), now, org, args.region, args.group)
    paths = {"group": args.group}
    group = _read(args.group, "--group", platform)
    _wrong_platform(group, "--group", args.group, platform)
    if platform == "vk" and not isinstance(group, ApiError):
        _wrong_method(group, "--group", args.group)
    wall = comments = None
    if args.wall:
        paths["wall"] = args.wall
        wall = _read(args.wall, "--wall", platform)
        _wrong_platform(wall, "--wall", args.wall, platform)
        if platform == "vk" and not isinstance(wall, ApiError):
            _wrong_method(wall, "--wall", args.wall)
    if args.comments:
        paths["comments"] = args.comments
        comments = _read(args.comments, "--comments", platform)
        if platform == "vk" and not isinstance(comments, ApiError):
            _wrong_method(comments, "--comments", args.comments)
    if platform == "ok":
        return ok_inputs(group, wall, comments, now, org, args.region, paths)
    if platform == "max":
        if comments is not None:
            raise InputError("для MAX комментарии из файла пока не читаются: уберите --comments")
        return max_inputs(group, wall, now, org, args.region)
    return vk_inputs(group, wall, comments, now, org, args.region, requested, paths)


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        profile = choose_profile(settings, args)
    except ProfileError as exc:
        print(f"ошибка: {exc}", file=sys.stderr)
        return 2
    try:
        now = _moment(args.now)
        org = None
        if args.org_name:
            org = c.Organisation(
                org_id=CHECK_ORG_ID, name=args.org_name, level=args.org_level, founder="",
                municipality="", sphere=args.org_sphere,
            )  # fmt: skip
        inputs = read_inputs(args, now, org)
    except InputError as exc:
        print(f"ошибка: {exc}", file=sys.stderr)
        return 2
    comments_given = args.comments is not None
    rows = verdicts(inputs.events, profile, now, comments_given, inputs.missing, inputs.platform)
    lang = getattr(args, "lang", "ru")
    if args.format == "json":
        document = {
            "profile": profile.name,
            "checked_at": now.isoformat(),
            "platform": inputs.platform,
            "notes": inputs.notes,
            "verdicts": [
                {
                    "rule": x.rule,
                    "title": book.title(x.rule),
                    "status": x.status,
                    "severity": x.severity,
                    "value": x.value,
                    "threshold": x.threshold,
                    "norm": book.norm(x.rule, profile.rule(x.rule)),
                    "basis": x.basis,
                    "summary": x.summary,
                    "fix": book.fix(x.rule),
                    "criterion": book.rule_criterion(x.rule),
                    "platform": platform,
                    "page_id": page_id,
                }
                for platform, page_id, x in rows
            ],
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    elif lang == "en":
        for note in inputs.notes:
            print(f"note: {note}", file=sys.stderr)
        sys.stdout.write(table_en(rows, profile, now))
    else:
        sys.stdout.write(table_ru(rows, profile, now, inputs.events, inputs.platform, inputs.notes))
    return 1 if any(x.status == r.FAIL for *_, x in rows) else 0
