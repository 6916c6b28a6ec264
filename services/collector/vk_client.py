"""Thin httpx adapter for the VK API (5.199): token pool, rate limits, typed errors, ``execute``.

Everything that can go wrong with one HTTP answer ends as one of three things: a result, a typed
``VkError`` (VK said no), or ``VkGarbage`` (the answer is not a VK answer at all). Conditions that
are about *us* rather than the pages (every token rate-limited or out of quota, the network down)
raise ``VkTransient`` so the caller retries the whole task later; a pool without a single valid
token raises ``VkNoTokens``. Token values never appear in a log line, an exception or a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import msgspec
from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge
from pydantic import SecretStr

from gospublic.httpclient import RedirectRefused, platform_client

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

API_REQUESTS = MetricCounter(
    "gospublic_collector_api_requests_total",
    "Platform API requests by method and result (ok, an error code, garbage, network)",
    ["platform", "method", "result"],
)
RATE_LIMIT_WAIT = MetricCounter(
    "gospublic_collector_rate_limit_wait_seconds_total",
    "Time spent waiting for a free token slot or backing off after a rate-limit error",
)
QUOTA_REMAINING = Gauge(
    "gospublic_collector_quota_remaining",
    "API calls left today per token (by fingerprint, never the token) and method; "
    "0 while parked after error 29, -1 where no quota is configured",
    ["platform", "token", "method"],
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


_JSON = msgspec.json.Decoder()


def parse_body(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a VK answer, or ``VkGarbage`` saying why it is not one."""
    data = parse_json(status, content_type, body)
    if not isinstance(data, dict):
        raise VkGarbage(f"JSON {type(data).__name__} instead of an object")
    return data


