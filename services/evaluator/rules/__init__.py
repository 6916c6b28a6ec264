"""The compliance rules (catalogue sections A–E): pure functions of observed data, a profile, a clock.

Nothing here does I/O. "now" for a rule is the event's ``observed_at``, so replaying the same events
gives the same verdicts. Every threshold comes from the profile (YAML); what stays in code is the
meaning of the platform's own fields (which VK ``wall`` values mean "closed", what a phone looks
like). A rule whose data is missing says ``not_evaluable`` and why: it never passes by default.

The rules are grouped by the event that carries their data: the register (``evaluate_presence``),
a page's profile (``evaluate_profile``), its recent posts (``evaluate_activity``), its comments
(``evaluate_comments``) and a page the platform would not show (``evaluate_unavailable``).
Two rules read both the profile and the posts (BANNED_PLATFORM_LINKS, FOREIGN_MESSENGER_SERVICE):
each event reports what it found (``Evidence``) and ``combine_evidence`` gives the verdict from both.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from typing import NamedTuple

from gospublic.contracts import (
    FEEDBACK_WIDGETS,
    Comment,
    CommentsObserved,
    Organisation,
    PageSnapshot,
    Platform,
    Post,
    PostsObserved,
    Unavailability,
    Widget,
)
from gospublic.platforms.descriptor import descriptors
from gospublic.rulebook import PLATFORM_TITLES, counted, plural

from ..copies import Originality
from ..profiles import DESIGN_RULES, Profile, platform_rule
from ..workcal import WorkCalendar, elapsed_hours

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

DAY_S = 86_400.0
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


class RuleResult(NamedTuple):
    """One verdict. A named tuple rather than a frozen dataclass: a first national sweep builds
    some four million of them, and a tuple is built in a third of the time."""

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


def _severity(config: object) -> str:
    """A rule's severity for a verdict that is not a failure of a particular grade."""
    severity = getattr(config, "severity", None)
    if severity is not None:
        return str(severity)
    grades = getattr(config, "grades", None)
    if grades:
        return str(grades[-1].severity)
    return str(getattr(config, "closed_severity", "info"))


def _exposed(
    results: list[RuleResult], hidden: Mapping[str, str], partly: Mapping[str, str]
) -> list[RuleResult]:
    """The results, with those a platform's data cannot support made ``not_evaluable``."""
    out = []
    for x in results:
        reason = hidden.get(x.rule)
        if reason is None and x.status == FAIL:
            reason = partly.get(x.rule)
        if reason is not None:
            x = RuleResult(x.rule, NOT_EVALUABLE, x.severity, "", x.threshold, x.basis, reason)
        out.append(x)
    return out


def not_exposed(platform: str, rules: Iterable[str], profile: Profile) -> list[RuleResult]:
    """``not_evaluable`` verdicts for rules whose data the platform does not expose."""
    hidden = NOT_EXPOSED.get(platform, {})
    out = []
    for rule in rules:
        config = profile.rule(rule)
        if config is not None and rule in hidden:
            out.append(_result(rule, NOT_EVALUABLE, _severity(config), "", "", hidden[rule]))
    return out


# --- time ---------------------------------------------------------------------------------------


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, truncated as ClickHouse stores DateTime64(3).

    Rules compare these integers rather than the datetimes: comparing two aware datetimes whose
    tzinfo objects differ asks each for its offset, and the ones pydantic parses answer slowly.
    A naive time is taken as local time, as ``datetime.timestamp`` does.
    """
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def posted_ms(posts: Iterable[Post]) -> list[int]:
    return [epoch_ms(post.posted_at) for post in posts]


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


# --- texts ---------------------------------------------------------------------------------------

# +7 or 8, then exactly ten digits; between digits only spaces, '-', '(' and ')'. The look-arounds
# keep a phone from being cut out of a longer number (OGRN, account numbers) or a date range.
_PHONE = re.compile(r"(?<![\d+])(?:\+7|8)(?:[ \-()]{0,3}\d){10}(?![\d\-]*\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zа-я]{2,}", re.IGNORECASE)
_URL_HOST = re.compile(r"(?:https?://)?(?:www\.)?([a-z0-9а-я.-]+\.[a-zа-я]{2,})", re.IGNORECASE)
# Hosts that are not an organisation's own website.
SOCIAL_HOSTS = (
    "vk.com",
    "vk.ru",
    "ok.ru",
    "t.me",
    "telegram.me",
    "max.ru",
    "youtube.com",
    "rutube.ru",
    "dzen.ru",
)


def find_phone(texts: Iterable[str]) -> str | None:
    """The first Russian phone number in any of the texts, as written there."""
    for text in texts:
        if text:
            match = _PHONE.search(text)
            if match:
                return match.group(0)
    return None


def find_email(texts: Iterable[str]) -> str | None:
    for text in texts:
        if text:
            match = _EMAIL.search(text)
            if match:
                return match.group(0)
    return None


def _host_matches(host: str, domains: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains)


def website(site: str, links: Sequence[str]) -> str | None:
    """The first link that points outside the social networks: the organisation's own site."""
    for candidate in (site, *links):
        if not candidate:
            continue
        match = _URL_HOST.search(candidate.strip())
        if match and not _host_matches(match.group(1), SOCIAL_HOSTS):
            return candidate.strip()
    return None


_DOMAIN_PATTERNS: dict[tuple[str, ...], re.Pattern[str]] = {}


def _domain_pattern(domains: tuple[str, ...]) -> re.Pattern[str]:
    pattern = _DOMAIN_PATTERNS.get(domains)
    if pattern is None:
        alternatives = "|".join(re.escape(d) for d in domains)
        pattern = re.compile(
            rf"(?<![\w.-])(?:https?://)?(?:[\w-]+\.)*(?:{alternatives})(?![\w-])", re.IGNORECASE
        )
        _DOMAIN_PATTERNS[domains] = pattern
    return pattern


def find_domain(texts: Iterable[str], domains: tuple[str, ...]) -> str | None:
    """The first mention of one of ``domains`` (or a subdomain) in the texts."""
    joined = "\n".join(t for t in texts if t)
    low = joined.lower()
    if not any(d in low for d in domains):  # the common case, without the regex
        return None
    match = _domain_pattern(domains).search(joined)
    return match.group(0) if match else None


