"""UNANSWERED_COMMENT_SOON: the warning raised while a citizen's request can still be answered in
time, on an injected clock. It speaks of the band between the profile's share of the SLA and the
deadline: an answer resolves it, and past the deadline UNANSWERED_COMMENT takes over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gospublic.contracts import Comment, CommentsObserved, PageRef, Platform
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile
from services.evaluator.rules.deadline import _hours_left
from services.evaluator.workcal import WorkCalendar

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
REF = PageRef(platform=Platform.VK, native_id="club210000123", org_id="1023601234567")
DEFAULT = load_profile("dialog-default")  # 24 wall-clock hours, warning from 75 %
CALENDAR = WorkCalendar()
MSK = timedelta(hours=3)


def at_msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - MSK


def event(
    asked: datetime, answered: datetime | None, now: datetime, **unread: tuple[str, ...]
) -> CommentsObserved:
    items = [
        Comment(comment_id="1", post_id="9", from_id="501", author_kind="citizen", posted_at=asked)
    ]
    if answered is not None:
        items.append(
            Comment(comment_id="2", post_id="9", from_id="-210000123", author_kind="page",
                    reply_to="1", posted_at=answered)
        )  # fmt: skip
    return CommentsObserved.create(
        observed_at=now, platform=Platform.VK, page_ref=REF, sweep_id="s", page_id="210000123",
        comments=tuple(items), **unread,
    )  # fmt: skip


def verdicts(ev: CommentsObserved, profile, now: datetime) -> dict[str, r.RuleResult]:
    return {x.rule: x for x in r.evaluate_comments(ev, profile, now, CALENDAR)}


def working_profile(tmp_path: Path, share: float = 0.75):
    path = tmp_path / "sla.yaml"
    path.write_text(
        "rules:\n"
        "  UNANSWERED_COMMENT: {enabled: true, severity: high, hours: 8, working_hours: true, "
        "window_days: 30}\n"
        f"  UNANSWERED_COMMENT_SOON: {{enabled: true, severity: warning, share: {share}}}\n"
    )
    return load_profile(str(path))


@pytest.mark.parametrize(
    ("waited", "replied_after", "warning", "sla", "left"),
    [
        (18 * H - M, None, r.PASS, r.PASS, None),  # just before 75 % of 24 h
        (18 * H, None, r.FAIL, r.PASS, "осталось 6 часов"),  # at 75 %
        (22 * H + 30 * M, None, r.FAIL, r.PASS, "остался 1 час"),
        (23 * H + 30 * M, None, r.FAIL, r.PASS, "остался меньше часа"),
        (24 * H, None, r.FAIL, r.PASS, "остался меньше часа"),  # the deadline itself
        (20 * H, 19 * H, r.PASS, r.PASS, None),  # answered in time
        (24 * H + M, None, r.PASS, r.FAIL, None),  # past the deadline: the SLA rule fails
        (30 * H, 26 * H, r.PASS, r.FAIL, None),  # answered late: nothing left to warn about
    ],
)
def test_warning_in_wall_clock_hours(waited, replied_after, warning, sla, left) -> None:
    asked = NOW - waited
    answered = asked + replied_after if replied_after is not None else None
    results = verdicts(event(asked, answered, NOW), DEFAULT, NOW)
    soon = results[r.UNANSWERED_COMMENT_SOON]
    assert (soon.status, results[r.UNANSWERED_COMMENT].status) == (warning, sla)
    assert soon.severity == "warning"
    if left is not None:
        assert f"до срока {left}" in soon.summary
        assert soon.summary.startswith("1 комментарий жителей без ответа")


@pytest.mark.parametrize(
    ("now", "warning", "sla", "left"),
    [
        # Friday 17:00, 8 working hours: 1 h on Friday, the rest from Monday 9:00; 75 % is 6 h.
        ("2026-02-28T12:00", r.PASS, r.PASS, None),  # the weekend does not count
        ("2026-03-01T23:00", r.PASS, r.PASS, None),
        ("2026-03-02T13:59", r.PASS, r.PASS, None),
        ("2026-03-02T14:00", r.FAIL, r.PASS, "осталось 2 рабочих часа"),
        ("2026-03-02T15:30", r.FAIL, r.PASS, "остался меньше рабочего часа"),
        ("2026-03-02T16:01", r.PASS, r.FAIL, None),
    ],
)
def test_warning_in_working_hours_over_a_weekend(tmp_path, now, warning, sla, left) -> None:
    profile = working_profile(tmp_path)
    results = verdicts(event(at_msk("2026-02-27T17:00"), None, at_msk(now)), profile, at_msk(now))
    soon = results[r.UNANSWERED_COMMENT_SOON]
    assert (soon.status, results[r.UNANSWERED_COMMENT].status) == (warning, sla)
    if left is not None:
        assert f"до срока {left}" in soon.summary
        assert "раб. ч" in soon.threshold


def test_the_share_comes_from_the_profile(tmp_path) -> None:
    profile = working_profile(tmp_path, share=0.5)  # from 4 working hours of 8
    asked = at_msk("2026-03-02T09:00")
    results = verdicts(
        event(asked, None, at_msk("2026-03-02T13:00")), profile, at_msk("2026-03-02T13:00")
    )
    assert results[r.UNANSWERED_COMMENT_SOON].status == r.FAIL
    assert "осталось 4 рабочих часа" in results[r.UNANSWERED_COMMENT_SOON].summary
    assert (
        verdicts(
            event(asked, None, at_msk("2026-03-02T12:59")), profile, at_msk("2026-03-02T12:59")
        )[r.UNANSWERED_COMMENT_SOON].status
        == r.PASS
    )


@pytest.mark.parametrize(
    "unread",
    [{"partial_threads": ("1",)}, {"partial_posts": ("9",)}, {"unknown_posts": ("9",)}],
)
def test_a_request_whose_answer_may_be_unread_is_not_evaluable(unread) -> None:
    """As for the SLA rule: an answer may sit in the part not read."""
    results = verdicts(event(NOW - 20 * H, None, NOW, **unread), DEFAULT, NOW)
    assert results[r.UNANSWERED_COMMENT_SOON].status == r.NOT_EVALUABLE
    assert results[r.UNANSWERED_COMMENT_SOON].value == "1 не проверить"
    # Outside the band the unread part changes nothing: no warning is due either way.
    results = verdicts(event(NOW - 2 * H, None, NOW, **unread), DEFAULT, NOW)
    assert results[r.UNANSWERED_COMMENT_SOON].status == r.PASS


def test_off_without_the_sla_rule_and_in_federal_min() -> None:
    federal = load_profile("federal-min")
    assert federal.rule(r.UNANSWERED_COMMENT_SOON) is None
    assert r.UNANSWERED_COMMENT_SOON not in verdicts(event(NOW - 20 * H, None, NOW), federal, NOW)
    for name in ("dialog-default", "bashkortostan-2025"):
        config = load_profile(name).rule(r.UNANSWERED_COMMENT_SOON)
        assert (str(config.severity), config.share) == ("warning", 0.75)


@pytest.mark.parametrize(
    ("left", "working", "text"),
    [
        (21.5, False, "остался 21 час"),
        (2.9, False, "осталось 2 часа"),
        (11.0, False, "осталось 11 часов"),
        (5.0, True, "осталось 5 рабочих часов"),
        (1.2, True, "остался 1 рабочий час"),
        (0.4, False, "остался меньше часа"),
    ],
)
def test_hours_left_in_words(left, working, text) -> None:
    assert _hours_left(left, working) == text


def test_the_warning_severity_is_routable_and_titled() -> None:
    """A subscription may name "warning" exactly (a closed set of severities is checked)."""
    from gospublic.rulebook import severity_title, title
    from services.notifier.email import severity_title as mail_severity
    from services.notifier.subscriptions import parse_matcher

    assert parse_matcher("severity", "warning").matches({"severity": "warning"})
    assert not parse_matcher("severity", "warning").matches({"severity": "high"})
    assert mail_severity("warning") == "предупреждение"
    assert severity_title("warning") == "предупреждение"
    assert title(r.UNANSWERED_COMMENT_SOON) == "Срок ответа на вопрос гражданина подходит к концу"


def test_an_open_warning_does_not_count_as_a_violation_of_the_organisation() -> None:
    from services.evaluator.state import EvaluatorState, OpenViolation

    state = EvaluatorState()
    opened = datetime(2025, 6, 2, tzinfo=UTC)
    for n, (rule, severity) in enumerate(
        [(r.UNANSWERED_COMMENT_SOON, "warning"), (r.UNANSWERED_COMMENT, "high")]
    ):
        slot = ("1023601234567", "vk", "210000123", rule)
        state.open_violation(slot, OpenViolation(str(n), severity, (), opened))
    assert state.open_by_org["1023601234567"] == 1
    state.close_violation(("1023601234567", "vk", "210000123", r.UNANSWERED_COMMENT_SOON))
    assert state.open_by_org["1023601234567"] == 1


def test_gospublic_check_shows_the_time_left_with_a_decimal_comma() -> None:
    from gospublic.apps.check import _value

    assert _value(r.UNANSWERED_COMMENT_SOON, "1 шт., осталось 5.5 ч") == "1 шт., осталось 5,5 ч"
