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

from collections.abc import Container, Iterable, Mapping
from datetime import datetime

from .census import Census
from .inhibit import Inhibitor
from .model import (
    INHIBITED,
    SILENCED,
    Alert,
    AlertEvent,
    Flush,
    Group,
    GroupKey,
    LogEntry,
    LogKey,
    Notification,
    group_key_text,
    labels_of,
    needs_update,
    supersedes,
)
from .mute import Muting
from .silences import Silence, Silences
from .subscriptions import Receiver, Route, Router, Subscriptions

__all__ = [
    "INHIBITED",
    "SILENCED",
    "Alert",
    "AlertEvent",
    "Group",
    "GroupKey",
    "LogEntry",
    "LogKey",
    "Notification",
    "Pipeline",
    "labels_of",
    "needs_update",
    "supersedes",
]


class Pipeline:
    def __init__(
        self,
        subscriptions: Subscriptions,
        *,
        log: dict[LogKey, LogEntry] | None = None,
        silences: Iterable[Silence] = (),
    ) -> None:
        self.subscriptions = subscriptions
        self.muting = Muting(subscriptions.inhibit_rules, silences)
        self.log: dict[LogKey, LogEntry] = dict(log or {})
        self.alerts: dict[str, Alert] = {}
        self.groups: dict[tuple[str, GroupKey], Group] = {}
        self._members: dict[str, set[tuple[str, GroupKey]]] = {}  # violation_id → its groups
        self._forgotten: list[str] = []
        self._flushes = 0
        self.changes = 0  # bumped by every mutation; keys the census's caches
        self._census = Census(self)
        self._due_from: datetime | None = None  # the earliest first flush of a new group
        self._router = Router(subscriptions.routes)

    @property
    def inhibitor(self) -> Inhibitor:
        return self.muting.inhibitor

    @property
    def silences(self) -> Silences:
        return self.muting.silences

    # --- ingest ----------------------------------------------------------------------------

    def ingest(self, event: AlertEvent, now: datetime) -> bool:
        """Record one alert event; False when it is older than what we hold (a stale redelivery)."""
        vid = event.violation_id
        if self.is_stale(event):
            return False
        self.changes += 1
        alert = Alert.of(event)
        self.alerts[vid] = alert
        if self.inhibitor.rules:  # without inhibit rules an alert is no source of anything
            self.inhibitor.observe(vid, alert.labels, alert.firing)
        keys: set[tuple[str, GroupKey]] = set()
        for route, group_key in self._router.routed(event.labels.__dict__):
            gkey = (route.name, group_key)
            group = self.groups.get(gkey)
            if group is None:
                # A group is not created just to say that something resolved, unless a receiver
                # was told it was firing (e.g. the resolution arrived while we were down).
                if not alert.firing and not self._announced(route, gkey[1], vid):
                    continue
                group = Group(route, gkey[1], now, now + route.group_wait)
                self.groups[gkey] = group
                if self._due_from is None or group.next_flush < self._due_from:
                    self._due_from = group.next_flush
            group.put(alert)
            keys.add(gkey)
        # Labels can change (an organisation renamed or moved): leave the groups it no longer fits.
        before = self._members.get(vid)
        for gkey in before - keys if before else ():
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
        self.changes += 1
        self.muting.set_silences(silences)

    def mute_reason(self, labels: Mapping[str, str], now: datetime) -> str | None:
        return self.muting.reason(labels, now)

    def _unmuted(self, group: Group, now: datetime) -> tuple[frozenset[str], frozenset[str]]:
        return self.muting.unmuted(group, now, len(self.alerts))

    # --- flush -----------------------------------------------------------------------------

    def due(self, now: datetime, busy: Container[LogKey] = ()) -> list[Notification]:
        """Flush every group whose timer expired; return what must be sent (maybe silent).

        Deal with every returned notification: ``mark_sent`` it, or drop it when delivery failed
        (it is decided again at the group's next flush). The log decides what is news and only
        learns at ``mark_sent``, so a caller that delivers in the background must skip a
        notification whose predecessor for the same ``log_key`` is still being delivered: it
        names those keys in ``busy``, and such a notification is left out as if it had been
        returned and dropped (its flush waits for it), without building it — a group of
        thousands of alerts is flushed every ``group_interval`` while its e-mail is on its way.
        """
        notifications: list[Notification] = []
        self._due_from = None
        expired = [gkey for gkey, group in self.groups.items() if now >= group.next_flush]
        if expired:
            self.changes += 1
        for gkey in sorted(expired, key=lambda k: (k[0], group_key_text(k[1]))):
            group = self.groups[gkey]
            group.next_flush = now + group.route.group_interval
            self._flushes += 1
            flush = Flush(self._flushes, {}, set())
            # Every resolved alert is dropped after the flush, muted or not, as in Alertmanager.
            _, all_resolved = group.ids()
            flush.resolved = {vid: group.alerts[vid].event.event_id for vid in all_resolved}
            firing, resolved = self._unmuted(group, now)
            # Everything muted: nothing to say (Alertmanager's pipeline stops with no alerts left).
            receivers = group.route.receivers if firing or resolved else ()
            for receiver in receivers:
                key = (group.route.name, receiver.key, group.key_text)
                entry = self.log.get(key)
                if not needs_update(entry, firing, resolved, group.route, now):
                    continue
                flush.outstanding.add(receiver.key)
                if key not in busy:
                    notifications.append(
                        self._notification(group, receiver, entry, firing, resolved, flush.flush_id)
                    )
            group.inflight = flush
            if not flush.outstanding:
                self._finish(gkey, group)
        return notifications

    def mark_sent(self, notification: Notification, now: datetime) -> LogEntry:
        """Record a delivered (or silent) notification; returns the new log entry to persist."""
        self.changes += 1
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
        self.changes += 1
        if entry.firing:
            self.log[key] = entry
        else:
            self.log.pop(key, None)

    def take_forgotten(self) -> list[str]:
        """Violation ids no group holds any more (resolved and dealt with) since the last call."""
        forgotten, self._forgotten = self._forgotten, []
        # An alert may have come back (reopened) since it was forgotten: its stored copy must stay.
        return [vid for vid in dict.fromkeys(forgotten) if vid not in self.alerts]

    def new_group_due(self, now: datetime) -> bool:
        """True when a group created since the last :meth:`due` is to flush by ``now`` (one with
        ``group_wait: 0s``): the service flushes at once rather than at its next tick."""
        return self._due_from is not None and self._due_from <= now

    def is_stale(self, event: AlertEvent) -> bool:
        """True when we already hold this event or a newer one for the same violation."""
        held = self.alerts.get(event.violation_id)
        return held is not None and supersedes(held.event, event)

    # --- introspection ---------------------------------------------------------------------

    def pending_groups(self, now: datetime) -> int:
        """Groups with news for at least one receiver (repeats do not count): 0 means all sent."""
        return self._census.pending_groups(now)

    def muted_counts(self, now: datetime) -> dict[str, int]:
        """Firing alerts muted right now, by reason (for a gauge)."""
        return self._census.muted_counts(now)

    # --- internals -------------------------------------------------------------------------

    def _notification(
        self,
        group: Group,
        receiver: Receiver,
        entry: LogEntry | None,
        firing: frozenset[str],
        resolved: frozenset[str],
        flush_id: int,
    ) -> Notification:
        route = group.route
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