_WORD_PATTERNS: dict[tuple[str, ...], re.Pattern[str]] = {}
# Telegram bot usernames end in "bot": a t.me link to one opens a private conversation.
_TELEGRAM_BOT = re.compile(r"(?:t\.me|telegram\.me)/[a-z0-9_]*bot\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """Any of ``words`` at the start of a word (case and ё/е aside); None for no words."""
    if not words:
        return None
    pattern = _WORD_PATTERNS.get(words)
    if pattern is None:
        alternatives = "|".join(
            re.escape(w.lower().replace("ё", "е")) for w in sorted(words, key=len, reverse=True)
        )
        pattern = _WORD_PATTERNS[words] = re.compile(rf"(?<!\w)(?:{alternatives})")
    return pattern


def find_messenger_service(
    texts: Iterable[str],
    messengers: Sequence[str],
    service_words: Sequence[str],
    action_words: Sequence[str] = (),
    channel_words: Sequence[str] = (),
    warning_words: Sequence[str] = (),
    chat_links: Sequence[str] = (),
) -> str | None:
    """A sentence that offers a service or a conversation through a foreign messenger (what was
    found, as "messenger + word"), or a link that opens a private chat in one."""
    texts = [t for t in texts if t]
    everything = "\n".join(texts).lower()
    if not any(m in everything for m in (*messengers, *chat_links)):  # the common case
        return None
    everything = everything.replace("ё", "е")
    named = _word_pattern(tuple(messengers))
    service = _word_pattern(tuple(service_words))
    action = _word_pattern(tuple(action_words))
    channel = _word_pattern(tuple(channel_words))
    warning = _word_pattern(tuple(warning_words))
    link = next((c for c in chat_links if c in everything), None)
    if link is not None:
        return f"ссылка на чат: {link}"
    bot = _TELEGRAM_BOT.search(everything)
    if bot is not None and any("t.me" in m or "telegram" in m for m in messengers):
        return f"ссылка на бота: {bot.group(0)}"
    for sentence in _SENTENCE_END.split(everything):
        messenger = named.search(sentence) if named else None
        if messenger is None:
            continue
        if warning is not None and warning.search(sentence):
            continue  # "не отправляйте документы в WhatsApp": a warning, not an offer
        invited = action.search(sentence) if action is not None else None
        if invited is not None:
            return f"{messenger.group(0)} + {invited.group(0)}"
        if channel is not None and channel.search(sentence):
            continue  # a channel to read ("расписание в Telegram-канале"), nothing offered
        word = service.search(sentence) if service is not None else None
        if word is not None:
            return f"{messenger.group(0)} + {word.group(0)}"
    return None


# --- names ---------------------------------------------------------------------------------------

# Organisational forms written as abbreviations on pages and in full in registers (and back).
ABBREVIATIONS = {
    "мбоу": "муниципальное бюджетное общеобразовательное учреждение",
    "мкоу": "муниципальное казенное общеобразовательное учреждение",
    "маоу": "муниципальное автономное общеобразовательное учреждение",
    "мбдоу": "муниципальное бюджетное дошкольное образовательное учреждение",
    "мкдоу": "муниципальное казенное дошкольное образовательное учреждение",
    "мадоу": "муниципальное автономное дошкольное образовательное учреждение",
    "мбудо": "муниципальное бюджетное учреждение дополнительного образования",
    "мку": "муниципальное казенное учреждение",
    "мбу": "муниципальное бюджетное учреждение",
    "мау": "муниципальное автономное учреждение",
    "мбук": "муниципальное бюджетное учреждение культуры",
    "мкук": "муниципальное казенное учреждение культуры",
    "гбуз": "государственное бюджетное учреждение здравоохранения",
    "гбу": "государственное бюджетное учреждение",
    "гку": "государственное казенное учреждение",
    "гау": "государственное автономное учреждение",
    "гбоу": "государственное бюджетное общеобразовательное учреждение",
    "гбпоу": "государственное бюджетное профессиональное образовательное учреждение",
    "бу": "бюджетное учреждение",
    "сош": "средняя общеобразовательная школа",
    "оош": "основная общеобразовательная школа",
    "црб": "центральная районная больница",
    "рб": "районная больница",
    "дюсш": "детско юношеская спортивная школа",
    "дши": "детская школа искусств",
    "мфц": "многофункциональный центр",
    "соцзащиты": "социальной защиты",
    "г": "город",
}
# Words that say what kind of body it is, not which one: compared apart from the distinctive rest.
_FORM_WORDS = frozenset(
    [
        *" ".join(ABBREVIATIONS.values()).split(),
        *["учреждение", "учреждения", "организация", "имени", "им"],
    ]
)
_NON_WORD = re.compile(r"[^\w№]+")
_NUMBER_SIGN = re.compile(r"№\s*")


def normalise_name(name: str) -> list[str]:
    """Lower case, ё→е, no quotes or punctuation, abbreviations expanded: a list of words."""
    text = _NUMBER_SIGN.sub("№ ", name.lower().replace("ё", "е"))
    words: list[str] = []
    for word in _NON_WORD.sub(" ", text).split():
        words.extend(ABBREVIATIONS.get(word, word).split())
    return words


def name_similarity(page_name: str, official_name: str) -> float:
    """0..1: how well a page name matches the official one (full or short form).

    Forms of ownership and kinds of institution (expanded from МБОУ, СОШ, ГБУЗ…) are set aside;
    the rest is compared: the share of the page's distinctive words found in the official name (a
    short page name made of the official name's words is a match), or, if higher, the two as text.
    """
    a, b = normalise_name(page_name), normalise_name(official_name)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    core_a = [w for w in a if w not in _FORM_WORDS]
    core_b = [w for w in b if w not in _FORM_WORDS]
    if not core_a or not core_b:  # nothing distinctive on one side: compare the whole names
        return SequenceMatcher(None, " ".join(a), " ".join(b)).ratio()
    # The distinctive words decide: "СОШ № 7 г. Россошь" is not "СОШ № 1 г. Лиски", however alike
    # the forms of ownership make the full names look.
    official = set(core_b)
    share = sum(1 for w in core_a if w in official) / len(core_a)
    if share >= 1.0:
        return 1.0
    return max(share, SequenceMatcher(None, " ".join(core_a), " ".join(core_b)).ratio())


# --- A. presence -------------------------------------------------------------------------------


def evaluate_presence(
    org: Organisation, page_status: Mapping[str, str], profile: Profile
) -> list[RuleResult]:
    """Organisation-level rules: PAGE_MISSING_ANY, PAGE_MISSING_<PLATFORM>, ORG_EXEMPT,
    OFF_LIST_ONLY.

    ``page_status`` maps a page key (``vk:club1``) to live/gone/unknown. A collected page counts
    unless it is known to be gone; a page on a platform nobody collects yet counts when the register
    lists it (no evidence, no accusation).
    """
    results: list[RuleResult] = []
    live = [
        p
        for p in org.pages
        if p.platform not in COLLECTED_PLATFORMS or page_status.get(p.key, UNKNOWN) != GONE
    ]
    live_legal = [p for p in live if p.platform in LEGAL_PLATFORMS]

    exempt_config = profile.rule(ORG_EXEMPT)
    if exempt_config is not None:
        if org.exempt:
            summary = (
                "Организация в перечне исключений учредителя: требования о госпабликах к ней не "
                "применяются."
            )
            results.append(_result(ORG_EXEMPT, FAIL, exempt_config.severity, "exempt", "", summary))
        else:
            summary = "Организация не в перечне исключений."
            results.append(_result(ORG_EXEMPT, PASS, exempt_config.severity, "", "", summary))

    config = profile.rule(PAGE_MISSING_ANY)
    if config is not None:
        rule, severity = PAGE_MISSING_ANY, config.severity
        if org.exempt:
            summary = "Организация освобождена от ведения госпабликов."
            results.append(_result(rule, PASS, severity, "exempt", "", summary))
        elif live_legal:
            results.append(
                _result(rule, PASS, severity, len(live_legal), ">= 1", "Официальная страница есть.")
            )
        else:
            if any(p.platform in LEGAL_PLATFORMS for p in org.pages):
                summary = (
                    "Официальная страница организации удалена, заблокирована или не найдена, "
                    "другой страницы во ВКонтакте или Одноклассниках нет: восстановите или "
                    "создайте госпаблик и обновите ссылку в реестре."
                )
            else:
                summary = (
                    "У организации нет официальной страницы ни во ВКонтакте, ни в "
                    "Одноклассниках: создайте госпаблик и внесите ссылку в реестр."
                )
            results.append(_result(rule, FAIL, severity, 0, ">= 1", summary))

    platforms = profile.rules.page_missing_platform
    if platforms is not None and platforms.enabled:
        for platform in platforms.required:
            rule = platform_rule(platform)
            here = [p for p in live if p.platform == platform]
            if org.exempt:
                status, value, summary = PASS, "exempt", "Организация освобождена."
            elif here:
                status, value, summary = PASS, len(here), "Страница на площадке есть."
            else:
                status, value = FAIL, 0
                summary = (
                    f"Профиль требует страницу на площадке «{platform.value}», а её нет (или она "
                    "удалена): создайте страницу и внесите ссылку в реестр."
                )
            results.append(_result(rule, status, platforms.severity, value, ">= 1", summary))

    off_list = profile.rule(OFF_LIST_ONLY)
    if off_list is not None:
        others = [p for p in live if p.platform not in LEGAL_PLATFORMS]
        if not org.exempt and others and not live_legal:
            summary = (
                "Единственные страницы организации — вне перечня площадок (ВКонтакте, "
                "Одноклассники): закон требует госпаблик именно там."
            )
            value = ",".join(sorted({p.platform.value for p in others}))
            results.append(_result(OFF_LIST_ONLY, FAIL, off_list.severity, value, "vk|ok", summary))
        else:
            summary = "Официальный канал в перечне площадок есть (или других каналов нет)."
            results.append(_result(OFF_LIST_ONLY, PASS, off_list.severity, "", "vk|ok", summary))
    return results


# --- A/B/D. profile ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileFacts:
    """What a profile shows, found once and shared by the rules and the stored page row."""

    description_len: int
    phone: str | None
    email: str | None
    site: str | None


def profile_facts(snapshot: PageSnapshot) -> ProfileFacts:
    description = snapshot.description
    return ProfileFacts(
        description_len=len(description.strip()),
        phone=find_phone((description, *snapshot.phones)),
        email=find_email((*snapshot.emails, description)),
        site=website(snapshot.site, snapshot.links),
    )


# How a summary names a fact the answer did not show (``PageSnapshot.unknown``).
_FACT_NAMES = {
    "description": "описание",
    "site": "сайт",
    "links": "ссылки",
    "phones": "контакты или адрес (телефоны)",
    "emails": "контакты (почта)",
    "address": "адрес",
}


# --- Госуслуги feedback widgets -------------------------------------------------------------------

_WIDGET_TITLES = {"problem": "«Сообщить о проблеме»", "opinion": "«Высказать мнение»"}
_NO_MENU = "Платформа не показала меню страницы: виджеты Госуслуг не проверены."


def widget_count(snapshot: PageSnapshot) -> int | None:
    """How many of the two Госуслуги feedback widgets the page shows (0–2), None when its menu
    is unknown. A widget placed with another body's ОГРН counts: it is on the page (its own
    verdict, WIDGET_FOREIGN_ORG, says it reports to the wrong body)."""
    if snapshot.widgets is None:
        return None
    return len({w.kind for w in snapshot.widgets} & set(FEEDBACK_WIDGETS))


def foreign_widgets(snapshot: PageSnapshot, ogrn: str | None = None) -> list[Widget]:
    """Feedback widgets whose link names another body's ОГРН than the page's organisation.

    Only the ОГРН is compared: the register holds the municipality's name, not its ОКТМО, so the
    link's municipality code is kept but not checked. A link without an ОГРН is not foreign.
    """
    own = ogrn if ogrn is not None else snapshot.page_ref.org_id
    return [
        w for w in snapshot.widgets or () if w.kind in FEEDBACK_WIDGETS and w.ogrn and w.ogrn != own
    ]


def _widgets_missing(snapshot: PageSnapshot, config) -> RuleResult:
    threshold = "2 из 2"
    count = widget_count(snapshot)
    if count is None:
        return _result(WIDGETS_MISSING, NOT_EVALUABLE, config.severity, "", threshold, _NO_MENU)
    if count >= 2:
        return _result(WIDGETS_MISSING, PASS, config.severity, count, threshold,
                       "Оба виджета Госуслуг на странице.")  # fmt: skip
    present = {w.kind for w in snapshot.widgets or ()}
    missing = [title for kind, title in _WIDGET_TITLES.items() if kind not in present]
    summary = (
        f"На странице {count} из 2 виджетов Госуслуг: нет {' и '.join(missing)}. Разместите "
        "виджеты платформы обратной связи в меню сообщества."
    )
    return _result(WIDGETS_MISSING, FAIL, config.severity, count, threshold, summary)


def _widget_foreign_org(snapshot: PageSnapshot, config) -> RuleResult:
    own = snapshot.page_ref.org_id
    threshold = f"ОГРН {own}"
    if snapshot.widgets is None:
        return _result(WIDGET_FOREIGN_ORG, NOT_EVALUABLE, config.severity, "", threshold,
                       _NO_MENU)  # fmt: skip
    foreign = foreign_widgets(snapshot, own)
    if not foreign:
        return _result(WIDGET_FOREIGN_ORG, PASS, config.severity, "", threshold,
                       "Виджетов Госуслуг с чужим ОГРН нет.")  # fmt: skip
    names = ", ".join(f"{_WIDGET_TITLES.get(w.kind, w.kind)} с ОГРН {w.ogrn}" for w in foreign[:2])
    summary = (
        f"Виджет Госуслуг настроен на другую организацию ({names}, а ОГРН организации {own}): "
        "обращения жителей уходят не ей. Получите в ЦУР ссылку виджета со своим ОГРН."
    )
    return _result(WIDGET_FOREIGN_ORG, FAIL, config.severity, foreign[0].ogrn, threshold, summary)


def evaluate_profile(
    snapshot: PageSnapshot,
    profile: Profile,
    official_name: str = "",
    facts: ProfileFacts | None = None,
) -> list[RuleResult]:
    """Rules on a live page's profile: identity (A), completeness (B) and the wall (D)."""
    if snapshot.platform not in PAGE_RULE_PLATFORMS:
        return []
    facts = facts or profile_facts(snapshot)
    rule = profile.rule
    out: list[RuleResult] = []
    add = out.append
    hidden = NOT_EXPOSED.get(snapshot.platform, {})
    partly = PARTLY_EXPOSED.get(snapshot.platform, {})

    if (config := rule(PAGE_NOT_PUBLIC)) is not None:
        threshold = "is_closed = 0"
        if snapshot.is_closed:
            summary = (
                "Сообщество закрытое или частное: госпаблик должен быть открыт для всех жителей."
            )
            add(_result(PAGE_NOT_PUBLIC, FAIL, config.closed_severity, snapshot.is_closed,
                        threshold, summary))  # fmt: skip
        else:
            add(_result(PAGE_NOT_PUBLIC, PASS, config.closed_severity, 0, threshold,
                        "Страница открыта."))  # fmt: skip

    if (config := rule(PAGE_NOT_CONNECTED)) is not None and _NEEDS_CONNECTION.get(
        snapshot.platform, False
    ):
        # A snapshot came, so the bot sees the channel: an earlier "not connected" resolves.
        add(_result(PAGE_NOT_CONNECTED, PASS, config.severity, "connected", "бот в канале",
                    "Канал подключён к мониторингу."))  # fmt: skip

    if (config := rule(NOT_VERIFIED)) is not None:
        mark = snapshot.is_government_organization
        threshold = "is_government_organization = 1"
        if mark is None:
            summary = "Платформа не сообщила отметку «Госорганизация»."
            add(_result(NOT_VERIFIED, NOT_EVALUABLE, config.severity, "", threshold, summary))
        elif mark:
            add(_result(NOT_VERIFIED, PASS, config.severity, 1, threshold,
                        "Отметка «Госорганизация» есть."))  # fmt: skip
        else:
            summary = (
                "У страницы нет отметки «Госорганизация»: подайте заявку через Госуслуги или "
                "поддержку ВКонтакте (синяя галочка верификации этой отметкой не является)."
            )
            add(_result(NOT_VERIFIED, FAIL, config.severity, 0, threshold, summary))

    if (config := rule(WIDGETS_MISSING)) is not None:
        add(_widgets_missing(snapshot, config))
    if (config := rule(WIDGET_FOREIGN_ORG)) is not None:
        add(_widget_foreign_org(snapshot, config))

    if (config := rule(NAME_MISMATCH)) is not None:
        threshold = f">= {_fmt(config.min_similarity)}"
        if not official_name:
            summary = "Официальное название организации неизвестно (нет в реестре)."
            add(_result(NAME_MISMATCH, NOT_EVALUABLE, config.severity, "", threshold, summary))
        else:
            similarity = name_similarity(snapshot.name, official_name)
            value = f"{similarity:.2f}"
            if similarity < config.min_similarity:
                summary = (
                    f"Название страницы «{snapshot.name[:120]}» не похоже на официальное "
                    f"«{official_name[:160]}»: назовите страницу по реестру (можно сокращённо)."
                )
                add(_result(NAME_MISMATCH, FAIL, config.severity, value, threshold, summary))
            else:
                add(_result(NAME_MISMATCH, PASS, config.severity, value, threshold,
                            "Название соответствует реестру."))  # fmt: skip

    design: list[tuple[str, str]] = []  # (rule, status) of section B, for DESIGN_SCORE_LOW
    # Section B rules the answer did not show the data of: each may pass or fail, so the score
    # lies in a range (what the platform never exposes is left out instead).
    design_unknown: list[str] = []

    def b(result: RuleResult) -> None:
        if hidden or partly:  # "Оформление %" counts only what the platform could show
            exposed = _exposed([result], hidden, partly)[0]
            platform_hides = exposed is not result and exposed.summary != result.summary
            result = exposed
        else:
            platform_hides = False
        design.append((result.rule, result.status))
        if result.status == NOT_EVALUABLE and not platform_hides:
            design_unknown.append(result.rule)
        add(result)

    unknown = snapshot.unknown

    def unshown(rule_id: str, config, threshold: object, *facts_needed: str) -> bool:
        """Adds a ``not_evaluable`` verdict when a fact the rule needs was not in the answer."""
        missing = [f for f in facts_needed if f in unknown]
        if not missing:
            return False
        names = ", ".join(_FACT_NAMES[f] for f in missing)
        summary = (
            f"В ответе платформы нет полей: {names} (их не запросили или не вернули): "
            "проверить нельзя."
        )
        b(_result(rule_id, NOT_EVALUABLE, config.severity, "", threshold, summary))
        return True

    if (config := rule(DESCRIPTION_MISSING)) is not None:
        length, minimum = facts.description_len, config.min_chars
        if length < minimum and unshown(DESCRIPTION_MISSING, config, minimum, "description"):
            pass
        elif length < minimum:
            summary = (
                f"Описание страницы слишком короткое ({length} симв. при минимуме {minimum}): "
                "расскажите, чем занимается организация, и укажите контакты."
            )
            b(_result(DESCRIPTION_MISSING, FAIL, config.severity, length, minimum, summary))
        else:
            b(_result(DESCRIPTION_MISSING, PASS, config.severity, length, minimum,
                      "Описание страницы заполнено."))  # fmt: skip

    if (config := rule(DESCRIPTION_NO_GOALS)) is not None:
        low = snapshot.description.lower()
        found = next((k for k in config.keywords if k in low), None)
        threshold = "|".join(config.keywords)
        if found is None and unshown(DESCRIPTION_NO_GOALS, config, threshold, "description"):
            pass
        elif found is None:
            summary = (
                "В описании не сказано о целях, задачах или функциях организации: добавьте, "
                "чем она занимается и чем полезна жителям."
            )
            b(_result(DESCRIPTION_NO_GOALS, FAIL, config.severity, "", threshold, summary))
        else:
            b(_result(DESCRIPTION_NO_GOALS, PASS, config.severity, found, threshold,
                      "Цели и задачи описаны."))  # fmt: skip

    if (config := rule(CONTACT_PHONE_MISSING)) is not None:
        if facts.phone is None and unshown(
            CONTACT_PHONE_MISSING, config, "phone", "description", "phones"
        ):
            pass
        elif facts.phone is None:
            summary = (
                "В профиле нет контактного телефона: укажите номер в формате "
                "+7 (XXX) XXX-XX-XX в описании или в блоке «Контакты»."
            )
            b(_result(CONTACT_PHONE_MISSING, FAIL, config.severity, "", "phone", summary))
        else:
            b(_result(CONTACT_PHONE_MISSING, PASS, config.severity, facts.phone, "phone",
                      "Контактный телефон указан."))  # fmt: skip

    if (config := rule(CONTACT_EMAIL_MISSING)) is not None:
        if facts.email is None and unshown(
            CONTACT_EMAIL_MISSING, config, "e-mail", "description", "emails"
        ):
            pass
        elif facts.email is None:
            summary = (
                "В профиле нет адреса электронной почты: укажите его в описании или контактах."
            )
            b(_result(CONTACT_EMAIL_MISSING, FAIL, config.severity, "", "e-mail", summary))
        else:
            b(_result(CONTACT_EMAIL_MISSING, PASS, config.severity, facts.email, "e-mail",
                      "Электронная почта указана."))  # fmt: skip

    if (config := rule(ADDRESS_MISSING)) is not None:
        if snapshot.address.strip():
            b(_result(ADDRESS_MISSING, PASS, config.severity, snapshot.address[:200], "address",
                      "Адрес указан."))  # fmt: skip
        elif snapshot.has_address:
            b(_result(ADDRESS_MISSING, PASS, config.severity, "адрес указан (текст не получен)",
                      "address", "Адрес указан."))  # fmt: skip
        elif unshown(ADDRESS_MISSING, config, "address", "address"):
            pass
        else:
            summary = "В профиле нет адреса: включите блок «Адреса» и отметьте здание на карте."
            b(_result(ADDRESS_MISSING, FAIL, config.severity, "", "address", summary))

    if (config := rule(WEBSITE_LINK_MISSING)) is not None:
        if facts.site is None and unshown(WEBSITE_LINK_MISSING, config, "site", "site", "links"):
            pass
        elif facts.site is None:
            summary = "Нет ссылки на официальный сайт организации: добавьте её в поле «Сайт»."
            b(_result(WEBSITE_LINK_MISSING, FAIL, config.severity, "", "site", summary))
        else:
            b(_result(WEBSITE_LINK_MISSING, PASS, config.severity, facts.site[:200], "site",
                      "Ссылка на сайт есть."))  # fmt: skip

    for rule_id, flag, what in (
        (AVATAR_MISSING, snapshot.has_photo, "аватар"),
        (COVER_MISSING, snapshot.has_cover, "обложка"),
    ):
        if (config := rule(rule_id)) is None:
            continue
        if flag is None:
            summary = f"Платформа не сообщила, есть ли {what}."
            b(_result(rule_id, NOT_EVALUABLE, config.severity, "", "1", summary))
        elif flag:
            b(_result(rule_id, PASS, config.severity, 1, "1", f"{what.capitalize()} есть."))
        else:
            summary = (
                f"Не загружена {what}: оформите страницу в едином стиле."
                if (rule_id == COVER_MISSING)
                else "Не загружен аватар (стоит стандартная картинка): загрузите логотип или герб."
            )
            b(_result(rule_id, FAIL, config.severity, 0, "1", summary))

    if (config := rule(DESIGN_SCORE_LOW)) is not None:
        percent = design_percent(design, config.weights)
        threshold = f">= {_fmt(config.min_percent)}%"
        if design_unknown:
            known = [x for x in design if x[0] not in design_unknown]
            low = design_percent(known + [(u, FAIL) for u in design_unknown], config.weights)
            high = design_percent(known + [(u, PASS) for u in design_unknown], config.weights)
        if design_unknown and low is not None and high is not None:
            value = f"{low:.1f}–{high:.1f}"
            if high < config.min_percent:
                summary = (
                    f"Оформление страницы — не более {high:.0f}%, даже если всё, чего нет в ответе "
                    f"платформы, в порядке (нужно не менее {_fmt(config.min_percent)}%): исправьте "
                    "замечания раздела «Оформление»."
                )
                add(_result(DESIGN_SCORE_LOW, FAIL, config.severity, value, threshold, summary))
            elif low >= config.min_percent:
                add(_result(DESIGN_SCORE_LOW, PASS, config.severity, value, threshold,
                            "Оформление в порядке, что бы ни показали недостающие поля."))  # fmt: skip
            else:
                summary = (
                    f"Оформление — от {low:.0f} до {high:.0f}%: часть полей профиля в ответе "
                    "платформы не показана, оценку не дать."
                )
                add(_result(DESIGN_SCORE_LOW, NOT_EVALUABLE, config.severity, value, threshold,
                            summary))  # fmt: skip
        elif percent is None:
            summary = "Ни одно правило оформления не удалось проверить."
            add(_result(DESIGN_SCORE_LOW, NOT_EVALUABLE, config.severity, "", threshold, summary))
        elif percent < config.min_percent:
            summary = (
                f"Оформление страницы — {percent:.0f}% (нужно не менее "
                f"{_fmt(config.min_percent)}%): исправьте замечания раздела «Оформление»."
            )
            add(_result(DESIGN_SCORE_LOW, FAIL, config.severity, f"{percent:.1f}", threshold,
                        summary))  # fmt: skip
        else:
            add(_result(DESIGN_SCORE_LOW, PASS, config.severity, f"{percent:.1f}", threshold,
                        "Оформление в порядке."))  # fmt: skip

    if (config := rule(WALL_CLOSED)) is not None:
        wall = snapshot.wall
        threshold = "wall not in {0, 3}"
        if wall is None:
            summary = "Платформа не сообщила настройку стены."
            add(_result(WALL_CLOSED, NOT_EVALUABLE, config.severity, "", threshold, summary))
        elif wall in WALL_CLOSED_VALUES:
            summary = (
                "Стена сообщества закрыта: откройте стену (открытая или ограниченная), "
                "чтобы жители могли писать организации."
            )
            add(_result(WALL_CLOSED, FAIL, config.severity, wall, threshold, summary))
        else:
            add(_result(WALL_CLOSED, PASS, config.severity, wall, threshold, "Стена открыта."))
    return _exposed(out, hidden, partly) if hidden or partly else out


