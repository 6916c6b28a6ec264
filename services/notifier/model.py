"""The pipeline's data: held alerts, groups, notifications and notification log entries, and
Alertmanager's ``needsUpdate`` over them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from gospublic.contracts import ViolationOpened, ViolationResolved

from .compact import compact
from .subscriptions import Receiver, Route

AlertEvent = ViolationOpened | ViolationResolved
GroupKey = tuple[tuple[str, str], ...]
# (route name, receiver key, group key as text): one notification log entry.
LogKey = tuple[str, str, str]

INHIBITED = "inhibited"
SILENCED = "silenced"


def labels_of(event: AlertEvent) -> dict[str, str]:
    # The labels are strings and a StrEnum (severity), whose str() is its JSON value: the same
    # dict as model_dump(mode="json") gives, in a third of the time (made again on every mute
    # check that misses its cache, since held alerts do not keep it).
    return {name: str(value) for name, value in event.labels.__dict__.items()}


def group_key_text(key: GroupKey) -> str:
    return json.dumps(key, ensure_ascii=False, separators=(",", ":"))


def group_id(route: str, key: GroupKey) -> str:
    """Stable across restarts and processes: the same route and label values, the same id."""
    return hashlib.sha256(f"{route}\x1f{group_key_text(key)}".encode()).hexdigest()[:16]


def digest(firing: Iterable[str], resolved: Iterable[str]) -> str:
    text = "\x1e".join(["\x1f".join(sorted(firing)), "\x1f".join(sorted(resolved))])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LogEntry:
    """What one receiver was last sent for one group, and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: datetime

    @property
    def digest(self) -> str:
        return digest(self.firing, self.resolved)


@dataclass(frozen=True, slots=True)
class Alert:
    """A held alert: its latest event, compacted (every firing alert is held, a national sweep
    holds hundreds of thousands). The labels as a dict are made when asked for, not kept: after
    ingest only a mute check on a cache miss needs them."""

    event: AlertEvent

    @property
    def violation_id(self) -> str:
        return self.event.violation_id

    @property
    def labels(self) -> dict[str, str]:
        return labels_of(self.event)

    @property
    def firing(self) -> bool:
        return isinstance(self.event, ViolationOpened)

    @classmethod
    def of(cls, event: AlertEvent) -> Alert:
        return cls(compact(event))


def needs_update(
    entry: LogEntry | None,
    firing: Set[str],
    resolved: Set[str],
    route: Route,
    now: datetime,
    *,
    repeat: bool = True,
) -> bool:
    if entry is None:
        # Nothing sent yet: only firing alerts are news; resolving something never announced is not.
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        # Everything resolved: notify (or, without send_resolved, record silently) to clear the log.
        return bool(entry.firing)
    if route.send_resolved and (resolved & entry.firing) - entry.resolved:
        return True
    return repeat and now - entry.sent_at >= route.repeat_interval


@dataclass(frozen=True)
class Notification:
    """One message to one receiver about one group. ``firing_ids``/``resolved_ids`` are the whole
    group at the flush (they become the log entry); ``resolved`` holds only what is to be shown."""

    route: Route
    receiver: Receiver
    group_key: GroupKey
    group_id: str
    firing: tuple[ViolationOpened, ...]
    resolved: tuple[ViolationResolved, ...]
    new_ids: frozenset[str]
    firing_ids: frozenset[str]
    resolved_ids: frozenset[str]
    previous_sent_at: datetime | None
    flush_id: int = field(compare=False, default=0)

    @property
    def log_key(self) -> LogKey:
        return (self.route.name, self.receiver.key, group_key_text(self.group_key))

    @property
    def digest(self) -> str:
        return digest(self.firing_ids, self.resolved_ids)

    @property
    def silent(self) -> bool:
        """Only clears the log (all resolved, send_resolved off): record it, send nothing."""
        return not self.firing and not self.resolved

    @property
    def message_key(self) -> str:
        """The same for a retry of this very notification; different for a later repeat (another
        previous send) and for a violation that reopened (another event)."""
        previous = self.previous_sent_at.isoformat() if self.previous_sent_at else "-"
        events = sorted(e.event_id for e in (*self.firing, *self.resolved))
        parts = (self.group_id, self.receiver.key, self.digest, previous, *events)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]

    def log_entry(self, sent_at: datetime) -> LogEntry:
        return LogEntry(self.firing_ids, self.resolved_ids, sent_at)


@dataclass
class Flush:
    flush_id: int
    resolved: dict[str, str]  # violation_id → event_id as seen at the flush
    outstanding: set[str]  # receiver keys not yet marked sent


@dataclass
class Group:
    route: Route
    key: GroupKey
    created_at: datetime
    next_flush: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    inflight: Flush | None = None
    # Kept with every change: a flush of a group of thousands reads them instead of a scan.
    firing: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return group_id(self.route.name, self.key)

    @cached_property
    def key_text(self) -> str:
        return group_key_text(self.key)

    def put(self, alert: Alert) -> None:
        vid = alert.violation_id
        self.alerts[vid] = alert
        (self.firing if alert.firing else self.resolved).add(vid)
        (self.resolved if alert.firing else self.firing).discard(vid)

    def drop(self, violation_id: str) -> None:
        self.alerts.pop(violation_id, None)
        self.firing.discard(violation_id)
        self.resolved.discard(violation_id)

    def ids(self) -> tuple[frozenset[str], frozenset[str]]:
        return frozenset(self.firing), frozenset(self.resolved)


def supersedes(held: AlertEvent, incoming: AlertEvent) -> bool:
    """True when ``incoming`` adds nothing to ``held``: the same event, or an older one."""
    if held.event_id == incoming.event_id:
        return True  # the same event again: nothing to do
    return _when(held) > _when(incoming)


def _when(event: AlertEvent) -> datetime:
    return event.resolved_at if isinstance(event, ViolationResolved) else event.opened_at
