"""The notifier's memory in NATS KV (bucket ``notification-log``): what was sent, and what is active.

Two kinds of keys live in the bucket:

- ``nflog.<hash>`` — per (route, receiver, group key): the violation ids of the firing and of the
  resolved set last sent, their digest and the time. Sets, not just one hash of them, because the
  dedup decision needs "is anything firing now that was not in the last message" and "was this
  resolved alert ever announced", which a single hash cannot answer. A log entry with nothing firing
  decides exactly like no entry, so it is deleted instead of stored.
  While an e-mail is being sent, the same key holds its *intent* as well (``pending``): the exact
  rendered message (with its Message-ID) and the firing and resolved ids it will record. SMTP cannot
  be asked whether a message arrived, so a notifier killed after the server's ``250`` and before
  its record finds the intent on restart, sends that very message again (same Message-ID: the
  receiver's key to drop it) and records it, before its group may flush. One key for both means
  recording the sending clears the intent in the same write.
- ``held.<hash>`` — an ALERTS message as it came, stored once, holding the latest event
  (``ViolationOpened`` or ``ViolationResolved``) of alerts the notifier still holds
  (``heldstore``/``heldvalues``: one put per message, not one per alert). It is written before
  the message is acked and deleted once none of its events is an alert's latest (the alerts
  resolved and notified, or changed since). ``alert.<hash>`` values of older notifiers (one
  alert's event each) are read the same way.
- ``resolved.<hash>`` — the last ``ViolationResolved`` of a violation, kept for
  :data:`RESOLUTION_RETENTION` so the weekly digest can say what was fixed (the notifier has no
  ClickHouse: the open alerts and these resolutions are everything a digest is built from).
- ``grafana.<hash>`` — the id of the Grafana annotation of an open violation, to close it later.
- an organisation's latest ``ScoresUpdated`` is held in the ``held.<hash>`` value of its
  message, like an alert (``scores.<hash>`` of older notifiers is read too); ``scores-week.<hash>``
  — its scores as of the last weekly digest, the base the next digest shows the change from.
- ``digest.slot`` — the last weekly digest slot fully delivered; ``digest.sent.<hash>`` — one
  subscriber's digest of one slot delivered, so a restart in the middle sends nobody a second copy.

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
import base64
import hashlib
import json
import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from gospublic import bus
from gospublic import contracts as c

from .grafana import Annotation
from .heldstore import ALERT_PREFIX, HELD_PREFIX, SCORES_PREFIX, HeldStore, StoredMessage
from .mime import Parts
from .pipeline import AlertEvent, LogEntry, LogKey, Notification

log = logging.getLogger("gospublic.notifier.nflog")

LOG_PREFIX = "nflog."
RESOLVED_PREFIX = "resolved."
GRAFANA_PREFIX = "grafana."
BASELINE_PREFIX = "scores-week."
DIGEST_SLOT_KEY = "digest.slot"
DIGEST_SENT_PREFIX = "digest.sent."
# Two digest periods: a late digest still sees the whole of its week.
RESOLUTION_RETENTION = timedelta(days=15)
_CONCURRENCY = 256
# How long a batch of puts may wait for the server to confirm them all.
PUT_TIMEOUT_S = 10.0


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


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


@dataclass(frozen=True)
class Intent:
    """An e-mail about to be sent: the message as rendered and the log entry it leads to."""

    message_id: str
    message: bytes
    firing: frozenset[str]
    resolved: frozenset[str]
    # What the message is made of, when known: kept instead of the message (see encode_intent).
    parts: Parts | None = field(default=None, compare=False)


def encode_intent(key: LogKey, previous: LogEntry | None, intent: Intent) -> bytes:
    """The log value while ``intent`` is in flight: the previous entry (if any) plus the intent."""
    route, receiver, group = key
    record: dict = {"route": route, "receiver": receiver, "group": group}
    if previous is not None:
        record.update(json.loads(encode_entry(key, previous)))
    pending: dict = {"message_id": intent.message_id}
    if intent.parts is not None:
        # The header block and the bodies before base64, compressed: they shrink about four
        # times as much as the message does, in a third of the time. The message is put together
        # from them again exactly (mime.assemble).
        parts = intent.parts
        pending["parts"] = {
            "separator": parts.separator,
            "lengths": [len(parts.head), len(parts.text), len(parts.html)],
            "data": _packed(parts.head + parts.text + parts.html),
        }
    else:  # compressed: a municipality's message lists hundreds of alerts in text and HTML
        pending["message"] = _packed(intent.message)
    pending["firing"] = sorted(intent.firing)
    pending["resolved"] = sorted(intent.resolved)
    record["pending"] = pending
    return json.dumps(record, ensure_ascii=False).encode()


def _packed(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 1)).decode()


def decode_value(data: bytes) -> tuple[LogKey, LogEntry | None, Intent | None]:
    """A log value: its entry (None while only an intent exists) and its intent, if any."""
    record = json.loads(data)
    key = (str(record["route"]), str(record["receiver"]), str(record["group"]))
    entry = None
    if "sent_at" in record:
        entry = LogEntry(
            frozenset(map(str, record["firing"])),
            frozenset(map(str, record["resolved"])),
            datetime.fromisoformat(record["sent_at"]),
        )
    intent = None
    if (pending := record.get("pending")) is not None:
        parts = None
        if (kept := pending.get("parts")) is not None:
            data = zlib.decompress(base64.b64decode(kept["data"]))
            head, text = (int(n) for n in kept["lengths"][:2])
            parts = Parts(
                data[:head], str(kept["separator"]), data[head : head + text], data[head + text :]
            )
            message = parts.message()
        else:
            message = zlib.decompress(base64.b64decode(pending["message"]))
        intent = Intent(
            str(pending["message_id"]),
            message,
            frozenset(map(str, pending["firing"])),
            frozenset(map(str, pending["resolved"])),
            parts,
        )
    return key, entry, intent


def decode_entry(data: bytes) -> tuple[LogKey, LogEntry]:
    key, entry, _ = decode_value(data)
    if entry is None:
        raise ValueError("a log value with an intent only")
    return key, entry


async def _bounded(coros: list) -> None:
    for start in range(0, len(coros), _CONCURRENCY):
        await asyncio.gather(*coros[start : start + _CONCURRENCY])


class NotificationLog:
    def __init__(self, kv: KeyValue, js: JetStreamContext, bucket: str = c.NOTIFICATION_LOG_BUCKET):
        self.kv = kv
        self.js = js
        self._subject_prefix = f"$KV.{bucket}."
        # Puts are published on the connection under ``js``, confirmed on one reply inbox.
        self._puts = bus.BulkPublisher(js._nc, timeout_s=PUT_TIMEOUT_S)
        self.loaded_scores: list[c.ScoresUpdated] = []  # each organisation's, by load_state
        self.held = HeldStore(self._put_all, kv.delete, lambda vid: RESOLVED_PREFIX + _hash(vid))

    async def _put_all(self, items: list[tuple[str, bytes]]) -> None:
        """Put many values, pipelined, and return once the server has stored every one.

        A batch of a few hundred puts goes out in one write and waits once for all the acks
        (``bus.BulkPublisher``), where as many ``kv.put`` calls would each be a request with a
        timer and a task. Any failure or a missing confirmation raises, as ``kv.put`` does.
        """
        await self._puts.publish_all(
            [bus.Outgoing(self._subject_prefix + key, value, "") for key, value in items]
        )

    @classmethod
    async def open(cls, js: JetStreamContext) -> NotificationLog:
        return cls(await js.key_value(c.NOTIFICATION_LOG_BUCKET), js)

    async def _scan(self, prefix: str) -> list[tuple[str, bytes]]:
        return await bus.scan_kv(self.js, c.NOTIFICATION_LOG_BUCKET, prefix)

    async def load(self) -> tuple[list[AlertEvent], dict[LogKey, LogEntry]]:
        """Active alerts (oldest first) and the log; unreadable values are logged and skipped."""
        alerts, entries, _ = await self.load_state()
        return alerts, entries

    async def load_state(
        self,
    ) -> tuple[list[AlertEvent], dict[LogKey, LogEntry], dict[LogKey, Intent]]:
        """Like :meth:`load`, plus the e-mails whose sending was begun and not recorded."""
        stored = [
            *await self._scan(HELD_PREFIX),
            *await self._scan(ALERT_PREFIX),
            *await self._scan(SCORES_PREFIX),
        ]
        alerts, self.loaded_scores = self.held.load(stored)
        alerts.sort(key=lambda e: e.observed_at)
        await self.held.prune()
        entries: dict[LogKey, LogEntry] = {}
        intents: dict[LogKey, Intent] = {}
        for key, value in await self._scan(LOG_PREFIX):
            try:
                log_id, entry, intent = decode_value(value)
            except (ValueError, KeyError, TypeError, zlib.error) as exc:
                log.warning(
                    "skipping an unreadable log entry", extra={"key": key, "reason": str(exc)}
                )
                continue
            if entry is not None:
                entries[log_id] = entry
            if intent is not None:
                intents[log_id] = intent
        return alerts, entries, intents

    async def save_alerts(self, messages: list[StoredMessage]) -> None:
        """Store each message holding an alert's latest event, once (``heldstore``); a
        resolution is also kept for the digest."""
        await self.held.save(messages)

    async def load_resolutions(self, now: datetime) -> list[c.ViolationResolved]:
        """Resolutions within the retention; older ones are deleted on the way."""
        found, expired = [], []
        for key, value in await self._scan(RESOLVED_PREFIX):
            try:
                event = c.decode(value)
            except c.ContractError:
                expired.append(key)
                continue
            if (
                not isinstance(event, c.ViolationResolved)
                or now - event.resolved_at > RESOLUTION_RETENTION
            ):
                expired.append(key)
            else:
                found.append(event)
        await _bounded([self.kv.delete(key) for key in expired])
        return found

    async def forget_resolutions(self, violation_ids: list[str]) -> None:
        await _bounded([self.kv.delete(RESOLVED_PREFIX + _hash(v)) for v in violation_ids])

    # --- scores ----------------------------------------------------------------------------

    async def load_scores(self) -> list[c.ScoresUpdated]:
        """Each organisation's latest scores, as stored now (with the alerts, see ``heldstore``);
        ``loaded_scores`` has them as :meth:`load_state` read them."""
        stored = [*await self._scan(HELD_PREFIX), *await self._scan(SCORES_PREFIX)]
        return HeldStore(self._put_all, self.kv.delete, str).load(stored)[1]

    async def save_baseline(self, baseline: dict[str, dict[str, float]], slot: datetime) -> None:
        """Each organisation's scores as of the digest of ``slot``."""
        puts = []
        for org_id, scores in baseline.items():
            record = {"org_id": org_id, "scores": scores, "slot": slot.isoformat()}
            value = json.dumps(record, ensure_ascii=False).encode()
            puts.append((BASELINE_PREFIX + _hash(org_id), value))
        await self._put_all(puts)

    async def load_baseline(self) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        for key, value in await self._scan(BASELINE_PREFIX):
            try:
                record = json.loads(value)
                scores = {str(k): float(v) for k, v in record["scores"].items()}
                found[str(record["org_id"])] = scores
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning(
                    "skipping unreadable baseline scores", extra={"key": key, "reason": str(exc)}
                )
        return found

    # --- Grafana annotation ids ------------------------------------------------------------

    async def save_annotation(self, annotation: Annotation) -> None:
        record = {
            "violation_id": annotation.violation_id,
            "id": annotation.annotation_id,
            "opened_at": annotation.opened_at.isoformat(),
        }
        await self.kv.put(
            GRAFANA_PREFIX + _hash(annotation.violation_id), json.dumps(record).encode()
        )

    async def forget_annotation(self, violation_id: str) -> None:
        await self.kv.delete(GRAFANA_PREFIX + _hash(violation_id))

    async def load_annotations(self) -> dict[str, Annotation]:
        found: dict[str, Annotation] = {}
        for key, value in await self._scan(GRAFANA_PREFIX):
            try:
                record = json.loads(value)
                annotation = Annotation(
                    str(record["violation_id"]),
                    int(record["id"]),
                    datetime.fromisoformat(record["opened_at"]),
                )
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "skipping an unreadable annotation id", extra={"key": key, "reason": str(exc)}
                )
                continue
            found[annotation.violation_id] = annotation
        return found

    # --- weekly digest ---------------------------------------------------------------------

    async def _get(self, key: str) -> bytes | None:
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return entry.value or None

    async def digest_slot(self) -> datetime | None:
        value = await self._get(DIGEST_SLOT_KEY)
        if value is None:
            return None
        try:
            return datetime.fromisoformat(json.loads(value)["slot"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable digest slot; starting afresh")
            return None

    async def set_digest_slot(self, slot: datetime) -> None:
        await self.kv.put(DIGEST_SLOT_KEY, json.dumps({"slot": slot.isoformat()}).encode())

    @staticmethod
    def _sent_key(slot: datetime, address: str) -> str:
        return DIGEST_SENT_PREFIX + _hash(slot.isoformat(), address)

    async def digest_sent(self, slot: datetime, address: str) -> bool:
        return await self._get(self._sent_key(slot, address)) is not None

    async def mark_digest_sent(self, slot: datetime, address: str) -> None:
        record = {"slot": slot.isoformat(), "address": address}
        await self.kv.put(self._sent_key(slot, address), json.dumps(record).encode())

    async def forget_digest_marks(self, slot: datetime, addresses: list[str]) -> None:
        await _bounded([self.kv.delete(self._sent_key(slot, a)) for a in addresses])

    async def forget_alerts(self, violation_ids: list[str]) -> None:
        await self.held.forget(violation_ids)

    async def begin(self, key: LogKey, previous: LogEntry | None, intent: Intent) -> None:
        """Before sending: store the intent next to the entry it will replace."""
        await self.kv.put(log_key(key), encode_intent(key, previous, intent))

    async def abandon(self, key: LogKey, previous: LogEntry | None) -> None:
        """The e-mail was not accepted: the log goes back to the previous entry, no intent."""
        await self.put_entry(key, previous)

    async def record(self, notification: Notification, entry: LogEntry) -> None:
        await self.put_entry(notification.log_key, entry)

    async def put_entry(self, key: LogKey, entry: LogEntry | None) -> None:
        """Store ``entry`` as the whole value of its key (so any intent there is cleared)."""
        if entry is not None and entry.firing:
            await self.kv.put(log_key(key), encode_entry(key, entry))
        else:
            await self.kv.delete(log_key(key))