def wall_open_in_posts(
    result: RuleResult, posts: PostsObserved, now: datetime, days: float = 30.0
) -> RuleResult:
    """WALL_CLOSED for a profile that did not report ``wall``, from the wall itself: a visitor's
    post of the last ``days`` days shows the wall open to citizens (a closed wall keeps its old
    posts, so only a recent one counts). Any other result is returned as it is."""
    if result.rule != WALL_CLOSED or result.status != NOT_EVALUABLE or result.value:
        return result
    since = epoch_ms(now) - int(days * DAY_MS)
    visitors = [
        p for p in posts.posts if not by_page(p, posts.page_id) and epoch_ms(p.posted_at) >= since
    ]
    if not visitors:
        return result
    summary = (
        f"Настройку стены платформа не сообщила, но на стене есть записи жителей за последние "
        f"{days:g} дн. ({len(visitors)}): стена открыта."
    )
    value = f"записи жителей: {len(visitors)}"
    return RuleResult(WALL_CLOSED, PASS, result.severity, value, result.threshold, result.basis,
                      summary)  # fmt: skip


def design_percent(
    results: Iterable[tuple[str, str]], weights: Mapping[str, float] | None = None
) -> float | None:
    """Weighted share (0–100) of section B verdicts that passed; None if none was evaluated."""
    passed = total = 0.0
    for rule, status in results:
        if rule not in DESIGN_RULES or status == NOT_EVALUABLE:
            continue
        weight = (weights or {}).get(rule, 1.0) if weights else 1.0
        if weights is not None and rule not in weights:
            continue
        total += weight
        if status == PASS:
            passed += weight
    return None if total == 0 else 100.0 * passed / total


