"""E-mail: render a group notification (plain text + HTML, in Russian); :mod:`.smtp` sends it.

Everything that comes from the register or a platform (organisation names, summaries, URLs) is
untrusted: it is HTML-escaped in the body (``templates/alert.html``, autoescaped), stripped of
line breaks and direction overrides in headers, and cut to a sane length. Only ``http(s)`` page
links become clickable.

The sending names (``send``, ``Connections``…) are re-exported from :mod:`.smtp`, where they live.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2
from markupsafe import Markup

from gospublic import display, templating
from gospublic.contracts import Severity
from gospublic.rulebook import RULEBOOK
from gospublic.rulebook import plural as plural
from gospublic.settings import Settings

from . import mime
from .links import org_link as org_link
from .links import safe_url as safe_url
from .mime import flatten as flatten
from .pipeline import Notification
from .smtp import Connections as Connections
from .smtp import SendResult as SendResult
from .smtp import crlf as crlf
from .smtp import send as send
from .smtp import send_now as send_now
from .smtp import tls_context as tls_context

BRAND = "[GosPublic]"
MAX_ROWS = 200
MAX_CELL_CHARS = 500
MAX_SUBJECT_CHARS = 200

# rule id → (what is wrong, what to do about it): the one catalogue ``gospublic check`` prints too.
RULES: dict[str, tuple[str, str]] = {rule: (t.title, t.fix) for rule, t in RULEBOOK.items()}

SEVERITIES: dict[str, str] = {
    Severity.CRITICAL: "критическая",
    Severity.HIGH: "высокая",
    Severity.MEDIUM: "средняя",
    Severity.LOW: "низкая",
    Severity.WARNING: "предупреждение",
    Severity.INFO: "информация",
}
_SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}
_SEVERITY_COLOUR = {"critical": "#b00020", "high": "#d35400", "medium": "#b7950b"}


def clean(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """One line of untrusted text: no controls, no direction overrides, whitespace collapsed (the
    one rule for every output a person reads, ``gospublic.display.clean``)."""
    return display.clean(text, limit)


def header_value(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """A header value that cannot start another header: every kind of line break is gone."""
    return clean(text, limit)


def rule_title(rule: str) -> str:
    return RULES.get(rule, (rule, ""))[0]


def rule_fix(rule: str) -> str:
    return RULES.get(rule, ("", "См. описание нарушения."))[1]


def severity_title(severity: str) -> str:
    return SEVERITIES.get(severity, severity)


def group_title(notification: Notification) -> str:
    values = [value or "—" for _, value in notification.group_key]
    return " / ".join(values) if values else notification.route.name


def subject(notification: Notification) -> str:
    title = clean(group_title(notification), 120)
    firing, resolved = len(notification.firing), len(notification.resolved)
    new = len(notification.new_ids)
    if not firing:
        return header_value(f"{BRAND} {title}: все нарушения устранены ({resolved})")
    notes = []
    if new:
        notes.append(f"{new} {plural(new, 'новое', 'новых', 'новых')}")
    if resolved:
        notes.append(f"{resolved} устранено")
    if not notes:
        notes.append("напоминание")
    count = f"{firing} {plural(firing, 'нарушение', 'нарушения', 'нарушений')}"
    return header_value(f"{BRAND} {title}: {count} ({', '.join(notes)})")


def _severity_order(event) -> tuple:
    labels = event.labels
    return (
        _SEVERITY_RANK.get(labels.severity, 99),
        labels.org_name,
        labels.rule,
        event.violation_id,
    )


def by_severity(events):
    """Most severe first, then by organisation, rule and id: the order every receiver shows."""
    return sorted(events, key=_severity_order)


def most_severe(events, count: int = MAX_ROWS) -> list:
    """The first ``count`` of :func:`by_severity`, without sorting a group of thousands."""
    return heapq.nsmallest(count, events, key=_severity_order)


@dataclass(frozen=True, slots=True)
class _Row:
    """What a table row of the HTML shows, as plain text: the template escapes and cleans it.
    (An object, not a dict: the template reads ``row.org_name`` as an attribute first.)"""

    org_name: str
    org_link: str | None
    page_url: str
    page_link: str | None
    rule_title: str
    new: bool
    summary: str
    severity: str
    colour: str
    fix: str | None  # None in the table of resolved violations


# (event id, resolved, the organisation link's template) → (the event, the row's first text line
# after its number and before the "new" mark, its page's lines, its rule's lines, its HTML before
# and after the mark). A group's e-mails show mostly the same rows flush after flush, so a row is
# rendered once for its event; a hit checks that it is the very event (or an equal one). The
# parts a rule's alerts share are kept once (_SHARED); the oldest quarter goes when the cache is
# full (a row takes some 1.5 kB).
_ROWS: dict[tuple[str, bool, str], tuple[object, str, str, str, str, str]] = {}
_SHARED: dict[str, str] = {}
_ROWS_LOCK = threading.Lock()  # rows are rendered in worker threads too
MAX_CACHED_ROWS = 80_000
_NEW_TEXT = " [новое]"
# What alert_row.html writes for a new row; never inside a value (autoescaped, "<" is "&lt;").
_NEW_HTML = ' <b style="color:#b00020">новое</b>'


@functools.cache
def _template(name: str) -> jinja2.Template:
    # The templates are package data: no look at their files' times at every render (and at
    # every template an e-mail's template extends or imports).
    environment = templating.environment(__package__)
    environment.auto_reload = False
    return environment.get_template(name)


def _rows(events: list, resolved: bool, settings: Settings) -> list[tuple]:
    """The kept rows of ``events``; the ones not kept yet are rendered together, then kept."""
    keys = [(event.event_id, resolved, settings.org_dashboard_url) for event in events]
    rows = [_ROWS.get(key) for key in keys]
    missing = [
        n
        for n, (row, event) in enumerate(zip(rows, events, strict=True))
        if row is None or not (row[0] is event or row[0] == event)
    ]
    if missing:
        rendered = _render_rows([events[n] for n in missing], resolved, settings)
        with _ROWS_LOCK:
            if len(_ROWS) + len(missing) > MAX_CACHED_ROWS:
                for old in list(itertools.islice(_ROWS, MAX_CACHED_ROWS // 4)):
                    del _ROWS[old]
                _SHARED.clear()
            for n, row in zip(missing, rendered, strict=True):
                _ROWS[keys[n]] = rows[n] = (*row[:3], _shared(row[3]), row[4], _shared(row[5]))
    return rows


def _shared(text: str) -> str:
    return _SHARED.setdefault(text, text)


_SEPARATOR = Markup("\x00")  # between rows rendered together: no cleaned value holds a control


def _render_rows(events: list, resolved: bool, settings: Settings) -> list[tuple]:
    """Each event's row: (the event, the text's first line before the "new" mark, its page's
    lines, its rule's lines, the HTML before and after the mark)."""
    texts, rows = [], []
    for event in events:
        labels = event.labels
        card = org_link(labels.org_id, settings)
        page = [f"\n   Страница: {clean(labels.page_url, 200) or '—'}"]
        if card:
            page.append(f"\n   Карточка организации: {card}")
        rule = []
        if event.summary.strip():
            rule.append(f"\n   Подробности: {clean(event.summary)}")
        if not resolved:
            rule.append(f"\n   Что исправить: {rule_fix(labels.rule)}")
        head = (
            f"{clean(labels.org_name)} — {clean(rule_title(labels.rule), 200)}"
            f" (важность: {severity_title(labels.severity)})"
        )
        texts.append((head, "".join(page), "".join(rule)))
        rows.append(
            _Row(
                org_name=labels.org_name,
                org_link=card,
                page_url=labels.page_url,
                page_link=safe_url(labels.page_url),
                rule_title=rule_title(labels.rule),
                new=True,  # rendered with the mark, cut out where the row is not new
                summary=event.summary,
                severity=severity_title(labels.severity),
                colour=_SEVERITY_COLOUR.get(labels.severity, "#555555"),
                fix=None if resolved else rule_fix(labels.rule),
            )
        )
    html = _template("alert_row.html").render(rows=rows, separator=_SEPARATOR).split(_SEPARATOR)
    assert len(html) == len(rows), "a row of alert_row.html holds its separator"
    out = []
    for event, text, row_html in zip(events, texts, html, strict=True):
        before, mark, after = row_html.partition(_NEW_HTML)
        assert mark, "alert_row.html no longer writes _NEW_HTML for a new row"
        out.append((event, *text, before, after))
    return out


