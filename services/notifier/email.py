"""E-mail: render a group notification (plain text + HTML, in Russian) and send it over SMTP.

Everything that comes from the register or a platform (organisation names, summaries, URLs) is
untrusted: it is HTML-escaped in the body (``templates/alert.html``, autoescaped), stripped of
line breaks and direction overrides in headers, and cut to a sane length. Only ``http(s)`` page
links become clickable.

Sending uses the standard library's ``smtplib`` in a worker thread; temporary failures (4xx, a
dropped connection) are retried with exponential backoff (:func:`services.notifier.retry.attempts`,
on tenacity), permanent ones (5xx) are given up at once and reported with the SMTP code. The
password never reaches a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import heapq
import io
import logging
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from urllib.parse import quote, urlsplit

from gospublic import display, templating
from gospublic.contracts import Severity
from gospublic.display import UNSAFE as _UNSAFE
from gospublic.rulebook import RULEBOOK
from gospublic.rulebook import plural as plural
from gospublic.settings import Settings

from . import retry
from .pipeline import Notification

log = logging.getLogger("gospublic.notifier.email")

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


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    ok: bool
    attempts: int
    code: int | None = None
    error: str = ""


@dataclass(frozen=True)
class _Attempt:
    number: int
    failure: _Failure | None = None  # None: the server accepted the message
    elapsed_s: float = 0.0


class _Failure(Exception):
    def __init__(self, code: int | None, error: str, permanent: bool):
        super().__init__(error)
        self.code = code
        self.error = error
        self.permanent = permanent


def _smtp_error_text(exc: smtplib.SMTPResponseException) -> str:
    reply = exc.smtp_error
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{type(exc).__name__}: {exc.smtp_code} {clean(text, 300)}"


def _classify(exc: Exception) -> _Failure:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = max(codes) if codes else None
        permanent = code is not None and code >= 500
        return _Failure(code, f"SMTPRecipientsRefused: {code}", permanent)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return _Failure(code, _smtp_error_text(exc), 500 <= code < 600)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _Failure(None, f"SMTPNotSupportedError: {clean(str(exc), 300)}", True)
    # A dropped connection, a refused one, a timeout or a TLS failure: worth another try.
    return _Failure(None, f"{type(exc).__name__}: {clean(str(exc), 300)}", False)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Verifying context: the system's CAs, or the private CA named in the settings."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def _open(settings: Settings) -> smtplib.SMTP:
    """A connected, greeted (and, as configured, encrypted and logged-in) SMTP client."""
    timeout = settings.smtp_timeout_s
    if settings.smtp_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=tls_context(settings)
        )
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        client.ehlo()
        if settings.smtp_starttls and not settings.smtp_ssl:
            client.starttls(context=tls_context(settings))
            client.ehlo()
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password.get_secret_value())
    except BaseException:
        _quit(client)
        raise
    return client


def _quit(client: smtplib.SMTP) -> None:
    # Not ``with client``: its QUIT may fail (a 4xx reply, a reset) after the server accepted
    # the message, and that error would make the caller retry, i.e. send the mail twice.
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _transmit(client: smtplib.SMTP, message: EmailMessage, data: bytes | None) -> None:
    """One transaction (MAIL, RCPT, DATA); ``data`` is ``message`` as already flattened.

    Sending those bytes spares flattening the message a second time; the envelope is read from the
    headers as ``send_message`` reads it. A message needing more (Bcc to strip, non-ASCII
    addresses for SMTPUTF8) goes through ``send_message`` itself."""
    if data is None or any(name in message for name in _SEND_MESSAGE_HEADERS):
        client.send_message(message)
        return
    sender = getaddresses([str(message["Sender"] or message["From"])])[0][1]
    fields = [str(message[name]) for name in ("To", "Cc") if message[name] is not None]
    recipients = [address for _, address in getaddresses(fields)]
    if not all(address.isascii() for address in (sender, *recipients)):
        client.send_message(message)
        return
    # Flattened with "\n" line ends (``flatten``, as ``as_bytes``); SMTP wants CRLF, which smtplib
    # adds to text but not to bytes. The same lines as ``send_message`` would write: every line end
    # becomes CRLF.
    client.sendmail(sender, recipients, crlf(data))


def crlf(data: bytes) -> bytes:
    """Every line end (CRLF, a lone CR, a lone LF) as CRLF.

    Three ``bytes.replace`` rather than one regular expression substitution: a message of a few
    hundred alerts has thousands of lines, and the substitution took longer than the sending."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


