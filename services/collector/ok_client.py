"""Thin httpx adapter for Odnoklassniki's REST API (``fb.do``): signatures, tokens, typed errors.

Every request is signed as OK requires: ``sig`` is the md5 of the sorted ``key=value`` pairs
(all but ``sig`` and ``access_token``) followed by ``md5(access_token + application secret)``.
Answers are a result, an ``OkError`` (OK said no, an error body with HTTP 200), or ``VkGarbage``
(HTML, truncated JSON, a non-2xx status: not an OK answer at all). Conditions about us rather than
the pages raise ``VkTransient``; an invalid signature or key is a configuration error that no retry
fixes (``OkConfigError``). Secrets never reach a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from gospublic.httpclient import RedirectRefused, platform_client
from services.collector.vk_client import (
    API_REQUESTS,
    RATE_LIMIT_WAIT,
    TokenPool,
    VkGarbage,
    VkTransient,
    parse_json,
)

log = logging.getLogger("gospublic.collector.ok_client")

PLATFORM = "ok"
# OK error codes (https://apiok.ru/dev/errors) the collector acts on.
UNKNOWN, SERVICE, PERMISSION_DENIED = 1, 2, 10
FLOOD_BLOCKED, LIMIT_REACHED = 8, 11
PARAM, PARAM_API_KEY, SESSION_EXPIRED, SESSION_KEY, SIGNATURE = 100, 101, 102, 103, 104
GROUP_ID, NOT_FOUND = 160, 300


class OkError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"OK error {code}: {msg}")
        self.code = code
        self.msg = msg


class OkConfigError(Exception):
    """The application key or secret is wrong: every request will fail until someone acts."""


def sign(params: Mapping[str, str], access_token: str, secret_key: str) -> str:
    session_secret = hashlib.md5((access_token + secret_key).encode()).hexdigest()
    pairs = "".join(
        f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sig", "access_token")
    )
    return hashlib.md5((pairs + session_secret).encode()).hexdigest()


class OkClient:
    def __init__(
        self,
        url: str,
        application_key: str,
        secret_key: SecretStr,
        tokens: list[SecretStr],
        requests_per_second: float = 5.0,
        timeout: float = 20.0,
        *,
        backoff_s: float = 0.5,
        max_retries: int = 3,
    ) -> None:
        self.url = url
        self.application_key = application_key
        self.secret_key = secret_key
        self.pool = TokenPool(tokens, requests_per_second, platform=PLATFORM)
        self.backoff_s = backoff_s
        self.max_retries = max_retries
        self.http = platform_client(
            PLATFORM,
            url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
            headers={"User-Agent": "gospublic-monitor/0.1"},
        )

    @property
    def tokens_alive(self) -> int:
        return self.pool.alive

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, params: Mapping[str, Any]) -> Any:
        """The JSON answer of one method, or ``OkError`` / ``VkGarbage``."""
        attempts = 0
        while True:
            token, slot, waited = await self.pool.acquire({method: 1})
            if waited > 0:
                RATE_LIMIT_WAIT.inc(waited)
            secret = token.secret.get_secret_value()
            form = {
                "application_key": self.application_key,
                "format": "json",
                "method": method,
                **{k: str(v) for k, v in params.items()},
            }
            form["sig"] = sign(form, secret, self.secret_key.get_secret_value())
            form["access_token"] = secret
            try:
                response = await self.http.post(self.url, data=form)
                body = await response.aread()
            except (RedirectRefused, httpx.TooManyRedirects) as exc:
                # Not retried: the same answer would send us off the platform again.
                API_REQUESTS.labels(PLATFORM, method, "redirect_refused").inc()
                raise VkGarbage(f"OK {method}: {exc}") from None
            except httpx.TransportError as exc:
                API_REQUESTS.labels(PLATFORM, method, "network").inc()
                attempts += 1
                if attempts > self.max_retries:
                    raise VkTransient(
                        f"network error calling OK {method}: {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(self._jitter(attempts))
                continue
            finally:
                self.pool.finish(slot)
            try:
                data = parse_json(
                    response.status_code, response.headers.get("content-type", ""), body
                )
            except VkGarbage:
                API_REQUESTS.labels(PLATFORM, method, "garbage").inc()
                raise
            if isinstance(data, dict) and "error_code" in data:
                code = data.get("error_code")
                code = code if isinstance(code, int) and not isinstance(code, bool) else 0
                msg = str(data.get("error_msg") or "")[:300]
                API_REQUESTS.labels(PLATFORM, method, str(code)).inc()
                if code in (SIGNATURE, PARAM_API_KEY):
                    raise OkConfigError(f"OK refused the application's credentials: {msg}")
                if code in (SESSION_EXPIRED, SESSION_KEY):
                    self.pool.drop(token)
                    log.error(
                        "OK rejected an access token; it is dropped from the pool",
                        extra={"token_index": token.index, "tokens_left": self.pool.alive},
                    )
                    continue
                if code in (FLOOD_BLOCKED, LIMIT_REACHED):
                    attempts += 1
                    if attempts > self.max_retries:
                        raise VkTransient(f"OK {method}: still error {code}")
                    self.pool.slow_down(token, self._jitter(attempts) * 4)
                    continue
                if code in (UNKNOWN, SERVICE) and attempts < self.max_retries:
                    attempts += 1
                    await asyncio.sleep(self._jitter(attempts))
                    continue
                raise OkError(code, msg)
            API_REQUESTS.labels(PLATFORM, method, "ok").inc()
            return data

    def _jitter(self, attempt: int) -> float:
        return min(30.0, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
