"""A page's posting habit, noted in its cursor from one read, decides whether it still posts: a
page posting every few days is read as often as a daily one between its posts, one that stopped
or takes no comments much less often."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic import contracts as c
from services.collector.cursors import Cursor, cursor_key, note_habit, note_waiting, posting_habit
from services.collector.scheduler import (
    DAY_S,
    PollPolicy,
    due_pages,
    poll_interval,
    posting_within,
    posts_still,
    target_interval,
)

POLICY = PollPolicy()
T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
HOUR = 3600
REF = c.PageRef(platform=c.Platform.VK, native_id="210000001", org_id="1023601547177")


def post(
    n: int, days_ago: float, *, pinned: bool = False, open_: bool = True, kind: str = "own"
) -> c.Post:
    return c.Post(
        post_id=str(n),
        posted_at=T0 - timedelta(days=days_ago),
        is_own=kind != "citizen",
        is_repost=kind == "repost",
        is_pinned=pinned,
        comments_open=open_,
    )


def observed(*posts: c.Post) -> list[c.PageEvent]:
    return [
        c.PostsObserved.create(
            observed_at=T0, platform=c.Platform.VK, page_ref=REF, sweep_id="s",
            page_id="210000001", posts=posts,
        )
    ]  # fmt: skip


AGO = {d: int((T0 - timedelta(days=d)).timestamp()) for d in (0.1, 0.5, 1, 2, 3)}


@pytest.mark.parametrize(
    ("posts", "habit"),
    [
        ((), None),
        ((post(1, 2),), (AGO[2], 0, False)),  # one post: no gap known
        ((post(3, 1), post(2, 2), post(1, 4)), (AGO[1], 2 * DAY_S, False)),  # gaps 1, 2: the upper
        ((post(4, 0.5), post(3, 5.5), post(2, 11), post(1, 15)), (AGO[0.5], 5 * DAY_S, False)),
        # A pinned post, however old, is no part of the habit; the newest decides comments.
        (
            (post(9, 300, pinned=True), post(2, 1, open_=False), post(1, 3)),
            (AGO[1], 2 * DAY_S, True),
        ),
        # Reposts and citizens' posts are not the page posting (STALE counts own posts only).
        (
            (post(5, 0.1, kind="citizen"), post(4, 0.5, kind="repost"), post(3, 1), post(1, 3)),
            (AGO[1], 2 * DAY_S, False),
        ),
        ((post(2, 0.5, kind="repost"), post(1, 1, kind="repost")), (0, 0, False)),
    ],
)
def test_the_habit_is_the_median_gap_between_the_newest_own_posts(posts, habit) -> None:
    assert posting_habit(posts) == habit


def test_only_the_newest_ten_posts_count() -> None:
    daily = [post(n, 20 - n) for n in range(11, 21)]  # the newest ten: a post a day
    older = [post(n, 60 - 5 * n) for n in range(1, 11)]  # weekly before that
    assert posting_habit(daily + older)[1] == DAY_S


def test_the_cursor_keeps_its_habit_when_a_read_shows_no_posts() -> None:
    first = Cursor("s")
    note_waiting(first, None, observed(post(2, 1), post(1, 4, open_=False)))
    assert (first.posted_at, first.post_gap, first.comments_closed) == (AGO[1], 3 * DAY_S, False)
    assert Cursor.from_bytes(first.to_bytes()) == first
    later = Cursor("s2")
    note_habit(later, first, [])  # the page was down, or the wall unreadable
    assert (later.posted_at, later.post_gap, later.comments_closed) == (AGO[1], 3 * DAY_S, False)
    closed = Cursor("s3")
    note_habit(closed, first, observed(post(3, 0.1, open_=False), post(2, 1)))
    assert closed.comments_closed and closed.post_gap == int(0.9 * DAY_S)


def test_an_older_cursor_reads_with_the_habit_unknown() -> None:
    old = b'{"sweep":"s","last_post":5,"comments":{},"read_at":100,"active_at":90}'
    cursor = Cursor.from_bytes(old)
    assert (cursor.posted_at, cursor.post_gap, cursor.comments_closed) == (0, 0, False)
    assert posting_within(cursor, POLICY) == POLICY.active_within_s
    assert not {b"posted_at", b"post_gap", b"comments_closed"} & set(cursor.to_bytes().split(b'"'))


def cursor(
    quiet_days: float, gap_days: float, *, closed: bool = False, comments=None, active=None
) -> Cursor:
    """Read an hour ago; its newest own post ``quiet_days`` ago, one every ``gap_days``; its
    newest activity of any kind ``active`` days ago (default: that post)."""
    now = T0.timestamp()
    return Cursor(
        "s",
        comments={"7": 2} if comments is None else comments,
        read_at=int(now - HOUR),
        active_at=int(now - (quiet_days if active is None else active) * DAY_S),
        posted_at=int(now - quiet_days * DAY_S),
        post_gap=int(gap_days * DAY_S),
        comments_closed=closed,
    )


@pytest.mark.parametrize(
    ("page", "posting", "target_h"),
    [
        (cursor(1, 0), True, 16),  # habit unknown: posting for two days, as before
        (cursor(3, 0), False, 72),
        (cursor(3, 0.5), True, 16),  # a post every half day, silent for three: a lull
        (cursor(3.5, 0.5), False, 72),  # six gaps: stopped
        (cursor(4, 5), True, 16),  # a post every five days, four days since the last
        (cursor(11, 5), True, 16),  # six gaps: thirty days, but twelve at most
        (cursor(13, 5), False, 72),
        (cursor(13, 5, active=1), True, 16),  # a repost yesterday: active all the same
        (cursor(4, 5, closed=True), True, 72),  # takes no comments: nothing to answer
        (cursor(4, 5, comments={}), True, 20),  # no comment seen yet
    ],
)
def test_a_page_posting_every_few_days_is_read_as_a_conversation(page, posting, target_h) -> None:
    now = T0.timestamp()
    assert posts_still(page, now, POLICY) is posting
    assert target_interval(page, now, POLICY) == target_h * HOUR
    assert (poll_interval(page, now, POLICY) == 0) is posting  # due every sweep while it posts


def test_a_short_budget_reads_the_posting_pages_before_the_quiet_ones() -> None:
    """Both read 20 h ago: the weekly poster is past its 16 h target, the stopped page is not."""
    pages = [
        c.PageRef(platform=c.Platform.VK, native_id=str(210_000_000 + n), org_id="1")
        for n in range(2)
    ]
    now = T0.timestamp()
    weekly = cursor(4, 5)
    stopped = cursor(20, 5)
    weekly.read_at = stopped.read_at = int(now - 26 * HOUR)
    plan = due_pages(
        pages,
        {cursor_key(pages[0]): stopped, cursor_key(pages[1]): weekly},
        now,
        POLICY,
        budget_left=1,
    )
    assert plan.due == [pages[1]] and plan.deferred == 1
