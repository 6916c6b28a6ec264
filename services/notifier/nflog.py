"""The notifier's memory in NATS KV (bucket ``notification-log``): what was sent, and what is active.

Two kinds of keys live in the bucket:

- ``nflog.<hash>`` — per (route, receiver, group key): the violation ids of the firing and of the
  resolved set last sent, their digest and the time. Sets, not just one hash of them, because the
  dedup decision needs "is anything firing now that was not in the last message" and "was this
  resolved alert ever announced", which a single hash cannot answer. A log entry with nothing firing
  decides exactly like no entry, so it is deleted instead of stored.
- ``alert.<hash>`` — the latest event (``ViolationOpened`` or ``ViolationResolved``) of every alert
  the notifier still holds. It is written before the ALERTS message is acked and deleted once the
  pipeline forgets the alert (resolved and notified).

Why persist the active alerts instead of rebuilding them by replaying the ALERTS stream from the
start: the stream keeps 30 days (``max_age``), and a violation that stays open longer would vanish
from the replay, so a restarted notifier would stop repeating it and could not announce its
resolution. The KV copy is bounded by the number of *open* violations, not by the history, so a
restart reads a few thousand small values instead of replaying every change ever published. And
groups are derived from alerts at load time, so a changed subscriptions file regroups existing alerts
on restart. Group timers are not persisted: after a restart every group waits ``group_wait`` again,
and the log entries keep that from resending anything already delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from gospublic import contracts as c

from .pipeline import AlertEvent, LogEntry, LogKey, Notification

log = logging.getLogger("gospublic.notifier.nflog")

ALERT_PREFIX = "alert."
LOG_PREFIX = "nflog."
_CONCURRENCY = 256
_DELETE_OPS = ("DEL", "PURGE")


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def alert_key(violation_id: str) -> str:
    return ALERT_PREFIX + _hash(violation_id)


def log_key(key: LogKey) -> str:
    return LOG_PREFIX + _hash(*key)


def encode_entry(key: LogKey, entry: LogEntry) -> bytes:
    route, receiver, group = key
    record = {
        "route": route,
        "receiver": receiver,
        "group": group,
        "firing": sorted(entry.firing),
        "resolved": sorted(entry.resolved),
        "digest": entry.digest,
        "sent_at": entry.sent_at.isoformat(),
    }
    return json.dumps(record, ensure_ascii=False).encode()


def decode_entry(data: bytes) -> tuple[LogKey, LogEntry]:
    record = json.loads(data)
    key = (str(record["route"]), str(record["receiver"]), str(record["group"]))
    entry = LogEntry(
        frozenset(map(str, record["firing"])),
        frozenset(map(str, record["resolved"])),
        datetime.fromisoformat(record["sent_at"]),
    )
    return key, entry


async def _bounded(coros: list) -> None:
    for start in range(0, len(coros), _CONCURRENCY):
        await asyncio.gather(*coros[start : start + _CONCURRENCY])


class NotificationLog:
    def __init__(self, kv: KeyValue):
        self.kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> NotificationLog:
        return cls(await js.key_value(c.NOTIFICATION_LOG_BUCKET))

    async def _scan(self, prefix: str) -> list[tuple[str, bytes]]:
        watcher = await self.kv.watch(prefix + ">")
        found: list[tuple[str, bytes]] = []
        try:
            async for entry in watcher:
                if entry is None:  # the marker: everything stored so far has been delivered
                    break
                if entry.operation in _DELETE_OPS or not entry.value:
                    continue
                found.append((entry.key, entry.value))
        finally:
            await watcher.stop()
        return found

    async def load(self) -> tuple[list[AlertEvent], dict[LogKey, LogEntry]]:
        """Active alerts (oldest first) and the log; unreadable values are logged and skipped."""
        alerts: list[AlertEvent] = []
        for key, value in await self._scan(ALERT_PREFIX):
            try:
                event = c.decode(value)
            except c.ContractError as exc:
                log.warning(
                    "skipping an unreadable stored alert", extra={"key": key, "reason": exc.reason}
                )
                continue
            if isinstance(event, c.ViolationOpened | c.ViolationResolved):
                alerts.append(event)
        alerts.sort(key=lambda e: e.observed_at)
        entries: dict[LogKey, LogEntry] = {}
        for key, value in await self._scan(LOG_PREFIX):
            try:
                log_id, entry = decode_entry(value)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "skipping an unreadable log entry", extra={"key": key, "reason": str(exc)}
                )
                continue
            entries[log_id] = entry
        return alerts, entries

    async def save_alerts(self, events: list[AlertEvent]) -> None:
        await _bounded([self.kv.put(alert_key(e.violation_id), e.to_bytes()) for e in events])

    async def forget_alerts(self, violation_ids: list[str]) -> None:
        await _bounded([self.kv.delete(alert_key(vid)) for vid in violation_ids])

    async def record(self, notification: Notification, entry: LogEntry) -> None:
        key = notification.log_key
        if entry.firing:
            await self.kv.put(log_key(key), encode_entry(key, entry))
        else:
            await self.kv.delete(log_key(key))
