"""VK API 5.199 answered from a synthetic region: ``groups.getById``, ``wall.get``,
``wall.getComments`` and ``execute``.

:class:`VkSimulator` is a request handler without I/O: ``handle(method, params)`` returns the JSON
body VK would return (errors are bodies too, as VK sends them with HTTP 200). ``respond`` adds the
HTTP layer's view, including injected faults (an HTML 502 page, a truncated body, an error code),
and :mod:`services.simulator.server` puts it on a socket.

Shapes follow the official 5.199 schema (``groups_getById_object_response``, ``wall_get_response``,
``wall_getComments_response``, ``base_error``) plus the undocumented fields real responses carry
(``is_government_organization``, ``owner_id`` on posts, ``inner_type``). Every request is counted
per ``(method, token)`` and logged without its access token; every API call (an ``execute`` runs
several) goes to a call log as well, so a test can prove which pages were read and how often.

With :class:`VkLimits` the simulator enforces VK's limits: 3 requests a second per token (error 6)
and daily quotas per token and method, ``execute`` sub-calls included (error 29). Posts are rendered
straight to JSON text: a national sweep reads millions of them.

The method handlers live in ``vk_groups`` and ``vk_wall``, the counters and limits in
``vk_accounting``, the wire vocabulary in ``vk_protocol`` and the ``execute`` parser in
``vk_execute``; this module composes them and keeps every name importable from here.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from typing import Any

from services.simulator.region import Region
from services.simulator.vk_accounting import Accounting
from services.simulator.vk_execute import _param_text, parse_execute_code
from services.simulator.vk_groups import GroupMethods
from services.simulator.vk_protocol import (
    _BAD_GATEWAY,
    API_VERSION,
    ERROR_MESSAGES,
    FAULT_KINDS,
    JSON_TYPE,
    MAX_COMMENTS_COUNT,
    MAX_EXECUTE_CALLS,
    MAX_GROUP_IDS,
    MAX_THREAD_ITEMS,
    MAX_WALL_COUNT,
    MOSCOW,
    ApiError,
    Raw,
    SimResponse,
    VkLimits,
    _clean_params,
    _dump,
    _error_body,
    moscow_day,
    render,
)
from services.simulator.vk_wall import WallMethods

__all__ = [
    "API_VERSION",
    "ERROR_MESSAGES",
    "FAULT_KINDS",
    "JSON_TYPE",
    "MAX_COMMENTS_COUNT",
    "MAX_EXECUTE_CALLS",
    "MAX_GROUP_IDS",
    "MAX_THREAD_ITEMS",
    "MAX_WALL_COUNT",
    "MOSCOW",
    "ApiError",
    "Raw",
    "SimResponse",
    "VkLimits",
    "VkSimulator",
    "moscow_day",
    "parse_execute_code",
    "render",
]


class VkSimulator(Accounting, GroupMethods, WallMethods):
    """Answers VK API calls for ``region``; ``tokens=None`` accepts any non-empty token."""

    def __init__(
        self,
        region: Region,
        tokens: set[str] | None = None,
        *,
        limits: VkLimits | None = None,
        log_limit: int = 100_000,
        clock=time.monotonic,
        wall_clock=time.time,
    ):
        self.region = region
        self.tokens = frozenset(tokens) if tokens is not None else None
        self.limits = limits
        self.clock = clock
        self.wall_clock = wall_clock
        # HTTP-level requests (an execute is one) and API calls (each execute sub-call counts).
        self.requests: Counter[tuple[str, str]] = Counter()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[int] = Counter()
        self.rate_limited = 0  # error 6 answered because a token went over its rate
        self.quota_exceeded = 0  # error 29 answered because a token used up a daily quota
        self.request_log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.call_log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._faults: deque[tuple[str, int | None, str | None]] = deque()
        self._recent: dict[str, deque[float]] = {}  # token → arrival times inside the window
        self._used: Counter[tuple[str, str, str]] = Counter()  # (token, method, day) → calls
        self._call_faults: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # --- Test hooks ---------------------------------------------------------------------------
    def fail_next(
        self,
        kind: str,
        count: int = 1,
        error_code: int | None = None,
        method: str | None = None,
    ) -> None:
        """Make the next ``count`` requests (of ``method``, if given) fail: ``html`` (HTTP 502
        page), ``truncated`` (half of a valid JSON body, HTTP 200) or ``error`` (an error body
        with ``error_code``, default 10).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, not {kind!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.extend([(kind, error_code, method)] * count)

    def fail_calls(self, method: str, owner_id: int, error_code: int) -> None:
        """Make every ``method`` call for ``owner_id`` (an ``execute`` sub-call too) answer
        ``error_code``: a page that went private, was deleted or closed its comments between
        two calls of a sweep. ``error_code=0`` clears it.
        """
        with self._lock:
            if error_code:
                self._call_faults[(method, str(owner_id))] = error_code
            else:
                self._call_faults.pop((method, str(owner_id)), None)

    # --- Entry points -------------------------------------------------------------------------
    def handle(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """The JSON body VK returns for one request (faults are not applied here)."""
        return json.loads(render(self._handle(method, params, fault=None)))

    def respond(self, method: str, params: dict[str, str]) -> SimResponse:
        """HTTP status, content type and bytes for one request, with injected faults applied."""
        with self._lock:
            fault = next((f for f in self._faults if f[2] in (None, method)), None)
            if fault is not None:
                self._faults.remove(fault)
        if fault is None:
            body = render(self._handle(method, params, fault=None)).encode()
            return SimResponse(200, JSON_TYPE, body)
        kind, code, _ = fault
        clean = _clean_params(params)
        token = str(params.get("access_token", ""))
        if kind == "html":
            self._record(method, token, clean, None, "html", 502)
            return SimResponse(502, "text/html", _BAD_GATEWAY)
        if kind == "truncated":
            body = render(self._handle(method, params, fault="truncated")).encode()
            cut = max(1, len(body) // 2)
            while cut > 1 and 0x80 <= body[cut] < 0xC0:  # not inside a character
                cut -= 1
            return SimResponse(200, JSON_TYPE, body[:cut])
        error = ApiError(code or 10)
        self._record(method, token, clean, error.code, "error", 200)
        return SimResponse(200, JSON_TYPE, _dump(_error_body(error, method, clean)))

    # --- Dispatch -----------------------------------------------------------------------------
    def _handle(self, method: str, params: dict[str, str], fault: str | None) -> dict[str, Any]:
        params = {str(k): str(v) for k, v in params.items()}
        token = params.get("access_token", "")
        clean = _clean_params(params)
        try:
            if not token:
                raise ApiError(5, "User authorization failed: no access_token passed.")
            if self.tokens is not None and token not in self.tokens:
                raise ApiError(5)
            if not params.get("v"):
                raise ApiError(8)
            self._admit(token)
            if method == "execute":
                response, errors = self._execute(params, token)
                body: dict[str, Any] = {"response": response}
                if errors:
                    body["execute_errors"] = errors
            else:
                body = {"response": self._call(method, params, token)}
            code = None
        except ApiError as error:
            body = _error_body(error, method, clean)
            code = error.code
        self._record(method, token, clean, code, fault, 200)
        return body

    def _call(self, method: str, params: dict[str, str], token: str) -> Any:
        entry = {"method": method, "token": token, "params": _clean_params(params)}
        try:
            if method not in _METHODS:
                raise ApiError(3)
            self._spend(token, method)
            injected = self._call_faults.get((method, params.get("owner_id", "")))
            if injected:
                raise ApiError(injected)
            result = getattr(self, _METHODS[method])(params)
        except ApiError as error:
            entry["error_code"] = error.code
            raise
        else:
            entry["error_code"] = None
            return result
        finally:
            with self._lock:
                self.call_log.append(entry)

    # --- execute ------------------------------------------------------------------------------
    def _execute(self, params: dict[str, str], token: str) -> tuple[Any, list[dict[str, Any]]]:
        calls, as_list = parse_execute_code(params.get("code", ""))
        if len(calls) > MAX_EXECUTE_CALLS:
            raise ApiError(13)
        results: list[Any] = []
        errors: list[dict[str, Any]] = []
        for method, args in calls:
            sub = {k: _param_text(v) for k, v in args.items()}
            try:
                if method == "execute":
                    raise ApiError(3)
                results.append(self._call(method, sub, token))
            except ApiError as error:
                results.append(False)
                errors.append({"method": method, "error_code": error.code, "error_msg": error.msg})
                with self._lock:
                    self.errors[error.code] += 1
        return (results if as_list else results[0]), errors


_METHODS = {
    "groups.getById": "_groups_get_by_id",
    "wall.get": "_wall_get",
    "wall.getComments": "_wall_get_comments",
}
