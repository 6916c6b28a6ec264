"""A VK page from saved answers of ``groups.getById``, ``wall.get`` and ``wall.getComments``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from gospublic import contracts as c
from gospublic import rulebook as book
from gospublic.platforms import vk

from .inputs import (
    CHECK_ORG_ID,
    SWEEP,
    ApiError,
    InputError,
    Inputs,
    _comment_pages,
    _gone,
    _refuse_other_page,
    _registered,
    _unknown_posts,
    unwrap,
)

# VK errors that are the expected answer for the wall of a page that is gone or closed.
VK_ACCESS_DENIED = 15
VK_GROUP_GONE = 18
VK_PRIVATE = 30


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
