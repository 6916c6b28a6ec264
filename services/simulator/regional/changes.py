"""When the clock makes a rule fail: the moments of a region's changes after the epoch.

The ground truth (``truth``) says which rules fail at one moment; a freshness benchmark needs
*when* each began to fail, to measure how late the monitor learned it. Everything after the epoch
is fixed by the seed and the page or post id, so the moments are computed here, page by page, with
the same reading of the rules as the ground truth:

- ``page_gone``: the page is deleted or closed (:meth:`Region.fate`): PAGE_NOT_PUBLIC from then;
- ``profile_field_removed``: its description is removed (:meth:`Region.description_removed_at`):
  DESCRIPTION_MISSING, and CONTACT_PHONE_MISSING when the phone was only there;
- ``page_stale``: its newest own post turns older than STALE's first threshold (7 days), or a
  deletion leaves an older one newest: STALE from then;
- ``unanswered_comment``: a citizen's comment reaches the reply SLA unanswered (or answered late)
  on a page with no such comment before it in the window: UNANSWERED_COMMENT from ``date + SLA``.

Only a rule that did not fail just before the moment counts (a new violation, a new alert); a
change on a page already gone is none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from services.simulator.regional.model import VkGroup, has_phone
from services.simulator.regional.rules import (
    DESCRIPTION_MIN_CHARS,
    REPLY_SLA_HOURS,
    STALE_THRESHOLDS_DAYS,
    WALL_WINDOW,
)
from services.simulator.regional.truth import stale_severity

if TYPE_CHECKING:
    from services.simulator.regional.state import Region

PAGE_GONE = "page_gone"
PROFILE_FIELD_REMOVED = "profile_field_removed"
PAGE_STALE = "page_stale"
UNANSWERED_COMMENT = "unanswered_comment"
KINDS = (UNANSWERED_COMMENT, PAGE_GONE, PAGE_STALE, PROFILE_FIELD_REMOVED)


@dataclass(frozen=True, slots=True)
class Change:
    """A rule that begins to fail on a page at ``at`` (unix seconds)."""

    kind: str
    page_id: str
    org_id: str
    rules: tuple[str, ...]  # the rules whose alert announces it (the first one to arrive counts)
    at: int
    link: str = ""  # the register's link to the page
    # unanswered_comment: when the citizen wrote (the SLA runs from here; the warning is due at
    # a share of it)
    comment_at: int = 0


def changes(region: Region, since_ts: int, until_ts: int) -> list[Change]:
    """Every change in ``(since_ts, until_ts]`` on the register's live VK pages, by time."""
    out: list[Change] = []
    for org in region.organisations:
        group = region.vk_group_of(org)
        if group is None or not _live_at(region, group, since_ts):
            continue
        out.extend(
            replace(ch, link=org.vk)
            for ch in page_changes(region, group, org.ogrn, since_ts, until_ts)
        )
    return sorted(out, key=lambda ch: (ch.at, ch.page_id, ch.kind))


def _gone_at(region: Region, group: VkGroup) -> int | None:
    fate = region.fate(group)
    return None if fate is None else fate[1]


def _live_at(region: Region, group: VkGroup, ts: int) -> bool:
    """Live at ``ts`` (the clock may have deleted it since: :meth:`Region.advance`)."""
    gone = _gone_at(region, group)
    went_since = gone is not None and gone > ts and region.fate(group)[0] == "deleted"
    return group.live or went_since


def _closed_at(region: Region, group: VkGroup, ts: int) -> bool:
    """Closed at ``ts`` (as generated, or by its fate up to then)."""
    fate = region.fate(group)
    if fate is not None and fate[0] == "closed":
        return fate[1] <= ts or (bool(group.is_closed) and fate[1] > region.now_ts)
    return bool(group.is_closed)


