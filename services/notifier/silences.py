"""Silences: matchers, author, comment and a time window; kept in the NATS KV bucket ``silences``.

The model follows Alertmanager's ``silence`` package:

- a silence is *pending* before ``starts_at``, *active* while ``starts_at <= now < ends_at`` and
  *expired* afterwards; an active silence mutes every alert whose labels match all its matchers;
- a silence needs at least one matcher, and at least one matcher that does not match the empty
  string (``rule=~.*`` alone would silence everything by accident); its end is not before its start;
- expiring an active silence ends it now; expiring a pending one makes it start and end now; an
  expired silence stays as it is (and is kept for a while so ``silence list --all`` still shows it).

Unlike Alertmanager an author and a comment are required: a silence nobody can explain is the
first thing an on-call engineer has to investigate. Everything here except :class:`SilenceStore`
is pure; the store is a thin adapter over one KV bucket, one key per silence.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from gospublic import bus
from gospublic import contracts as c

from .subscriptions import Matcher, parse_matcher

log = logging.getLogger("gospublic.notifier.silences")

PENDING, ACTIVE, EXPIRED = "pending", "active", "expired"
# Expired silences stay listed this long, then are deleted (Alertmanager's default retention).
RETENTION = timedelta(days=5)
MAX_AUTHOR_CHARS = 200
MAX_COMMENT_CHARS = 2000

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MATCHER_TEXT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)(.*)$", re.DOTALL)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_DELETE_OPS = ("DEL", "PURGE")


class SilenceError(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def one_line(text: str, limit: int) -> str:
    """Author and comment are shown in terminals and logs: no controls, no direction overrides."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text[:limit]


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime

    def state(self, now: datetime) -> str:
        if now < self.starts_at:
            return PENDING
        if now < self.ends_at:
            return ACTIVE
        return EXPIRED

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.state(now) == ACTIVE and all(m.matches(labels) for m in self.matchers)


def validate(silence: Silence) -> list[str]:
    """Every problem with a silence (Alertmanager's validateSilence plus author and comment)."""
    errors = []
    if not _ID.match(silence.id):
        errors.append("id: 1-64 letters, digits, '-' or '_' required")
    if not silence.matchers:
        errors.append("at least one matcher required")
    elif all(m.matches({m.label: ""}) for m in silence.matchers):
        errors.append("at least one matcher must not match the empty string")
    times_ok = True
    for name in ("starts_at", "ends_at", "updated_at"):
        value = getattr(silence, name)
        if not isinstance(value, datetime) or value.tzinfo is None:
            errors.append(f"{name}: a time with a time zone required")
            times_ok = False
    if times_ok and silence.ends_at < silence.starts_at:
        errors.append("end time must not be before start time")
    if not silence.created_by.strip():
        errors.append("author required")
    if not silence.comment.strip():
        errors.append("comment required: say why, e.g. a ticket number")
    return errors


def parse_matcher_text(text: str) -> Matcher:
    """``rule=STALE``, ``municipality=~Борисоглеб.*``, ``severity!=info``, ``org_name!~.*СОШ.*``."""
    found = _MATCHER_TEXT.match(text)
    if not found:
        raise ValueError(f"bad matcher {text!r}: use label=value, label!=value, =~ or !~")
    label, op, value = found.groups()
    return parse_matcher(label, op + value)