# --- C/D. activity -------------------------------------------------------------------------------


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


def by_page(post: Post, page_id: str) -> bool:
    """A post the page itself wrote or reposted, not a visitor's post on an open wall.

    ``is_own`` already means "by the page, not a repost"; a repost is the page's when its author
    is the page (VK, OK: the negative page id) or not named at all (a channel's forward).
    """
    return post.is_own or (post.is_repost and post.from_id in ("", f"-{page_id}"))


@dataclass(frozen=True, slots=True)
class Wall:
    """What one ``PostsObserved`` shows of a page's wall, as the activity rules read it.

    ``page_posts`` are the page's own posts and its reposts (with their times); ``own`` the
    page's own non-repost posts. The wall's span is what the unpinned posts cover: a pinned post
    stays on top whatever its age, so it neither makes the page fresh nor reaches further back.
    ``complete`` when the platform said it holds no more posts than it returned.
    """

    shown: int
    page_posts: tuple[tuple[Post, int], ...]
    own: tuple[tuple[Post, int], ...]
    edge_ms: int | None  # the oldest unpinned post shown: the wall is known from here to now
    complete: bool

    @classmethod
    def of(cls, posts: PostsObserved, posted: Sequence[int]) -> Wall:
        items = posts.posts
        page_tag = f"-{posts.page_id}"
        page_posts = []
        own = []
        edge_ms = None
        for p, ms in zip(items, posted, strict=True):  # one pass: the hot path of a sweep
            if not p.is_pinned and (edge_ms is None or ms < edge_ms):
                edge_ms = ms
            if p.is_own:
                page_posts.append((p, ms))
                if not p.is_repost:
                    own.append((p, ms))
            elif p.is_repost and (p.from_id == page_tag or not p.from_id):
                page_posts.append((p, ms))
        return cls(
            shown=len(items),
            page_posts=tuple(page_posts),
            own=tuple(own),
            edge_ms=edge_ms,
            complete=posts.total_count is not None and posts.total_count <= len(items),
        )

    def covers_less_than(self, since_ms: int) -> bool:
        """The posts shown all fall after ``since_ms`` and the wall holds more: a window reaching
        back to ``since_ms`` is not fully seen."""
        return self.edge_ms is not None and self.edge_ms >= since_ms and not self.complete

    @property
    def shown_note(self) -> str:
        """How many of the posts shown are the page's own (the rest: reposts, visitors' posts)."""
        return _shown_note(len(self.own), self.shown)


