"""Every rule's verdict for the page, and the table a person reads (Russian, or English)."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime

from gospublic import contracts as c
from gospublic import display
from gospublic import rulebook as book
from services.evaluator import rules as r
from services.evaluator.handlers import process_batch
from services.evaluator.profiles import Profile
from services.evaluator.state import EvaluatorState

from .inputs import MOSCOW

WRAP = 100


# --- verdicts ------------------------------------------------------------------------------------


def verdicts(
    events: list[c.Event],
    profile: Profile,
    now: datetime,
    comments_given: bool,
    missing: dict[str, str] | None = None,
    platform: str = "vk",
):
    """(platform, page_id, result) for every rule the profile enables, in catalogue order."""
    out = process_batch(EvaluatorState(), events, profile, now, keep_verdicts=True)
    posts = next((e for e in events if isinstance(e, c.PostsObserved)), None)
    latest: dict[tuple[str, str], tuple[str, str, r.RuleResult]] = {}
    for _org, row_platform, page_id, result in out.verdicts or []:
        if posts is not None and result.rule == r.WALL_CLOSED:
            # A saved answer may lack ``wall`` (not requested); visitors' recent posts on the wall
            # show it open. (The collector always asks for ``wall``, so the stream needs no such.)
            result = r.wall_open_in_posts(result, posts, now)
        latest[(result.rule, row_platform)] = (row_platform, page_id, result)
    seen = {rule for rule, _ in latest}
    page_id = next((e.page_id for e in events if isinstance(e, c.PageSnapshot)), "")
    reasons = {
        "comments": "Комментарии не переданы (--comments): правило не проверялось.",
        "posts": "Записи стены не переданы (--wall): правило не проверялось.",
        "registry": "Организация не указана (--org-name): правило не проверялось.",
        "profile": "Профиль страницы недоступен: правило не проверялось.",
        "profile+posts": "Нужны и профиль, и записи стены.",
        **(missing or {}),
    }
    for rule in profile.enabled_rules:
        if rule in seen:
            continue
        source = r.RULES[rule].source if rule in r.RULES else "registry"
        reason = reasons.get(source, "Нет данных.")
        if source == "comments" and comments_given and "comments" not in (missing or {}):
            reason = "Нет данных для проверки."
        result = r.not_evaluable(rule, profile, reason)
        if result is not None:
            scope = r.RULES[rule].scope if rule in r.RULES else "organisation"
            latest[(rule, "any")] = ("any" if scope == "organisation" else platform,
                                     "" if scope == "organisation" else page_id, result)  # fmt: skip
    order = {rule: i for i, rule in enumerate(r.RULES)}
    return sorted(latest.values(), key=lambda x: (order.get(x[2].rule, 999), x[0]))


# --- output --------------------------------------------------------------------------------------


def _wrapped(label: str, text: str, indent: int = 3) -> list[str]:
    """``label text`` wrapped at the table's width, never cut."""
    lead = " " * indent + label
    # Page names, values and error texts come from outside: no controls or direction overrides.
    text = display.clean(text).replace("№ ", "№\xa0")  # "№ 8-ФЗ" stays on one line
    return textwrap.wrap(
        text, WRAP, initial_indent=lead, subsequent_indent=" " * len(lead),
        break_long_words=False, break_on_hyphens=False,
    ) or [lead.rstrip()]  # fmt: skip


_DAYS = re.compile(r"\b(\d+)\.(\d)d\b")


_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
# Rules whose value is a measurement, not text from the page (an address or a phone keeps its dots).
MEASURED = frozenset(
    {
        r.NAME_MISMATCH, r.DESIGN_SCORE_LOW, r.STALE, r.LOW_FREQUENCY, r.REPOST_HEAVY,
        r.LOW_ENGAGEMENT, r.COMMENTS_CLOSED_POSTS, r.UNANSWERED_COMMENT, r.UNANSWERED_COMMENT_SOON,
        r.SLOW_RESPONSE_MEDIAN, r.LOW_REPLY_RATE,
    }
)  # fmt: skip


def _value(rule: str, value: str) -> str:
    """A rule's measured value for a Russian reader: "2.0d" is "2,0 дн.", 576.3 is 576,3."""
    if rule not in MEASURED:
        return value
    return _DECIMAL.sub(r"\1,\2", _DAYS.sub(r"\1,\2 дн.", value))


