"""The ``execute`` method's code, parsed strictly: ``return [API.m({...}), ...];`` and no more.

The collector batches its calls this way; anything else is VK error 12, so a collector that
drifted from the form is caught in tests rather than in production.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.simulator.vk_protocol import _compile_error

_RETURN = re.compile(r"\s*return\b\s*(?P<body>.*?)\s*;?\s*", re.S)
_CALL = re.compile(r"\s*API\.(?P<method>[A-Za-z]+\.[A-Za-z]+)\(\s*")
_DECODER = json.JSONDecoder()


def parse_execute_code(code: str) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """Parse ``return [API.m({...}), ...];`` or ``return API.m({...});`` strictly.

    Returns the calls and whether the code returns a list. Anything else is VK error 12.
    """
    m = _RETURN.fullmatch(code or "")
    if m is None:
        raise _compile_error("code must be 'return [API.method({...}), ...];'")
    body = m.group("body")
    as_list = body.startswith("[")
    if as_list:
        if not body.endswith("]"):
            raise _compile_error("unterminated list")
        body = body[1:-1]
    calls: list[tuple[str, dict[str, Any]]] = []
    pos = 0
    while body[pos:].strip():
        call = _CALL.match(body, pos)
        if call is None:
            raise _compile_error(f"expected API call at {pos}")
        pos = call.end()
        args: Any = {}
        if body[pos] != ")":
            try:
                args, pos = _DECODER.raw_decode(body, pos)
            except json.JSONDecodeError as exc:
                raise _compile_error(f"bad arguments: {exc.msg}") from None
            if not isinstance(args, dict):
                raise _compile_error("arguments must be an object")
        pos = _skip_spaces(body, pos)
        if body[pos : pos + 1] != ")":
            raise _compile_error(f"expected ')' at {pos}")
        pos = _skip_spaces(body, pos + 1)
        calls.append((call.group("method"), args))
        if pos < len(body):
            if not as_list or body[pos] != ",":
                raise _compile_error(f"expected ',' at {pos}")
            pos += 1
    if not as_list and len(calls) != 1:
        raise _compile_error("expected one API call")
    return calls, as_list


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ",".join(_param_text(v) for v in value)
    return str(value)