def _shown_note(own: int, shown: int) -> str:
    return f"собственных записей {own} из {shown} показанных"


def shown_note(posts: PostsObserved) -> str:
    """``Wall.shown_note`` without the rest of the wall (for LOW_ENGAGEMENT's value)."""
    own = sum(1 for p in posts.posts if p.is_own and not p.is_repost)
    return _shown_note(own, len(posts.posts))


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


@dataclass(frozen=True, slots=True)
class Reach:
    """Views of a page's own posts (not reposts) of the last 7 days, as one ``PostsObserved``
    shows them, for the scorecard's reach criteria.

    ``views`` is None where the views are hidden (VK leaves ``views`` out of a post, or the
    platform never shows them): the reach is then not evaluable, not zero. ``complete`` is False
    when the posts shown all fall within the week and the wall holds more: the week's views are
    then at least ``views`` (a lower bound).
    """

    own_posts: int
    views: int | None
    members: int | None
    complete: bool

    @property
    def weekly_reach(self) -> float | None:
        """The week's views per subscriber (0.7 is 70 %); None without views or subscribers."""
        if self.views is None or not self.members or self.members <= 0:
            return None
        return self.views / self.members

    @property
    def average_views(self) -> float | None:
        """Views per own post of the week; None without views or without a post that week."""
        if self.views is None or self.own_posts == 0:
            return None
        return self.views / self.own_posts


