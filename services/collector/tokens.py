"""The collector machinery every platform shares: the token pool (per-token rate limits and daily
quotas), the errors that end an answer (``Garbage``: not a usable answer; ``Transient``: about us,
not the pages, so the task is retried later; ``NoTokens``: no credential works), and the API
metrics, labelled by platform. The platform clients (VK, OK, MAX) import them from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge
from pydantic import SecretStr

log = logging.getLogger("gospublic.collector.tokens")

PLATFORM = "vk"  # the token pool's default platform label (VK's pool came first)

# Daily quotas (VK's) roll over at midnight Moscow time.
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


class Garbage(Exception):
    """The answer is not a usable answer of the platform: HTML, non-JSON, truncated JSON, wrong shape, non-2xx."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(Exception):
    """Not about the pages: retry the work later (``retry_after`` seconds is a hint, may be 0)."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class NoTokens(Exception):
    """Every configured token was rejected by the platform as invalid: nothing will work until someone acts."""


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
            raise NoTokens(f"no {platform.upper()} access token configured")
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
            raise NoTokens(
                f"all {len(self.tokens)} {self.platform.upper()} tokens were rejected as invalid"
            )
        usable = [t for t in alive if self._usable(t, calls)]
        if not usable:
            frees = min(self._frees(t, calls) for t in alive)
            raise Transient(
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
