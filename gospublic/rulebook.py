"""What each rule is called, what it asks for and how to fix it, in Russian: one entry per rule.

``gospublic check`` prints these, the notifier's e-mails and digests use the same titles and fix
texts, so a rule is described in one place. The norm is rendered in words from the rule's settings
in the profile ("не реже 3 постов в неделю за 4 недели"), so it follows whatever a regional profile
sets. A renderer reads the settings by attribute name and takes ``None`` (the profile does not
enable the rule) as "the norm in general".

This module is part of the kernel: services import it, it imports no service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gospublic.platforms.descriptor import descriptors

# --- words -----------------------------------------------------------------------------------


def plural(n: float, one: str, few: str, many: str) -> str:
    """The form of a noun after the number ``n``: 1 пост, 2 поста, 5 постов, 21 пост, 1,5 поста.

    A fractional number takes the genitive singular, the same form as after 2–4 for the nouns
    used here.
    """
    if n != int(n):
        return few
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def number(x: float) -> str:
    """A number as a Russian reader writes it: 3, 1,5, 0,6 (no trailing zeros)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def counted(n: float, one: str, few: str, many: str) -> str:
    """``3 поста``: the number and the noun in the form it takes."""
    return f"{number(n)} {plural(n, one, few, many)}"


def at_least(n: float, one_genitive: str, many_genitive: str) -> str:
    """``не реже 3 постов``, ``не реже 1 поста``: after "не реже / не позже" the noun is genitive."""
    single = n == int(n) and abs(int(n)) % 10 == 1 and abs(int(n)) % 100 != 11
    return f"{number(n)} {one_genitive if single or n != int(n) else many_genitive}"


def _percent(share: float) -> str:
    return f"{number(share * 100)} %"


def _list(values: Iterable[str], limit: int = 6) -> str:
    values = list(values)
    shown = ", ".join(values[:limit])
    return shown + (f" и ещё {len(values) - limit}" if len(values) > limit else "")


SEVERITY_TITLES: dict[str, str] = {
    "critical": "критично",
    "high": "высокая",
    "medium": "средняя",
    "low": "низкая",
    "warning": "предупреждение",
    "info": "инфо",
}

STATUS_TITLES: dict[str, str] = {
    "pass": "выполнено",
    "fail": "НАРУШЕНИЕ",
    "not_evaluable": "не проверяется",
}

# The platforms' names are their descriptors' (gospublic.platforms).
PLATFORM_TITLES: dict[str, str] = {d.id: d.name_ru for d in descriptors()}
# "страница во ВКонтакте / в Одноклассниках / в Telegram / в MAX"
_PLATFORM_IN: dict[str, str] = {d.id: d.name_in for d in descriptors()}

# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleText:
    title: str  # what is wrong, as a heading: "Нет контактного телефона"
    fix: str  # what the page's editor should do
    norm: Callable[[Any], str]  # the rule's settings in the profile → the norm in words


def _const(text: str) -> Callable[[Any], str]:
    return lambda _config: text


def _missing_platform(platform: str) -> RuleText:
    where = _PLATFORM_IN[platform]
    return RuleText(
        f"Нет официальной страницы {where}",
        f"Создайте официальную страницу {where} и сообщите ссылку в ЦУР для внесения в реестр.",
        _const(f"есть действующая официальная страница {where}"),
    )


def _name(config: Any) -> str:
    similarity = getattr(config, "min_similarity", None)
    if similarity is None:
        return "название страницы похоже на название по реестру"
    return f"сходство названия страницы с названием по реестру не ниже {number(similarity)}"


def _description(config: Any) -> str:
    chars = getattr(config, "min_chars", None)
    if chars is None:
        return "описание страницы заполнено"
    return f"описание не короче {at_least(chars, 'символа', 'символов')}"


def _goals(config: Any) -> str:
    keywords = getattr(config, "keywords", None)
    text = "в описании сказано о целях, задачах или функциях организации"
    return f"{text} (слова на «{_list(keywords)}»)" if keywords else text


def _design(config: Any) -> str:
    percent = getattr(config, "min_percent", None)
    if percent is None:
        return "«Оформление» страницы в норме"
    return f"«Оформление» не ниже {number(percent)} % (доля выполненных требований раздела B)"


def _days(n: float) -> str:
    return at_least(n, "дня", "дней")


def _stale(config: Any) -> str:
    grades = sorted(getattr(config, "grades", ()) or (), key=lambda g: g.days)
    if not grades:
        return "собственные публикации выходят регулярно"
    first, *rest = grades
    text = f"последняя собственная публикация не старше {_days(first.days)}"
    if rest:
        worse = ", ".join(
            f"старше {_days(g.days)} — {SEVERITY_TITLES.get(str(g.severity), g.severity)}"
            for g in rest
        )
        text += f" ({worse})"
    return text


