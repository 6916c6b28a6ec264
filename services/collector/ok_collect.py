"""One collection task for Odnoklassniki: ``group.getInfo`` for profiles (100 ids a call),
``mediatopic.getTopics`` for the wall, ``discussions.getComments`` for changed discussions.

The same contracts as VK: ``PageSnapshot``, ``PostsObserved``, ``CommentsObserved``,
``PageUnavailable``. A group missing from ``group.getInfo`` is ``not_found``; ``status: BLOCKED`` is
``banned``; a closed group (``private``) gets its snapshot with ``is_closed = 1`` and, since its
topics are refused (error 10), ``PageUnavailable(private)``. The page's own replies are comments with
``author_type: GROUP``. A register link by short name (``ok.ru/<shortname>``) is resolved to the
group id with ``url.getInfo`` first; a name that names no group is ``not_found``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from gospublic import contracts as c
from gospublic.platforms import ok
from gospublic.platforms import vk as vn

# The pure mapping lives with the platform: ``gospublic check`` reads saved answers with it.
from gospublic.platforms.ok import build_snapshot as _snapshot
from gospublic.platforms.ok import comment_from as _comment
from gospublic.settings import Settings
from services.collector.cursors import Cursor, changed_posts
from services.collector.ok_client import NOT_FOUND, PERMISSION_DENIED, OkClient, OkError
from services.collector.outcomes import Collected, done_this_sweep, page_down
from services.collector.vk_client import VkGarbage

log = logging.getLogger("gospublic.collector.ok")

UIDS_PER_CALL = 100
COMMENTS_PER_CALL = 100
MAX_COMMENT_PAGES = 20
PRIVATE = c.Unavailability.PRIVATE


async def collect(
    client: OkClient,
    task: c.CollectTask,
    posts_per_page: int,
    cursors: Mapping[str, Cursor],
    *,
    comments: bool = True,
) -> Collected:
    refs = list(task.pages)
    keys, resumed = done_this_sweep(refs, cursors, task.sweep_id)
    events: dict[int, list[c.PageEvent]] = {i: [] for i in range(len(refs)) if i not in resumed}
    new_cursors = {
        keys[i]: Cursor(task.sweep_id, (cursors.get(keys[i]) or Cursor()).last_post, {})
        for i in events
    }
    ids = {
        i: refs[i].native_id
        for i in events
        if refs[i].native_id.isascii() and refs[i].native_id.isdigit()
    }
    named = [i for i in events if i not in ids]
    names = await asyncio.gather(*(_resolve(client, refs[i].native_id) for i in named))
    for i, outcome in zip(named, names, strict=True):
        if isinstance(outcome, str):
            ids[i] = outcome
        else:
            events[i].append(page_down(refs[i], task, *outcome))
    numeric = sorted(ids)
    live: dict[int, dict[str, Any]] = {}
    for start in range(0, len(numeric), UIDS_PER_CALL):
        part = numeric[start : start + UIDS_PER_CALL]
        await _profiles(client, task, refs, ids, part, events, live)

    read = 0
    walls = await asyncio.gather(*(_topics(client, ids[i], posts_per_page) for i in live))
    for i, outcome in zip(list(live), walls, strict=True):
        ref = refs[i]
        gid = ids[i]
        if isinstance(outcome, OkError | VkGarbage):
            code = outcome.code if isinstance(outcome, OkError) else None
            reason = (
                PRIVATE
                if code == PERMISSION_DENIED
                else c.Unavailability.NOT_FOUND
                if code == NOT_FOUND
                else c.Unavailability.API_ERROR
            )
            events[i].append(page_down(ref, task, reason, f"mediatopic.getTopics: {outcome}", code))
            continue
        try:
            posts_event = _posts(outcome, gid, ref, task.sweep_id)
        except vn.MalformedResponse as exc:
            events[i].append(
                page_down(
                    ref, task, c.Unavailability.API_ERROR, f"mediatopic.getTopics: {exc.reason}"
                )
            )
            continue
        events[i].append(posts_event)
        cursor = new_cursors[keys[i]]
        old = cursors.get(keys[i])
        counts = {p.post_id: p.comments_count for p in posts_event.posts}
        cursor.comments = {p: n for p, n in (old.comments if old else {}).items() if p in counts}
        if posts_event.posts:
            cursor.last_post = max(cursor.last_post, *(int(p.post_id) for p in posts_event.posts))
        if not comments:
            continue
        found: list[c.Comment] = []
        for topic in changed_posts(counts, old):
            try:
                found.extend(await _comments(client, gid, topic))
            except (OkError, VkGarbage, vn.MalformedResponse) as exc:
                log.warning(
                    "OK comments not read; next sweep tries again", extra={"error": str(exc)}
                )
                continue
            cursor.comments[topic] = counts[topic]
            read += 1
        if found:
            events[i].append(
                c.CommentsObserved.create(
                    observed_at=c.utcnow(),
                    platform=ref.platform,
                    page_ref=ref,
                    sweep_id=task.sweep_id,
                    page_id=gid,
                    comments=tuple(found),
                )
            )
    flat = [e for i in sorted(events) for e in events[i]]
    return Collected(flat, new_cursors, resumed, read)


async def _resolve(client: OkClient, name: str) -> str | tuple[c.Unavailability, str, int | None]:
    """The group id behind ``ok.ru/<name>``, or why there is none (the reason, a detail, the
    error code)."""
    try:
        answer = await client.call("url.getInfo", {"url": f"https://ok.ru/{name}"})
    except OkError as exc:
        reason = c.Unavailability.NOT_FOUND if exc.code == NOT_FOUND else c.Unavailability.API_ERROR
        return reason, f"url.getInfo: {exc}", exc.code
    except VkGarbage as exc:
        return c.Unavailability.API_ERROR, f"url.getInfo: {exc}", None
    if not isinstance(answer, dict):
        return c.Unavailability.API_ERROR, "url.getInfo: expected an object", None
    kind, object_id = answer.get("type"), answer.get("objectId")
    if kind != "GROUP":
        detail = f"url.getInfo: ok.ru/{name} is not a group ({str(kind)[:20]})"
        return c.Unavailability.NOT_FOUND, detail, None
    if (
        not isinstance(object_id, int | str)
        or not (text := str(object_id)).isascii()
        or not text.isdigit()
    ):
        return c.Unavailability.API_ERROR, "url.getInfo: objectId is not a number", None
    return text


async def _profiles(
    client: OkClient,
    task: c.CollectTask,
    refs: list[c.PageRef],
    ids: Mapping[int, str],
    part: list[int],
    events: dict[int, list[c.PageEvent]],
    live: dict[int, dict[str, Any]],
) -> None:
    uids = ",".join(dict.fromkeys(ids[i] for i in part))
    fields = "uid,name,description,shortname,members_count,private,status,homepage_url,premium"
    try:
        answer = await client.call("group.getInfo", {"uids": uids, "fields": fields})
        if not isinstance(answer, list):
            raise vn.MalformedResponse(f"expected a list, got {type(answer).__name__}")
    except (OkError, VkGarbage, vn.MalformedResponse) as exc:
        code = exc.code if isinstance(exc, OkError) else None
        for i in part:
            events[i].append(
                page_down(refs[i], task, c.Unavailability.API_ERROR, f"group.getInfo: {exc}", code)
            )
        return
    by_uid = {str(g.get("uid")): g for g in answer if isinstance(g, dict)}
    at = c.utcnow()
    for i in part:
        ref = refs[i]
        group = by_uid.get(ids[i])
        if group is None:
            events[i].append(
                page_down(ref, task, c.Unavailability.NOT_FOUND, "group.getInfo did not return it")
            )
            continue
        if ok.deactivation(group) is not None:
            events[i].append(page_down(ref, task, c.Unavailability.BANNED, "status: BLOCKED"))
            continue
        try:
            events[i].append(_snapshot(group, ref, task.sweep_id, at))
        except vn.MalformedResponse as exc:
            events[i].append(
                page_down(ref, task, c.Unavailability.API_ERROR, f"group.getInfo: {exc.reason}")
            )
            continue
        live[i] = group


async def _topics(client: OkClient, gid: str, count: int) -> Any:
    try:
        return await client.call(
            "mediatopic.getTopics", {"gid": gid, "count": count, "fields": "media_topic.*"}
        )
    except (OkError, VkGarbage) as exc:
        return exc


def _posts(answer: Any, gid: str, ref: c.PageRef, sweep_id: str) -> c.PostsObserved:
    return ok.build_posts(answer, gid, ref, sweep_id, c.utcnow())


async def _comments(client: OkClient, gid: str, topic: str) -> list[c.Comment]:
    comments: list[c.Comment] = []
    anchor = None
    for _ in range(MAX_COMMENT_PAGES):
        params: dict[str, Any] = {
            "discussionId": topic,
            "discussionType": "GROUP_TOPIC",
            "count": COMMENTS_PER_CALL,
        }
        if anchor:
            params["anchor"] = anchor
        answer = await client.call("discussions.getComments", params)
        for item in ok.comments_of(answer):
            comments.append(_comment(item, gid, topic))
        if not answer.get("has_more"):
            break
        anchor = answer.get("anchor")
    return comments


# --- entry point (named by gospublic.platforms.ok.DESCRIPTOR) ------------------------------------


def make_client(settings: Settings) -> OkClient | str:
    """The OK client the settings describe, or the reason the collector cannot start."""
    tokens = [t for t in settings.ok_tokens if t.get_secret_value()]
    secret = settings.ok_application_secret_key
    if not tokens or not settings.ok_application_key or not secret.get_secret_value():
        return (
            "OK needs GOSPUBLIC_OK_APPLICATION_KEY, GOSPUBLIC_OK_APPLICATION_SECRET_KEY and "
            "GOSPUBLIC_OK_TOKENS (comma-separated access tokens)"
        )
    return OkClient(
        settings.ok_api_url,
        settings.ok_application_key,
        secret,
        tokens,
        settings.ok_requests_per_second,
        settings.vk_timeout_s,
        backoff_s=settings.vk_retry_backoff_s,
    )
