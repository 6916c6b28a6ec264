"""E-mail: render a group notification (plain text + HTML, in Russian); :mod:`.smtp` sends it.

Everything that comes from the register or a platform (organisation names, summaries, URLs) is
untrusted: it is HTML-escaped in the body (``templates/alert.html``, autoescaped), stripped of
line breaks and direction overrides in headers, and cut to a sane length. Only ``http(s)`` page
links become clickable.

The sending names (``send``, ``Connections``…) are re-exported from :mod:`.smtp`, where they live.
"""

from __future__ import annotations

import heapq
import io
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

from gospublic import display, templating
from gospublic.contracts import Severity
from gospublic.display import UNSAFE as _UNSAFE
from gospublic.rulebook import RULEBOOK
from gospublic.rulebook import plural as plural
from gospublic.settings import Settings

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


def _safe_url(url: str) -> str | None:
    """A link to show a recipient: http(s) only, nothing that reorders text, no credentials."""
    url = display.without_userinfo(url.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or _UNSAFE.search(url):
        return None
    if any(ch.isspace() for ch in url):
        return None
    return url


def org_link(org_id: str, settings: Settings) -> str | None:
    """The organisation's card on the dashboard, if one is configured."""
    template = settings.org_dashboard_url
    if not template or not org_id:
        return None
    return _safe_url(template.replace("{org_id}", quote(org_id, safe="")))


# Public name for the digest, which links the same kind of untrusted address.
safe_url = _safe_url


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


def _html_rows(events, new_ids: frozenset[str], settings: Settings, *, resolved: bool) -> list:
    rows = []
    for event in most_severe(events):
        labels = event.labels
        rows.append(
            _Row(
                org_name=labels.org_name,
                org_link=org_link(labels.org_id, settings),
                page_url=labels.page_url,
                page_link=_safe_url(labels.page_url),
                rule_title=rule_title(labels.rule),
                new=not resolved and event.violation_id in new_ids,
                summary=event.summary,
                severity=severity_title(labels.severity),
                colour=_SEVERITY_COLOUR.get(labels.severity, "#555555"),
                fix=None if resolved else rule_fix(labels.rule),
            )
        )
    return rows


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
    return templating.render(
        __package__,
        "alert.html",
        title=subject(notification).removeprefix(BRAND).strip(),
        sections=sections,
        dashboard=_safe_url(settings.dashboard_url),
        route=notification.route.name,
    )


def _text_lines(
    events, new_ids: frozenset[str], settings: Settings, *, resolved: bool
) -> list[str]:
    lines = []
    for number, event in enumerate(most_severe(events), start=1):
        labels = event.labels
        mark = " [новое]" if not resolved and event.violation_id in new_ids else ""
        lines.append(
            f"{number}. {clean(labels.org_name)} — {clean(rule_title(labels.rule), 200)}"
            f" (важность: {severity_title(labels.severity)}){mark}"
        )
        lines.append(f"   Страница: {clean(labels.page_url, 200) or '—'}")
        card = org_link(labels.org_id, settings)
        if card:
            lines.append(f"   Карточка организации: {card}")
        if event.summary.strip():
            lines.append(f"   Подробности: {clean(event.summary)}")
        if not resolved:
            lines.append(f"   Что исправить: {rule_fix(labels.rule)}")
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
    if dashboard := _safe_url(settings.dashboard_url):
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


def render(notification: Notification, settings: Settings, now: datetime) -> EmailMessage:
    message = EmailMessage()
    set_subject(message, subject(notification))
    message["From"] = header_value(settings.mail_from, 300)
    message["To"] = header_value(notification.receiver.address, 300)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notification)
    # RFC 3834: tells vacation responders and ticket systems not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_text(notification, settings), cte="base64")
    message.add_alternative(render_html(notification, settings), subtype="html", cte="base64")
    return message


class _Generator(BytesGenerator):
    """``BytesGenerator`` writing a body's lines in one piece, with the same line ends.

    The standard one writes each line and each line end of a body separately: thousands of
    writes for a message of a few hundred alerts, most of the time its flattening takes."""

    def _write_lines(self, lines: str) -> None:
        # Each line end (CRLF, a lone CR, a lone LF) becomes the policy's, as NLCRE.split made it.
        if lines:
            lines = lines.replace("\r\n", "\n").replace("\r", "\n")
            self.write(lines if self._NL == "\n" else lines.replace("\n", self._NL))


def flatten(message: EmailMessage) -> bytes:
    """The same bytes as ``message.as_bytes()``, in about half the time."""
    out = io.BytesIO()
    _Generator(out, mangle_from_=False, policy=message.policy).flatten(message)
    return out.getvalue()
