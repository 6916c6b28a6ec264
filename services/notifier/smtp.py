"""E-mail over SMTP: one message, retried on temporary failures, on kept connections.

Sending uses the standard library's ``smtplib`` in a worker thread; temporary failures (4xx, a
dropped connection) are retried with exponential backoff (:func:`services.notifier.retry.attempts`,
on tenacity), permanent ones (5xx) are given up at once and reported with the SMTP code. The
password never reaches a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import getaddresses

from gospublic import display
from gospublic.settings import Settings

from . import retry

# The logger of e-mail delivery, under the name it always had.
log = logging.getLogger("gospublic.notifier.email")


def clean(text: str, limit: int) -> str:
    return display.clean(text, limit)


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
    if data is None:
        client.send_message(message)
        return
    if any(name in message for name in _SEND_MESSAGE_HEADERS):
        client.send_message(_whole(message, data))
        return
    sender = getaddresses([str(message["Sender"] or message["From"])])[0][1]
    fields = [str(message[name]) for name in ("To", "Cc") if message[name] is not None]
    recipients = [address for _, address in getaddresses(fields)]
    if not all(address.isascii() for address in (sender, *recipients)):
        client.send_message(_whole(message, data))
        return
    # Flattened with "\n" line ends (``flatten``, as ``as_bytes``); SMTP wants CRLF, which smtplib
    # adds to text but not to bytes. The same lines as ``send_message`` would write: every line end
    # becomes CRLF.
    client.sendmail(sender, recipients, crlf(data))


def _whole(message: EmailMessage, data: bytes) -> EmailMessage:
    """The message with its body: with ``data``, ``message`` may hold only the headers."""
    if message.is_multipart() or message.get_payload():
        return message
    whole = message_from_bytes(data, policy=email_policy.default)
    assert isinstance(whole, EmailMessage)
    return whole


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
