"""The VK API's wire vocabulary as the simulator speaks it: limits, error codes and bodies, params.

Shared by the method handlers (``vk_groups``, ``vk_wall``), the accounting (``vk_accounting``) and
:class:`~services.simulator.vk_api.VkSimulator`, which composes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring
from typing import Any

from pydantic_core import to_json

API_VERSION = "5.199"
MAX_GROUP_IDS = 500
MAX_WALL_COUNT = 100
MAX_COMMENTS_COUNT = 100
MAX_THREAD_ITEMS = 10
MAX_EXECUTE_CALLS = 25
FAULT_KINDS = ("html", "truncated", "error")
MOSCOW = timezone(timedelta(hours=3))

ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error: Unknown error, try later",
    12: "Unable to compile code",
    13: "Runtime error occurred during code invocation: Too many API calls",
    15: "Access denied: group is blocked",
    18: "User was deleted or banned",
    29: "Rate limit reached",
    30: "This profile is private",
    100: "One of the parameters specified was missing or invalid",
    203: "Access to group denied",
    212: "Access to post comments denied",
}
_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
JSON_TYPE = "application/json; charset=utf-8"


class ApiError(Exception):
    def __init__(self, code: int, msg: str | None = None):
        self.code = code
        self.msg = msg or ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        super().__init__(self.msg)


@dataclass(frozen=True)
class SimResponse:
    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class VkLimits:
    """VK's limits as the simulator enforces them (``None`` in the simulator: count, never refuse).

    ``requests_per_second`` per token within any ``window_s`` of arrival times (an ``execute`` is
    one request); ``daily`` per token and method, every ``execute`` sub-call included, resetting at
    midnight Moscow time.
    """

    requests_per_second: int = 3
    window_s: float = 1.0
    daily: dict[str, int] = field(default_factory=lambda: {"wall.get": 5000})


class Raw(str):
    """JSON text rendered already: :func:`render` puts it into a body as it is."""

    __slots__ = ()


def render(value: Any) -> str:
    """JSON text of a body whose heavy parts are :class:`Raw` (compact, UTF-8, as VK sends it)."""
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{encode_basestring(k)}:{render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return to_json(value).decode()


def _param_error(detail: str) -> ApiError:
    return ApiError(100, f"{ERROR_MESSAGES[100]}: {detail}")


def _compile_error(detail: str) -> ApiError:
    return ApiError(12, f"{ERROR_MESSAGES[12]}: {detail}")


def _int_param(params: dict[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name, "")
    if raw == "":
        if default is None:
            raise _param_error(f"{name} is undefined")
        return default
    try:
        return int(raw)
    except ValueError:
        raise _param_error(f"{name} not integer") from None


def moscow_day(wall_time: float) -> str:
    return datetime.fromtimestamp(wall_time, MOSCOW).date().isoformat()


# --- Small pieces ------------------------------------------------------------------------------


def _clean_params(params: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in params.items() if k != "access_token"}


def _error_body(error: ApiError, method: str, params: dict[str, str]) -> dict[str, Any]:
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    request_params += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    return {
        "error": {
            "inner_type": "base_error",
            "error_code": error.code,
            "error_msg": error.msg,
            "request_params": request_params,
        }
    }


def _dump(body: dict[str, Any]) -> bytes:
    return to_json(body)


def _hash(*values: int, length: int = 18) -> str:
    """A VK-style opaque key (``A-Za-z0-9-_``) from 64-bit values."""
    raw = b"".join(v.to_bytes(8, "little") for v in values)
    return base64.urlsafe_b64encode(raw).decode()[:length]
