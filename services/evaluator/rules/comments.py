"""The comment rules of section D (``evaluate_comments``): UNANSWERED_COMMENT with its deadline
warning, SLOW_RESPONSE_MEDIAN, LOW_REPLY_RATE; and the scorecard's «Отклик»."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from gospublic.contracts import CommentsObserved

from ..profiles import Profile
from ..workcal import WorkCalendar, elapsed_hours
from .answers import _comments_word, event_answers
from .catalogue import (
    FAIL,
    LOW_REPLY_RATE,
    NOT_EVALUABLE,
    NOT_EXPOSED,
    PAGE_RULE_PLATFORMS,
    PASS,
    SLOW_RESPONSE_MEDIAN,
    UNANSWERED_COMMENT,
    UNANSWERED_COMMENT_SOON,
)
from .deadline import deadline_warning
from .results import RuleResult, _exposed, _fmt, _result


def evaluate_comments(
    event: CommentsObserved,
    profile: Profile,
    now: datetime,
    calendar: WorkCalendar | None = None,
    timezone: str = "",
) -> list[RuleResult]:
    """UNANSWERED_COMMENT (and its warning UNANSWERED_COMMENT_SOON), SLOW_RESPONSE_MEDIAN,
    LOW_REPLY_RATE from one page's recent comments.

    A request without a visible answer where the data lacks part of its post (``Answer.unseen``)
    counts neither way: a verdict that would depend on it is ``not_evaluable``.
    """
    if event.platform not in PAGE_RULE_PLATFORMS:
        return []
    rule = profile.rule
    tz = timezone or profile.calendar.default_timezone
    answers = event_answers(event, profile)
    known = [a for a in answers if not a.unseen]
    unseen = [a for a in answers if a.unseen]
    out: list[RuleResult] = []
    why = []
    if any(a.comment.post_id not in event.unknown_posts for a in unseen):
        why.append("ветки ответов или часть комментариев не загружены, ответ может быть в них")
    if any(a.comment.post_id in event.unknown_posts for a in unseen):
        why.append("записи, под которыми они оставлены, не переданы: неизвестно, чьи это записи")
    unread = "; ".join(why)

    def hours(since: datetime, until: datetime, working: bool) -> float:
        return elapsed_hours(since, until, calendar if working else None, tz)

    if (config := rule(UNANSWERED_COMMENT)) is not None:
        unit = "раб. ч" if config.working_hours else "ч"
        threshold = f"<= {_fmt(config.hours)} {unit}"
        window = now - timedelta(days=config.window_days)
        late = []
        for a in known:
            if a.comment.posted_at < window:
                continue
            waited = hours(a.comment.posted_at, a.replied_at or now, config.working_hours)
            if waited > config.hours:
                late.append((waited, a))
        # Requests that would be late if no answer hides in the part not read.
        doubtful = [
            a
            for a in unseen
            if a.comment.posted_at >= window
            and hours(a.comment.posted_at, now, config.working_hours) > config.hours
        ]
        if late:
            worst, a = max(late, key=lambda x: x[0])
            state = "без ответа" if a.replied_at is None else "с опозданием"
            summary = (
                f"{_comments_word(len(late))} жителей {state} дольше {_fmt(config.hours)} {unit} "
                f"(самый долгий — {worst:.0f} {unit}): ответьте от имени сообщества."
            )
            value = f"{len(late)} шт., до {worst:.1f} {unit}"
            out.append(
                _result(UNANSWERED_COMMENT, FAIL, config.severity, value, threshold, summary)
            )
        elif doubtful:
            summary = (
                f"{_comments_word(len(doubtful))} жителей без видимого ответа дольше "
                f"{_fmt(config.hours)} {unit}, но {unread}."
            )
            out.append(
                _result(UNANSWERED_COMMENT, NOT_EVALUABLE, config.severity,
                        f"{len(doubtful)} не проверить", threshold, summary)
            )  # fmt: skip
        else:
            out.append(_result(UNANSWERED_COMMENT, PASS, config.severity, 0, threshold,
                               "На комментарии жителей отвечают вовремя."))  # fmt: skip

    sla = rule(UNANSWERED_COMMENT)
    if sla is not None and (config := rule(UNANSWERED_COMMENT_SOON)) is not None:
        out.append(deadline_warning(sla, config, known, unseen, unread, now, hours))

    if (config := rule(SLOW_RESPONSE_MEDIAN)) is not None:
        unit = "раб. ч" if config.working_hours else "ч"
        threshold = f"медиана <= {_fmt(config.hours)} {unit} за {config.days} дн."
        since = now - timedelta(days=config.days)
        # An unanswered comment has waited at least until now: a lower bound, safe to count.
        times = [
            hours(a.comment.posted_at, a.replied_at or now, config.working_hours)
            for a in known
            if a.comment.posted_at >= since
        ]
        # A request whose answer may be unread took anywhere from no time to all of it so far:
        # the median is judged at both ends.
        open_ = [
            hours(a.comment.posted_at, now, config.working_hours)
            for a in unseen
            if a.comment.posted_at >= since
        ]
        if not times and not open_:
            summary = f"За {config.days} дн. нет комментариев жителей: время ответа не измерить."
            out.append(
                _result(SLOW_RESPONSE_MEDIAN, NOT_EVALUABLE, config.severity, "", threshold,
                        summary)
            )  # fmt: skip
        else:
            fastest = statistics.median(times + [0.0] * len(open_))
            slowest = statistics.median(times + open_)
            value = f"{slowest:.1f} {unit}" if fastest == slowest else (
                f"{fastest:.1f}–{slowest:.1f} {unit}"
            )  # fmt: skip
            if fastest > config.hours:
                summary = (
                    f"Медианное время ответа — {value} (нужно не более "
                    f"{_fmt(config.hours)}): отвечайте жителям быстрее."
                )
                out.append(
                    _result(SLOW_RESPONSE_MEDIAN, FAIL, config.severity, value, threshold, summary)
                )
            elif slowest > config.hours:
                summary = f"Медианное время ответа — {value}: не измерить точнее, {unread}."
                out.append(
                    _result(SLOW_RESPONSE_MEDIAN, NOT_EVALUABLE, config.severity, value,
                            threshold, summary)
                )  # fmt: skip
            else:
                out.append(_result(SLOW_RESPONSE_MEDIAN, PASS, config.severity, value, threshold,
                                   "Отвечают быстро."))  # fmt: skip

    if (config := rule(LOW_REPLY_RATE)) is not None:
        within = timedelta(days=config.within_days)
        threshold = f">= {config.min_share:.0%} за {_fmt(config.within_days)} дн."
        # A comment younger than the allowance and still unanswered cannot count either way yet.
        judged = [
            a for a in known if a.replied_at is not None or now - a.comment.posted_at >= within
        ]
        # One whose answer may be unread counts as answered for the best case, not for the worst.
        maybe = sum(1 for a in unseen if now - a.comment.posted_at >= within)
        if not judged and not maybe:
            summary = "Нет комментариев жителей, по которым срок ответа уже прошёл."
            out.append(_result(LOW_REPLY_RATE, NOT_EVALUABLE, config.severity, "", threshold,
                               summary))  # fmt: skip
        else:
            answered = sum(
                1
                for a in judged
                if a.replied_at is not None and a.replied_at - a.comment.posted_at <= within
            )
            total = len(judged) + maybe
            worst, best = answered / total, (answered + maybe) / total
            value = f"{worst:.0%} ({answered}/{total})"
            if maybe:
                value = f"{worst:.0%}–{best:.0%} ({answered}–{answered + maybe}/{total})"
            if best < config.min_share:
                summary = (
                    f"Ответ получили {value} комментариев жителей (нужно не менее "
                    f"{config.min_share:.0%}): отвечайте на каждый вопрос."
                )
                out.append(
                    _result(LOW_REPLY_RATE, FAIL, config.severity, value, threshold, summary)
                )
            elif worst < config.min_share:
                summary = f"Ответ получили {value} комментариев жителей: {unread}."
                out.append(
                    _result(LOW_REPLY_RATE, NOT_EVALUABLE, config.severity, value, threshold,
                            summary)
                )  # fmt: skip
            else:
                out.append(_result(LOW_REPLY_RATE, PASS, config.severity, value, threshold,
                                   "Почти на все комментарии отвечают."))  # fmt: skip
    hidden = NOT_EXPOSED.get(event.platform)
    return _exposed(out, hidden, {}) if hidden else out


def response_score(
    event: CommentsObserved,
    profile: Profile,
    now: datetime,
    calendar: WorkCalendar | None = None,
    timezone: str = "",
) -> float | None:
    """«Отклик»: share answered within the SLA × share answered at all (None without comments);
    requests whose answer may be unread are left out of both."""
    answers = [a for a in event_answers(event, profile) if not a.unseen]
    if not answers:
        return None
    sla = profile.rules.unanswered_comment
    hours_allowed = sla.hours if sla is not None else 24.0
    working = sla.working_hours if sla is not None else False
    tz = timezone or profile.calendar.default_timezone
    replied = [a for a in answers if a.replied_at is not None]
    in_time = sum(
        1
        for a in replied
        if elapsed_hours(a.comment.posted_at, a.replied_at, calendar if working else None, tz)
        <= hours_allowed
    )
    return (in_time / len(answers)) * (len(replied) / len(answers))
