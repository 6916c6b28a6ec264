"""Thin httpx adapter for the MAX bot API: one bot token, its rate limit, typed errors, metrics.

The token goes in the ``Authorization`` header as MAX requires (a bare token, no "Bearer"), never
in a URL: URLs end up in logs, metrics and exception texts. Requests are paced by the shared token
pool (about 30 a second, the documented limit). Everything that can go wrong with one answer ends
as a result, a ``MaxError`` (MAX said no: an ``Error`` body ``{"code", "message"}`` with its HTTP
status) or ``VkGarbage`` (not a MAX answer at all). 429 and 503 are backed off, honouring
``Retry-After`` when MAX sends one, and become ``VkTransient`` when they persist, so the task is
retried later. A 401 means MAX refuses the token: it is dropped with a clear log line and the next
request raises ``VkNoTokens``, which stops the collector, as for a refused VK token.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from gospublic.httpclient import RedirectRefused, platform_client
from gospublic.platforms import max as mx
from services.collector.vk_client import (
    API_REQUESTS,
    RATE_LIMIT_WAIT,
    TokenPool,
    VkGarbage,
    VkNoTokens,
    VkTransient,
    parse_json,
)

log = logging.getLogger("gospublic.collector.max_client")

PLATFORM = "max"
CHATS_PER_CALL = 100  # GET /chats count: 1..100
MAX_CHAT_PAGES = 5_000  # 500,000 chats: a bound on a listing whose markers never end
RETRY_AFTER_CAP_S = 600.0
LONG_PAUSE_S = 30.0  # a longer Retry-After is waited out by the queue, not in the task
UNAUTHORIZED, FORBIDDEN, NOT_FOUND, TOO_MANY, UNAVAILABLE = 401, 403, 404, 429, 503


class MaxError(Exception):
    """MAX answered with an error: its HTTP status and the ``Error`` body's code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"MAX HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return min(RETRY_AFTER_CAP_S, max(0.0, seconds))


def error_of(status: int, data: object) -> MaxError:
    """A ``MaxError`` from a non-2xx answer's ``Error`` body, tolerant of odd shapes."""
    code = message = ""
    if isinstance(data, dict):
        code = data.get("code") if isinstance(data.get("code"), str) else ""
        message = data.get("message") if isinstance(data.get("message"), str) else ""
    return MaxError(status, code[:100], message[:300])


