"""Pages a platform pushed news about: the receiver marks them, the scheduler reads them next.

A pushed post or comment is partial (the evaluator passes it over), so what makes it count is the
page's next full read. The receiver puts the moment of the push under the page's key in the
``pushes`` bucket once the push is stored; the scheduler makes a page due when its mark is newer
than its last read, ahead of pages that are only overdue. Marks expire after ``contracts.PUSH_MARK_TTL_S``: an
older one is covered by the page's regular reads anyway. The bucket holds only the pages pushed
lately (the pages whose operators set up the Callback API or a webhook), so the scheduler reads
it whole each sweep.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gospublic import bus
from gospublic import contracts as c

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def page_key(ref: c.PageRef) -> str:
    """KV key of a page: ``vk.club123``; characters a key may not hold become ``=XX``."""
    native = _UNSAFE.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), ref.native_id)
    return f"{ref.platform.value}.{native}"


def encode_mark(at: float) -> bytes:
    return json.dumps({"at": round(at, 3)}).encode()


def decode_mark(value: bytes) -> float | None:
    """The moment a mark holds; None for anything else (a mark is a hint, never an error)."""
    try:
        at = json.loads(value)["at"]
    except (ValueError, TypeError, KeyError):
        return None
    return float(at) if isinstance(at, int | float) and at > 0 else None


async def mark_pushed(js: Any, ref: c.PageRef, at: float) -> None:
    kv = await js.key_value(c.PUSHES_BUCKET)
    await kv.put(page_key(ref), encode_mark(at))


async def read_marks(js: Any) -> dict[str, float]:
    """Page key → the moment of its latest push, for every mark not expired."""
    marks = {}
    for key, value in await bus.scan_kv(js, c.PUSHES_BUCKET):
        at = decode_mark(value)
        if at is not None:
            marks[key] = at
    return marks
