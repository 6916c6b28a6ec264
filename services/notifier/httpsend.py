"""One HTTP request with retries, for the webhook and Grafana receivers.

Retried: a network error or timeout, 408, 425, 429 and any 5xx, with exponential backoff
(:func:`services.notifier.retry.attempts`, on tenacity). Given up
at once: any other status (a 4xx says the request itself is wrong and will stay wrong). Neither the
URL (a webhook URL may carry a bot token in its path) nor a header ever reaches a log line or the
returned error text.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from gospublic.display import mask_credentials

from . import retry

log = logging.getLogger("gospublic.notifier.http")

RETRY_STATUSES = frozenset({408, 425, 429})
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class HttpResult:
    ok: bool
    attempts: int
    status: int | None = None
    error: str = ""
    body: Any = None  # the decoded JSON of a successful response, if it had one

    @property
    def permanent(self) -> bool:
        """A 4xx that retrying cannot fix (401/403 aside: a token can be renewed)."""
        return (
            self.status is not None
            and 400 <= self.status < 500
            and self.status
            not in (
                401,
                403,
                *RETRY_STATUSES,
            )
        )


def _retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def _temporary(result: HttpResult) -> bool:
    """A failure another attempt may cure: a network error or timeout, or a retryable status."""
    return not result.ok and (result.status is None or _retryable(result.status))


def _derived_credentials(url: str) -> set[str]:
    """What httpx makes of a URL's userinfo: the user and password (as written and decoded) and
    the ``Basic`` value it sends in their place."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return set()
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {parts.username or "", parts.password or "", user, password, basic}


def _scrub(text: str, url: str, headers: dict[str, str] | None) -> str:
    """Take the URL, its path and query, every header value (and its last word, the token of
    ``Bearer <token>``) and the credentials derived from the URL's userinfo out of a text: an
    error page or a proxy may echo the request back. Then whatever still looks like a credential
    (another URL's userinfo, an ``Authorization`` value) is masked as in the logs."""
    parts = urlsplit(url)
    sensitive = {url, parts.netloc, parts.path, parts.query, *_derived_credentials(url)}
    for value in (headers or {}).values():
        sensitive.update((value, value.split()[-1] if value.split() else value))
    for item in sorted((s for s in sensitive if len(s) >= 4), key=len, reverse=True):
        text = text.replace(item, "<redacted>")
    return mask_credentials(text)


def _error_text(exc: Exception, url: str, headers: dict[str, str] | None = None) -> str:
    text = _scrub(str(exc).replace(url, "<url>"), url, headers)
    return f"{type(exc).__name__}: {' '.join(text.split())[:MAX_ERROR_CHARS]}"


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    timeout_s: float,
    attempts: int,
    backoff_s: float,
    target: str,
) -> HttpResult:
    """Send until success or a permanent failure; never raises for HTTP or network errors.

    ``target`` names the receiver in logs instead of the URL.
    """

    async def attempt(number: int) -> HttpResult:
        try:
            response = await client.request(
                method, url, json=json, headers=headers, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            return HttpResult(False, number, None, _error_text(exc, url, headers))
        if response.is_success:
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = None
            return HttpResult(True, number, response.status_code, body=body)
        reason = " ".join(_scrub(response.text, url, headers).split())[:MAX_ERROR_CHARS]
        return HttpResult(
            False, number, response.status_code, f"HTTP {response.status_code}: {reason}"
        )

    def details(result: HttpResult) -> dict[str, Any]:
        return {
            "target": target,
            "status": result.status,
            "error": result.error,
            "attempt": result.attempts,
        }

    result = await retry.attempts(
        attempt,
        limit=attempts,
        backoff_s=backoff_s,
        again=_temporary,
        before_retry=lambda failed: log.warning(
            "HTTP request failed temporarily, will retry", extra=details(failed)
        ),
    )
    if result.ok:
        return result
    if _temporary(result):
        log.error("HTTP request failed, giving up after retries", extra=details(result))
    else:
        log.error("HTTP request rejected, giving up", extra=details(result))
    return result
