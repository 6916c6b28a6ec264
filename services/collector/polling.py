"""Adaptive polling's decisions, pure on an injected clock: which pages a sweep reads.

A page is due when it is overdue for its interval (:func:`poll_interval`, from when it was last
seen active) or a checkpoint passed since its last read (:func:`checkpoint_passed`). Within the
day's budget, paced over the day (:func:`paced_allowance`, against the reads the ledger and the
cursors count), never-read pages go first, then checkpoints (the earliest first), then the pages
most unread against their target interval (:func:`urgency`). The thresholds come from the
evaluator's profile file in use (:func:`policy_from_profile`), read as a file, never imported.
``services.collector.scheduler`` re-exports every name and does the reading and publishing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector.cursors import Cursor, cursor_key
from services.collector.vk_client import next_quota_reset

log = logging.getLogger("gospublic.scheduler")

DAY_S = 86_400
# The evaluator's shipped profiles: read as files (their thresholds), never imported as code.
PROFILES_DIR = Path(__file__).resolve().parents[1] / "evaluator" / "profiles"


@dataclass(frozen=True)
class PollPolicy:
    """How often a page is read, from when it was last seen active."""

    active_within_s: float = 2 * DAY_S  # active this recently: read every sweep
    quiet_share: float = 0.25  # otherwise read again after this share of the quiet time
    max_interval_s: float = DAY_S  # a dormant page: once a day
    # Sweeps do not start on the second: a page due this soon after the sweep counts as due.
    slack_s: float = 600.0
    # A citizen's comment waiting this long for the page's answer (the reply SLA in wall-clock
    # hours, dialog-default's UNANSWERED_COMMENT) and past this share of it makes the page urgent:
    # read every sweep, ahead of the other due pages, until the deadline. The share is below the
    # warning's (75 %) so the page is already read often when the warning falls due.
    reply_sla_s: float = DAY_S
    ageing_share: float = 0.5
    # UNANSWERED_COMMENT_SOON's share of the SLA: a page with a comment seen waiting is read
    # right after it (the warning) and right after the deadline (the violation).
    warning_share: float = 0.75
    # STALE's first threshold: a page whose newest post seen turns this old is read right after.
    stale_after_s: float = 7 * DAY_S
    # A page still posts (:func:`posts_still`) for this many of its usual gaps between own posts
    # after its newest (the cursor's ``post_gap``, a median), at least ``active_within_s``, at
    # most ``habit_max_s``: a page posting every few days is not quiet between two posts. Gaps
    # vary: were they exponential, six medians (4.2 means) would pass 1.5 % of them, three
    # (2.1 means) 12 %. In the simulated world fewer than 1 % of the posts of pages posting
    # every 3.5-7 days come more than 12 days after the one before.
    habit_gaps: float = 6.0
    habit_max_s: float = 12 * DAY_S
    # Target intervals under a short budget (:func:`target_interval`). A page that still posts
    # and draws comments: below the warning share of the SLA, so a comment, whenever the next
    # post comes, is seen before its warning falls due.
    conversation_interval_s: float = 16 * 3600
    active_interval_s: float = 20 * 3600  # posts, comments open, but no comment seen yet
    # Posts no more, or takes no comments: no comment comes, STALE is a checkpoint. Long, so
    # that the budget covers the pages that post at the conversation interval.
    quiet_interval_s: float = 72 * 3600
    # The day's budget is spread over the day: a sweep may use what the even pace allows by now
    # plus this much ahead (so the first sweep after midnight does not take the whole day's).
    pace_ahead_s: float = 3600.0


def thread_ageing(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> bool:
    """A comment seen waiting on the page has used between ``ageing_share`` of the reply SLA and
    all of it (past the deadline the violation is open and the page is read as its activity says).
    """
    if cursor is None:
        return False
    used = ((now_ts - since) / policy.reply_sla_s for since in cursor.waiting.values())
    return any(policy.ageing_share <= share <= 1.0 for share in used)


def posting_within(cursor: Cursor, policy: PollPolicy) -> float:
    """How long after its newest own post the page still counts as posting: ``habit_gaps`` of
    its usual gap between posts, within [``active_within_s``, ``habit_max_s``]."""
    habit = min(policy.habit_max_s, policy.habit_gaps * cursor.post_gap)
    return max(policy.active_within_s, habit)


def posts_still(cursor: Cursor, now_ts: float, policy: PollPolicy) -> bool:
    """The page was active within ``active_within_s`` (a post of any kind, comments moving), or
    its newest own post is recent for its posting habit (:func:`posting_within`). Where the
    habit is unknown (a cursor written before it was kept, no own post shown), the first alone.
    """
    if cursor.active_at and now_ts - cursor.active_at <= policy.active_within_s:
        return True
    if not (cursor.posted_at and cursor.post_gap):
        return False
    return now_ts - cursor.posted_at <= posting_within(cursor, policy)


def poll_interval(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> float:
    """Seconds between reads of the page; 0: every sweep."""
    if cursor is None or not cursor.read_at or thread_ageing(cursor, now_ts, policy):
        return 0.0
    if posts_still(cursor, now_ts, policy):
        return 0.0
    quiet = now_ts - cursor.active_at if cursor.active_at else math.inf
    return min(policy.max_interval_s, quiet * policy.quiet_share)


def overdue(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> float:
    """How far past its interval the page is (inf: never read); due when >= 0."""
    if cursor is None or not cursor.read_at:
        return math.inf
    return now_ts - cursor.read_at + policy.slack_s - poll_interval(cursor, now_ts, policy)


def checkpoints(cursor: Cursor, policy: PollPolicy) -> list[float]:
    """Moments a read of the page should follow: each comment seen waiting (the oldest of its
    post) at the warning share of the SLA and at its deadline, and the newest activity seen at
    STALE's first threshold.

    Every post's, not only the oldest: an old comment that waited past its deadline need not
    make the page fail (the rule judges only the comments of its window, 30 days), and then a
    younger one's deadline is a violation of its own (found by ``bench/freshness.py``: a comment
    from two months ago hid the moments of a new one)."""
    out = []
    for since in sorted(set(cursor.waiting.values())):
        out += [since + policy.warning_share * policy.reply_sla_s, since + policy.reply_sla_s]
    if cursor.active_at:
        out.append(cursor.active_at + policy.stale_after_s)
    return out


def checkpoint_passed(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> float | None:
    """The earliest checkpoint that passed since the page was last read (None: none did)."""
    if cursor is None or not cursor.read_at:
        return None
    passed = [t for t in checkpoints(cursor, policy) if cursor.read_at < t <= now_ts]
    return min(passed, default=None)


def draws_comments(cursor: Cursor, now_ts: float, policy: PollPolicy) -> bool:
    """Still posts (:func:`posts_still`), takes comments and some post was seen with comments:
    new comments come, within hours of the next post."""
    if cursor.comments_closed or not posts_still(cursor, now_ts, policy):
        return False
    return any(n > 0 for n in cursor.comments.values())


def target_interval(cursor: Cursor, now_ts: float, policy: PollPolicy) -> float:
    """How often the page should be read when the budget is short: often where comments come
    (their warning is due at a share of the SLA), least where none does (a quiet page's STALE
    moment is a checkpoint of its own). Under a short budget the sweeps read the pages most
    unread against this interval, so the intervals weigh the pages against each other."""
    if draws_comments(cursor, now_ts, policy):
        return policy.conversation_interval_s
    if not cursor.comments_closed and posts_still(cursor, now_ts, policy):
        return policy.active_interval_s
    return policy.quiet_interval_s


def urgency(cursor: Cursor | None, now_ts: float, policy: PollPolicy) -> float:
    """Time unread over the page's target interval (inf: never read)."""
    if cursor is None or not cursor.read_at:
        return math.inf
    return (now_ts - cursor.read_at) / target_interval(cursor, now_ts, policy)