def page_reach(
    posts: PostsObserved, members: int | None, now_ms: int, wall: Wall | None = None
) -> Reach:
    """The page's reach over the 7 days before ``now_ms`` (see ``Reach``); ``wall``: the posts'
    ``Wall`` when the caller has it already (the evaluator reads every page's posts)."""
    since = now_ms - WEEK_MS
    if wall is None:
        wall = Wall.of(posts, posted_ms(posts.posts))
    week = [p for p, ms in wall.own if since <= ms <= now_ms]
    if week:
        hidden = any(p.views is None for p in week)
    else:  # nothing to add up: hidden only if the platform shows no post's views at all
        hidden = bool(posts.posts) and all(p.views is None for p in posts.posts)
    return Reach(
        own_posts=len(week),
        views=None if hidden else sum(p.views or 0 for p in week),
        members=members,
        complete=not wall.covers_less_than(since),
    )


def weekly_reach(posts: PostsObserved, members: int | None, now_ms: int) -> float | None:
    """The week's views of own posts per subscriber (``page_reach(...).weekly_reach``)."""
    return page_reach(posts, members, now_ms).weekly_reach


def average_views_per_post(posts: PostsObserved, now_ms: int) -> float | None:
    """Views per own post of the week (``page_reach(...).average_views``)."""
    return page_reach(posts, None, now_ms).average_views


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


