"""Adaptive polling: which pages a sweep reads, on an injected clock and in-memory cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gospublic import contracts as c
from services.collector.cursors import Cursor, cursor_key
from services.collector.scheduler import (
    DAY_S,
    PollPolicy,
    due_pages,
    plan_tasks,
    poll_interval,
    reads_today,
)

POLICY = PollPolicy()
T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC).timestamp()  # 09:00 in Moscow
HOUR = 3600


def ref(n: int) -> c.PageRef:
    return c.PageRef(platform=c.Platform.VK, native_id=str(210_000_000 + n), org_id="1023601547177")


def test_the_interval_grows_with_quiet_time_up_to_a_day() -> None:
    def interval(quiet_days: float | None) -> float:
        active = 0 if quiet_days is None else int(T0 - quiet_days * DAY_S)
        return poll_interval(Cursor("s", read_at=int(T0) - HOUR, active_at=active), T0, POLICY)

    assert poll_interval(None, T0, POLICY) == 0  # never read: due now
    assert interval(0.5) == interval(2) == 0  # active: every sweep
    assert interval(3) == 0.75 * DAY_S
    assert interval(10) == interval(400) == interval(None) == DAY_S  # dormant: once a day


def test_a_day_of_hourly_sweeps_fits_one_token_quota() -> None:
    """1,000 pages, a tenth posting every few hours: reading all of them every hour would take
    24,000 wall.get a day; adaptive polling takes the active ones 24 times and the rest once."""
    pages = [ref(n) for n in range(1000)]
    active = {cursor_key(p) for p in pages[:100]}
    cursors: dict[str, Cursor] = {}
    reads = {cursor_key(p): 0 for p in pages}
    first: list[c.PageRef] = []
    for hour in range(25):
        now = T0 + hour * HOUR
        plan = due_pages(pages, cursors, now, POLICY, budget_left=5000)
        if hour == 0:
            first = plan.due
        assert plan.deferred == 0
        for page in plan.due:  # what the collector writes back after reading the page
            key = cursor_key(page)
            posted = int(now) - 2 * HOUR if key in active else int(T0 - 40 * DAY_S)
            cursors[key] = Cursor("s", read_at=int(now), active_at=posted)
            reads[key] += 1
    assert first == pages  # the first sweep reads every page, in register order
    assert {reads[k] for k in active} == {25}
    # Dormant pages: read at the first sweep and again once the day has passed (hour 24).
    assert {n for k, n in reads.items() if k not in active} == {2}
    assert sum(reads.values()) == 100 * 25 + 900 * 2 < 5000


def test_over_budget_the_most_overdue_go_first() -> None:
    pages = [ref(n) for n in range(6)]
    cursors = {
        cursor_key(pages[0]): Cursor("s", read_at=int(T0 - 3 * DAY_S), active_at=1),
        cursor_key(pages[1]): Cursor("s", read_at=int(T0 - HOUR), active_at=int(T0 - HOUR)),
        cursor_key(pages[2]): Cursor("s", read_at=int(T0 - 2 * DAY_S), active_at=1),
        # pages[3] was never read
        cursor_key(pages[4]): Cursor("s", read_at=int(T0 - HOUR), active_at=1),  # not due
        cursor_key(pages[5]): Cursor("s", read_at=int(T0 - 25 * HOUR), active_at=1),
    }
    everything = due_pages(pages, cursors, T0, POLICY)
    assert everything.due == [pages[i] for i in (0, 1, 2, 3, 5)] and everything.not_due == 1
    plan = due_pages(pages, cursors, T0, POLICY, budget_left=3)
    assert plan.due == [pages[0], pages[2], pages[3]]  # never read, then 3 and 2 days late
    assert (plan.deferred, plan.not_due) == (2, 1)
    assert due_pages(pages, cursors, T0, POLICY, budget_left=-5).due == []


def test_a_page_due_within_the_slack_is_read_now() -> None:
    cursor = Cursor("s", read_at=int(T0 - DAY_S + 300), active_at=1)
    assert due_pages([ref(1)], {cursor_key(ref(1)): cursor}, T0, POLICY).due == [ref(1)]
    strict = PollPolicy(slack_s=0)
    assert due_pages([ref(1)], {cursor_key(ref(1)): cursor}, T0, strict).due == []


def test_reads_today_count_from_midnight_in_moscow() -> None:
    now = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)  # 09:00 in Moscow; the day began at 21:00 UTC
    midnight = datetime(2025, 3, 2, 21, 0, tzinfo=UTC).timestamp()
    cursors = [
        Cursor("s", read_at=int(midnight)),
        Cursor("s", read_at=int(midnight) - 1),
        Cursor("s", read_at=int(now.timestamp())),
        Cursor("s"),
    ]
    assert reads_today(cursors, now) == 2
    assert reads_today(cursors, now + timedelta(days=1)) == 0


def test_plan_tasks_takes_organisations_or_page_refs() -> None:
    pages = [ref(n) for n in range(5)]
    org = c.Organisation(
        org_id="1023601547177",
        name="x",
        level="municipal",
        founder="x",
        municipality="x",
        sphere="education",
        pages=tuple(pages),
    )
    at = datetime.fromtimestamp(T0, UTC)
    by_org = plan_tasks([org], c.Platform.VK, "s", 2, at)
    by_ref = plan_tasks(pages, c.Platform.VK, "s", 2, at)
    assert (
        [t.pages for t in by_org]
        == [t.pages for t in by_ref]
        == [
            tuple(pages[0:2]),
            tuple(pages[2:4]),
            tuple(pages[4:5]),
        ]
    )
    assert due_pages(pages, {}, T0, POLICY).due == pages  # no cursors at all: every page is due


def test_a_page_pushed_since_its_last_read_is_due_before_the_overdue() -> None:
    """A push (the receiver's mark, ``gospublic.pushmarks``) after a page's last read makes the
    page due at the next sweep, ranked with the checkpoints; one before the read changes nothing."""
    pages = [ref(n) for n in range(4)]
    read_hour_ago = Cursor("s", read_at=int(T0 - HOUR), active_at=1)  # dormant: not due today
    cursors = {
        cursor_key(pages[0]): read_hour_ago,
        cursor_key(pages[1]): read_hour_ago,
        cursor_key(pages[2]): Cursor("s", read_at=int(T0 - 3 * DAY_S), active_at=1),  # overdue
        cursor_key(pages[3]): read_hour_ago,
    }
    pushed = {
        cursor_key(pages[0]): T0 - 10 * 60,  # after the read: due
        cursor_key(pages[1]): T0 - 2 * HOUR,  # before it: the read saw it
        cursor_key(pages[3]): T0 + HOUR,  # a clock ahead of the scheduler's: not yet
    }
    assert due_pages(pages, cursors, T0, POLICY).due == [pages[2]]
    plan = due_pages(pages, cursors, T0, POLICY, pushed=pushed)
    assert plan.due == [pages[0], pages[2]] and plan.not_due == 2
    short = due_pages(pages, cursors, T0, POLICY, budget_left=1, pushed=pushed)
    assert short.due == [pages[0]] and short.deferred == 1
