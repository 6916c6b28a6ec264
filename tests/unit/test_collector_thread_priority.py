"""Pages with a citizen's comment ageing towards the reply deadline are read every sweep and go
first within the budget; the cursor remembers which posts hold such comments. Within the day's
budget, paced over the day: never-read pages, then checkpoints passed since the last read (the
warning, the deadline, STALE's threshold), then the most unread against their target interval;
the thresholds come from the profile file in use."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector.cursors import Cursor, cursor_key, note_waiting
from services.collector.scheduler import (
    CURSOR_READ_CHUNK,
    DAY_S,
    PROFILES_DIR,
    PollPolicy,
    checkpoint_passed,
    due_pages,
    ledger_count,
    ledger_value,
    load_policy,
    overdue,
    paced_allowance,
    policy_from_profile,
    poll_interval,
    profile_path,
    thread_ageing,
    urgency,
)

POLICY = PollPolicy()  # 24 h SLA, urgent from 50 %
T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC).timestamp()
HOUR = 3600
REF = c.PageRef(platform=c.Platform.VK, native_id="club210000001", org_id="1023601547177")


def ref(n: int) -> c.PageRef:
    return c.PageRef(platform=c.Platform.VK, native_id=str(210_000_000 + n), org_id="1023601547177")


def quiet_cursor(waiting_h: float | None) -> Cursor:
    """A page quiet for ten days (read every 2.5 days), read an hour ago."""
    waiting = {} if waiting_h is None else {"7": int(T0 - waiting_h * HOUR)}
    return Cursor("s", read_at=int(T0 - HOUR), active_at=int(T0 - 10 * DAY_S), waiting=waiting)


@pytest.mark.parametrize(
    ("waiting_h", "urgent"),
    [(None, False), (11.9, False), (12, True), (20, True), (24, True), (24.1, False)],
)
def test_an_ageing_thread_shortens_the_interval(waiting_h, urgent) -> None:
    cursor = quiet_cursor(waiting_h)
    assert thread_ageing(cursor, T0, POLICY) is urgent
    assert (poll_interval(cursor, T0, POLICY) == 0.0) is urgent
    assert (overdue(cursor, T0, POLICY) >= 0) is urgent  # read an hour ago: due only if urgent


def test_a_comment_long_past_its_deadline_hides_no_younger_one() -> None:
    cursor = quiet_cursor(20)
    cursor.waiting["3"] = int(T0 - 60 * DAY_S)  # outside the rule's 30 days: never a violation
    assert thread_ageing(cursor, T0, POLICY)
    assert poll_interval(cursor, T0, POLICY) == 0.0


def test_ageing_threads_go_first_within_the_budget() -> None:
    pages = [ref(n) for n in range(4)]
    cursors = {
        # Overdue by days, but nothing waiting.
        cursor_key(pages[0]): Cursor("s", read_at=int(T0 - 3 * DAY_S), active_at=1),
        cursor_key(pages[1]): quiet_cursor(18),  # read an hour ago, a comment at 75 %
        cursor_key(pages[2]): Cursor("s", read_at=int(T0 - 2 * DAY_S), active_at=1),
        cursor_key(pages[3]): quiet_cursor(30),  # past the deadline: as its activity says
    }
    plan = due_pages(pages, cursors, T0, POLICY, budget_left=2)
    assert plan.due == [pages[0], pages[1]]
    assert plan.deferred == 1
    plan = due_pages(pages, cursors, T0, POLICY, budget_left=1)
    assert plan.due == [pages[1]]


def comment(cid: str, post: str, kind: str, hour: int) -> c.Comment:
    return c.Comment(
        comment_id=cid, post_id=post, from_id="501" if kind == "citizen" else "-210000001",
        author_kind=kind, posted_at=datetime(2025, 3, 2, hour, 0, tzinfo=UTC),
    )  # fmt: skip


def events(posts: tuple[str, ...], comments: tuple[c.Comment, ...] | None, **kw):
    now = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
    out: list[c.PageEvent] = [
        c.PostsObserved.create(
            observed_at=now,
            platform=c.Platform.VK,
            page_ref=REF,
            sweep_id="s",
            page_id="210000001",
            posts=tuple(
                c.Post(
                    post_id=p,
                    posted_at=datetime(2025, 3, 1, tzinfo=UTC),
                    is_own=True,
                    is_repost=False,
                )
                for p in posts
            ),
        )
    ]
    if comments is not None:
        out.append(
            c.CommentsObserved.create(
                observed_at=now,
                platform=c.Platform.VK,
                page_ref=REF,
                sweep_id="s",
                page_id="210000001",
                comments=comments,
                **kw,
            )
        )
    return out


def test_the_cursor_notes_the_oldest_comment_still_waiting() -> None:
    cursor = Cursor("s")
    note_waiting(
        cursor,
        None,
        events(
            ("7", "8", "9"),
            (
                comment("1", "7", "citizen", 2),
                comment("2", "7", "citizen", 4),
                comment("3", "8", "citizen", 1),
                comment("4", "8", "page", 3),  # answers post 8
                comment("5", "9", "citizen", 5),  # a citizen's post: citizens among themselves
            ),
            citizen_posts=("9",),
        ),
    )
    assert cursor.waiting == {"7": int(datetime(2025, 3, 2, 2, 0, tzinfo=UTC).timestamp())}
    assert cursor.waiting_since == cursor.waiting["7"]
    assert Cursor.from_bytes(cursor.to_bytes()) == cursor

    # Next read: post 7's comments were not fetched again (count unchanged): still waiting.
    later = Cursor("s2")
    note_waiting(later, cursor, events(("7", "8"), None))
    assert later.waiting == cursor.waiting
    # The page answers on post 7: fetched again, nothing waits.
    answered = Cursor("s3")
    note_waiting(
        answered,
        later,
        events(("7",), (comment("1", "7", "citizen", 2), comment("6", "7", "page", 9))),
    )
    assert answered.waiting == {} and answered.waiting_since == 0
    # A post that left the wall takes its waiting comment with it.
    gone = Cursor("s4")
    note_waiting(gone, cursor, events(("10",), None))
    assert gone.waiting == {}


def test_a_cursor_without_waiting_reads_as_before() -> None:
    old = Cursor("s", 5, {"5": 1}, 100, 90)
    assert b"waiting" not in old.to_bytes()
    assert Cursor.from_bytes(old.to_bytes()) == old


# --- checkpoints, urgency, pacing and the profile's thresholds ----------------------------------


def cursor_at(
    read_h: float, waiting_h: tuple[float, ...] = (), active_h: float | None = None, **kw
) -> Cursor:
    """Read ``read_h`` hours ago; comments waiting since ``waiting_h`` hours ago; posted
    ``active_h`` hours ago (None: never)."""
    return Cursor(
        "s",
        read_at=int(T0 - read_h * HOUR),
        active_at=0 if active_h is None else int(T0 - active_h * HOUR),
        waiting={str(n): int(T0 - h * HOUR) for n, h in enumerate(waiting_h)},
        **kw,
    )


@pytest.mark.parametrize(
    ("cursor", "passed_h_ago"),
    [
        (cursor_at(1, (10,)), None),  # 10 h of 24: no checkpoint yet
        (cursor_at(1, (18.5,)), 0.5),  # the warning share (18 h) passed after the last read
        (cursor_at(0.4, (18.5,)), None),  # ... and the page was read after it
        (cursor_at(1, (24.5,)), 0.5),  # the deadline passed after the last read
        (cursor_at(7, (24.5,)), 6.5),  # both passed: the earlier one
        # The oldest is past its deadline, but it may lie outside the rule's window: the
        # younger one's warning counts all the same.
        (cursor_at(1, (30, 18.5)), 0.5),
        (cursor_at(1, (24 * 60, 18.5)), 0.5),  # two months old: only the new one's moments
        (cursor_at(1, (18.5, 5)), 0.5),  # the earliest passed counts
        (cursor_at(1, (30,)), None),  # the deadline passed before the last read
        (cursor_at(1, (), active_h=7 * 24 + 0.5), 0.5),  # the newest post turned 7 days old
        (cursor_at(1, (), active_h=7 * 24 + 2), None),  # ... before the last read
        (cursor_at(0, (18.5,)).__class__("s"), None),  # never read: no checkpoint, due anyway
    ],
)
def test_a_checkpoint_passed_since_the_last_read(cursor, passed_h_ago) -> None:
    passed = checkpoint_passed(cursor, T0, POLICY)
    expected = None if passed_h_ago is None else int(T0 - passed_h_ago * HOUR)
    assert passed == expected


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        (None, math.inf),
        (cursor_at(8, active_h=5, comments={"7": 2}), 0.5),  # draws comments: 16 h target
        (cursor_at(8, active_h=5, comments={"7": 0}), 8 / 20),  # posts, but no comments
        (cursor_at(8, active_h=72, comments={"7": 2}), 8 / 72),  # comments, but quiet
        (cursor_at(36, active_h=24 * 40), 0.5),  # dormant: a three days' target
    ],
)
def test_urgency_is_time_unread_over_the_target_interval(cursor, expected) -> None:
    assert urgency(cursor, T0, POLICY) == pytest.approx(expected)


def test_within_the_budget_never_read_then_checkpoints_then_urgency() -> None:
    pages = [ref(n) for n in range(6)]
    cursors = {
        cursor_key(pages[0]): cursor_at(60, active_h=24 * 40),  # dormant, 60 h of 72: 0.83
        cursor_key(pages[1]): cursor_at(1, (18.5,), active_h=20),  # warning due
        cursor_key(pages[2]): cursor_at(12, active_h=5, comments={"1": 3}),  # 12/16 = 0.75
        # pages[3] never read
        cursor_key(pages[4]): cursor_at(3, (24.2,), active_h=30),  # deadline passed
        cursor_key(pages[5]): cursor_at(22, active_h=5, comments={"1": 3}),  # 22/16 = 1.375
    }
    ranked = [3, 1, 4, 5, 0, 2]  # never read; the checkpoints, earliest first; by urgency
    for budget in range(7):
        plan = due_pages(pages, cursors, T0, POLICY, budget_left=budget)
        assert set(plan.due) == {pages[i] for i in ranked[:budget]}, budget
        assert plan.due == sorted(plan.due, key=pages.index)  # register order


def test_a_checkpoint_makes_a_page_due_that_its_interval_would_not() -> None:
    quiet = cursor_at(2, (), active_h=7 * 24 + 1)  # read 2 h ago, 7 days quiet: due in a day
    assert overdue(quiet, T0, POLICY) < 0
    assert due_pages([ref(1)], {cursor_key(ref(1)): quiet}, T0, POLICY).due == [ref(1)]


MOSCOW_MIDNIGHT = datetime(2025, 3, 2, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours_into_day", "read_today", "allowance"),
    [
        (0, 0, 100),  # an hour ahead of the pace: 2,400 / 24
        (0, 100, 0),
        (5.5, 0, 650),  # 6.5 h of 24
        (5.5, 600, 50),
        (5.5, 700, 0),  # ahead of the pace: nothing more yet
        (23.5, 2000, 400),  # the whole budget by the end of the day
        (23.9, 2400, 0),
    ],
)
def test_the_budget_is_paced_over_the_quota_day(hours_into_day, read_today, allowance) -> None:
    now = MOSCOW_MIDNIGHT + timedelta(hours=hours_into_day)
    assert paced_allowance(2400, read_today, now, POLICY) == allowance


@pytest.mark.parametrize(
    ("profile", "sla_h", "share", "stale_days"),
    [
        ("dialog-default", 24, 0.75, 7),
        ("bashkortostan-2025", 3, None, None),
    ],
)
def test_the_policy_reads_the_profile_file_in_use(profile, sla_h, share, stale_days) -> None:
    data = yaml.safe_load((PROFILES_DIR / f"{profile}.yaml").read_text(encoding="utf-8"))
    policy = policy_from_profile(data)
    assert policy.reply_sla_s == sla_h * HOUR
    if share is not None:
        assert policy.warning_share == share
    if stale_days is not None:
        assert policy.stale_after_s == stale_days * DAY_S
    settings = Settings(_env_file=None, profile=profile)
    assert profile_path(settings) == PROFILES_DIR / f"{profile}.yaml"
    assert load_policy(settings) == policy


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, PollPolicy()),
        ({"rules": "nonsense"}, PollPolicy()),
        ({"rules": {}}, PollPolicy()),
        ({"rules": {"UNANSWERED_COMMENT": {"enabled": False, "hours": 3}}}, PollPolicy()),
        (
            {
                "rules": {
                    "UNANSWERED_COMMENT": {"hours": 8},
                    "UNANSWERED_COMMENT_SOON": {"share": 0.5},
                }
            },
            PollPolicy(reply_sla_s=8 * HOUR, warning_share=0.5),
        ),
        (
            {"rules": {"STALE": {"grades": [{"days": 30}, {"days": 14}]}}},
            PollPolicy(stale_after_s=14 * DAY_S),
        ),
    ],
)
def test_a_profile_without_a_rule_keeps_the_default(data, expected) -> None:
    assert policy_from_profile(data) == expected


def test_an_unreadable_profile_file_leaves_the_defaults(tmp_path) -> None:
    settings = Settings(_env_file=None, profile=str(tmp_path / "missing.yaml"))
    assert load_policy(settings) == PollPolicy()


@pytest.mark.parametrize(
    ("raw", "hours_later", "count"),
    [
        (None, 0, 0),
        (b"garbage", 0, 0),
        (b'{"day": "x"}', 0, 0),
        ("today", 0, 120),
        ("today", 20, 120),  # 17:00 in Moscow, still the same quota day
        ("today", 22, 0),  # past midnight in Moscow: a new day
    ],
)
def test_the_ledger_counts_the_reads_of_its_quota_day(raw, hours_later, count) -> None:
    morning = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # 03:00 in Moscow
    if raw == "today":
        raw = ledger_value(120, morning)
    assert ledger_count(raw, morning + timedelta(hours=hours_later)) == count


def test_a_batched_cursor_read_stays_under_the_servers_limit() -> None:
    assert CURSOR_READ_CHUNK <= 1024
