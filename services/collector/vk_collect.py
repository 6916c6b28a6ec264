"""One collection task for VK: profiles through ``groups.getById``, posts through ``execute``.

Orchestration only: the client does I/O and retries, ``vk_normalise`` maps objects. Every page of
the task ends with at least one event. A failure that concerns a call (garbage, an error for the
whole call) becomes ``PageUnavailable(api_error)`` for the pages of that call; a failure that
concerns us (``VkTransient``, ``VkNoTokens``) propagates so the whole task is retried later.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from gospublic import contracts as c
from gospublic.bus import Outgoing
from services.collector import vk_normalise as vn
from services.collector.vk_client import EXECUTE_MAX_CALLS, VkError, VkGarbage

log = logging.getLogger("gospublic.collector.vk")

GROUP_FIELDS = (
    "description,contacts,addresses,site,links,members_count,wall,is_closed,verified,has_photo,"
    "cover,is_government_organization,screen_name,activity"
)
GET_BY_ID_MAX = 500
# Closed or private walls: the page exists, we may not read it.
PRIVATE_CODES = frozenset({15, 30, 203})
# Sub-call errors inside ``execute`` that say "not now" rather than "not this page".
RETRY_SUBCALL_CODES = frozenset({6, 10, 29})
RUNTIME_ERROR = 13  # the VKScript as a whole failed: split the batch to isolate the culprit

API_ERROR = c.Unavailability.API_ERROR
NOT_FOUND = c.Unavailability.NOT_FOUND
PRIVATE = c.Unavailability.PRIVATE

KIND = {
    c.PageSnapshot: "page_snapshot",
    c.PostsObserved: "posts_observed",
    c.PageUnavailable: "page_unavailable",
}
_SCREEN_ID = re.compile(r"^(?:club|public|event)(\d+)$")


class VkApi(Protocol):
    async def call(self, method: str, params: dict[str, Any]) -> Any: ...

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]: ...


Failure = VkError | VkGarbage | vn.MalformedResponse


async def collect_chunk(
    client: VkApi, task: c.CollectTask, posts_per_page: int = 20
) -> list[Outgoing]:
    return [to_outgoing(event) for event in await collect_events(client, task, posts_per_page)]


async def collect_events(
    client: VkApi, task: c.CollectTask, posts_per_page: int = 20
) -> list[c.PageEvent]:
    """Events for every page of the task, grouped by page in task order."""
    chunk = Chunk(task)
    for start in range(0, len(chunk.refs), GET_BY_ID_MAX):
        await chunk.profiles(client, range(start, min(start + GET_BY_ID_MAX, len(chunk.refs))))
    walls = await _walls(client, sorted(set(chunk.live.values())), posts_per_page)
    for index, gid in chunk.live.items():
        chunk.posts(index, gid, *walls[gid])
    return [event for events in chunk.events for event in events]


class Chunk:
    """The events of one task so far, one list per page reference."""

    def __init__(self, task: c.CollectTask) -> None:
        self.sweep_id = task.sweep_id
        self.refs = list(task.pages)
        self.events: list[list[c.PageEvent]] = [[] for _ in self.refs]
        self.live: dict[int, int] = {}  # ref index → group id, for pages that get a wall.get

    def down(
        self, i: int, at: datetime, reason: c.Unavailability, detail: str, code: int | None = None
    ) -> None:
        self.events[i].append(unavailable(self.refs[i], self.sweep_id, at, reason, detail, code))

    async def profiles(self, client: VkApi, indices: range) -> None:
        ids = list(dict.fromkeys(self.refs[i].native_id for i in indices))
        try:
            response = await client.call(
                "groups.getById", {"group_ids": ids, "fields": GROUP_FIELDS}
            )
            at = c.utcnow()
            groups = vn.groups_of(response)
        except (VkError, VkGarbage, vn.MalformedResponse) as exc:
            at = c.utcnow()
            detail, code = _describe("groups.getById", exc)
            log.warning(
                "groups.getById failed for a whole call",
                extra={"sweep_id": self.sweep_id, "pages": len(ids), "detail": detail},
            )
            for i in indices:
                self.down(i, at, API_ERROR, detail, code)
            return

        by_id: dict[int, dict[str, Any]] = {}
        by_screen: dict[str, dict[str, Any]] = {}
        malformed = 0
        for group in groups:
            try:
                gid = vn.group_id(group)
            except vn.MalformedResponse:
                malformed += 1
                continue
            by_id[gid] = group
            screen = group.get("screen_name")
            if isinstance(screen, str) and screen:
                by_screen[screen.lower()] = group

        for i in indices:
            ref = self.refs[i]
            group = match_group(ref.native_id, by_id, by_screen)
            if group is None and malformed:
                # One of the unreadable objects may be this page: "not found" would be a guess.
                self.down(i, at, API_ERROR, f"groups.getById: {malformed} group(s) without an id")
            elif group is None:
                self.down(i, at, NOT_FOUND, "groups.getById did not return the page")
            elif (gone := vn.deactivation(group)) is not None:
                self.down(i, at, gone, f"deactivated: {str(group['deactivated'])[:100]}")
            else:
                try:
                    snapshot = vn.build_snapshot(group, ref, self.sweep_id, at)
                except vn.MalformedResponse as exc:
                    self.down(i, at, API_ERROR, f"groups.getById: {exc.reason}")
                    continue
                self.events[i].append(snapshot)
                self.live[i] = int(snapshot.page_id)

    def posts(self, i: int, gid: int, outcome: object, at: datetime) -> None:
        if isinstance(outcome, VkError):
            reason = PRIVATE if outcome.code in PRIVATE_CODES else API_ERROR
            self.down(
                i, at, reason, f"wall.get: VK error {outcome.code}: {outcome.msg}", outcome.code
            )
            return
        if isinstance(outcome, VkGarbage):
            self.down(i, at, API_ERROR, f"wall.get: {outcome.reason}")
            return
        try:
            self.events[i].append(vn.build_posts(outcome, gid, self.refs[i], self.sweep_id, at))
        except vn.MalformedResponse as exc:
            self.down(i, at, API_ERROR, f"wall.get: {exc.reason}")


def match_group(
    native_id: str, by_id: dict[int, dict[str, Any]], by_screen: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The group a registry id names: a numeric id, ``club123``/``public123``, or a screen name."""
    key = native_id.strip().lower()
    numeric = key.lstrip("-")
    if numeric.isdigit():
        return by_id.get(int(numeric))
    screen = by_screen.get(key)
    if screen is not None:
        return screen
    m = _SCREEN_ID.match(key)
    return by_id.get(int(m.group(1))) if m else None


