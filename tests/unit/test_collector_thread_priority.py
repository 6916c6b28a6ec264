"""Pages with a citizen's comment ageing towards the reply deadline are read every sweep and go
first within the budget; the cursor remembers which posts hold such comments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from services.collector.cursors import Cursor, cursor_key, note_waiting
from services.collector.scheduler import (
    DAY_S,
    PollPolicy,
    due_pages,
    overdue,
    poll_interval,
    thread_ageing,
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
