"""An OK group, a MAX channel or a Telegram channel from what was saved of it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from gospublic import contracts as c
from gospublic.platforms import max as mx
from gospublic.platforms import ok, tg, vk

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
