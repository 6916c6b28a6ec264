"""The rule catalogue: verdict statuses, every rule's id with its scope, section, data and legal
basis (``RULES``), the groups of rules each event judges, and which rules each platform's data
cannot support (read from the platform descriptors)."""

from __future__ import annotations

from dataclasses import dataclass

from gospublic.platforms.descriptor import descriptors

from ..profiles import platform_rule

PASS = "pass"
FAIL = "fail"
NOT_EVALUABLE = "not_evaluable"

# A. Presence and identity
PAGE_MISSING_ANY = "PAGE_MISSING_ANY"
PAGE_MISSING_VK = "PAGE_MISSING_VK"
PAGE_MISSING_OK = "PAGE_MISSING_OK"
PAGE_MISSING_TG = "PAGE_MISSING_TG"
PAGE_MISSING_MAX = "PAGE_MISSING_MAX"
ORG_EXEMPT = "ORG_EXEMPT"
OFF_LIST_ONLY = "OFF_LIST_ONLY"
PAGE_NOT_PUBLIC = "PAGE_NOT_PUBLIC"
PAGE_NOT_CONNECTED = "PAGE_NOT_CONNECTED"
NOT_VERIFIED = "NOT_VERIFIED"
WIDGETS_MISSING = "WIDGETS_MISSING"
WIDGET_FOREIGN_ORG = "WIDGET_FOREIGN_ORG"
NAME_MISMATCH = "NAME_MISMATCH"
# B. Profile completeness
DESCRIPTION_MISSING = "DESCRIPTION_MISSING"
DESCRIPTION_NO_GOALS = "DESCRIPTION_NO_GOALS"
CONTACT_PHONE_MISSING = "CONTACT_PHONE_MISSING"
CONTACT_EMAIL_MISSING = "CONTACT_EMAIL_MISSING"
ADDRESS_MISSING = "ADDRESS_MISSING"
WEBSITE_LINK_MISSING = "WEBSITE_LINK_MISSING"
AVATAR_MISSING = "AVATAR_MISSING"
COVER_MISSING = "COVER_MISSING"
DESIGN_SCORE_LOW = "DESIGN_SCORE_LOW"
# C. Activity
STALE = "STALE"
LOW_FREQUENCY = "LOW_FREQUENCY"
REPOST_HEAVY = "REPOST_HEAVY"
COPIED_CONTENT = "COPIED_CONTENT"
LOW_ENGAGEMENT = "LOW_ENGAGEMENT"
# D. Feedback and comments
WALL_CLOSED = "WALL_CLOSED"
COMMENTS_CLOSED_POSTS = "COMMENTS_CLOSED_POSTS"
UNANSWERED_COMMENT = "UNANSWERED_COMMENT"
UNANSWERED_COMMENT_SOON = "UNANSWERED_COMMENT_SOON"  # the warning before its deadline
SLOW_RESPONSE_MEDIAN = "SLOW_RESPONSE_MEDIAN"
LOW_REPLY_RATE = "LOW_REPLY_RATE"
# E. Content and safety
BANNED_PLATFORM_LINKS = "BANNED_PLATFORM_LINKS"
FOREIGN_MESSENGER_SERVICE = "FOREIGN_MESSENGER_SERVICE"

# Page status as the presence rule sees it.
LIVE = "live"
GONE = "gone"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    scope: str  # "organisation" or "page"
    section: str  # A–E of the catalogue
    source: str  # the data it reads: registry, profile, posts, comments, profile+posts
    basis: str


_FZ8 = "Федеральный закон от 09.02.2009 № 8-ФЗ (в ред. Федерального закона от 14.07.2022 № 270-ФЗ)"
_LAW = f"{_FZ8}, ст. 10; распоряжение Правительства РФ от 02.09.2022 № 2523-р"
# What an official page must state about the body (what it does, its goals and tasks, how to reach
# it) comes from the law and the government's resolution on official pages; the methodology only
# adds how it is checked. These rules cite the law first.
_PAGE_LAW = f"{_FZ8}; постановление Правительства РФ от 31.10.2022 № 1933"
_METHOD = "методика ЦУР / АНО «Диалог Регионы»"
_ACTUAL = f"{_FZ8}, ст. 10: актуальная информация"
_FEEDBACK = f"{_LAW}; {_METHOD}: обратная связь с гражданами"