@dataclass(frozen=True)
class DuePlan:
    due: list[c.PageRef]  # to read in this sweep, in register order
    not_due: int  # read recently enough for how active they are
    deferred: int  # due, but over the day's budget: the least overdue wait for a later sweep


def due_pages(
    pages: Sequence[c.PageRef],
    cursors: Mapping[str, Cursor],
    now_ts: float,
    policy: PollPolicy,
    budget_left: int | None = None,
    pushed: Mapping[str, float] | None = None,
) -> DuePlan:
    """The pages a sweep reads: those overdue for their interval and those with a checkpoint
    passed since their last read, a platform's push about the page (``pushed``: cursor key →
    its moment, ``gospublic.pushmarks``) being one. With ``budget_left`` (reads the quota still
    allows now): never-read pages first, then checkpoints passed (the earliest first), then by
    :func:`urgency`.
    """
    keys = [cursor_key(ref) for ref in pages]
    found = [cursors.get(key) for key in keys]
    lateness = [overdue(cursor, now_ts, policy) for cursor in found]
    passed = [checkpoint_passed(cursor, now_ts, policy) for cursor in found]
    for i, key in enumerate(keys):
        moment = (pushed or {}).get(key)
        if moment and found[i] is not None and found[i].read_at < moment <= now_ts:
            passed[i] = min(moment, passed[i] or moment)
    due = [i for i, late in enumerate(lateness) if late >= 0 or passed[i] is not None]
    deferred = 0
    if budget_left is not None and len(due) > budget_left:

        def rank(i: int) -> tuple[int, float]:
            if lateness[i] == math.inf:
                return (0, 0.0)
            if passed[i] is not None:
                return (1, passed[i])
            return (2, -urgency(found[i], now_ts, policy))

        keep = set(sorted(due, key=rank)[: max(budget_left, 0)])
        deferred = len(due) - len(keep)
        due = [i for i in due if i in keep]
    return DuePlan([pages[i] for i in due], len(pages) - len(due) - deferred, deferred)


