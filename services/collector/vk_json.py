"""Reading a platform answer's JSON: msgspec where it can, ``json`` where it must, every failure a
``Garbage`` saying why (shared by the VK, OK and MAX clients through ``vk_client``)."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from services.collector.tokens import Garbage as VkGarbage

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
