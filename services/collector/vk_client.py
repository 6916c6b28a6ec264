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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from prometheus_client import Counter
from pydantic import SecretStr

log = logging.getLogger("gospublic.collector.vk_client")

PLATFORM = "vk"
EXECUTE_MAX_CALLS = 25

# Error codes the client handles itself (see ARCHITECTURE.md, "error table").
TOKEN_INVALID = 5
TOO_MANY_REQUESTS = 6
INTERNAL_ERROR = 10
QUOTA_EXCEEDED = 29

# VK daily quotas roll over at midnight Moscow time.
MOSCOW = timezone(timedelta(hours=3))

API_REQUESTS = Counter(
    "gospublic_collector_api_requests_total",
    "Platform API requests by method and result (ok, an error code, garbage, network)",
    ["platform", "method", "result"],
)
RATE_LIMIT_WAIT = Counter(
    "gospublic_collector_rate_limit_wait_seconds_total",
    "Time spent waiting for a free token slot or backing off after a rate-limit error",
)


class VkError(Exception):
    """VK answered with an error object."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"VK error {code}: {msg}")
        self.code = code
        self.msg = msg


class VkGarbage(Exception):
    """The answer is not a usable VK answer: HTML, non-JSON, truncated JSON, wrong shape, non-2xx."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VkTransient(Exception):
    """Not about the pages: retry the work later (``retry_after`` seconds is a hint, may be 0)."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class VkNoTokens(Exception):
    """Every configured token was rejected by VK as invalid: nothing will work until someone acts."""


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


def parse_body(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a VK answer, or ``VkGarbage`` saying why it is not one."""
    if body[:512].lstrip().startswith(b"<"):
        raise VkGarbage(f"HTML instead of JSON (HTTP {status}, {len(body)} bytes)")
    if not 200 <= status < 300:
        raise VkGarbage(f"HTTP {status} ({content_type or 'no content type'}, {len(body)} bytes)")
    if not body.strip():
        raise VkGarbage(f"empty body (HTTP {status})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(body):  # cut inside a multi-byte character
            raise VkGarbage(f"truncated JSON: ends inside a character, {len(body)} bytes") from None
        raise VkGarbage(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        kind = "truncated JSON" if exc.pos >= len(text.rstrip()) else "invalid JSON"
        raise VkGarbage(f"{kind}: {exc.msg} at char {exc.pos} of {len(text)}") from None
    if not isinstance(data, dict):
        raise VkGarbage(f"JSON {type(data).__name__} instead of an object")
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


def split_execute(data: dict[str, Any], n_calls: int) -> list[Any]:
    """Map an ``execute`` answer to one entry per call: a result or a ``VkError``.

    A failed call shows as ``false`` in ``response``; its error is the next entry of
    ``execute_errors``, in order.
    """
    response = unwrap(data)
    if not isinstance(response, list) or len(response) != n_calls:
        got = f"list of {len(response)}" if isinstance(response, list) else type(response).__name__
        raise VkGarbage(f"execute answered {got} for {n_calls} calls")
    errors = data.get("execute_errors") or []
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


def next_quota_reset(now: datetime) -> datetime:
    moscow = now.astimezone(MOSCOW)
    midnight = datetime(moscow.year, moscow.month, moscow.day, tzinfo=MOSCOW) + timedelta(days=1)
    return midnight.astimezone(UTC)


# --- token pool --------------------------------------------------------------------------------


@dataclass
class _Token:
    index: int  # the only way a token is named in logs
    secret: SecretStr
    next_free: float = 0.0  # monotonic time of the next allowed request
    parked: dict[str, float] = field(default_factory=dict)  # method → wall-clock time it frees
    dead: bool = False


class TokenPool:
    """Per-token limiter: each request takes the token whose next slot comes soonest."""

    def __init__(
        self,
        tokens: Iterable[SecretStr],
        requests_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.tokens = [_Token(i, t) for i, t in enumerate(tokens) if t.get_secret_value()]
        if not self.tokens:
            raise VkNoTokens("no VK access token configured")
        self.interval = 1.0 / requests_per_second
        self.clock = clock
        self.wall_clock = wall_clock

    @property
    def alive(self) -> int:
        return sum(1 for t in self.tokens if not t.dead)

    def secrets(self) -> list[str]:
        return [t.secret.get_secret_value() for t in self.tokens]

    def reserve(self, methods: Iterable[str]) -> tuple[_Token, float]:
        """Pick a token usable for every method, book its next slot; return it and the wait."""
        methods = tuple(methods)
        alive = [t for t in self.tokens if not t.dead]
        if not alive:
            raise VkNoTokens(f"all {len(self.tokens)} VK tokens were rejected as invalid (error 5)")
        now_wall = self.wall_clock()
        usable = [t for t in alive if all(t.parked.get(m, 0.0) <= now_wall for m in methods)]
        if not usable:
            frees = min(max(t.parked.get(m, 0.0) for m in methods) for t in alive)
            raise VkTransient(
                f"daily quota exhausted on every token for {', '.join(methods)} (error 29)",
                retry_after=max(0.0, frees - now_wall),
            )
        token = min(usable, key=lambda t: t.next_free)
        now = self.clock()
        slot = max(now, token.next_free)
        token.next_free = slot + self.interval
        return token, slot - now

    def slow_down(self, token: _Token, seconds: float) -> None:
        token.next_free = max(token.next_free, self.clock() + seconds)

    def drop(self, token: _Token) -> None:
        token.dead = True

    def park(self, token: _Token, method: str, until_wall: float) -> None:
        token.parked[method] = until_wall


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
        max_rate_retries: int = 10,
        max_server_retries: int = 3,
        max_network_retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.pool = TokenPool(tokens, requests_per_second)
        self.max_rate_retries = max_rate_retries
        self.max_server_retries = max_server_retries
        self.max_network_retries = max_network_retries
        self.backoff_s = backoff_s
        self.http = httpx.AsyncClient(
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
        data, _ = await self._request(method, params, (method,))
        return unwrap(data)

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Up to 25 calls in one request: per call a result or a ``VkError``, in order."""
        code = execute_code(calls)
        inner = tuple(dict.fromkeys(method for method, _ in calls))
        data, token = await self._request("execute", {"code": code}, ("execute", *inner))
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
        quota_methods: tuple[str, ...],
    ) -> tuple[dict[str, Any], _Token]:
        """POST until an answer that is not retryable: the parsed JSON object and the token used."""
        rate_retries = server_retries = network_retries = 0
        while True:
            token, wait = self.pool.reserve(quota_methods)
            if wait > 0:
                RATE_LIMIT_WAIT.inc(wait)
                await asyncio.sleep(wait)
            form = encode_params(params)
            form["access_token"] = token.secret.get_secret_value()
            form["v"] = self.version
            try:
                response = await self.http.post(f"{self.base_url}/{method}", data=form)
                body = await response.aread()
            except httpx.TransportError as exc:
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
            try:
                data = parse_body(
                    response.status_code, response.headers.get("content-type", ""), body
                )
                if "error" in data:
                    raise error_from(data["error"])
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
                    continue
                if exc.code == TOKEN_INVALID:
                    if token.dead:  # a concurrent request already dropped it
                        continue
                    self.pool.drop(token)
                    log.error(
                        "VK rejected an access token; it is dropped from the pool",
                        extra={"token_index": token.index, "tokens_left": self.pool.alive},
                    )
                    continue  # VkNoTokens from reserve() if it was the last one
                if exc.code == QUOTA_EXCEEDED:
                    for quota_method in quota_methods:
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
        until = next_quota_reset(datetime.now(UTC))
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
