"""The Госуслуги feedback widgets in a page's menu: WIDGETS_MISSING and WIDGET_FOREIGN_ORG."""

from __future__ import annotations

from gospublic.contracts import FEEDBACK_WIDGETS, PageSnapshot, Widget

from .catalogue import FAIL, NOT_EVALUABLE, PASS, WIDGET_FOREIGN_ORG, WIDGETS_MISSING
from .results import RuleResult, _result

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
