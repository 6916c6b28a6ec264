"""The two-source rules of section E (BANNED_PLATFORM_LINKS, FOREIGN_MESSENGER_SERVICE): what the
profile and the posts each show (``Evidence``), and the verdict from both."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gospublic.contracts import PageSnapshot, PostsObserved

from ..profiles import Profile
from .catalogue import (
    BANNED_PLATFORM_LINKS,
    FAIL,
    FOREIGN_MESSENGER_SERVICE,
    NOT_EVALUABLE,
    PAGE_RULE_PLATFORMS,
    PASS,
)
from .results import RuleResult, _result
from .texts import find_domain, find_messenger_service


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one source (the profile or the posts) showed for a two-source rule; "" = nothing."""

    rule: str
    found: str | None  # None: the source did not show what the rule reads


@functools.cache
def _any_of(words: tuple[str, ...]) -> re.Pattern[str]:
    """Finds any of the words in a text: one scan where ``any(w in text for w in words)`` makes
    one per word (run on every page's profile and posts). Never matches when there are none."""
    if not words:
        return re.compile(r"(?!)")
    return re.compile("|".join(re.escape(w) for w in words))


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
        if _any_of(tuple(banned.domains)).search(low):
            found = find_domain((*texts, *links), tuple(banned.domains))
        out.append(Evidence(BANNED_PLATFORM_LINKS, found or ""))
    if messenger is not None:
        found = None
        if _any_of((*messenger.messengers, *messenger.chat_links)).search(low):
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
