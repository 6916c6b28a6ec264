"""Working-hour SLAs on dates at the edge of what a date can hold: VK answers with a ``date`` of
253402297200 (year 9999) exist, and an SLA must neither raise nor walk millennia day by day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile
from services.evaluator.workcal import HORIZON, WorkCalendar, elapsed_hours

YEAR_9999 = datetime.fromtimestamp(253402297200, UTC)  # 9999-12-31 23:00 UTC: year 10000 in Moscow
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CALENDAR = WorkCalendar()


# A far date must not be walked day by day: the timeout catches a count that would take years.
@pytest.mark.timeout(30)
@pytest.mark.parametrize("tz", ["Europe/Moscow", "Asia/Kamchatka", "America/Los_Angeles"])
def test_a_year_9999_date_counts_up_to_the_horizon_quickly(tz: str) -> None:
    hours = CALENDAR.working_hours(NOW, YEAR_9999, tz)
    assert hours == CALENDAR.working_hours(NOW, NOW + HORIZON, tz)
    assert 3000 < hours < 5000  # two years of 9-hour working days


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("since", "until"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), NOW),
        (datetime(1, 1, 1, tzinfo=UTC), YEAR_9999),
        (YEAR_9999 - timedelta(hours=5), YEAR_9999),
        (datetime.max.replace(tzinfo=UTC) - timedelta(days=3), datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_dates_at_the_ends_of_the_calendar_do_not_raise(since, until) -> None:
    for tz in ("Europe/Moscow", "Pacific/Kiritimati", "Pacific/Pago_Pago"):
        assert 0.0 <= CALENDAR.working_hours(since, until, tz) <= HORIZON.days * 24
        assert elapsed_hours(since, until, None) >= 0.0


def test_a_span_within_the_horizon_is_counted_exactly() -> None:
    # Monday 9:00 to the next Monday 9:00 (Moscow): five working days of nine hours.
    since = datetime(2026, 2, 16, 6, 0, tzinfo=UTC)
    assert CALENDAR.working_hours(since, since + timedelta(days=7)) == pytest.approx(45.0)


@pytest.mark.timeout(30)
def test_a_page_reply_dated_year_9999_gives_verdicts_not_an_error() -> None:
    """Through the mapping: VK's answer with the page's reply at 253402297200."""
    gid = 1
    response = {
        "count": 2,
        "current_level_count": 1,
        "items": [
            {"id": 1, "from_id": 501, "date": int((NOW - timedelta(days=2)).timestamp()),
             "text": "Вопрос", "post_id": 5, "owner_id": -gid, "parents_stack": [],
             "thread": {"count": 1, "items": [
                 {"id": 2, "from_id": -gid, "date": 253402297200, "text": "Ответ", "post_id": 5,
                  "owner_id": -gid, "parents_stack": [1], "reply_to_comment": 1},
             ]}},
        ],
    }  # fmt: skip
    pages = vn.CommentPages(gid)
    pages.add(response, "5")
    ref = c.PageRef(platform=c.Platform.VK, native_id="club1", org_id="1023601234567")
    event = pages.build(ref, "s", NOW)
    strict = load_profile("bashkortostan-2025")  # working-hour SLAs
    results = {x.rule: x for x in r.evaluate_comments(event, strict, NOW, CALENDAR)}
    # The reply dated year 9999 counts as two years of working hours: late, and no error.
    assert results[r.UNANSWERED_COMMENT].status == r.FAIL