def _html_rows(events, new_ids: frozenset[str], settings: Settings, *, resolved: bool) -> Markup:
    shown = most_severe(events)
    html = []
    for event, row in zip(shown, _rows(shown, resolved, settings), strict=True):
        new = not resolved and event.violation_id in new_ids
        html.append(row[4] + _NEW_HTML + row[5] if new else row[4] + row[5])
    # Every row is markup (rendered by alert_row.html): joined as text, not escaped one by one.
    return Markup("".join(html))


def _more(total: int) -> int:
    return max(0, total - MAX_ROWS)


def render_html(notification: Notification, settings: Settings) -> str:
    sections = []
    if notification.firing:
        sections.append(
            {
                "heading": "Действующие нарушения",
                "total": len(notification.firing),
                "head": ["Организация", "Страница", "Нарушение", "Важность", "Что исправить"],
                "rows": _html_rows(
                    notification.firing, notification.new_ids, settings, resolved=False
                ),
                "more": _more(len(notification.firing)),
                "more_note": ": полный список в панели мониторинга.",
            }
        )
    if notification.resolved:
        sections.append(
            {
                "heading": "Устранены",
                "total": len(notification.resolved),
                "head": ["Организация", "Страница", "Нарушение", "Важность"],
                "rows": _html_rows(notification.resolved, frozenset(), settings, resolved=True),
                "more": _more(len(notification.resolved)),
                "more_note": ".",
            }
        )
    return _template("alert.html").render(
        title=subject(notification).removeprefix(BRAND).strip(),
        sections=sections,
        dashboard=safe_url(settings.dashboard_url),
        route=notification.route.name,
    )