_SEND_MESSAGE_HEADERS = ("Bcc", "Resent-Date", "Resent-From", "Resent-Sender")
# A reused connection that turns out closed: the message never reached the server.
_GONE = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


class Connections:
    """SMTP connections kept open between the messages of a burst, one per concurrent sender.

    A group flush can send hundreds of e-mails within seconds; a connection (TCP, EHLO, maybe TLS
    and AUTH) per message costs more than the message. A connection goes back here only after a
    message on it was accepted (250) and is closed after any error, so its next message starts
    from a clean session. One idle for longer than ``idle_s`` is closed rather than reused (a
    relay drops idle clients), and each is closed after ``max_messages``.
    """

    def __init__(self, settings: Settings, *, idle_s: float = 30.0, max_messages: int = 100):
        self.settings = settings
        self.idle_s = idle_s
        self.max_messages = max_messages
        self._idle: list[tuple[smtplib.SMTP, float, int]] = []  # client, idle since, messages
        self._lock = threading.Lock()

    def _take(self) -> tuple[smtplib.SMTP, int] | None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    return None
                client, since, sent = self._idle.pop()
            if now - since <= self.idle_s:
                return client, sent
            _quit(client)

    def _give_back(self, client: smtplib.SMTP, sent: int) -> None:
        if sent >= self.max_messages:
            _quit(client)
            return
        with self._lock:
            self._idle.append((client, time.monotonic(), sent))

    def send(self, message: EmailMessage, data: bytes | None = None) -> None:
        """One delivery attempt (blocking) on a kept connection, or a new one; raises like
        :func:`send_now`. A kept connection found closed is replaced once, at once: the message
        had not been accepted on it."""
        taken = self._take()
        if taken is not None:
            client, sent = taken
            try:
                _transmit(client, message, data)
            except _GONE:
                client.close()
            except BaseException:
                _quit(client)
                raise
            else:
                self._give_back(client, sent + 1)
                return
        client = _open(self.settings)
        try:
            _transmit(client, message, data)
        except BaseException:
            _quit(client)
            raise
        self._give_back(client, 1)

    def close(self) -> None:
        """Say QUIT on every kept connection (blocking)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for client, _, _ in idle:
            _quit(client)


def send_now(settings: Settings, message: EmailMessage, data: bytes | None = None) -> None:
    """One delivery attempt (blocking) on a connection of its own; raises the smtplib/OS error."""
    client = _open(settings)
    try:
        _transmit(client, message, data)
    finally:
        _quit(client)


async def send(
    settings: Settings,
    message: EmailMessage,
    *,
    attempts: int | None = None,
    backoff_s: float | None = None,
    data: bytes | None = None,
    connections: Connections | None = None,
) -> SendResult:
    """Deliver with retries on temporary failures; never raises for an SMTP or network error.

    ``data`` is the message as already flattened (the bytes sent); ``connections`` keeps the
    connection open for the next message, otherwise each attempt opens and closes its own."""

    async def attempt(number: int) -> _Attempt:
        started = time.monotonic()
        try:
            if connections is None:
                await asyncio.to_thread(send_now, settings, message, data)
            else:
                await asyncio.to_thread(connections.send, message, data)
            return _Attempt(number)
        except (smtplib.SMTPException, OSError) as exc:
            return _Attempt(number, _classify(exc), round(time.monotonic() - started, 3))

    def details(failed: _Attempt) -> dict:
        assert failed.failure is not None
        return {
            "to": message["To"],
            "message_id": message["Message-ID"],
            "smtp_code": failed.failure.code,
            "error": failed.failure.error,
            "attempt": failed.number,
            "elapsed_s": failed.elapsed_s,
        }

    last = await retry.attempts(
        attempt,
        limit=attempts or settings.smtp_max_attempts,
        backoff_s=settings.smtp_retry_backoff_s if backoff_s is None else backoff_s,
        again=lambda result: result.failure is not None and not result.failure.permanent,
        before_retry=lambda failed: log.warning(
            "e-mail delivery failed temporarily, will retry", extra=details(failed)
        ),
    )
    if last.failure is None:
        return SendResult(True, last.number)
    if last.failure.permanent:
        log.error("e-mail rejected permanently, giving up", extra=details(last))
    else:
        log.error("e-mail delivery failed, giving up after retries", extra=details(last))
    return SendResult(False, last.number, last.failure.code, last.failure.error)
