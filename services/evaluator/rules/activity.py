"""Rules on a page's recent posts (``evaluate_activity``): freshness (STALE), the posting floor
(LOW_FREQUENCY), reposts, comments closed on posts; engagement against the page's cohort
(``evaluate_engagement``); and the scorecard's «Частотность»."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gospublic.contracts import Platform, PostsObserved

from ..profiles import Profile
from .catalogue import (
    COMMENTS_CLOSED_POSTS,
    FAIL,
    LOW_ENGAGEMENT,
    LOW_FREQUENCY,
    NOT_EVALUABLE,
    NOT_EXPOSED,
    PAGE_RULE_PLATFORMS,
    PASS,
    REPORTED_WITH_POSTS,
    REPOST_HEAVY,
    STALE,
)
from .results import (
    DAY_MS,
    DAY_S,
    WEEK_MS,
    RuleResult,
    _exposed,
    _fmt,
    _result,
    epoch_ms,
    not_exposed,
    posted_ms,
)
from .wall import Wall


def evaluate_activity(
    posts: PostsObserved,
    profile: Profile,
    now: datetime,
    posted: Sequence[int] | None = None,
    level: str = "",
) -> list[RuleResult]:
    """STALE, LOW_FREQUENCY, REPOST_HEAVY, COMMENTS_CLOSED_POSTS from the posts the platform returned.

    ``posted`` is ``posted_ms(posts.posts)`` when the caller has it already; ``level`` is the
    organisation's level, for a per-level posting floor. LOW_ENGAGEMENT needs the page's cohort:
    see ``evaluate_engagement``.
    """
    if posts.platform not in PAGE_RULE_PLATFORMS:
        return []
    items = posts.posts
    posted = posted_ms(items) if posted is None else posted
    now_ms = epoch_ms(now)
    rule = profile.rule
    out: list[RuleResult] = []
    wall = Wall.of(posts, posted)

    if (config := rule(STALE)) is not None:
        out.append(_stale(wall, now_ms, config))

    if (config := rule(LOW_FREQUENCY)) is not None:
        out.append(_frequency(wall, now_ms, config, level))

    if (config := rule(REPOST_HEAVY)) is not None:
        since = now_ms - config.weeks * WEEK_MS
        recent = [p for p, ms in wall.page_posts if ms >= since]
        threshold = f"<= {config.max_share:.0%} за {config.weeks} нед."
        if wall.covers_less_than(since):
            days = (now_ms - wall.edge_ms) / DAY_MS
            summary = (
                f"Платформа показала записи только за {days:.0f} дн. ({wall.shown_note}), а стена "
                f"длиннее: долю репостов за {config.weeks} нед. не посчитать."
            )
            out.append(
                _result(REPOST_HEAVY, NOT_EVALUABLE, config.severity, "", threshold, summary)
            )
        elif not recent:
            summary = (
                f"За {config.weeks} нед. нет записей страницы ({wall.shown_note}): долю репостов "
                "не посчитать."
            )
            out.append(
                _result(REPOST_HEAVY, NOT_EVALUABLE, config.severity, "", threshold, summary)
            )
        else:
            reposts = sum(1 for p in recent if p.is_repost)
            share = reposts / len(recent)
            value = (
                f"{share:.0%} (репостов {reposts} из {len(recent)} записей страницы; "
                f"{wall.shown_note})"
            )
            if share > config.max_share:
                summary = (
                    f"Репосты — {share:.0%} записей страницы за {config.weeks} нед.: публикуйте "
                    "больше собственных материалов."
                )
                out.append(_result(REPOST_HEAVY, FAIL, config.severity, value, threshold, summary))
            else:
                out.append(_result(REPOST_HEAVY, PASS, config.severity, value, threshold,
                                   "Собственных публикаций достаточно."))  # fmt: skip

    if (config := rule(COMMENTS_CLOSED_POSTS)) is not None:
        latest = sorted(wall.page_posts, key=lambda x: x[1], reverse=True)
        last = [p for p, _ in latest[: config.last_posts]]
        threshold = f"<= {config.max_share:.0%} из {config.last_posts}"
        if not last:
            summary = (
                f"Записей страницы нет ({wall.shown_note}): долю закрытых комментариев не "
                "посчитать."
            )
            out.append(
                _result(COMMENTS_CLOSED_POSTS, NOT_EVALUABLE, config.severity, "", threshold,
                        summary)
            )  # fmt: skip
        elif len(last) < config.last_posts and not wall.complete:
            # Fewer of the page's posts shown than the rule's last N, on a longer wall: the rest
            # may have comments open or closed, so only a share that holds either way counts.
            closed = sum(1 for p in last if not p.comments_open)
            unseen = config.last_posts - len(last)
            low, high = closed / config.last_posts, (closed + unseen) / config.last_posts
            value = (
                f"{low:.0%}–{high:.0%} (закрыты у {closed} из {len(last)} показанных записей "
                f"страницы из последних {config.last_posts}; {wall.shown_note})"
            )
            if low > config.max_share:
                summary = (
                    f"Комментарии закрыты не менее чем у {low:.0%} последних записей страницы: "
                    "откройте комментарии, чтобы жители могли задать вопрос."
                )
                out.append(
                    _result(COMMENTS_CLOSED_POSTS, FAIL, config.severity, value, threshold, summary)
                )
            elif high <= config.max_share:
                out.append(_result(COMMENTS_CLOSED_POSTS, PASS, config.severity, value, threshold,
                                   "Комментарии открыты."))  # fmt: skip
            else:
                summary = (
                    f"Платформа показала только {len(last)} записей страницы из последних "
                    f"{config.last_posts}: долю закрытых комментариев не посчитать."
                )
                out.append(
                    _result(COMMENTS_CLOSED_POSTS, NOT_EVALUABLE, config.severity, value,
                            threshold, summary)
                )  # fmt: skip
        else:
            closed = sum(1 for p in last if not p.comments_open)
            share = closed / len(last)
            value = (
                f"{share:.0%} (закрыты у {closed} из {len(last)} последних записей страницы; "
                f"{wall.shown_note})"
            )
            if share > config.max_share:
                summary = (
                    f"Комментарии закрыты у {share:.0%} последних записей страницы: откройте "
                    "комментарии, чтобы жители могли задать вопрос."
                )
                out.append(
                    _result(COMMENTS_CLOSED_POSTS, FAIL, config.severity, value, threshold, summary)
                )
            else:
                out.append(_result(COMMENTS_CLOSED_POSTS, PASS, config.severity, value, threshold,
                                   "Комментарии открыты."))  # fmt: skip
    hidden = NOT_EXPOSED.get(posts.platform)
    if hidden:
        out = _exposed(out, hidden, {})
        out.extend(
            not_exposed(posts.platform, REPORTED_WITH_POSTS.get(posts.platform, ()), profile)
        )
    return out


def _grade(grades, age_days: float):
    """The graded failure for an age (grades sorted by days, largest first), or None."""
    return next((g for g in grades if age_days >= g.days), None)


def _stale(wall: Wall, now_ms: int, config) -> RuleResult:
    grades = config.grades  # sorted by days, largest first
    threshold = "/".join(f"{g.days:g}d" for g in reversed(grades))
    mildest = grades[-1].severity
    note = wall.shown_note
    newest = max((ms for _, ms in wall.own), default=None)
    in_span = any(
        not p.is_pinned and wall.edge_ms is not None and ms >= wall.edge_ms for p, ms in wall.own
    )
    pinned_inside = newest is not None and wall.edge_ms is not None and newest >= wall.edge_ms
    if wall.complete or in_span or pinned_inside:
        # The newest own post is known: every post is shown, or one lies within the span shown
        # (nothing beyond the span can be newer than it).
        if newest is None:
            summary = (
                "На стене нет собственных публикаций (только репосты, записи жителей или пусто): "
                "публикуйте новости организации регулярно."
            )
            value = f"нет ({note})"
            return _result(STALE, FAIL, config.no_own_posts_severity, value, threshold, summary)
        age_days = (now_ms - newest) / 1000 / DAY_S
        value = f"{age_days:.1f}d ({note})"
        grade = _grade(grades, age_days)
        if grade is None:
            return _result(STALE, PASS, mildest, value, threshold, "Страница обновляется.")
        summary = (
            f"Последняя собственная публикация — {int(age_days)} дн. назад "
            f"(допустимо менее {grades[-1].days:g}): публикуйте новости регулярно."
        )
        return _result(STALE, FAIL, grade.severity, value, threshold, summary)
    # More posts than shown and no own post among the unpinned ones: the newest own post is older
    # than the span shown (and, if an older own post is pinned, no older than that one).
    if wall.edge_ms is None:
        summary = (
            f"Платформа не вернула записей со стены ({note}), хотя они есть: давность "
            "публикаций не определить."
        )
        return _result(STALE, NOT_EVALUABLE, mildest, "", threshold, summary)
    span_days = (now_ms - wall.edge_ms) / 1000 / DAY_S
    at_least = _grade(grades, span_days)
    at_most = None if newest is None else _grade(grades, (now_ms - newest) / 1000 / DAY_S)
    value = f">= {span_days:.1f}d ({note})"
    if newest is not None and at_most is None:
        # A pinned own post younger than the first grade: whatever lies beyond the span, the
        # newest own post is at least that fresh.
        age_days = (now_ms - newest) / 1000 / DAY_S
        value = f"<= {age_days:.1f}d ({note})"
        return _result(STALE, PASS, mildest, value, threshold, "Страница обновляется.")
    if at_least is None:
        summary = (
            f"За {span_days:.0f} дн., которые показала платформа, собственных публикаций нет "
            f"({note}); более ранние записи не получены: давность не определить."
        )
        return _result(STALE, NOT_EVALUABLE, mildest, value, threshold, summary)
    exact = newest is not None and at_most is at_least
    summary = (
        f"Собственных публикаций нет {'' if exact else 'как минимум '}{int(span_days)} дн. "
        f"(показанные платформой записи за этот срок — только репосты и записи жителей; "
        f"допустимо менее {grades[-1].days:g}): публикуйте новости регулярно."
    )
    return _result(STALE, FAIL, at_least.severity, value, threshold, summary)


def _frequency(wall: Wall, now_ms: int, config, level: str) -> RuleResult:
    floor = config.by_level.get(level, config.min_posts_per_week)
    weeks = config.weeks
    since = now_ms - weeks * WEEK_MS
    own = sum(1 for _, ms in wall.own if ms >= since)
    rate = own / weeks
    value = f"{rate:g}/нед. ({own} за {weeks} нед.; {wall.shown_note})"
    threshold = f">= {_fmt(floor)}/нед. за {weeks} нед."
    if rate >= floor:
        return _result(LOW_FREQUENCY, PASS, config.severity, value, threshold,
                       "Публикации выходят достаточно часто.")  # fmt: skip
    # The platform returned only the latest posts: if they all fall inside the window, more may
    # lie beyond them, and a low count proves nothing.
    if wall.covers_less_than(since):
        days = (now_ms - wall.edge_ms) / DAY_MS
        summary = (
            f"Платформа вернула только {wall.shown} последних записей за {days:.0f} дн. — "
            f"меньше окна в {weeks} нед.: частоту не посчитать."
        )
        return _result(LOW_FREQUENCY, NOT_EVALUABLE, config.severity, value, threshold, summary)
    summary = (
        f"Собственных публикаций — {rate:g} в неделю за последние {weeks} нед. (нужно не менее "
        f"{_fmt(floor)}): публикуйте новости регулярно."
    )
    return _result(LOW_FREQUENCY, FAIL, config.severity, value, threshold, summary)


def _rate_of(value: str) -> float:
    """The posts-a-week figure a LOW_FREQUENCY value starts with ("2.5/нед. (…)")."""
    return float(value.split("/", 1)[0])


def frequency_score(
    posts: PostsObserved,
    posted: Sequence[int],
    now: datetime,
    profile: Profile,
    level: str = "",
    results: Sequence[RuleResult] = (),
) -> float | None:
    """«Частотность»: min(1, own posts per week / the profile's floor).

    Reads the LOW_FREQUENCY verdict's rate from ``results`` when the caller has it.
    """
    config = profile.rules.low_frequency
    if config is None:
        return None
    floor = config.by_level.get(level, config.min_posts_per_week)
    done = next((x for x in results if x.rule == LOW_FREQUENCY), None)
    if done is not None:
        return min(1.0, _rate_of(done.value) / floor)
    since = epoch_ms(now) - config.weeks * WEEK_MS
    own = sum(
        1
        for p, ms in zip(posts.posts, posted, strict=True)
        if ms >= since and p.is_own and not p.is_repost
    )
    return min(1.0, own / config.weeks / floor)


def engagement_rate(posts: PostsObserved, members: int | None) -> float | None:
    """Reactions (likes, reposts, comments) per own post, per subscriber; None without data."""
    if LOW_ENGAGEMENT in NOT_EXPOSED.get(posts.platform, {}):
        return None
    own = [p for p in posts.posts if p.is_own and not p.is_repost]
    if not own or not members or members <= 0:
        return None
    reactions = sum(p.likes + p.reposts + p.comments_count for p in own)
    return reactions / len(own) / members


def evaluate_engagement(
    rate: float | None,
    rank: float | None,
    cohort_size: int,
    profile: Profile,
    platform: str = Platform.VK,
    shown: str = "",
) -> list[RuleResult]:
    """LOW_ENGAGEMENT: the page's ER in the bottom ``bottom_percent`` of its cohort.

    ER counts the page's own posts only; ``shown`` (``shown_note``) says how many of the posts
    shown those were, for the value.

    ``rank`` is the share (0..1) of the cohort's pages with a lower ER. A cohort smaller than
    ``min_cohort`` (e.g. early in a sweep) says nothing. Cohorts are per platform: audiences and
    reactions differ between them.
    """
    config = profile.rule(LOW_ENGAGEMENT)
    if config is None:
        return []
    if LOW_ENGAGEMENT in NOT_EXPOSED.get(platform, {}):
        return not_exposed(platform, (LOW_ENGAGEMENT,), profile)
    threshold = f"> нижних {_fmt(config.bottom_percent)}% когорты"
    if rate is None:
        summary = "Нет собственных публикаций или числа подписчиков: вовлечённость не посчитать."
        return [_result(LOW_ENGAGEMENT, NOT_EVALUABLE, config.severity, "", threshold, summary)]
    if rank is None or cohort_size < config.min_cohort:
        summary = (
            f"В когорте (уровень, сфера, регион) {cohort_size} стр. — меньше "
            f"{config.min_cohort}: сравнивать не с чем."
        )
        value = f"ER {rate:.4%}" + (f" ({shown})" if shown else "")
        return [_result(LOW_ENGAGEMENT, NOT_EVALUABLE, config.severity, value, threshold, summary)]
    value = f"ER {rate:.4%}, {rank:.0%} когорты ниже" + (f" ({shown})" if shown else "")
    if rank * 100 < config.bottom_percent:
        summary = (
            f"Вовлечённость ниже, чем у {100 - rank * 100:.0f}% похожих страниц: публикуйте "
            "материалы, интересные жителям, и отвечайте на комментарии."
        )
        return [_result(LOW_ENGAGEMENT, FAIL, config.severity, value, threshold, summary)]
    return [_result(LOW_ENGAGEMENT, PASS, config.severity, value, threshold,
                    "Вовлечённость на уровне похожих страниц.")]  # fmt: skip
