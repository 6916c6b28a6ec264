"""The foundation compliance rules: pure functions of observed data, a profile and a clock.

Nothing here does I/O. "now" for a rule is the event's ``observed_at``, so replaying the same events
gives the same verdicts. Every threshold comes from the profile (YAML); what stays in code is the
meaning of the platform's own fields (which VK ``wall`` values mean "closed", what a phone looks like).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from gospublic.contracts import (
    Organisation,
    PageSnapshot,
    Platform,
    PostsObserved,
    Unavailability,
)

from .profiles import Profile

PASS = "pass"
FAIL = "fail"
NOT_EVALUABLE = "not_evaluable"

PAGE_MISSING_ANY = "PAGE_MISSING_ANY"
DESCRIPTION_MISSING = "DESCRIPTION_MISSING"
CONTACT_PHONE_MISSING = "CONTACT_PHONE_MISSING"
WALL_CLOSED = "WALL_CLOSED"
STALE = "STALE"

# Page status as the presence rule sees it.
LIVE = "live"
GONE = "gone"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    scope: str  # "organisation" or "page"
    basis: str


_LAW = (
    "8-ФЗ ст. 10 (ред. 270-ФЗ от 14.07.2022); распоряжение Правительства РФ № 2523-р от 02.09.2022"
)
_METHOD = "методика ЦУР / АНО «Диалог Регионы»"

RULES: dict[str, RuleSpec] = {
    spec.id: spec
    for spec in (
        RuleSpec(PAGE_MISSING_ANY, "organisation", _LAW),
        RuleSpec(DESCRIPTION_MISSING, "page", f"{_METHOD}: оформление страницы"),
        RuleSpec(CONTACT_PHONE_MISSING, "page", f"{_METHOD}: контакты в профиле"),
        RuleSpec(WALL_CLOSED, "page", f"{_LAW}; {_METHOD}: обратная связь с гражданами"),
        RuleSpec(STALE, "page", f"8-ФЗ ст. 10: актуальная информация; {_METHOD}"),
    )
}

PROFILE_RULES = (DESCRIPTION_MISSING, CONTACT_PHONE_MISSING, WALL_CLOSED)
ACTIVITY_RULES = (STALE,)
PAGE_RULES = PROFILE_RULES + ACTIVITY_RULES

# Page-level rules read VK fields; other platforms are not collected yet.
PAGE_RULE_PLATFORMS = frozenset({Platform.VK})
# VK ``wall``: 0 off, 1 open, 2 limited, 3 closed.
WALL_CLOSED_VALUES = frozenset({0, 3})
# Platforms whose page satisfies the law's list (government order 2523-r).
LEGAL_PLATFORMS = frozenset({Platform.VK, Platform.OK})

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    status: str  # PASS | FAIL | NOT_EVALUABLE
    severity: str
    value: str
    threshold: str
    basis: str
    summary: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def _result(rule: str, status: str, severity: str, value: object, threshold: object, summary: str):
    return RuleResult(
        rule, status, str(severity), str(value), str(threshold), RULES[rule].basis, summary
    )


# --- phones ------------------------------------------------------------------------------------

# +7 or 8, then exactly ten digits; between digits only spaces, '-', '(' and ')'. The look-arounds
# keep a phone from being cut out of a longer number (OGRN, account numbers) or a date range.
_PHONE = re.compile(r"(?<![\d+])(?:\+7|8)(?:[ \-()]{0,3}\d){10}(?![\d\-]*\d)")


def find_phone(texts: Iterable[str]) -> str | None:
    """The first Russian phone number in any of the texts, as written there."""
    for text in texts:
        if text:
            match = _PHONE.search(text)
            if match:
                return match.group(0)
    return None


# --- presence ----------------------------------------------------------------------------------


def evaluate_presence(
    org: Organisation, page_status: Mapping[str, str], profile: Profile
) -> list[RuleResult]:
    """PAGE_MISSING_ANY for one organisation.

    ``page_status`` maps a page key (``vk:club1``) to live/gone/unknown. A VK page counts unless it
    is known to be gone; an OK page in the register counts (OK is not collected: no evidence, no
    accusation).
    """
    config = profile.rules.page_missing_any
    if config is None or not config.enabled:
        return []
    rule, severity = PAGE_MISSING_ANY, config.severity
    if org.exempt:
        return [
            _result(
                rule,
                PASS,
                severity,
                "exempt",
                "",
                "Организация освобождена от ведения госпабликов.",
            )
        ]
    legal = [p for p in org.pages if p.platform in LEGAL_PLATFORMS]
    live = [p for p in legal if page_status.get(p.key, UNKNOWN) != GONE]
    if live:
        return [_result(rule, PASS, severity, len(live), ">= 1", "Официальная страница есть.")]
    if legal:
        summary = (
            "Официальная страница организации удалена, заблокирована или не найдена, другой "
            "страницы во ВКонтакте или Одноклассниках нет: восстановите или создайте госпаблик "
            "и обновите ссылку в реестре."
        )
    else:
        summary = (
            "У организации нет официальной страницы ни во ВКонтакте, ни в Одноклассниках: "
            "создайте госпаблик и внесите ссылку в реестр."
        )
    return [_result(rule, FAIL, severity, 0, ">= 1", summary)]


# --- profile -----------------------------------------------------------------------------------


def evaluate_profile(snapshot: PageSnapshot, profile: Profile) -> list[RuleResult]:
    """DESCRIPTION_MISSING, CONTACT_PHONE_MISSING, WALL_CLOSED for one live page."""
    if snapshot.platform not in PAGE_RULE_PLATFORMS:
        return []
    rules = profile.rules
    results: list[RuleResult] = []

    description = rules.description_missing
    if description is not None and description.enabled:
        length = len(snapshot.description.strip())
        minimum = description.min_chars
        if length < minimum:
            summary = (
                f"Описание страницы слишком короткое ({length} симв. при минимуме {minimum}): "
                "расскажите, чем занимается организация, и укажите контакты."
            )
            status = FAIL
        else:
            summary, status = "Описание страницы заполнено.", PASS
        results.append(
            _result(DESCRIPTION_MISSING, status, description.severity, length, minimum, summary)
        )

    phone_rule = rules.contact_phone_missing
    if phone_rule is not None and phone_rule.enabled:
        phone = find_phone((snapshot.description, *snapshot.phones))
        if phone is None:
            summary = (
                "В профиле нет контактного телефона: укажите номер в формате "
                "+7 (XXX) XXX-XX-XX в описании или в блоке «Контакты»."
            )
            results.append(
                _result(CONTACT_PHONE_MISSING, FAIL, phone_rule.severity, "", "phone", summary)
            )
        else:
            summary = "Контактный телефон указан."
            results.append(
                _result(CONTACT_PHONE_MISSING, PASS, phone_rule.severity, phone, "phone", summary)
            )

    wall_rule = rules.wall_closed
    if wall_rule is not None and wall_rule.enabled:
        wall = snapshot.wall
        threshold = "wall not in {0, 3}"
        if wall is None:
            summary = "Платформа не сообщила настройку стены."
            results.append(
                _result(WALL_CLOSED, NOT_EVALUABLE, wall_rule.severity, "", threshold, summary)
            )
        elif wall in WALL_CLOSED_VALUES:
            summary = (
                "Стена сообщества закрыта: откройте стену (открытая или ограниченная), "
                "чтобы жители могли писать организации."
            )
            results.append(_result(WALL_CLOSED, FAIL, wall_rule.severity, wall, threshold, summary))
        else:
            results.append(
                _result(WALL_CLOSED, PASS, wall_rule.severity, wall, threshold, "Стена открыта.")
            )
    return results


# --- activity ----------------------------------------------------------------------------------


def evaluate_activity(posts: PostsObserved, profile: Profile, now: datetime) -> list[RuleResult]:
    """STALE: age of the newest own (not reposted) post among those the platform returned."""
    if posts.platform not in PAGE_RULE_PLATFORMS:
        return []
    config = profile.rules.stale
    if config is None or not config.enabled:
        return []
    grades = config.grades  # sorted by days, largest first
    threshold = "/".join(f"{g.days:g}d" for g in reversed(grades))
    mildest = grades[-1].severity

    newest: datetime | None = None
    for post in posts.posts:
        if post.is_own and not post.is_repost and (newest is None or post.posted_at > newest):
            newest = post.posted_at
    if newest is None:
        summary = (
            "Среди последних записей нет собственных публикаций (только репосты или пусто): "
            "публикуйте новости организации регулярно."
        )
        return [_result(STALE, FAIL, config.no_own_posts_severity, "none", threshold, summary)]

    age_days = (now - newest).total_seconds() / DAY_S
    value = f"{age_days:.1f}d"
    for grade in grades:
        if age_days >= grade.days:
            summary = (
                f"Последняя собственная публикация — {int(age_days)} дн. назад "
                f"(допустимо менее {grades[-1].days:g}): публикуйте новости регулярно."
            )
            return [_result(STALE, FAIL, grade.severity, value, threshold, summary)]
    return [_result(STALE, PASS, mildest, value, threshold, "Страница обновляется.")]


# --- pages the platform would not show ----------------------------------------------------------


def evaluate_unavailable(
    platform: Platform, reason: Unavailability, profile: Profile
) -> list[RuleResult]:
    """Page-level rules cannot be checked on a page that is gone or closed: say so, per rule."""
    if platform not in PAGE_RULE_PLATFORMS:
        return []
    results = []
    summary = f"Страница недоступна ({reason.value}): проверка профиля и публикаций невозможна."
    for rule in PAGE_RULES:
        config = profile.rule(rule)
        if config is not None:
            severity = getattr(config, "severity", None) or config.grades[-1].severity
            results.append(_result(rule, NOT_EVALUABLE, severity, reason.value, "", summary))
    return results