# --- D. comments ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    comment: Comment
    replied_at: datetime | None  # the page's first answer to the comment
    # No answer in sight, but the data lacks part of the comment's post (a thread not loaded,
    # top-level comments not read): an answer may be there, so the comment is not evaluable.
    unseen: bool = False


def _thread_of(comment: Comment) -> str:
    """The thread a comment sits in: its root's id (a reply that names no thread: the comment it
    replies to, as version 1 events had it); a top-level comment's own id."""
    return comment.thread_id or comment.reply_to or comment.comment_id


def is_request(
    comment: Comment, citizen_posts: Iterable[str] = (), communities: bool = False
) -> bool:
    """A citizen's request to the page: a person's comment (another community's only when the
    profile says so) on a post of the page, not on a citizen's post, where citizens talk to each
    other."""
    if comment.author_kind != "citizen" or comment.post_id in citizen_posts:
        return False
    return communities or not comment.from_id.startswith("-")


def first_answers(
    comments: Sequence[Comment],
    *,
    citizen_posts: Iterable[str] = (),
    partial_threads: Iterable[str] = (),
    partial_posts: Iterable[str] = (),
    unknown_posts: Iterable[str] = (),
    communities: bool = False,
) -> list[Answer]:
    """Each citizen request (``is_request``) with the page's first answer to it.

    A page comment on the same post, written no earlier, answers a request when it replies to it,
    sits in its thread (replies to the same top-level comment, or to the request itself), or
    names its author (``[id123|Иван], …`` or ``reply_to_user``), in a thread or at the top level:
    one such answer answers all the author's earlier comments on the post.
    """
    citizen_posts, partial_posts = frozenset(citizen_posts), frozenset(partial_posts)
    partial_threads = frozenset(partial_threads)
    page: dict[str, list[Comment]] = {}
    for c in comments:
        if c.author_kind == "page":
            page.setdefault(c.post_id, []).append(c)
    # A post is partly unread when its top level is, or one of its threads: an answer naming
    # the citizen may sit in any of them. A post of unknown author may be a citizen's, where
    # nothing is a request: only a visible answer settles it.
    unread = set(partial_posts) | set(unknown_posts)
    for c in comments:
        if c.comment_id in partial_threads or (c.thread_id and c.thread_id in partial_threads):
            unread.add(c.post_id)
    out = []
    for c in comments:
        if not is_request(c, citizen_posts, communities):
            continue
        thread = _thread_of(c)
        replies = [
            p.posted_at
            for p in page.get(c.post_id, ())
            if p.posted_at >= c.posted_at
            and (
                p.reply_to == c.comment_id
                or ((p.thread_id or p.reply_to) is not None and _thread_of(p) == thread)
                or c.from_id in p.addressees
            )
        ]
        if replies:
            out.append(Answer(c, min(replies)))
        else:
            out.append(Answer(c, None, unseen=c.post_id in unread))
    return out


def event_answers(event: CommentsObserved, profile: Profile) -> list[Answer]:
    """``first_answers`` of an event, with the profile's idea of a request."""
    return first_answers(
        event.comments,
        citizen_posts=event.citizen_posts,
        partial_threads=event.partial_threads,
        partial_posts=event.partial_posts,
        unknown_posts=event.unknown_posts,
        communities=profile.comments.community_comments_are_requests,
    )


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


def _comments_word(n: int) -> str:
    return counted(n, "комментарий", "комментария", "комментариев")


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


# --- E. content and safety: evidence from two sources --------------------------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one source (the profile or the posts) showed for a two-source rule; "" = nothing."""

    rule: str
    found: str | None  # None: the source did not show what the rule reads


def find_evidence(
    profile: Profile, texts: Sequence[str], links: Sequence[str] = ()
) -> list[Evidence]:
    """Evidence for BANNED_PLATFORM_LINKS and FOREIGN_MESSENGER_SERVICE in some texts."""
    banned = profile.rule(BANNED_PLATFORM_LINKS)
    messenger = profile.rule(FOREIGN_MESSENGER_SERVICE)
    if banned is None and messenger is None:
        return []
    # Most pages mention neither: one lower-cased copy of everything rules that out cheaply.
    low = "\n".join(t for t in (*texts, *links) if t).lower()
    out = []
    if banned is not None:
        found = None
        if any(d in low for d in banned.domains):
            found = find_domain((*texts, *links), tuple(banned.domains))
        out.append(Evidence(BANNED_PLATFORM_LINKS, found or ""))
    if messenger is not None:
        found = None
        if any(m in low for m in (*messenger.messengers, *messenger.chat_links)):
            found = find_messenger_service(
                (*texts, *links),  # a link may open a chat (wa.me/…) by itself
                messenger.messengers,
                messenger.service_words,
                messenger.action_words,
                messenger.channel_words,
                messenger.warning_words,
                messenger.chat_links,
            )
        out.append(Evidence(FOREIGN_MESSENGER_SERVICE, found or ""))
    return out


def profile_evidence(snapshot: PageSnapshot, profile: Profile) -> list[Evidence]:
    """Evidence in the profile; ``found`` is None for a rule with nothing found in an answer that
    did not show the description, or neither the site nor the links (``PageSnapshot.unknown``):
    those are where a page writes an offer or puts a link."""
    if snapshot.platform not in PAGE_RULE_PLATFORMS:
        return []
    found = find_evidence(
        profile, (snapshot.description, snapshot.site), (*snapshot.links, snapshot.site)
    )
    unknown = snapshot.unknown
    if unknown and ("description" in unknown or {"site", "links"} <= set(unknown)):
        found = [e if e.found else Evidence(e.rule, None) for e in found]
    return found


def posts_evidence(posts: PostsObserved, profile: Profile) -> list[Evidence]:
    """Evidence in the page's own recent posts (reposts and visitors' posts are not the page's)."""
    if posts.platform not in PAGE_RULE_PLATFORMS:
        return []
    own = [p for p in posts.posts if p.is_own and not p.is_repost]
    texts = [p.text for p in own]
    links = [link for p in own for link in p.links]
    return find_evidence(profile, texts, links)


