"""Finding things in a page's texts: a phone, an e-mail, the body's own website, a banned domain,
an offer made through a foreign messenger; and how alike a page's name is to the register's."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

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
