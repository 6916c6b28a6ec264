"""Alert routing, grouping and deduplication: Alertmanager's semantics as pure code on a given clock.

Nothing here does I/O or reads the time: the service passes ``now`` in, sends what :meth:`due`
returns, and reports back with :meth:`mark_sent`. The stages, in Alertmanager's order:

1. **ingest** — an alert is keyed by ``violation_id``; its latest event decides whether it is
   firing (``ViolationOpened``) or resolved (``ViolationResolved``). Events older than the one we hold
   are ignored, so a redelivered message cannot reopen a resolved violation. Every alert, routed or
   not, is offered to the inhibitor as a possible source.
2. **route and group** — every route whose matchers match takes the alert (several routes may),
   into the group of (route, values of the route's ``group_by`` labels). A new group flushes first
   ``group_wait`` after it was created, then at most every ``group_interval``.
3. **inhibit** and 4. **silence** — at a flush, alerts muted by an inhibit rule, then alerts muted
   by an active silence, are taken out of what the group may say. Like Alertmanager this is judged
   at flush time, not on arrival, so a silence added during ``group_wait`` still applies and an
   expired silence or a resolved inhibiting alert lets the alert through at the next flush.
5. **dedup** — each receiver is notified only if ``needs_update`` says so, judged against the
   notification log entry of what it was last sent (Alertmanager's ``needsUpdate``).
6. **send** is the service's job; 7. **record** — :meth:`mark_sent` stores the new log entry;
   resolved alerts are dropped from the group once the flush that saw them is done, and an alert no
   group holds any more is forgotten.

One deliberate difference from Alertmanager: a resolved notice lists, and is triggered by, only the
alerts the receiver was told were firing. An alert that opened and closed between two flushes is
never mentioned, instead of arriving as a puzzling "resolved" line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from gospublic.contracts import ViolationOpened, ViolationResolved

from .compact import compact
from .inhibit import Inhibitor
from .silences import Silence, Silences
from .subscriptions import Receiver, Route, Subscriptions

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
class _Flush:
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
    inflight: _Flush | None = None
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


class Pipeline:
    def __init__(
        self,
        subscriptions: Subscriptions,
        *,
        log: dict[LogKey, LogEntry] | None = None,
        silences: Iterable[Silence] = (),
    ) -> None:
        self.subscriptions = subscriptions
        self.inhibitor = Inhibitor(subscriptions.inhibit_rules)
        self.silences = Silences(silences)
        self.log: dict[LogKey, LogEntry] = dict(log or {})
        self.alerts: dict[str, Alert] = {}
        self.groups: dict[tuple[str, GroupKey], Group] = {}
        self._members: dict[str, set[tuple[str, GroupKey]]] = {}  # violation_id → its groups
        self._forgotten: list[str] = []
        self._flushes = 0
        self._changes = 0  # bumped by every mutation; keys the pending_groups cache
        self._pending: tuple[object, int] = (None, 0)
        self._muted: tuple[object, dict[str, int]] = (None, {})
        # event_id → mute reason; valid while the inhibit sources and active silences are as
        # they were (checking every alert against every rule on every tick would dominate).
        self._mute_cache: dict[str, str | None] = {}
        self._mute_version: object = None
        self._mute_now = datetime.min
        self._active_silences: object = ()

    # --- ingest ----------------------------------------------------------------------------

    def ingest(self, event: AlertEvent, now: datetime) -> bool:
        """Record one alert event; False when it is older than what we hold (a stale redelivery)."""
        vid = event.violation_id
        if self.is_stale(event):
            return False
        self._changes += 1
        alert = Alert.of(event)
        labels = alert.labels
        self.alerts[vid] = alert
        self.inhibitor.observe(vid, labels, alert.firing)
        keys: set[tuple[str, GroupKey]] = set()
        for route in self.subscriptions.matching(labels):
            gkey = (route.name, route.group_key(labels))
            group = self.groups.get(gkey)
            if group is None:
                # A group is not created just to say that something resolved, unless a receiver
                # was told it was firing (e.g. the resolution arrived while we were down).
                if not alert.firing and not self._announced(route, gkey[1], vid):
                    continue
                group = Group(route, gkey[1], now, now + route.group_wait)
                self.groups[gkey] = group
            group.put(alert)
            keys.add(gkey)
        # Labels can change (an organisation renamed or moved): leave the groups it no longer fits.
        for gkey in self._members.get(vid, set()) - keys:
            group = self.groups.get(gkey)
            if group is not None:
                group.drop(vid)
                if not group.alerts and group.inflight is None:
                    del self.groups[gkey]
        if keys:
            self._members[vid] = keys
        else:
            self._members.pop(vid, None)
            self._forget(vid)
        return True

    def set_silences(self, silences: Iterable[Silence]) -> None:
        """Replace the silences (the service calls this whenever the KV bucket changes)."""
        self._changes += 1
        self.silences = Silences(silences)

    # --- inhibit and silence ---------------------------------------------------------------

    def mute_reason(self, labels: Mapping[str, str], now: datetime) -> str | None:
        if self.inhibitor.mutes(labels):
            return INHIBITED
        if self.silences.muting(labels, now) is not None:
            return SILENCED
        return None

    def _inhibit(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Stage: drop alerts an inhibit rule mutes."""
        return [a for a in alerts if self._cached_reason(a) != INHIBITED]

    def _silence(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Stage: drop alerts an active silence mutes."""
        return [a for a in alerts if self._cached_reason(a) != SILENCED]

    def _unmuted(self, group: Group, now: datetime) -> tuple[frozenset[str], frozenset[str]]:
        """The firing and resolved ids the group may speak of, after inhibition and silences."""
        self._mutes_as_of(now)
        if not self.inhibitor.sources and not self._active_silences:
            # Nothing can be muted (the common case): no per-alert look at a group of thousands.
            return group.ids()
        alerts = self._silence(self._inhibit(group.alerts.values()))
        firing = frozenset(a.violation_id for a in alerts if a.firing)
        return firing, frozenset(a.violation_id for a in alerts) - firing

    def _mutes_as_of(self, now: datetime) -> None:
        self._active_silences = self.silences.active_ids(now)
        version = (self.inhibitor.version, self._active_silences)
        if version != self._mute_version or len(self._mute_cache) > 2 * len(self.alerts) + 100:
            self._mute_version = version
            self._mute_cache = {}
        self._mute_now = now

    def _cached_reason(self, alert: Alert) -> str | None:
        key = alert.event.event_id
        if key not in self._mute_cache:
            self._mute_cache[key] = self.mute_reason(alert.labels, self._mute_now)
        return self._mute_cache[key]

    # --- flush -----------------------------------------------------------------------------

    def due(self, now: datetime) -> list[Notification]:
        """Flush every group whose timer expired; return what must be sent (maybe silent).

        Deal with every returned notification: ``mark_sent`` it, or drop it when delivery failed
        (it is decided again at the group's next flush). The log decides what is news and only
        learns at ``mark_sent``, so a caller that delivers in the background must skip a
        notification whose predecessor for the same ``log_key`` is still being delivered.
        """
        notifications: list[Notification] = []
        expired = [gkey for gkey, group in self.groups.items() if now >= group.next_flush]
        if expired:
            self._changes += 1
        for gkey in sorted(expired, key=lambda k: (k[0], group_key_text(k[1]))):
            group = self.groups[gkey]
            group.next_flush = now + group.route.group_interval
            self._flushes += 1
            flush = _Flush(self._flushes, {}, set())
            # Every resolved alert is dropped after the flush, muted or not, as in Alertmanager.
            _, all_resolved = group.ids()
            flush.resolved = {vid: group.alerts[vid].event.event_id for vid in all_resolved}
            firing, resolved = self._unmuted(group, now)
            # Everything muted: nothing to say (Alertmanager's pipeline stops with no alerts left).
            receivers = group.route.receivers if firing or resolved else ()
            for receiver in receivers:
                note = self._notification(group, receiver, firing, resolved, now, flush.flush_id)
                if note is not None:
                    notifications.append(note)
                    flush.outstanding.add(receiver.key)
            group.inflight = flush
            if not flush.outstanding:
                self._finish(gkey, group)
        return notifications

    def mark_sent(self, notification: Notification, now: datetime) -> LogEntry:
        """Record a delivered (or silent) notification; returns the new log entry to persist."""
        self._changes += 1
        entry = notification.log_entry(now)
        if entry.firing:
            self.log[notification.log_key] = entry
        else:
            # An entry with nothing firing decides exactly like no entry at all: keep none.
            self.log.pop(notification.log_key, None)
        gkey = (notification.route.name, notification.group_key)
        group = self.groups.get(gkey)
        if (
            group is not None
            and group.inflight
            and group.inflight.flush_id == notification.flush_id
        ):
            group.inflight.outstanding.discard(notification.receiver.key)
            if not group.inflight.outstanding:
                self._finish(gkey, group)
        return entry

    def record(self, key: LogKey, entry: LogEntry) -> None:
        """Record a message sent outside a flush: an intent found on restart, sent again."""
        self._changes += 1
        if entry.firing:
            self.log[key] = entry
        else:
            self.log.pop(key, None)

    def take_forgotten(self) -> list[str]:
        """Violation ids no group holds any more (resolved and dealt with) since the last call."""
        forgotten, self._forgotten = self._forgotten, []
        # An alert may have come back (reopened) since it was forgotten: its stored copy must stay.
        return [vid for vid in dict.fromkeys(forgotten) if vid not in self.alerts]

    def is_stale(self, event: AlertEvent) -> bool:
        """True when we already hold this event or a newer one for the same violation."""
        held = self.alerts.get(event.violation_id)
        return held is not None and supersedes(held.event, event)

    # --- introspection ---------------------------------------------------------------------

    def pending_groups(self, now: datetime) -> int:
        """Groups with news for at least one receiver (repeats do not count): 0 means all sent.

        Without repeats the answer depends on the clock only through the silences in force, so it
        is computed again only after a change (the service asks on every tick)."""
        version = (self._changes, self.silences.active_ids(now))
        if self._pending[0] == version:
            return self._pending[1]
        count = 0
        self._mutes_as_of(now)
        mutable = self.inhibitor.sources or self._active_silences
        for group in self.groups.values():
            if group.inflight and group.inflight.outstanding:
                count += 1
                continue
            if mutable:
                firing, resolved = self._unmuted(group, now)
            else:
                # Nothing can be muted (the common case): the group's own sets, only read here,
                # rather than copies of every id held.
                firing, resolved = group.firing, group.resolved
            if not firing and not resolved:
                continue  # everything muted: nothing to say, as at a flush
            for receiver in group.route.receivers:
                entry = self.log.get((group.route.name, receiver.key, group.key_text))
                if needs_update(entry, firing, resolved, group.route, now, repeat=False):
                    count += 1
                    break
        self._pending = (version, count)
        return count

    def muted_counts(self, now: datetime) -> dict[str, int]:
        """Firing alerts muted right now, by reason (for a gauge; cached like pending_groups)."""
        version = (self._changes, self.silences.active_ids(now))
        if self._muted[0] == version:
            return self._muted[1]
        counts = {INHIBITED: 0, SILENCED: 0}
        self._mutes_as_of(now)
        # Nothing can be muted without an inhibiting alert or a silence in force (the common
        # case): then no look at each of the hundreds of thousands of alerts held.
        if self.inhibitor.sources or self._active_silences:
            for alert in self.alerts.values():
                if alert.firing:
                    reason = self._cached_reason(alert)
                    if reason is not None:
                        counts[reason] += 1
        self._muted = (version, counts)
        return counts

    # --- internals -------------------------------------------------------------------------

    def _notification(
        self,
        group: Group,
        receiver: Receiver,
        firing: frozenset[str],
        resolved: frozenset[str],
        now: datetime,
        flush_id: int,
    ) -> Notification | None:
        route = group.route
        entry = self.log.get((route.name, receiver.key, group.key_text))
        if not needs_update(entry, firing, resolved, route, now):
            return None
        known = entry.firing if entry else frozenset()
        shown_resolved = sorted(resolved & known) if route.send_resolved else []
        return Notification(
            route=route,
            receiver=receiver,
            group_key=group.key,
            group_id=group.id,
            firing=tuple(group.alerts[vid].event for vid in sorted(firing)),  # type: ignore[misc]
            resolved=tuple(group.alerts[vid].event for vid in shown_resolved),  # type: ignore[misc]
            new_ids=firing - known,
            firing_ids=firing,
            resolved_ids=resolved,
            previous_sent_at=entry.sent_at if entry else None,
            flush_id=flush_id,
        )

    def _finish(self, gkey: tuple[str, GroupKey], group: Group) -> None:
        """Drop the resolved alerts this flush dealt with (unless they changed since)."""
        assert group.inflight is not None
        for vid, event_id in group.inflight.resolved.items():
            alert = group.alerts.get(vid)
            if alert is not None and not alert.firing and alert.event.event_id == event_id:
                group.drop(vid)
                members = self._members.get(vid, set())
                members.discard(gkey)
                if not members:
                    self._members.pop(vid, None)
                    self._forget(vid)
        group.inflight = None
        if not group.alerts:
            del self.groups[gkey]

    def _announced(self, route: Route, key: GroupKey, violation_id: str) -> bool:
        text = group_key_text(key)
        for receiver in route.receivers:
            entry = self.log.get((route.name, receiver.key, text))
            if entry is not None and violation_id in entry.firing:
                return True
        return False

    def _forget(self, violation_id: str) -> None:
        alert = self.alerts.get(violation_id)
        if alert is not None and not alert.firing:
            del self.alerts[violation_id]
            self._forgotten.append(violation_id)


def supersedes(held: AlertEvent, incoming: AlertEvent) -> bool:
    """True when ``incoming`` adds nothing to ``held``: the same event, or an older one."""
    if held.event_id == incoming.event_id:
        return True  # the same event again: nothing to do
    return _when(held) > _when(incoming)


def _when(event: AlertEvent) -> datetime:
    return event.resolved_at if isinstance(event, ViolationResolved) else event.opened_at
