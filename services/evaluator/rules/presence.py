"""Whether an organisation keeps its pages (the register's organisation-level rules of section A),
and the verdicts for a page the platform would not show: gone, closed, or a MAX channel the
monitoring bot is not connected to."""

from __future__ import annotations

from collections.abc import Mapping

from gospublic.contracts import Organisation, Platform, Unavailability

from ..profiles import Profile, platform_rule
from .catalogue import (
    COLLECTED_PLATFORMS,
    FAIL,
    GONE,
    LEGAL_PLATFORMS,
    NOT_EVALUABLE,
    OFF_LIST_ONLY,
    ORG_EXEMPT,
    PAGE_MISSING_ANY,
    PAGE_NOT_CONNECTED,
    PAGE_NOT_PUBLIC,
    PAGE_RULE_PLATFORMS,
    PAGE_RULES,
    PASS,
    UNKNOWN,
)
from .results import RuleResult, _result, _severity


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