def combine_evidence(
    profile: Profile, rule: str, in_profile: str | None, in_posts: str | None
) -> RuleResult | None:
    """The verdict from both sources; ``None`` for a source not seen yet."""
    config = profile.rule(rule)
    if config is None:
        return None
    if rule == BANNED_PLATFORM_LINKS:
        threshold = "нет ссылок на " + ", ".join(config.domains)
        what = "ссылка на запрещённую площадку"
        fix = "удалите ссылки на Instagram и Facebook (Meta признана экстремистской)."
    else:
        threshold = "нет услуг через иностранные мессенджеры"
        what = "предложение услуги через иностранный мессенджер"
        fix = (
            "не принимайте обращения с персональными данными и платежи через WhatsApp, Viber "
            "или Telegram: используйте официальные каналы (Госуслуги, сайт, телефон)."
        )
    found = [(where, ev) for where, ev in (("профиль", in_profile), ("публикации", in_posts)) if ev]
    if found:
        where, ev = found[0]
        summary = f"Найдено: {what} ({where}: «{ev[:100]}»): {fix}"
        value = "; ".join(f"{w}: {e[:100]}" for w, e in found)
        return _result(rule, FAIL, config.severity, value, threshold, summary)
    if in_profile is None or in_posts is None:
        missing = (
            "профиль (не получен, или в ответе нет описания, сайта или ссылок)"
            if in_profile is None
            else "публикации"
        )
        summary = f"Проверена только часть данных: нет данных — {missing}."
        return _result(rule, NOT_EVALUABLE, config.severity, "", threshold, summary)
    return _result(rule, PASS, config.severity, "", threshold, "Нарушений не найдено.")


# --- pages the platform would not show ----------------------------------------------------------


def evaluate_unavailable(
    platform: Platform, reason: Unavailability, profile: Profile, exempt: bool = False
) -> list[RuleResult]:
    """A page that is gone or closed: PAGE_NOT_PUBLIC fails; the rest cannot be checked.

    An exempt organisation need not keep a page, so its page being gone is no breach (a page it
    keeps but closes still is: the page rules apply to the pages it has).
    """
    if platform not in PAGE_RULE_PLATFORMS:
        return []
    if reason == Unavailability.NOT_CONNECTED:
        return _not_connected(profile)
    results = []
    config = profile.rule(PAGE_NOT_PUBLIC)
    if config is not None:
        threshold = "страница открыта"
        if exempt and reason in (Unavailability.DELETED, Unavailability.BANNED):
            summary = (
                "Организация освобождена от ведения госпабликов: удалённая или заблокированная "
                "страница — не нарушение."
            )
            results.append(_result(PAGE_NOT_PUBLIC, PASS, config.deleted_severity, reason.value,
                                   threshold, summary))  # fmt: skip
        elif reason in (Unavailability.DELETED, Unavailability.BANNED):
            summary = (
                f"Страница {'заблокирована' if reason == Unavailability.BANNED else 'удалена'}: "
                "восстановите госпаблик или создайте новый и обновите ссылку в реестре."
            )
            results.append(_result(PAGE_NOT_PUBLIC, FAIL, config.deleted_severity, reason.value,
                                   threshold, summary))  # fmt: skip
        elif reason == Unavailability.PRIVATE:
            summary = "Сообщество закрытое: госпаблик должен быть открыт для всех жителей."
            results.append(_result(PAGE_NOT_PUBLIC, FAIL, config.closed_severity, reason.value,
                                   threshold, summary))  # fmt: skip
        else:
            summary = "Страница не найдена: проверьте ссылку в реестре (см. PAGE_MISSING_ANY)."
            results.append(_result(PAGE_NOT_PUBLIC, NOT_EVALUABLE, config.deleted_severity,
                                   reason.value, threshold, summary))  # fmt: skip
    summary = f"Страница недоступна ({reason.value}): проверка профиля и публикаций невозможна."
    for rule in PAGE_RULES:
        if rule == PAGE_NOT_PUBLIC:
            continue
        config = profile.rule(rule)
        if config is not None:
            results.append(
                _result(rule, NOT_EVALUABLE, _severity(config), reason.value, "", summary)
            )
    return results


NOT_CONNECTED_SUMMARY = "канал не подключён к мониторингу"


def _not_connected(profile: Profile) -> list[RuleResult]:
    """A register channel the monitoring bot cannot see (MAX shows a channel only to a bot its
    owner added): not "missing" (the channel may well exist), not "closed", but not connected;
    nothing else about it can be checked."""
    results = []
    config = profile.rule(PAGE_NOT_CONNECTED)
    if config is not None:
        summary = (
            f"{NOT_CONNECTED_SUMMARY.capitalize()}: бот мониторинга не видит канал. Добавьте его "
            "в участники канала, иначе канал не проверить."
        )
        results.append(_result(PAGE_NOT_CONNECTED, FAIL, config.severity,
                               Unavailability.NOT_CONNECTED.value, "бот в канале", summary))  # fmt: skip
    summary = f"{NOT_CONNECTED_SUMMARY.capitalize()}: проверка профиля и публикаций невозможна."
    for rule in PAGE_RULES:
        config = profile.rule(rule)
        if config is not None:
            results.append(
                _result(
                    rule,
                    NOT_EVALUABLE,
                    _severity(config),
                    Unavailability.NOT_CONNECTED.value,
                    "",
                    summary,
                )
            )
    return results


def not_evaluable(rule: str, profile: Profile, reason: str) -> RuleResult | None:
    """A verdict for a rule whose data did not come at all (e.g. no comments were given)."""
    config = profile.rule(rule)
    if config is None:
        return None
    return _result(rule, NOT_EVALUABLE, _severity(config), "", "", reason)


# --- cross-platform copies -----------------------------------------------------------------------


def evaluate_copied_content(found: Originality, profile: Profile) -> list[RuleResult]:
    """COPIED_CONTENT: a page whose every post of the last four weeks appeared first on another
    page of the same organisation (see ``copies.originality``)."""
    config = profile.rule(COPIED_CONTENT)
    if config is None:
        return []
    threshold = ">= 1 собственного поста за 4 недели"
    if found.posts == 0:
        summary = "За 4 недели нет постов с текстом, по которому видно, откуда он."
        return [_result(COPIED_CONTENT, NOT_EVALUABLE, config.severity, 0, threshold, summary)]
    value = f"{found.original}/{found.posts}"
    if found.no_original_content:
        sources = ", ".join(PLATFORM_TITLES.get(p, p) for p in found.copied_from)
        summary = (
            f"Все {found.posts} пост(а/ов) за 4 недели повторяют посты, раньше опубликованные "
            f"на других страницах организации ({sources}): собственных материалов нет."
        )
        return [_result(COPIED_CONTENT, FAIL, config.severity, value, threshold, summary)]
    summary = f"Собственных постов за 4 недели: {found.original} из {found.posts}."
    return [_result(COPIED_CONTENT, PASS, config.severity, value, threshold, summary)]