def _page_line(events: list[c.Event], platform: str) -> str:
    snapshot = next((e for e in events if isinstance(e, c.PageSnapshot)), None)
    ref = next((e.page_ref for e in events if isinstance(e, c.PageEvent)), None)
    where = book.PLATFORM_TITLES.get(platform, platform)
    page = ref.native_id if ref else ""
    title = display.clean(snapshot.name, 120) if snapshot is not None else ""
    name = f" «{title}»" if title else ""
    gone = next((e for e in events if isinstance(e, c.PageUnavailable)), None)
    reasons = {
        "deleted": "удалена", "banned": "заблокирована", "private": "закрыта",
        "not_found": "не найдена", "api_error": "площадка ответила ошибкой",
    }  # fmt: skip
    state = (
        f" — недоступна: {reasons.get(gone.reason.value, gone.reason.value)}"
        if gone is not None
        else ""
    )
    return f"Страница: {where}, {display.clean(page, 200)}{name}{state}"


def table_ru(
    rows: list[tuple[str, str, r.RuleResult]], profile: Profile, now: datetime,
    events: list[c.Event], platform: str, notes: list[str],
) -> str:  # fmt: skip
    failed = [x for *_, x in rows if x.status == r.FAIL]
    unknown = [x for *_, x in rows if x.status == r.NOT_EVALUABLE]
    passed = [x for *_, x in rows if x.status == r.PASS]
    moment = now.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")
    lines = [
        _page_line(events, platform),
        f"Профиль правил: {profile.name}" + (f" ({profile.title})" if profile.title else ""),
        f"Момент проверки: {moment} по московскому времени",
        f"Итог: {book.counted(len(rows), 'правило', 'правила', 'правил')} — "
        f"{book.counted(len(failed), 'нарушение', 'нарушения', 'нарушений')}, "
        f"не проверяется {len(unknown)}, выполнено {len(passed)}",
    ]
    for note in notes:
        lines.extend(_wrapped("Внимание: ", note, 0))

    def head(x: r.RuleResult) -> str:
        return (
            f"{book.status_title(x.status)} · {book.severity_title(x.severity)} · "
            f"{book.title(x.rule)} [{x.rule}]"
        )

    if failed:
        lines += ["", f"НАРУШЕНИЯ ({len(failed)})"]
        for x in failed:
            lines.append(head(x))
            lines += _wrapped("Норма: ", book.norm(x.rule, profile.rule(x.rule)) or x.threshold)
            if x.value:
                lines += _wrapped("Найдено: ", _value(x.rule, x.value))
            lines += _wrapped("", x.summary)
            lines += _wrapped("Что сделать: ", book.fix(x.rule))
            if criterion := book.rule_criterion(x.rule):
                lines += _wrapped("В оценочной таблице: ", book.criterion_title(criterion))
            lines += _wrapped("Основание: ", x.basis)
    if unknown:
        lines += ["", f"НЕ ПРОВЕРЯЕТСЯ ({len(unknown)})"]
        for x in unknown:
            lines.append(head(x))
            lines += _wrapped("Почему: ", x.summary)
    if passed:
        lines += ["", f"ВЫПОЛНЕНО ({len(passed)})"]
        for x in passed:
            text = book.norm(x.rule, profile.rule(x.rule)) or book.title(x.rule)
            # A 0/1 flag says nothing the norm does not; a measured value does.
            value = f" — {_value(x.rule, x.value)}" if x.value and x.value not in ("0", "1") else ""
            line = f"{text}{value} [{x.rule}]"
            lines += _wrapped(f"{book.status_title(x.status)} · ", line, 0)
    return "\n".join(lines) + "\n"


def table_en(rows: list[tuple[str, str, r.RuleResult]], profile: Profile, now: datetime) -> str:
    marks = {r.PASS: "pass", r.FAIL: "FAIL", r.NOT_EVALUABLE: "n/a"}
    lines = [
        f"profile {profile.name}, checked at {now.isoformat()}",
        f"{'rule':<26} {'status':<6} {'severity':<9} {'value':<24} threshold",
    ]
    for _platform, _page, x in rows:
        lines.append(
            f"{x.rule:<26} {marks[x.status]:<6} {x.severity:<9} {display.clean(x.value, 24):<24} "
            f"{display.clean(x.threshold)}"
        )
        if x.status != r.PASS:
            lines += _wrapped("", x.summary, 27)
        if x.status == r.FAIL:
            lines += _wrapped("basis: ", x.basis, 27)
    failed = sum(1 for *_, x in rows if x.status == r.FAIL)
    lines.append(f"{len(rows)} rules: {failed} failed, "
                 f"{sum(1 for *_, x in rows if x.status == r.NOT_EVALUABLE)} not evaluable")  # fmt: skip
    return "\n".join(lines) + "\n"