class MaxClient:
    """One shared keep-alive ``httpx.AsyncClient``; ``get`` retries what is retryable."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        requests_per_second: float = 30.0,
        timeout: float = 20.0,
        *,
        backoff_s: float = 0.5,
        max_rate_retries: int = 6,
        max_server_retries: int = 3,
        max_network_retries: int = 3,
        chats_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The pool's rate limit and its dead-token bookkeeping, with the single bot token.
        self.pool = TokenPool([token], requests_per_second, platform=PLATFORM)
        self.backoff_s = backoff_s
        self.max_rate_retries = max_rate_retries
        self.max_server_retries = max_server_retries
        self.max_network_retries = max_network_retries
        self.chats_ttl_s = chats_ttl_s
        self.clock = clock
        self._chats: tuple[float, list[dict[str, Any]]] | None = None
        self._chats_lock = asyncio.Lock()
        self.http = platform_client(
            PLATFORM,
            self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": "gospublic-monitor/0.1"},
        )

    @property
    def tokens_alive(self) -> int:
        return self.pool.alive

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(self, operation: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer of ``GET <base><path>``; ``MaxError``, ``VkGarbage``, ``VkTransient``
        or ``VkNoTokens`` otherwise. ``operation`` names the call in metrics (the schema's
        operationId: getChats, getChat, getMessages)."""
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        rate = server = network = 0
        while True:
            token, slot, waited = await self.pool.acquire({operation: 1})
            if waited > 0:
                RATE_LIMIT_WAIT.inc(waited)
            headers = {"Authorization": token.secret.get_secret_value()}
            try:
                response = await self.http.get(
                    f"{self.base_url}{path}", params=query, headers=headers
                )
                body = await response.aread()
            except (RedirectRefused, httpx.TooManyRedirects) as exc:
                # Not retried: the same answer would send us off the platform again.
                API_REQUESTS.labels(PLATFORM, operation, "redirect_refused").inc()
                raise VkGarbage(f"MAX {operation}: {self._scrub(str(exc))}") from None
            except httpx.TransportError as exc:
                API_REQUESTS.labels(PLATFORM, operation, "network").inc()
                network += 1
                if network > self.max_network_retries:
                    raise VkTransient(
                        f"network error calling MAX {operation}: {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(self._jitter(network))
                continue
            finally:
                self.pool.finish(slot)
            status = response.status_code
            if status in (TOO_MANY, UNAVAILABLE):
                API_REQUESTS.labels(PLATFORM, operation, str(status)).inc()
                rate += 1
                hint = retry_after(response.headers.get("retry-after"), time.time())
                if rate > self.max_rate_retries:
                    raise VkTransient(
                        f"MAX {operation}: still HTTP {status} after {rate} tries",
                        retry_after=hint or 0.0,
                    )
                pause = hint if hint is not None else self._jitter(rate)
                if pause > LONG_PAUSE_S:
                    # Waiting that long inside one task would look like a stuck collector: the
                    # task goes back to the queue and returns after the pause.
                    raise VkTransient(f"MAX {operation}: HTTP {status}", retry_after=pause)
                # The pool holds every request back, not just this one: they share the limit.
                self.pool.slow_down(token, pause)
                RATE_LIMIT_WAIT.inc(pause)
                log.info(
                    "MAX answered %s: backing off", status,
                    extra={"operation": operation, "pause_s": round(pause, 3)},
                )  # fmt: skip
                continue
            ctype = response.headers.get("content-type", "")
            if 200 <= status < 300:
                try:
                    data = parse_json(status, ctype, body)
                except VkGarbage as exc:
                    API_REQUESTS.labels(PLATFORM, operation, "garbage").inc()
                    raise VkGarbage(f"MAX {operation}: {self._scrub(exc.reason)}") from None
                API_REQUESTS.labels(PLATFORM, operation, "ok").inc()
                return data
            try:
                data = parse_json(200, ctype, body)
            except VkGarbage:
                data = None
            if data is None and status not in (UNAUTHORIZED, 500, 502, 504):
                API_REQUESTS.labels(PLATFORM, operation, "garbage").inc()
                raise VkGarbage(f"MAX {operation}: HTTP {status} without an Error body")
            API_REQUESTS.labels(PLATFORM, operation, str(status)).inc()
            error = error_of(status, data)
            error = MaxError(status, error.code, self._scrub(error.message))
            if status == UNAUTHORIZED:
                if not token.dead:
                    self.pool.drop(token)
                    log.error(
                        "MAX refused the bot token (HTTP 401); the collector stops using it: "
                        "set a valid GOSPUBLIC_MAX_TOKEN",
                        extra={"operation": operation, "code": error.code},
                    )
                raise VkNoTokens("MAX refused the bot token (HTTP 401)")
            if status >= 500 and server < self.max_server_retries:
                server += 1
                await asyncio.sleep(self._jitter(server))
                continue
            # A server error that persists is this call's (the page is api_error), as VK's error
            # 10: one channel MAX cannot serve must not hold back the task's other pages.
            raise error

    async def chats(self) -> list[dict[str, Any]]:
        """Every chat of the bot (``GET /chats`` page by page, ``marker`` to ``marker``).

        A listing serves the tasks of the next ``chats_ttl_s`` seconds: a sweep's tasks all match
        against it instead of each paging through every chat again. A malformed page raises
        ``MalformedResponse``; then nothing is cached.
        """
        async with self._chats_lock:
            now = self.clock()
            if self._chats is not None and now - self._chats[0] < self.chats_ttl_s:
                return self._chats[1]
            found: list[dict[str, Any]] = []
            marker: int | None = None
            for _ in range(MAX_CHAT_PAGES):
                answer = await self.get(
                    "getChats", "/chats", {"count": CHATS_PER_CALL, "marker": marker}
                )
                page, next_marker = mx.chats_of(answer)
                found.extend(page)
                if next_marker is None or next_marker == marker or not page:
                    break
                marker = next_marker
            else:
                log.warning("MAX chat listing cut", extra={"pages": MAX_CHAT_PAGES})
            self._chats = (self.clock(), found)
            return found

    def _jitter(self, attempt: int) -> float:
        return min(30.0, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)

    def _scrub(self, text: str) -> str:
        for secret in self.pool.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text
