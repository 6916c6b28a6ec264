"""Rules on a live page's profile (``evaluate_profile``): identity (A), completeness and the
«Оформление %» score (B), the wall setting (D)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gospublic.contracts import PageSnapshot

from ..profiles import DESIGN_RULES, Profile
from .catalogue import (
    _NEEDS_CONNECTION,
    ADDRESS_MISSING,
    AVATAR_MISSING,
    CONTACT_EMAIL_MISSING,
    CONTACT_PHONE_MISSING,
    COVER_MISSING,
    DESCRIPTION_MISSING,
    DESCRIPTION_NO_GOALS,
    DESIGN_SCORE_LOW,
    FAIL,
    NAME_MISMATCH,
    NOT_EVALUABLE,
    NOT_EXPOSED,
    NOT_VERIFIED,
    PAGE_NOT_CONNECTED,
    PAGE_NOT_PUBLIC,
    PAGE_RULE_PLATFORMS,
    PARTLY_EXPOSED,
    PASS,
    WALL_CLOSED,
    WALL_CLOSED_VALUES,
    WEBSITE_LINK_MISSING,
    WIDGET_FOREIGN_ORG,
    WIDGETS_MISSING,
)
from .results import RuleResult, _exposed, _fmt, _result
from .texts import find_email, find_phone, name_similarity, website
from .widgets import _widget_foreign_org, _widgets_missing


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