def _weeks(n: int) -> str:
    return counted(n, "неделю", "недели", "недель")


def _frequency(config: Any) -> str:
    floor = getattr(config, "min_posts_per_week", None)
    if floor is None:
        return "собственные публикации выходят не реже нескольких раз в неделю"
    weeks = getattr(config, "weeks", 4)
    text = (
        f"не реже {at_least(floor, 'собственного поста', 'собственных постов')} в неделю "
        f"в среднем за {_weeks(weeks)}"
    )
    by_level = getattr(config, "by_level", None) or {}
    if by_level:
        levels = "; ".join(f"{level} — {number(n)}" for level, n in sorted(by_level.items()))
        text += f" (для уровней: {levels})"
    return text


def _reposts(config: Any) -> str:
    share = getattr(config, "max_share", None)
    if share is None:
        return "публикации в основном собственные, не репосты"
    return f"репостов не больше {_percent(share)} публикаций за {_weeks(config.weeks)}"


def _engagement(config: Any) -> str:
    bottom = getattr(config, "bottom_percent", None)
    if bottom is None:
        return "вовлечённость не ниже, чем у похожих страниц"
    cohort = getattr(config, "min_cohort", None)
    text = f"вовлечённость выше, чем у нижних {number(bottom)} % похожих страниц"
    if cohort:
        text += f" (сравнивается, когда похожих страниц не меньше {number(cohort)})"
    return text


def _comments_closed(config: Any) -> str:
    share = getattr(config, "max_share", None)
    if share is None:
        return "комментарии под публикациями открыты"
    last = config.last_posts
    return (
        f"комментарии закрыты не больше чем у {_percent(share)} из "
        f"{counted(last, 'последней публикации', 'последних публикаций', 'последних публикаций')}"
    )


def _hours(n: float, working: bool) -> str:
    if working:
        return at_least(n, "рабочего часа", "рабочих часов")
    return at_least(n, "часа", "часов")


def _unanswered(config: Any) -> str:
    hours = getattr(config, "hours", None)
    if hours is None:
        return "на комментарии жителей отвечают в установленный срок"
    return (
        f"ответ от имени страницы на каждый комментарий жителя не позже "
        f"{_hours(hours, config.working_hours)}"
    )


def _unanswered_soon(config: Any) -> str:
    share = getattr(config, "share", None)
    if share is None:
        return "на комментарии жителей отвечают, не дожидаясь последних часов срока"
    return (
        f"ответ на комментарий жителя раньше, чем пройдёт {_percent(share)} срока ответа "
        "(предупреждение до нарушения «Вопрос гражданина остался без ответа»)"
    )


def _median(config: Any) -> str:
    hours = getattr(config, "hours", None)
    if hours is None:
        return "жителям отвечают быстро"
    return (
        f"медиана времени первого ответа не больше {_hours(hours, config.working_hours)} "
        f"за {counted(config.days, 'последний день', 'последних дня', 'последних дней')}"
    )


def _reply_rate(config: Any) -> str:
    share = getattr(config, "min_share", None)
    if share is None:
        return "почти на все комментарии жителей отвечают"
    return (
        f"ответ получают не меньше {_percent(share)} комментариев жителей, "
        f"каждый в течение {at_least(config.within_days, 'дня', 'дней')}"
    )


def _banned(config: Any) -> str:
    domains = getattr(config, "domains", None)
    return f"нет ссылок на {_list(domains)}" if domains else "нет ссылок на запрещённые площадки"


def _messengers(config: Any) -> str:
    messengers = getattr(config, "messengers", None)
    names = _list(messengers) if messengers else ""
    return (
        "услуги с персональными данными или оплатой не предлагаются через иностранные "
        "мессенджеры" + (f" ({names})" if names else "")
    )