def reads_today(cursors: Iterable[Cursor], now: datetime) -> int:
    """Pages read since VK's quota day began (midnight Moscow time): one wall.get each."""
    start = (next_quota_reset(now) - timedelta(days=1)).timestamp()
    return sum(1 for cursor in cursors if cursor.read_at >= start)


def paced_allowance(budget: int, read_today: int, now: datetime, policy: PollPolicy) -> int:
    """Reads a sweep may take now: the day's budget spread evenly from VK's midnight (Moscow),
    ``pace_ahead_s`` ahead of the even pace, less what was read today."""
    start = (next_quota_reset(now) - timedelta(days=1)).timestamp()
    share = min(1.0, (now.timestamp() - start + policy.pace_ahead_s) / DAY_S)
    return max(0, math.ceil(budget * share) - read_today)


def profile_path(settings: Settings) -> Path:
    """The evaluator's profile file in use (a file named, else by name in the profiles' folder)."""
    name = settings.profile
    if name.endswith((".yaml", ".yml")) or "/" in name:
        return Path(name)
    folder = settings.profiles_dir or PROFILES_DIR
    return folder / f"{name}.yaml"


def policy_from_profile(data: Any, base: PollPolicy | None = None) -> PollPolicy:
    """The polling policy with the reply SLA, the warning's share and STALE's first threshold of
    a profile (its parsed YAML); a rule the profile leaves out keeps the default."""
    base = base or PollPolicy()
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        return base
    changes: dict[str, float] = {}
    sla = rules.get("UNANSWERED_COMMENT")
    if isinstance(sla, dict) and sla.get("enabled", True) and sla.get("hours"):
        changes["reply_sla_s"] = float(sla["hours"]) * 3600
    soon = rules.get("UNANSWERED_COMMENT_SOON")
    if isinstance(soon, dict) and soon.get("share"):
        changes["warning_share"] = float(soon["share"])
    stale = rules.get("STALE")
    grades = stale.get("grades") if isinstance(stale, dict) else None
    if isinstance(grades, list):
        days = [float(g["days"]) for g in grades if isinstance(g, dict) and g.get("days")]
        if days:
            changes["stale_after_s"] = min(days) * DAY_S
    return dataclasses.replace(base, **changes)


def load_policy(settings: Settings) -> PollPolicy:
    """:func:`policy_from_profile` of the profile file in use; the defaults if it cannot be read
    (the evaluator refuses such a profile; the scheduler still schedules)."""
    path = profile_path(settings)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning(
            "profile not read; default polling policy", extra={"path": str(path), "error": str(exc)}
        )
        return PollPolicy()
    return policy_from_profile(data)


def quota_day(now: datetime) -> str:
    """VK's quota day (it begins at midnight Moscow time) as its first moment, ISO."""
    return (next_quota_reset(now) - timedelta(days=1)).isoformat()


def ledger_count(raw: bytes | None, now: datetime) -> int:
    """Reads the ledger records for ``now``'s quota day (0: another day's, or none)."""
    try:
        data = json.loads(raw or b"{}")
        return int(data["scheduled"]) if data.get("day") == quota_day(now) else 0
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0


def ledger_value(count: int, now: datetime) -> bytes:
    return json.dumps({"day": quota_day(now), "scheduled": count}).encode()