async def _walls(
    client: VkApi, group_ids: list[int], posts_per_page: int
) -> dict[int, tuple[Any, datetime]]:
    """``wall.get`` of every group in ``execute`` batches, run concurrently (the pool paces them)."""
    calls = [("wall.get", {"owner_id": -gid, "count": posts_per_page}) for gid in group_ids]
    batches = [calls[i : i + EXECUTE_MAX_CALLS] for i in range(0, len(calls), EXECUTE_MAX_CALLS)]
    try:
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(_execute(client, batch)) for batch in batches]
    except BaseExceptionGroup as failed:
        # The first failure (transient or no tokens) decides the task; the rest were cancelled.
        raise failed.exceptions[0] from None
    outcomes = [outcome for job in jobs for outcome in job.result()]
    return dict(zip(group_ids, outcomes, strict=True))


async def _execute(
    client: VkApi, calls: list[tuple[str, dict[str, Any]]], retry: bool = True
) -> list[tuple[Any, datetime]]:
    """Per call (result or failure, time received). Splits on error 13, retries "not now" once."""
    try:
        results: list[Any] = await client.execute(calls)
    except VkGarbage as exc:
        return [(exc, c.utcnow())] * len(calls)
    except VkError as exc:
        if exc.code == RUNTIME_ERROR and len(calls) > 1:
            half = len(calls) // 2
            return await _execute(client, calls[:half], retry) + await _execute(
                client, calls[half:], retry
            )
        return [(exc, c.utcnow())] * len(calls)
    observed_at = c.utcnow()
    outcomes = [(result, observed_at) for result in results]
    again = [
        i
        for i, result in enumerate(results)
        if isinstance(result, VkError) and result.code in RETRY_SUBCALL_CODES
    ]
    if retry and again:
        retried = await _execute(client, [calls[i] for i in again], retry=False)
        for i, outcome in zip(again, retried, strict=True):
            outcomes[i] = outcome
    return outcomes


def _describe(call: str, exc: Failure) -> tuple[str, int | None]:
    if isinstance(exc, VkError):
        return f"{call}: VK error {exc.code}: {exc.msg}", exc.code
    return f"{call}: {exc.reason}", None


def unavailable(
    ref: c.PageRef,
    sweep_id: str,
    observed_at: datetime,
    reason: c.Unavailability,
    detail: str,
    error_code: int | None = None,
) -> c.PageUnavailable:
    return c.PageUnavailable.create(
        observed_at=observed_at,
        platform=ref.platform,
        page_ref=ref,
        sweep_id=sweep_id,
        reason=reason,
        error_code=error_code,
        detail=detail[:2000],
    )


def to_outgoing(event: c.PageEvent) -> Outgoing:
    """The bus message; its id is stable per (platform, page, kind, sweep) for JetStream dedup."""
    kind = KIND[type(event)]
    payload = event.to_bytes()
    if len(payload) > c.MAX_EVENT_BYTES and isinstance(event, c.PostsObserved):
        payload = _shrink(event).to_bytes()
    return Outgoing(
        subject=c.event_subject(event.platform.value, kind),
        payload=payload,
        msg_id=c.message_id(event.platform.value, event.page_ref.native_id, kind, event.sweep_id),
    )


def _shrink(event: c.PostsObserved) -> c.PostsObserved:
    """Cut post texts, then drop the oldest posts, until the batch fits in one message."""
    for limit in (4000, 500, 0):
        posts = tuple(p.model_copy(update={"text": p.text[:limit]}) for p in event.posts)
        event = event.model_copy(update={"posts": posts})
        if len(event.to_bytes()) <= c.MAX_EVENT_BYTES:
            return event
    while event.posts and len(event.to_bytes()) > c.MAX_EVENT_BYTES:
        event = event.model_copy(update={"posts": event.posts[: len(event.posts) // 2]})
    return event