RULEBOOK: dict[str, RuleText] = {
    # A. Presence and identity
    "PAGE_MISSING_ANY": RuleText(
        "Нет официальной страницы во ВКонтакте или Одноклассниках",
        "Создайте официальную страницу во ВКонтакте или Одноклассниках и сообщите ссылку в ЦУР.",
        _const("есть действующая официальная страница во ВКонтакте или Одноклассниках"),
    ),
    **{f"PAGE_MISSING_{d.id.upper()}": _missing_platform(d.id) for d in descriptors()},
    "ORG_EXEMPT": RuleText(
        "Организация в перечне исключений учредителя",
        "Ничего делать не нужно: требования о госпабликах к организации не применяются. "
        "Если это не так, попросите учредителя исправить перечень.",
        _const("организации нет в перечне исключений учредителя"),
    ),
    "OFF_LIST_ONLY": RuleText(
        "Официальные страницы только вне перечня площадок",
        "Создайте официальную страницу во ВКонтакте или Одноклассниках: закон требует "
        "госпаблик именно там; остальные каналы можно оставить.",
        _const("хотя бы одна официальная страница во ВКонтакте или Одноклассниках"),
    ),
    "PAGE_NOT_PUBLIC": RuleText(
        "Страница удалена, заблокирована или закрыта",
        "Восстановите страницу или откройте её для всех посетителей.",
        _const("страница существует и открыта для всех посетителей"),
    ),
    "PAGE_NOT_CONNECTED": RuleText(
        "Канал не подключён к мониторингу",
        "Добавьте бота мониторинга ЦУР в участники (администраторы) канала: без него площадка "
        "не показывает канал, и проверить его нельзя.",
        _const("бот мониторинга добавлен в канал и видит его"),
    ),
    "NOT_VERIFIED": RuleText(
        "Нет отметки «Государственная организация»",
        "Подайте заявку на отметку «Госорганизация» через ЦУР своего региона.",
        _const("у страницы есть отметка «Госорганизация» (синяя галочка ею не является)"),
    ),
    "WIDGETS_MISSING": RuleText(
        "Нет виджетов Госуслуг «Сообщить о проблеме» и «Высказать мнение»",
        "Разместите в меню сообщества оба виджета платформы обратной связи Госуслуг: ссылки на "
        "них со своим ОГРН выдаёт ЦУР региона.",
        _const("в меню страницы оба виджета Госуслуг: «Сообщить о проблеме» и «Высказать мнение»"),
    ),
    "WIDGET_FOREIGN_ORG": RuleText(
        "Виджет Госуслуг настроен на другую организацию",
        "Замените ссылку виджета на выданную для вашей организации: в ней должен стоять ваш ОГРН, "
        "иначе обращения жителей уходят другому органу.",
        _const("в ссылках виджетов Госуслуг указан ОГРН самой организации"),
    ),
    "NAME_MISMATCH": RuleText(
        "Название страницы не совпадает с названием по реестру",
        "Назовите страницу по реестру: полным или сокращённым наименованием организации.",
        _name,
    ),
    # B. Profile completeness
    "DESCRIPTION_MISSING": RuleText(
        "Нет описания страницы",
        "Заполните описание: полное наименование, цели и функции организации.",
        _description,
    ),
    "DESCRIPTION_NO_GOALS": RuleText(
        "В описании не указаны цели и задачи организации",
        "Добавьте в описание, для чего работает организация: её цели, задачи и функции.",
        _goals,
    ),
    "CONTACT_PHONE_MISSING": RuleText(
        "Нет контактного телефона",
        "Укажите телефон в описании или в блоке контактов, например +7 (473) 255-12-34.",
        _const("на странице указан контактный телефон"),
    ),
    "CONTACT_EMAIL_MISSING": RuleText(
        "Нет адреса электронной почты",
        "Укажите официальный адрес электронной почты в описании или в контактах.",
        _const("на странице указан адрес электронной почты"),
    ),
    "ADDRESS_MISSING": RuleText(
        "Нет почтового адреса",
        "Добавьте адрес организации в блок «Адреса».",
        _const("на странице указан адрес организации"),
    ),
    "WEBSITE_LINK_MISSING": RuleText(
        "Нет ссылки на официальный сайт",
        "Добавьте ссылку на официальный сайт в поле «Сайт» или в ссылки сообщества.",
        _const("есть ссылка на официальный сайт организации"),
    ),
    "AVATAR_MISSING": RuleText(
        "Не загружен аватар",
        "Загрузите логотип или герб организации вместо стандартной картинки.",
        _const("загружен аватар"),
    ),
    "COVER_MISSING": RuleText(
        "Не загружена обложка",
        "Загрузите обложку страницы в едином стиле с аватаром.",
        _const("загружена обложка"),
    ),
    "DESIGN_SCORE_LOW": RuleText(
        "Низкий процент оформления страницы",
        "Исправьте замечания раздела «Оформление»: описание, контакты, адрес, сайт, аватар.",
        _design,
    ),
    # C. Activity
    "STALE": RuleText(
        "Давно нет собственных публикаций",
        "Публикуйте собственные материалы (не репосты) регулярно, хотя бы раз в неделю.",
        _stale,
    ),
    "LOW_FREQUENCY": RuleText(
        "Слишком редкие публикации",
        "Публикуйте собственные новости чаще, по плану публикаций.",
        _frequency,
    ),
    "REPOST_HEAVY": RuleText(
        "Слишком много репостов",
        "Публикуйте больше собственных материалов о работе организации.",
        _reposts,
    ),
    "COPIED_CONTENT": RuleText(
        "Канал только повторяет другую страницу организации",
        "Публикуйте в канале и собственные материалы, а не только копии постов другой страницы.",
        _const("за 4 недели есть хотя бы один собственный пост, которого нет на других страницах"),
    ),
    "LOW_ENGAGEMENT": RuleText(
        "Низкая вовлечённость жителей",
        "Публикуйте материалы, интересные жителям, и отвечайте на их комментарии.",
        _engagement,
    ),
    # D. Feedback and comments
    "WALL_CLOSED": RuleText(
        "Стена закрыта",
        "Откройте стену: Управление → Разделы → Стена «Открытая» или «Ограниченная».",
        _const("стена открыта или ограничена (жители могут писать организации)"),
    ),
    "COMMENTS_CLOSED_POSTS": RuleText(
        "Комментарии под записями закрыты",
        "Откройте комментарии под записями, чтобы граждане могли задать вопрос.",
        _comments_closed,
    ),
    "UNANSWERED_COMMENT": RuleText(
        "Вопрос гражданина остался без ответа",
        "Ответьте на комментарий от имени страницы в установленный срок.",
        _unanswered,
    ),
    "UNANSWERED_COMMENT_SOON": RuleText(
        "Срок ответа на вопрос гражданина подходит к концу",
        "Ответьте на комментарий от имени страницы, пока срок не истёк.",
        _unanswered_soon,
    ),
    "SLOW_RESPONSE_MEDIAN": RuleText(
        "Жителям отвечают медленно",
        "Назначьте ответственного и отвечайте на комментарии в течение рабочего дня.",
        _median,
    ),
    "LOW_REPLY_RATE": RuleText(
        "На многие комментарии жителей нет ответа",
        "Отвечайте от имени страницы на каждый вопрос жителя.",
        _reply_rate,
    ),
    # E. Content and safety
    "BANNED_PLATFORM_LINKS": RuleText(
        "Ссылки на запрещённые площадки",
        "Удалите ссылки на Instagram и Facebook из описания, ссылок и записей.",
        _banned,
    ),
    "FOREIGN_MESSENGER_SERVICE": RuleText(
        "Услуги через иностранные мессенджеры",
        "Не принимайте обращения с персональными данными и платежи через WhatsApp, Viber или "
        "Telegram: используйте Госуслуги, официальный сайт, телефон.",
        _messengers,
    ),
}


