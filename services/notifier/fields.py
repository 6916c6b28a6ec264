"""The values of a subscriptions file, one parser each: a duration, a matcher, an e-mail address,
a webhook URL. Each raises ``ValueError`` with what is wrong; the caller says where."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from gospublic.contracts import Severity

from .routes import LABELS, Matcher, Op

MAX_URL_CHARS = 2000

_DURATION = re.compile(r"^(?:(\d+)(ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# An address we can hand to smtplib without SMTPUTF8: an ASCII local part; the domain may be
# international (школа.рф) and is stored in its IDNA form.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def parse_duration(text: object) -> timedelta:
    """``30s``, ``5m``, ``4h``, ``1h30m``, ``0s`` (and a bare ``0``); raise ValueError otherwise."""
    if text == 0 or text == "0":
        return timedelta(0)
    if not isinstance(text, str) or not _DURATION.match(text.strip()):
        raise ValueError(
            f"bad duration {text!r}: use a number with a unit, e.g. 30s, 5m, 4h, 1h30m"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def parse_matcher(label: object, raw: object) -> Matcher:
    if not isinstance(label, str) or label not in LABELS:
        raise ValueError(f"unknown label {label!r}; known labels: {', '.join(LABELS)}")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f"value must be a string, got {type(raw).__name__}")
    text = str(raw)
    op: Op = "="
    for prefix in ("=~", "!~", "!=", "="):
        if text.startswith(prefix):
            op, text = prefix, text[len(prefix) :]  # type: ignore[assignment]
            break
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise ValueError(f"bad regex {text!r}: {exc}") from None
    elif label == "severity" and text not in {s.value for s in Severity}:
        known = ", ".join(s.value for s in Severity)
        raise ValueError(f"unknown severity {text!r}; known: {known}")
    return Matcher(label, op, text, pattern)


def parse_email(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"an e-mail address must be a string, got {type(raw).__name__}")
    address = raw.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or not _LOCAL_PART.match(local) or len(address) > 254:
        raise ValueError(f"bad e-mail address {raw!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"bad e-mail address {raw!r}: invalid domain") from None
    if not all(_DOMAIN_LABEL.match(part) for part in ascii_domain.split(".")):
        raise ValueError(f"bad e-mail address {raw!r}: invalid domain")
    return f"{local}@{ascii_domain}"


def parse_url(raw: object) -> str:
    """A webhook target: an absolute http(s) URL without spaces or control characters."""
    if not isinstance(raw, str):
        raise ValueError(f"a URL must be a string, got {type(raw).__name__}")
    url = raw.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"URL longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError("bad URL: it contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"bad URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("bad URL: an absolute http:// or https:// URL is required")
    return url