def page_changes(
    region: Region, group: VkGroup, org_id: str, since_ts: int, until_ts: int
) -> Iterator[Change]:
    """The changes of one page that was live at ``since_ts``."""
    page_id = str(group.id)
    gone = _gone_at(region, group)
    end = until_ts if gone is None else min(until_ts, gone - 1)  # after it goes, nothing more
    closed = _closed_at(region, group, since_ts)
    if gone is not None and since_ts < gone <= until_ts and not closed:
        yield Change(PAGE_GONE, page_id, org_id, ("PAGE_NOT_PUBLIC",), gone)
    edit = region.description_removed_at(group)
    if edit is not None and since_ts < edit <= end:
        rules = tuple(
            rule
            for rule, before, after in _profile_rules(region, group, edit)
            if after and not before
        )
        if rules:
            yield Change(PROFILE_FIELD_REMOVED, page_id, org_id, rules, edit)
    if closed or group.wall == 0:
        return  # a closed wall is not read: no STALE, no comments
    yield from _stale_changes(region, group, org_id, since_ts, end)
    if region.comments_open(group):
        yield from _comment_changes(region, group, org_id, since_ts, end)


def _profile_rules(region: Region, group: VkGroup, at: int) -> list[tuple[str, bool, bool]]:
    """(rule, fails just before ``at``, fails at ``at``) for the profile rules an edit touches."""

    def fails(ts: int) -> tuple[bool, bool]:
        description = region.description(group, ts)
        texts = [description, *(c.phone for c in region.contacts(group))]
        address = region.main_address(group)
        if address is not None:
            texts.append(address.phone)
        short = len(description.strip()) < DESCRIPTION_MIN_CHARS
        return short, not any(has_phone(t) for t in texts)

    before, after = fails(at - 1), fails(at)
    return [
        ("DESCRIPTION_MISSING", before[0], after[0]),
        ("CONTACT_PHONE_MISSING", before[1], after[1]),
    ]


def is_stale(region: Region, group: VkGroup, now_ts: float) -> bool:
    wall = region.posts(group, now_ts)
    seen = wall[:WALL_WINDOW]
    own = [p.date for p in seen if p.from_id == -group.id and not p.repost]
    edge = min((p.date for p in seen if not p.pinned), default=None)
    return bool(stale_severity(own, edge, len(wall) <= len(seen), now_ts, STALE_THRESHOLDS_DAYS))


def _stale_changes(
    region: Region, group: VkGroup, org_id: str, since_ts: int, end: int
) -> Iterator[Change]:
    wall = region.posts(group, end)
    threshold = int(STALE_THRESHOLDS_DAYS[0] * 86_400)
    moments = {p.date + threshold for p in wall}
    for post in region.posts(group, since_ts):
        deleted = region.post_deleted_at(group, post)
        if deleted is not None:
            moments.add(deleted)
    for at in sorted(m for m in moments if since_ts < m <= end):
        if not is_stale(region, group, at - 1) and is_stale(region, group, at):
            yield Change(PAGE_STALE, str(group.id), org_id, ("STALE",), at)


def unanswered(region: Region, group: VkGroup, now_ts: float) -> bool:
    seen = region.posts(group, now_ts)[:WALL_WINDOW]
    return bool(region.unanswered_comments(region.first_replies(group, seen, now_ts), now_ts))


def _comment_changes(
    region: Region, group: VkGroup, org_id: str, since_ts: int, end: int
) -> Iterator[Change]:
    sla = REPLY_SLA_HOURS * 3600
    wall = region.posts(group, end)
    late = [
        (comment.date, comment.date + sla)
        for comment, replied in region.first_replies(group, wall, end)
        if since_ts < comment.date + sla <= end
        and (replied is None or replied > comment.date + sla)
    ]
    for written, deadline in sorted(set(late), key=lambda x: x[1]):
        if not unanswered(region, group, deadline) and unanswered(region, group, deadline + 1):
            yield Change(
                UNANSWERED_COMMENT,
                str(group.id),
                org_id,
                ("UNANSWERED_COMMENT",),
                deadline + 1,
                comment_at=written,
            )