# --- the regional centre's table ----------------------------------------------------------------

# The scorecard's criteria in the order of the table's columns, with the titles a centre's table uses.
CRITERION_TITLES = {
    "connection": "Подключение к «Госпабликам»",
    "gov_mark": "Госметка",
    "avatar": "Оформление: аватар",
    "description": "Оформление: описание",
    "cover": "Оформление: обложка",
    "widgets": "Виджеты Госуслуг",
    "activity": "Активность",
    "reach_week": "Охват за неделю",
    "reach_post": "Средний охват публикации",
}
# The criterion of the table each rule's subject feeds: fixing what the rule reports raises it.
# The connection to «Госпаблики» and the reach come from the register and the views, not a rule.
RULE_CRITERION = {
    "NOT_VERIFIED": "gov_mark",
    "AVATAR_MISSING": "avatar",
    "DESCRIPTION_MISSING": "description",
    "COVER_MISSING": "cover",
    "WIDGETS_MISSING": "widgets",
    "STALE": "activity",
    "LOW_FREQUENCY": "activity",
}


def criterion_title(criterion: str) -> str:
    return CRITERION_TITLES.get(criterion, criterion)


def rule_criterion(rule: str) -> str | None:
    """The scorecard criterion the rule's subject feeds, if any."""
    return RULE_CRITERION.get(rule)


def title(rule: str) -> str:
    entry = RULEBOOK.get(rule)
    return entry.title if entry else rule


def fix(rule: str) -> str:
    entry = RULEBOOK.get(rule)
    return entry.fix if entry else "См. описание нарушения."


def norm(rule: str, config: Any) -> str:
    """The rule's norm in words for its settings in a profile (``None``: in general)."""
    entry = RULEBOOK.get(rule)
    return entry.norm(config) if entry else ""


def severity_title(severity: str) -> str:
    return SEVERITY_TITLES.get(str(severity), str(severity))


def status_title(status: str) -> str:
    return STATUS_TITLES.get(status, status)