def _text_lines(
    events, new_ids: frozenset[str], settings: Settings, *, resolved: bool
) -> list[str]:
    shown = most_severe(events)
    rows = _rows(shown, resolved, settings)
    lines = []
    for number, (event, row) in enumerate(zip(shown, rows, strict=True), start=1):
        mark = _NEW_TEXT if not resolved and event.violation_id in new_ids else ""
        lines.append(f"{number}. {row[1]}{mark}{row[2]}{row[3]}")
    return lines


def render_text(notification: Notification, settings: Settings) -> str:
    lines = [subject(notification).removeprefix(BRAND).strip(), ""]
    if notification.firing:
        lines.append(f"Действующие нарушения: {len(notification.firing)}")
        lines.extend(
            _text_lines(notification.firing, notification.new_ids, settings, resolved=False)
        )
        if more := _more(len(notification.firing)):
            lines.append(f"…и ещё {more}: полный список в панели мониторинга.")
        lines.append("")
    if notification.resolved:
        lines.append(f"Устранены: {len(notification.resolved)}")
        lines.extend(_text_lines(notification.resolved, frozenset(), settings, resolved=True))
        if more := _more(len(notification.resolved)):
            lines.append(f"…и ещё {more}.")
        lines.append("")
    if dashboard := safe_url(settings.dashboard_url):
        lines.append(f"Панель мониторинга: {clean(dashboard, 500)}")
    lines.append(
        f"Автоматическое уведомление GosPublic Monitor, подписка {clean(notification.route.name)}."
    )
    return "\n".join(lines) + "\n"


def message_id(notification: Notification) -> str:
    return f"<{notification.message_key}@gospublic>"


def from_bytes(data: bytes) -> EmailMessage:
    """A message rendered earlier, as it was (same headers, Message-ID included)."""
    message = message_from_bytes(data, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    return message


def set_subject(message: EmailMessage, text: str) -> None:
    """The Subject, encoded so that every space survives the trip.

    The email package folds a long non-ASCII subject into encoded words split at a space, and
    that space is lost on reading (RFC 2047 ignores the whitespace between two encoded words): in
    a national run one subject in six read "69нарушений (68 новых)". ``Header`` splits inside the
    text instead, with the spaces encoded in the words. Stored as it is: lines of at most 76.
    """
    message.set_raw("Subject", Header(text, "utf-8", header_name="Subject").encode())


def _headers(
    notification: Notification, settings: Settings, now: datetime, key: str
) -> EmailMessage:
    message = EmailMessage()
    set_subject(message, subject(notification))
    message["From"] = header_value(settings.mail_from, 300)
    message["To"] = header_value(notification.receiver.address, 300)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{key}@gospublic>"
    # RFC 3834: tells vacation responders and ticket systems not to answer.
    message["Auto-Submitted"] = "auto-generated"
    return message


def render(notification: Notification, settings: Settings, now: datetime) -> EmailMessage:
    key = notification.message_key
    message = _headers(notification, settings, now, key)
    message.set_content(render_text(notification, settings), cte="base64")
    message.add_alternative(render_html(notification, settings), subtype="html", cte="base64")
    message.set_boundary(mime.boundary(key))
    return message


def render_bytes(
    notification: Notification, settings: Settings, now: datetime
) -> tuple[EmailMessage, mime.Parts]:
    """``flatten(render(...))``, written directly (``.message()`` of the parts): the headers alone
    as a message (what the transport reads the envelope from), and the message's parts.

    The email package's MIME parts encode base64 57 bytes at a time in Python and walk every line
    again to flatten them: about a third of an e-mail's cost, each group flush of a sweep."""
    key = notification.message_key
    headers = _headers(notification, settings, now, key)
    parts = mime.alternative(
        headers,
        render_text(notification, settings),
        render_html(notification, settings),
        mime.boundary(key),
    )
    return headers, parts