def _spec(rule: str, scope: str, section: str, source: str, basis: str) -> RuleSpec:
    return RuleSpec(rule, scope, section, source, basis)


RULES: dict[str, RuleSpec] = {
    spec.id: spec
    for spec in (
        _spec(PAGE_MISSING_ANY, "organisation", "A", "registry", _LAW),
        *(
            _spec(
                platform_rule(d.platform),
                "organisation",
                "A",
                "registry",
                f"{_LAW}; профиль региона" if d.legal else "региональный профиль",
            )
            for d in descriptors()
        ),
        _spec(ORG_EXEMPT, "organisation", "A", "registry", f"{_LAW}: перечень исключений"),
        _spec(OFF_LIST_ONLY, "organisation", "A", "registry", _LAW),
        _spec(PAGE_NOT_PUBLIC, "page", "A", "profile", _LAW),
        _spec(
            PAGE_NOT_CONNECTED,
            "page",
            "A",
            "profile",
            "региональный профиль: канал доступен мониторингу ЦУР",
        ),
        _spec(NOT_VERIFIED, "page", "A", "profile", f"{_METHOD}: отметка «Госорганизация»"),
        _spec(
            WIDGETS_MISSING,
            "page",
            "D",
            "profile",
            f"{_FEEDBACK}; постановление Правительства РФ от 10.11.2020 № 1802 (платформа "
            "обратной связи Госуслуг)",
        ),
        _spec(
            WIDGET_FOREIGN_ORG,
            "page",
            "D",
            "profile",
            "постановление Правительства РФ от 10.11.2020 № 1802: обращение уходит органу, "
            "чей ОГРН указан в виджете",
        ),
        _spec(NAME_MISMATCH, "page", "A", "profile", f"{_METHOD}: название страницы"),
        _spec(
            DESCRIPTION_MISSING,
            "page",
            "B",
            "profile",
            f"{_PAGE_LAW}: описание деятельности; {_METHOD}: оформление страницы",
        ),
        _spec(
            DESCRIPTION_NO_GOALS,
            "page",
            "B",
            "profile",
            f"{_PAGE_LAW}: цели и задачи органа; {_METHOD}: цели и задачи в описании",
        ),
        _spec(
            CONTACT_PHONE_MISSING,
            "page",
            "B",
            "profile",
            f"{_PAGE_LAW}: номера телефонов; {_METHOD}: контакты в профиле",
        ),
        _spec(
            CONTACT_EMAIL_MISSING,
            "page",
            "B",
            "profile",
            f"{_PAGE_LAW}: адрес электронной почты; {_METHOD}: контакты в профиле",
        ),
        _spec(
            ADDRESS_MISSING,
            "page",
            "B",
            "profile",
            f"{_PAGE_LAW}: почтовый адрес; {_METHOD}: адрес организации",
        ),
        _spec(WEBSITE_LINK_MISSING, "page", "B", "profile", f"{_METHOD}: ссылка на сайт"),
        _spec(AVATAR_MISSING, "page", "B", "profile", f"{_METHOD}: оформление страницы"),
        _spec(COVER_MISSING, "page", "B", "profile", f"{_METHOD}: оформление страницы"),
        _spec(DESIGN_SCORE_LOW, "page", "B", "profile", f"{_METHOD}: «Оформление %»"),
        _spec(STALE, "page", "C", "posts", f"{_ACTUAL}; {_METHOD}"),
        _spec(LOW_FREQUENCY, "page", "C", "posts", f"{_ACTUAL}; {_METHOD}: частота публикаций"),
        _spec(REPOST_HEAVY, "page", "C", "posts", f"{_METHOD}: собственный контент"),
        _spec(COPIED_CONTENT, "page", "C", "posts", f"{_METHOD}: собственный контент"),
        _spec(LOW_ENGAGEMENT, "page", "C", "posts", f"{_METHOD}: вовлечённость"),
        _spec(WALL_CLOSED, "page", "D", "profile", _FEEDBACK),
        _spec(COMMENTS_CLOSED_POSTS, "page", "D", "posts", _FEEDBACK),
        _spec(UNANSWERED_COMMENT, "page", "D", "comments", _FEEDBACK),
        _spec(UNANSWERED_COMMENT_SOON, "page", "D", "comments", _FEEDBACK),
        _spec(SLOW_RESPONSE_MEDIAN, "page", "D", "comments", _FEEDBACK),
        _spec(LOW_REPLY_RATE, "page", "D", "comments", _FEEDBACK),
        _spec(
            BANNED_PLATFORM_LINKS,
            "page",
            "E",
            "profile+posts",
            "решение Тверского районного суда г. Москвы от 21.03.2022 (Meta — экстремистская)",
        ),
        _spec(
            FOREIGN_MESSENGER_SERVICE,
            "page",
            "E",
            "profile+posts",
            "Федеральный закон от 27.07.2006 № 149-ФЗ, ст. 10 ч. 8–10 (с 01.03.2023); "
            "Федеральный закон от 01.04.2025 № 41-ФЗ (с 01.06.2025): иностранные мессенджеры",
        ),
    )
}