def create(
    matchers: Iterable[Matcher],
    *,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> Silence:
    silence = Silence(
        id=uuid.uuid4().hex,
        matchers=tuple(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=one_line(created_by, MAX_AUTHOR_CHARS),
        comment=one_line(comment, MAX_COMMENT_CHARS),
        updated_at=now,
    )
    errors = validate(silence)
    if errors:
        raise SilenceError(errors)
    return silence


def expire(silence: Silence, now: datetime) -> Silence:
    state = silence.state(now)
    if state == PENDING:
        return replace(silence, starts_at=now, ends_at=now, updated_at=now)
    if state == ACTIVE:
        return replace(silence, ends_at=now, updated_at=now)
    return silence


def collectable(silence: Silence, now: datetime, retention: timedelta = RETENTION) -> bool:
    return silence.state(now) == EXPIRED and now - silence.ends_at >= retention


class Silences:
    """The silences the pipeline consults: a snapshot, replaced as a whole on every change."""

    def __init__(self, silences: Iterable[Silence] = ()):
        self.by_id = {s.id: s for s in silences}

    def __len__(self) -> int:
        return len(self.by_id)

    def muting(self, labels: Mapping[str, str], now: datetime) -> Silence | None:
        for silence in self.by_id.values():
            if silence.mutes(labels, now):
                return silence
        return None

    def active_ids(self, now: datetime) -> frozenset[str]:
        return frozenset(s.id for s in self.by_id.values() if s.state(now) == ACTIVE)


# --- storage ---------------------------------------------------------------------------------


def encode(silence: Silence) -> bytes:
    record = {
        "id": silence.id,
        "matchers": [{"label": m.label, "op": m.op, "value": m.value} for m in silence.matchers],
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "updated_at": silence.updated_at.isoformat(),
    }
    return json.dumps(record, ensure_ascii=False).encode()


def decode(data: bytes) -> Silence:
    """Parse and validate a stored silence; raise ValueError (a bad record is skipped, not used)."""
    try:
        record = json.loads(data)
        silence = Silence(
            id=str(record["id"]),
            matchers=tuple(
                parse_matcher(str(m["label"]), str(m["op"]) + str(m["value"]))
                for m in record["matchers"]
            ),
            starts_at=datetime.fromisoformat(record["starts_at"]),
            ends_at=datetime.fromisoformat(record["ends_at"]),
            created_by=str(record["created_by"]),
            comment=str(record["comment"]),
            updated_at=datetime.fromisoformat(record["updated_at"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable silence: {exc}") from None
    errors = validate(silence)
    if errors:
        raise ValueError(f"invalid silence: {'; '.join(errors)}")
    return silence


class SilenceStore:
    """One key per silence (its id) in the ``silences`` bucket."""

    def __init__(self, kv: KeyValue, js: JetStreamContext):
        self.kv = kv
        self.js = js

    @classmethod
    async def open(cls, js: JetStreamContext) -> SilenceStore:
        return cls(await js.key_value(c.SILENCES_BUCKET), js)

    async def put(self, silence: Silence) -> None:
        await self.kv.put(silence.id, encode(silence))

    async def delete(self, silence_id: str) -> None:
        await self.kv.delete(silence_id)

    async def get(self, silence_id: str) -> Silence | None:
        """None for an unknown id, and for text that is no id at all (never a KV wildcard)."""
        if not _ID.match(silence_id):
            return None
        try:
            entry = await self.kv.get(silence_id)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value:
            return None
        try:
            return decode(entry.value)
        except ValueError:
            return None

    async def load(self) -> list[Silence]:
        found: dict[str, Silence] = {}
        for key, value in await bus.scan_kv(self.js, c.SILENCES_BUCKET):
            self._apply(found, key, value)
        return list(found.values())

    async def follow(self, on_change, ready) -> None:
        """Call ``on_change(silences)`` with the full set at start and after every change.

        The stored silences are read first (see :func:`gospublic.bus.scan_kv` for why not from the watch), then
        ``ready`` (an asyncio.Event) is set, so the caller can wait for them before its first
        flush. The watch that follows replays the bucket and then every change. Runs until
        cancelled.
        """
        found: dict[str, Silence] = {}
        for key, value in await bus.scan_kv(self.js, c.SILENCES_BUCKET):
            self._apply(found, key, value)
        on_change(list(found.values()))
        ready.set()
        watcher = await self.kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:
                    continue
                deleted = entry.operation in _DELETE_OPS
                if self._apply(found, entry.key, None if deleted else entry.value):
                    on_change(list(found.values()))
        finally:
            await watcher.stop()

    @staticmethod
    def _apply(found: dict[str, Silence], key: str, value: bytes | None) -> bool:
        """Update ``found`` with one stored value (None: deleted); True if anything changed."""
        before = found.get(key)
        if not value:
            found.pop(key, None)
        else:
            try:
                found[key] = decode(value)
            except ValueError as exc:
                found.pop(key, None)
                log.warning("skipping a stored silence", extra={"key": key, "reason": str(exc)})
        return found.get(key) != before
