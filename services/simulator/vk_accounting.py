"""What the VK simulator counts and refuses: the request and call logs, rate and quota limits.

A mixin of :class:`~services.simulator.vk_api.VkSimulator`, which creates the counters, the logs
and the lock these methods share.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from services.simulator.vk_protocol import ApiError, moscow_day


class Accounting:
    """Counters, logs and limits of :class:`~services.simulator.vk_api.VkSimulator`."""

    requests: Counter[tuple[str, str]]
    calls: Counter[tuple[str, str]]
    errors: Counter[int]
    request_log: deque[dict[str, Any]]
    call_log: deque[dict[str, Any]]

    def request_count(self, method: str | None = None, token: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (m, t), n in self.requests.items()
                if (method is None or m == method) and (token is None or t == token)
            )

    def log_entries(self) -> list[dict[str, Any]]:
        """A copy of the request log (safe while the server keeps appending)."""
        with self._lock:
            return list(self.request_log)

    def call_entries(self, method: str | None = None) -> list[dict[str, Any]]:
        """A copy of the call log: one entry per API call, ``execute`` sub-calls included."""
        with self._lock:
            return [e for e in self.call_log if method is None or e["method"] == method]

    def quota_used(self, token: str, method: str) -> int:
        with self._lock:
            return self._used[(token, method, moscow_day(self.wall_clock()))]

    def stats(self) -> dict[str, Any]:
        """Counters a benchmark reads back (no tokens in it)."""
        with self._lock:
            by_method: Counter[str] = Counter()
            for (method, _), n in self.requests.items():
                by_method[method] += n
            calls: Counter[str] = Counter()
            for (method, _), n in self.calls.items():
                calls[method] += n
            return {
                "requests": sum(by_method.values()),
                "requests_by_method": dict(by_method),
                "calls_by_method": dict(calls),
                "errors": {str(code): n for code, n in sorted(self.errors.items())},
                "rate_limited": self.rate_limited,
                "quota_exceeded": self.quota_exceeded,
                "limits": self.limits is not None,
            }

    def reset_log(self) -> None:
        """Forget the counters and logs, keep what limits remember (quotas used today)."""
        with self._lock:
            self.requests.clear()
            self.calls.clear()
            self.errors.clear()
            self.rate_limited = self.quota_exceeded = 0
            self.request_log.clear()
            self.call_log.clear()

    def reset(self) -> None:
        """Forget everything, what limits remember included."""
        self.reset_log()
        with self._lock:  # not reentrant: reset_log takes it on its own
            self._faults.clear()
            self._recent.clear()
            self._used.clear()
            self._call_faults.clear()

    def _admit(self, token: str) -> None:
        """Error 6 if this request would be one too many for the token in the last window."""
        if self.limits is None:
            return
        with self._lock:  # read the clock inside: arrivals must be recorded in time order
            now = self.clock()
            recent = self._recent.setdefault(token, deque())
            while recent and recent[0] <= now - self.limits.window_s:
                recent.popleft()
            if len(recent) >= self.limits.requests_per_second:
                self.rate_limited += 1
                raise ApiError(6)
            recent.append(now)

    def _spend(self, token: str, method: str) -> None:
        """Count a call against the token's daily quota for the method; error 29 when used up."""
        with self._lock:
            self.calls[(method, token)] += 1
            if self.limits is None:
                return
            quota = self.limits.daily.get(method)
            key = (token, method, moscow_day(self.wall_clock()))
            if quota is not None and self._used[key] >= quota:
                self.quota_exceeded += 1
                raise ApiError(29)
            self._used[key] += 1

    def _record(
        self,
        method: str,
        token: str,
        params: dict[str, str],
        error_code: int | None,
        fault: str | None,
        status: int,
    ) -> None:
        with self._lock:
            self.requests[(method, token)] += 1
            if error_code is not None:
                self.errors[error_code] += 1
            self.request_log.append(
                {
                    "time": time.time(),
                    "method": method,
                    "token": token,
                    "params": params,
                    "status": status,
                    "error_code": error_code,
                    "fault": fault,
                }
            )
