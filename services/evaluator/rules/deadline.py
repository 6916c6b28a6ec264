"""UNANSWERED_COMMENT_SOON: the warning for citizens' requests close to their answer deadline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from gospublic.rulebook import counted, plural

from .answers import Answer, _comments_word
from .catalogue import FAIL, NOT_EVALUABLE, PASS, UNANSWERED_COMMENT_SOON
from .results import RuleResult, _fmt, _result


def deadline_warning(
    sla,
    config,
    known: Sequence[Answer],
    unseen: Sequence[Answer],
    unread: str,
    now: datetime,
    hours,
) -> RuleResult:
    """UNANSWERED_COMMENT_SOON: requests still unanswered after ``config.share`` of the SLA, whose
    deadline has not passed yet.

    Only the band between the share and the deadline counts: once a comment's deadline passes it
    leaves the band, so the warning resolves as UNANSWERED_COMMENT opens for it (the two never
    speak of the same comment), and an answer resolves it too. ``hours(since, until, working)``
    counts time as the SLA does (working hours by the calendar when the SLA says so).
    """
    unit = "раб. ч" if sla.working_hours else "ч"
    start = sla.hours * config.share
    threshold = f"ответ до {_fmt(start)} {unit} (срок — {_fmt(sla.hours)} {unit})"
    window = now - timedelta(days=sla.window_days)

    def in_band(a: Answer) -> float | None:
        """Hours the request has left before its deadline, when it is in the warning band."""
        if a.replied_at is not None or a.comment.posted_at < window:
            return None
        waited = hours(a.comment.posted_at, now, sla.working_hours)
        return sla.hours - waited if start <= waited <= sla.hours else None

    left = [h for a in known if (h := in_band(a)) is not None]
    if left:
        soonest = min(left)
        summary = (
            f"{_comments_word(len(left))} жителей без ответа: до срока "
            f"{_hours_left(soonest, sla.working_hours)}. Ответьте от имени сообщества."
        )
        value = f"{len(left)} шт., осталось {soonest:.1f} {unit}"
        return _result(UNANSWERED_COMMENT_SOON, FAIL, config.severity, value, threshold, summary)
    doubtful = [a for a in unseen if in_band(a) is not None]
    if doubtful:
        summary = (
            f"{_comments_word(len(doubtful))} жителей без видимого ответа близки к сроку, "
            f"но {unread}."
        )
        return _result(UNANSWERED_COMMENT_SOON, NOT_EVALUABLE, config.severity,
                       f"{len(doubtful)} не проверить", threshold, summary)  # fmt: skip
    return _result(UNANSWERED_COMMENT_SOON, PASS, config.severity, 0, threshold,
                   "Комментариев жителей, близких к сроку ответа, нет.")  # fmt: skip


def _hours_left(left: float, working: bool) -> str:
    """``осталось 5 часов``, ``остался 1 рабочий час``: whole hours, rounded down so the editor is
    never promised more time than there is."""
    if left < 1:
        return "остался меньше рабочего часа" if working else "остался меньше часа"
    n = int(left)
    if working:
        phrase = counted(n, "рабочий час", "рабочих часа", "рабочих часов")
    else:
        phrase = counted(n, "час", "часа", "часов")
    verb = "остался" if plural(n, "1", "2", "5") == "1" else "осталось"
    return f"{verb} {phrase}"
