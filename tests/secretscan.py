"""Find secret values in output: raw, URL-quoted, JSON-escaped or base64-encoded at any offset.

A leak names the source and the secret's *name*; the value itself is never printed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Leak:
    source: str
    secret: str
    form: str

    def __str__(self) -> str:
        return f"{self.source}: {self.secret} ({self.form})"


def _base64_cores(raw: bytes) -> list[bytes]:
    """The part of the base64 text of ``raw`` that does not depend on what surrounds it, for each
    of the three alignments it can have inside a longer encoded string."""
    cores = []
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + raw)
        tail = (len(raw) + shift) % 3
        cut = len(encoded) - (4 if tail else 0)
        cores.append(encoded[skip:cut].rstrip(b"="))
    return [core for core in cores if len(core) >= 8]


def forms(value: str) -> dict[str, list[bytes]]:
    raw = value.encode()
    return {
        "raw": [raw],
        "url-quoted": [quote(value, safe="").encode()],
        "json-escaped": [json.dumps(value)[1:-1].encode()],
        "base64": _base64_cores(raw),
        "urlsafe-base64": [c.replace(b"+", b"-").replace(b"/", b"_") for c in _base64_cores(raw)],
    }


def scan(outputs: Mapping[str, bytes], secrets: Mapping[str, str]) -> list[Leak]:
    """Every (source, secret, form) found; secrets shorter than 8 characters are refused."""
    for name, value in secrets.items():
        if len(value) < 8:
            raise ValueError(f"secret {name} is too short to scan for reliably")
    patterns = [
        (name, form, needle)
        for name, value in secrets.items()
        for form, needles in forms(value).items()
        for needle in needles
    ]
    leaks: list[Leak] = []
    for source, data in outputs.items():
        for name, form, needle in patterns:
            if needle in data:
                leak = Leak(source, name, form)
                if leak not in leaks:
                    leaks.append(leak)
    return leaks
