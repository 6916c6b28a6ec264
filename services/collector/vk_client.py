"""Thin httpx adapter for the VK API (5.199): token pool, rate limits, typed errors, ``execute``.

Everything that can go wrong with one HTTP answer ends as one of three things: a result, a typed
``VkError`` (VK said no), or ``VkGarbage`` (the answer is not a VK answer at all). Conditions that
are about *us* rather than the pages (every token rate-limited or out of quota, the network down)
raise ``VkTransient`` so the caller retries the whole task later; a pool without a single valid
token raises ``VkNoTokens``. Token values never appear in a log line, an exception or a label.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from gospublic.httpclient import RedirectRefused, platform_client

# The shared collector machinery (platform-neutral, in services.collector.tokens), under the names
# the VK modules and their tests know.
from services.collector.tokens import API_REQUESTS as API_REQUESTS
from services.collector.tokens import MOSCOW as MOSCOW
from services.collector.tokens import QUOTA_REMAINING as QUOTA_REMAINING
from services.collector.tokens import RATE_LIMIT_WAIT as RATE_LIMIT_WAIT
from services.collector.tokens import Garbage, NoTokens, Transient, _Token
from services.collector.tokens import TokenPool as TokenPool
from services.collector.tokens import fingerprint as fingerprint
from services.collector.tokens import next_quota_reset as next_quota_reset
from services.collector.vk_json import parse_body as parse_body
from services.collector.vk_json import parse_json as parse_json
from services.collector.vk_wall import WallExecute, decode_walls

VkGarbage, VkTransient, VkNoTokens = Garbage, Transient, NoTokens

log = logging.getLogger("gospublic.collector.vk_client")

PLATFORM = "vk"
EXECUTE_MAX_CALLS = 25

# Error codes the client handles itself (see ARCHITECTURE.md, "error table").
TOKEN_INVALID = 5
TOO_MANY_REQUESTS = 6
INTERNAL_ERROR = 10
QUOTA_EXCEEDED = 29


class VkError(Exception):
    """VK answered with an error object."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"VK error {code}: {msg}")
        self.code = code
        self.msg = msg


# --- pure helpers ------------------------------------------------------------------------------


def encode_params(params: dict[str, Any]) -> dict[str, str]:
    """VK form encoding: lists comma-joined, booleans as 1/0, ``None`` left out."""
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[key] = "1" if value else "0"
        elif isinstance(value, list | tuple):
            encoded[key] = ",".join(str(item) for item in value)
        else:
            encoded[key] = str(value)
    return encoded