PRESENCE_RULES = (
    PAGE_MISSING_ANY,
    *(platform_rule(d.platform) for d in descriptors()),
    ORG_EXEMPT,
    OFF_LIST_ONLY,
)
PROFILE_RULES = (
    PAGE_NOT_PUBLIC,
    NOT_VERIFIED,
    WIDGETS_MISSING,
    WIDGET_FOREIGN_ORG,
    NAME_MISMATCH,
    DESCRIPTION_MISSING,
    DESCRIPTION_NO_GOALS,
    CONTACT_PHONE_MISSING,
    CONTACT_EMAIL_MISSING,
    ADDRESS_MISSING,
    WEBSITE_LINK_MISSING,
    AVATAR_MISSING,
    COVER_MISSING,
    DESIGN_SCORE_LOW,
    WALL_CLOSED,
)
ACTIVITY_RULES = (STALE, LOW_FREQUENCY, REPOST_HEAVY, LOW_ENGAGEMENT, COMMENTS_CLOSED_POSTS)
COMMENT_RULES = (UNANSWERED_COMMENT, UNANSWERED_COMMENT_SOON, SLOW_RESPONSE_MEDIAN, LOW_REPLY_RATE)
EVIDENCE_RULES = (BANNED_PLATFORM_LINKS, FOREIGN_MESSENGER_SERVICE)
PAGE_RULES = PROFILE_RULES + ACTIVITY_RULES + COMMENT_RULES + EVIDENCE_RULES
# PAGE_NOT_CONNECTED is a page rule only on the platforms whose descriptor ``needs_connection``
# (MAX): it is judged from the snapshot (pass) and from PageUnavailable(not_connected) (fail).

# Platforms whose pages the page-level rules judge: the ones the collectors read (every platform
# with a descriptor: gospublic.platforms).
PAGE_RULE_PLATFORMS = frozenset(d.platform for d in descriptors())
# Rules whose data a platform does not expose (or its collector does not read): their verdict is
# ``not_evaluable`` with this reason, whatever the rule computed from the empty field.
NOT_EXPOSED: dict[str, dict[str, str]] = {
    d.platform: dict(d.not_exposed) for d in descriptors() if d.not_exposed
}
# Rules a platform exposes only in part: what was found passes, but finding nothing proves nothing
# (an OK group keeps its phone and e-mail in fields the collector does not read).
PARTLY_EXPOSED: dict[str, dict[str, str]] = {
    d.platform: dict(d.partly_exposed) for d in descriptors() if d.partly_exposed
}
# Rules with no event of their own on a platform (Telegram has no comments event): reported with
# the posts, so the page's check shows them as not evaluable rather than not at all.
REPORTED_WITH_POSTS: dict[str, tuple[str, ...]] = {
    d.platform: d.reported_with_posts for d in descriptors() if d.reported_with_posts
}
# Platforms that show a channel only to the bot its owner added (MAX).
_NEEDS_CONNECTION = {d.platform: d.needs_connection for d in descriptors()}
# VK ``wall``: 0 off, 1 open, 2 limited, 3 closed.
WALL_CLOSED_VALUES = frozenset({0, 3})
# Platforms whose page satisfies the law's list (government order 2523-r).
LEGAL_PLATFORMS = frozenset(d.platform for d in descriptors() if d.legal)
# Platforms the collectors read: only for these is "gone" evidence; others count when listed.
COLLECTED_PLATFORMS = frozenset(d.platform for d in descriptors() if d.collector)