def parse_json(status: int, content_type: str, body: bytes) -> Any:
    """The JSON value of an API answer, or ``VkGarbage`` saying why it is not one."""
    if body[:512].lstrip().startswith(b"<"):
        raise VkGarbage(f"HTML instead of JSON (HTTP {status}, {len(body)} bytes)")
    if not 200 <= status < 300:
        raise VkGarbage(f"HTTP {status} ({content_type or 'no content type'}, {len(body)} bytes)")
    if not body.strip():
        raise VkGarbage(f"empty body (HTTP {status})")
    try:
        # msgspec reads the JSON it accepts exactly as ``json`` does, in a third of the time (a
        # collector spends a third of its CPU here); anything it refuses (NaN, huge numbers,
        # broken input) goes the ``json`` way, which decides and explains as before.
        return _JSON.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    except RecursionError:  # json would fail the same way: nesting deeper than the stack
        raise VkGarbage(f"invalid JSON: nested too deeply ({len(body)} bytes)") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(body):  # cut inside a multi-byte character
            raise VkGarbage(f"truncated JSON: ends inside a character, {len(body)} bytes") from None
        raise VkGarbage(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # A cut inside a string reports where the string started, not where the text ends.
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        kind = "truncated JSON" if cut else "invalid JSON"
        raise VkGarbage(f"{kind}: {exc.msg} at char {exc.pos} of {len(text)}") from None
    except ValueError as exc:  # a number of over 4,300 digits, which Python will not convert
        raise VkGarbage(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise VkGarbage(f"invalid JSON: nested too deeply ({len(body)} bytes)") from None
    if _SURROGATE_ESCAPE.search(text):
        data = _without_lone_surrogates(data)
    return data


# json reads "\ud800" as a lone surrogate (msgspec refuses it), which no UTF-8 text can carry: an
# event holding one could not be published. It is read as U+FFFD, as a broken UTF-8 byte would be.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _repaired(text: str) -> str:
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` with its strings (keys too) repaired, lists and objects in place."""
    if isinstance(value, str):
        return _repaired(value)
    todo = [value]
    while todo:  # a loop, not recursion: the value may nest as deep as json could read
        item = todo.pop()
        if isinstance(item, list):
            for i, element in enumerate(item):
                if isinstance(element, str):
                    item[i] = _repaired(element)
                elif isinstance(element, list | dict):
                    todo.append(element)
        elif isinstance(item, dict):
            pairs = list(item.items())
            item.clear()
            for key, element in pairs:
                if isinstance(element, str):
                    element = _repaired(element)
                elif isinstance(element, list | dict):
                    todo.append(element)
                item[_repaired(key)] = element
    return value


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


def fingerprint(secret: str) -> str:
    """A short, non-secret name for a token in metrics: the first 6 hex digits of its sha256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:6]


@dataclass
class _Slot:
    """One request of a token: in flight until ``done`` (monotonic time its answer arrived)."""

    done: float | None = None


@dataclass
class _Token:
    index: int  # how a token is named in logs
    secret: SecretStr
    fingerprint: str  # how a token is named in metrics
    slots: deque[_Slot] = field(default_factory=deque)  # in flight or answered within the window
    blocked_until: float = 0.0  # monotonic; set after error 6
    last_start: float = float("-inf")  # monotonic time of its latest request
    parked: dict[str, float] = field(default_factory=dict)  # method → wall-clock time it frees
    used: Counter[str] = field(default_factory=Counter)  # calls per method on `day`
    day: str = ""  # Moscow date the counts in `used` belong to
    dead: bool = False


class TokenPool:
    """Per-token rate limits and daily quotas; each request takes the token that is free soonest.

    VK allows ``rps`` requests a second per token and counts them when they arrive. A token may
    start a request only when fewer than ``burst`` of its requests are in flight or were answered
    within the last ``window`` seconds: the window is measured from when an *answer* came back,
    which is after VK counted the request, so no delay between us and VK (a busy event loop, a
    wait for a pooled connection) can make more than ``burst`` requests land in one window. Quotas are counted per token and method (an ``execute``
    counts its sub-calls) and reset at midnight Moscow time; error 29 parks the token for that
    method until then.
    """

    def __init__(
        self,
        tokens: Iterable[SecretStr],
        requests_per_second: float,
        *,
        daily_quota: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        platform: str = PLATFORM,
    ) -> None:
        self.platform = platform
        self.tokens = [
            _Token(i, t, fingerprint(t.get_secret_value()))
            for i, t in enumerate(tokens)
            if t.get_secret_value()
        ]
        if not self.tokens:
            raise VkNoTokens(f"no {platform.upper()} access token configured")
        self.burst = max(1, int(requests_per_second))
        self.window = self.burst / requests_per_second
        self.daily_quota = dict(daily_quota or {})
        self.clock = clock
        self.wall_clock = wall_clock
        self._changed: asyncio.Condition | None = None
        for token in self.tokens:
            self._publish_quota(token)

    @property
    def alive(self) -> int:
        return sum(1 for t in self.tokens if not t.dead)

    def secrets(self) -> list[str]:
        return [t.secret.get_secret_value() for t in self.tokens]

    # --- quotas -----------------------------------------------------------------------------
    def _roll_day(self, token: _Token) -> None:
        day = datetime.fromtimestamp(self.wall_clock(), MOSCOW).date().isoformat()
        if token.day != day:
            token.day = day
            token.used.clear()

    def remaining(self, token: _Token, method: str) -> int | None:
        """Calls left today for the method (``None``: no quota known); 0 while parked."""
        self._roll_day(token)
        if token.parked.get(method, 0.0) > self.wall_clock():
            return 0
        quota = self.daily_quota.get(method)
        return None if quota is None else max(0, quota - token.used[method])

    def _usable(self, token: _Token, calls: Mapping[str, int]) -> bool:
        for method, n in calls.items():
            left = self.remaining(token, method)
            if left is not None and left < n:
                return False
        return True

    def _frees(self, token: _Token, calls: Mapping[str, int]) -> float:
        """Wall-clock time the token can make these calls again (parked or out of quota)."""
        now = self.wall_clock()
        frees = now
        for method, n in calls.items():
            parked = token.parked.get(method, 0.0)
            if parked > now:
                frees = max(frees, parked)
            else:
                left = self.remaining(token, method)
                if left is not None and left < n:
                    frees = max(
                        frees, next_quota_reset(datetime.fromtimestamp(now, UTC)).timestamp()
                    )
        return frees

    def _publish_quota(self, token: _Token) -> None:
        for method in {*self.daily_quota, *token.parked}:
            left = self.remaining(token, method)
            QUOTA_REMAINING.labels(self.platform, token.fingerprint, method).set(
                -1 if left is None else left
            )

    def park(self, token: _Token, method: str, until_wall: float) -> None:
        token.parked[method] = until_wall
        self._publish_quota(token)

    # --- rate -------------------------------------------------------------------------------
    def _free_at(self, token: _Token, now: float) -> float | None:
        """When the token may start a request: ``now`` or later; ``None`` if it waits for an answer.

        Every request still in flight counts, however long ago it started: one waiting for a
        connection may reach VK after requests booked later.
        """
        while (
            token.slots
            and token.slots[0].done is not None
            and (token.slots[0].done <= now - self.window)
        ):
            token.slots.popleft()
        busy = [s.done for s in token.slots if s.done is None or s.done > now - self.window]
        start = max(now, token.blocked_until)
        if len(busy) < self.burst:
            return start
        answered = sorted(done for done in busy if done is not None)
        # The oldest answers age out first; enough of them must, for one more request to fit.
        needed = len(busy) - self.burst + 1
        if len(answered) < needed:
            return None
        return max(start, answered[needed - 1] + self.window)

    def pick(self, calls: Mapping[str, int]) -> tuple[_Token, float | None]:
        """The token to use for these calls and when it may start (``None``: after an answer)."""
        alive = [t for t in self.tokens if not t.dead]
        if not alive:
            raise VkNoTokens(
                f"all {len(self.tokens)} {self.platform.upper()} tokens were rejected as invalid"
            )
        usable = [t for t in alive if self._usable(t, calls)]
        if not usable:
            frees = min(self._frees(t, calls) for t in alive)
            raise VkTransient(
                f"daily quota exhausted on every token for {', '.join(calls)} (error 29)",
                retry_after=max(0.0, frees - self.wall_clock()),
            )
        now = self.clock()
        # Soonest free first; among equals the least recently started, so load spreads evenly.
        ranked = [(self._free_at(token, now), token) for token in usable]
        at, token = min(
            ranked, key=lambda r: (r[0] is None, r[0] or 0.0, r[1].last_start, r[1].index)
        )
        return token, at

    def start(self, token: _Token, calls: Mapping[str, int]) -> _Slot:
        """Book a request on the token now: it is in flight and its calls count against quotas."""
        slot = _Slot()
        token.last_start = self.clock()
        token.slots.append(slot)
        self._roll_day(token)
        for method, n in calls.items():
            token.used[method] += n
        self._publish_quota(token)
        return slot

    def finish(self, slot: _Slot) -> None:
        """The request's answer arrived (or it failed): its slot starts ageing out."""
        slot.done = self.clock()
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            asyncio.get_running_loop().create_task(_notify(self._changed))

    async def acquire(self, calls: Mapping[str, int]) -> tuple[_Token, _Slot, float]:
        """Wait for a token that may send these calls; return it, its slot and the time waited."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        waited = 0.0
        while True:
            token, at = self.pick(calls)
            now = self.clock()
            if at is not None and at <= now:
                return token, self.start(token, calls), waited
            pause = None if at is None else at - now
            started = self.clock()
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), pause)
            waited += self.clock() - started

    def slow_down(self, token: _Token, seconds: float) -> None:
        token.blocked_until = max(token.blocked_until, self.clock() + seconds)
        self._wake()

    def drop(self, token: _Token) -> None:
        token.dead = True


async def _notify(condition: asyncio.Condition) -> None:
    async with condition:
        condition.notify_all()


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
        return unwrap(data)

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Up to 25 calls in one request: per call a result or a ``VkError``, in order."""
        code = execute_code(calls)
        counts = Counter(method for method, _ in calls)
        data, token = await self._request("execute", {"code": code}, counts)
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
    ) -> tuple[dict[str, Any], _Token]:
        """POST until an answer that is not retryable: the parsed JSON object and the token used.

        ``calls`` are the API calls the request makes per method (an ``execute`` makes several),
        for the daily quotas.
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