def execute_code(calls: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """VKScript for ``execute``: ``return [API.m1({...}), API.m2({...})];`` with JSON arguments."""
    if not calls:
        raise ValueError("execute needs at least one call")
    if len(calls) > EXECUTE_MAX_CALLS:
        raise ValueError(f"execute takes at most {EXECUTE_MAX_CALLS} calls, got {len(calls)}")
    parts = []
    for method, params in calls:
        if not all(part.isidentifier() for part in method.split(".")):
            raise ValueError(f"not a VK method name: {method!r:.60}")
        parts.append(f"API.{method}({json.dumps(params, ensure_ascii=False)})")
    return "return [" + ",".join(parts) + "];"


def read_answer(
    status: int, content_type: str, body: bytes, calls: Sequence[tuple[str, Any]] = ()
) -> dict[str, Any] | WallExecute:
    """The answer to a request: an ``execute`` of ``wall.get`` calls typed where it decodes as
    one (``vk_wall``), any other as a JSON object; ``VkError`` for an error, ``VkGarbage`` for
    what is not an answer."""
    if calls and 200 <= status < 300 and all(method == "wall.get" for method, _ in calls):
        typed = decode_walls(body)
        if typed is not None:
            return typed
    data = parse_body(status, content_type, body)
    if "error" in data:
        raise error_from(data["error"])
    return data


def error_from(obj: object) -> VkError:
    """A ``VkError`` from an ``error`` or ``execute_errors`` entry, tolerant of odd shapes."""
    if not isinstance(obj, dict):
        return VkError(0, f"malformed error object: {obj!r:.100}")
    code = obj.get("error_code")
    msg = obj.get("error_msg")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    return VkError(code, msg if isinstance(msg, str) else "")


def unwrap(data: dict[str, Any]) -> Any:
    """``response`` of a parsed answer; ``VkError`` for an error object, ``VkGarbage`` otherwise."""
    if "error" in data:
        raise error_from(data["error"])
    if "response" not in data:
        raise VkGarbage("neither 'response' nor 'error' in the answer")
    return data["response"]


def split_execute(data: dict[str, Any] | WallExecute, n_calls: int) -> list[Any]:
    """Map an ``execute`` answer to one entry per call: a result or a ``VkError``.

    A failed call shows as ``false`` in ``response``; its error is the next entry of
    ``execute_errors``, in order.
    """
    if isinstance(data, WallExecute):
        response, errors = data.response, data.execute_errors or []
    else:
        response = unwrap(data)
        errors = data.get("execute_errors") or []
    if not isinstance(response, list) or len(response) != n_calls:
        got = f"list of {len(response)}" if isinstance(response, list) else type(response).__name__
        raise VkGarbage(f"execute answered {got} for {n_calls} calls")
    if not isinstance(errors, list):
        raise VkGarbage("execute_errors is not a list")
    pending = iter(errors)
    results: list[Any] = []
    for item in response:
        if item is False:
            results.append(error_from(next(pending, {"error_msg": "call failed without an error"})))
        else:
            results.append(item)
    return results


# --- client ------------------------------------------------------------------------------------


class VkClient:
    """One shared keep-alive ``httpx.AsyncClient``; ``call`` and ``execute`` retry what is retryable."""

    def __init__(
        self,
        base_url: str,
        tokens: list[SecretStr],
        version: str = "5.199",
        requests_per_second: float = 3.0,
        timeout: float = 20.0,
        *,
        daily_quota: Mapping[str, int] | None = None,
        max_rate_retries: int = 10,
        max_server_retries: int = 3,
        max_network_retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.pool = TokenPool(tokens, requests_per_second, daily_quota=daily_quota)
        self.max_rate_retries = max_rate_retries
        self.max_server_retries = max_server_retries
        self.max_network_retries = max_network_retries
        self.backoff_s = backoff_s
        self.http = platform_client(
            PLATFORM,
            self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": "gospublic-monitor/0.1"},
        )

    async def __aenter__(self) -> VkClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def tokens_alive(self) -> int:
        return self.pool.alive

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One API method; the ``response`` value, or ``VkError`` / ``VkGarbage``."""
        data, _ = await self._request(method, params, {method: 1})
        return unwrap(data)  # a dict: typed answers are for execute's calls

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Up to 25 calls in one request: per call a result or a ``VkError``, in order."""
        code = execute_code(calls)
        counts = Counter(method for method, _ in calls)
        data, token = await self._request("execute", {"code": code}, counts, calls)
        results = split_execute(data, len(calls))
        for i, ((method, _), result) in enumerate(zip(calls, results, strict=True)):
            if isinstance(result, VkError):
                results[i] = VkError(result.code, self._scrub(result.msg))
                if result.code == QUOTA_EXCEEDED:
                    self._park(token, method)
        return results

    async def _request(
        self,
        method: str,
        params: dict[str, Any],
        calls: Mapping[str, int],
        execute_calls: Sequence[tuple[str, Any]] = (),
    ) -> tuple[Any, _Token]:
        """POST until an answer that is not retryable: the parsed answer (``read_answer``) and the
        token used.

        ``calls`` are the API calls the request makes per method (an ``execute`` makes several),
        for the daily quotas; ``execute_calls`` the calls of an ``execute``.
        """
        rate_retries = server_retries = network_retries = 0
        while True:
            token, slot, waited = await self.pool.acquire(calls)
            if waited > 0:
                RATE_LIMIT_WAIT.inc(waited)
            form = encode_params(params)
            form["access_token"] = token.secret.get_secret_value()
            form["v"] = self.version
            try:
                response = await self.http.post(f"{self.base_url}/{method}", data=form)
                body = await response.aread()
            except (RedirectRefused, httpx.TooManyRedirects) as exc:
                # Not retried: the same answer would send us off the platform again.
                API_REQUESTS.labels(PLATFORM, method, "redirect_refused").inc()
                raise VkGarbage(f"{method}: {exc}") from None
            except httpx.TransportError as exc:
                self.pool.finish(slot)
                API_REQUESTS.labels(PLATFORM, method, "network").inc()
                network_retries += 1
                reason = self._scrub(f"{type(exc).__name__}: {exc}")
                if network_retries > self.max_network_retries:
                    raise VkTransient(f"network error calling {method}: {reason}") from None
                log.warning(
                    "VK request failed, retrying",
                    extra={"method": method, "error": reason, "attempt": network_retries},
                )
                await asyncio.sleep(self._jitter(network_retries))
                continue
            finally:
                if slot.done is None:
                    self.pool.finish(slot)
            try:
                data = read_answer(
                    response.status_code,
                    response.headers.get("content-type", ""),
                    body,
                    execute_calls,
                )
            except VkGarbage:
                API_REQUESTS.labels(PLATFORM, method, "garbage").inc()
                raise
            except VkError as raw_error:
                API_REQUESTS.labels(PLATFORM, method, str(raw_error.code)).inc()
                exc = VkError(raw_error.code, self._scrub(raw_error.msg))
                if exc.code == TOO_MANY_REQUESTS:
                    rate_retries += 1
                    if rate_retries > self.max_rate_retries:
                        raise VkTransient(
                            f"{method}: still error 6 after {rate_retries} tries"
                        ) from None
                    pause = self._jitter(rate_retries)
                    self.pool.slow_down(token, pause)
                    RATE_LIMIT_WAIT.inc(pause)
                    log.info(
                        "VK error 6: token slowed down",
                        extra={"token_index": token.index, "pause_s": round(pause, 3)},
                    )
                    continue
                if exc.code == TOKEN_INVALID:
                    if token.dead:  # a concurrent request already dropped it
                        continue
                    self.pool.drop(token)
                    log.error(
                        "VK rejected an access token; it is dropped from the pool",
                        extra={"token_index": token.index, "tokens_left": self.pool.alive},
                    )
                    continue  # VkNoTokens from acquire() if it was the last one
                if exc.code == QUOTA_EXCEEDED:
                    for quota_method in calls:
                        self._park(token, quota_method)
                    continue
                if exc.code == INTERNAL_ERROR and server_retries < self.max_server_retries:
                    server_retries += 1
                    await asyncio.sleep(self._jitter(server_retries))
                    continue
                raise exc from None
            API_REQUESTS.labels(PLATFORM, method, "ok").inc()
            return data, token

    def _park(self, token: _Token, method: str) -> None:
        until = next_quota_reset(datetime.fromtimestamp(self.pool.wall_clock(), UTC))
        self.pool.park(token, method, until.timestamp())
        log.warning(
            "VK daily quota reached; token parked for the method",
            extra={"token_index": token.index, "method": method, "until": until.isoformat()},
        )

    def _jitter(self, attempt: int) -> float:
        base = self.backoff_s * 2 ** (attempt - 1)
        return min(30.0, base) * random.uniform(0.5, 1.5)

    def _scrub(self, text: str) -> str:
        for secret in self.pool.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text
