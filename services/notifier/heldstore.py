"""The held alerts in the KV bucket: each ALERTS message stored once, as it came (``heldvalues``).

``save`` puts a message's bytes, compressed, under ``held.<hash>`` with one put per message (and,
as before, each resolution under ``resolved.<hash>`` for the digest); ``forget`` lets go of alerts
the pipeline dropped; ``load`` reads every value back and gives each alert its newest event. Values
no alert needs any more are deleted on the way; a failed delete is tried again at the next call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from gospublic import contracts as c

from . import fastdecode
from .heldvalues import HeldValues
from .model import AlertEvent, supersedes

log = logging.getLogger("gospublic.notifier.nflog")

HELD_PREFIX = "held."
# Values of notifiers before this one, one alert's latest event or one organisation's latest
# scores each: read like any other value (and deleted once superseded).
ALERT_PREFIX = "alert."
SCORES_PREFIX = "scores."
_CONCURRENCY = 256


# An organisation's scores are held like an alert, under this id (no violation id has a \x1f).
SCORES_ID = "scores\x1f"
Held = AlertEvent | c.ScoresUpdated


def held_id(event: Held) -> str:
    """The id an event is held under: its violation's, or its organisation's scores'."""
    if isinstance(event, c.ScoresUpdated):
        return SCORES_ID + event.labels.org_id
    return event.violation_id


class StoredMessage(NamedTuple):
    """An ALERTS message to store: its bytes, its events that are now their alerts' (or their
    organisations' scores') latest, and the ``held_id`` of its other events (older ones, or
    repeats of what is held)."""

    data: bytes
    latest: list[Held]
    others: list[str]


def packed(data: bytes) -> tuple[str, bytes]:
    """An ALERTS message as stored: its key and value. The value is compressed (a batch's JSON
    shrinks some tenfold: tenfold fewer bytes written to and kept by nats-server), the key a hash
    of it."""
    value = zlib.compress(data, 1)
    return HELD_PREFIX + hashlib.blake2b(value, digest_size=20).hexdigest(), value


def held_events(value: bytes) -> list[Held]:
    """The alert events and scores of a stored value: an ALERTS message, compressed (JSON starts
    with "{"), or an older notifier's one event or scores."""
    data = value if value.startswith(b"{") else zlib.decompress(value)
    event = fastdecode.decode(data, max_bytes=max(len(data), c.MAX_EVENT_BYTES))
    items = event.items if isinstance(event, c.AlertBatch) else (event,)
    held = c.ViolationOpened | c.ViolationResolved | c.ScoresUpdated
    return [e for e in items if isinstance(e, held)]


def _newer(held: Held, event: Held) -> bool:
    """Whether ``event``, read after ``held`` (same id), takes its place, as the intake decides."""
    if isinstance(held, c.ScoresUpdated) or isinstance(event, c.ScoresUpdated):
        return held.scored_at <= event.scored_at  # type: ignore[union-attr]
    return not supersedes(held, event)


class HeldStore:
    def __init__(
        self,
        put_all: Callable[[list[tuple[str, bytes]]], Awaitable[None]],
        delete: Callable[[str], Awaitable[object]],
        resolved_key: Callable[[str], str],
    ) -> None:
        self._put_all = put_all
        self._delete = delete
        self._resolved_key = resolved_key
        self.values = HeldValues()
        # An alert's latest event as held (the pipeline's), to write a sparse value again.
        self.latest_of: Callable[[str], Held | None] = lambda held: None

    async def save(self, messages: list[StoredMessage]) -> None:
        """Store the messages (each holding at least one latest event); raises when the KV
        bucket refuses, and then nothing is taken as stored."""
        puts: dict[str, bytes] = {}
        keys = []
        for message in messages:
            key, value = packed(message.data)
            keys.append(key)
            puts[key] = value
            for event in message.latest:
                if isinstance(event, c.ViolationResolved):
                    puts[self._resolved_key(event.violation_id)] = event.to_bytes()
        await self._put_all(list(puts.items()))
        for key, message in zip(keys, messages, strict=True):
            self.values.stored(key, [held_id(e) for e in message.latest], message.others)
        await self._prune()

    async def forget(self, violation_ids: list[str]) -> None:
        self.values.forgotten(violation_ids)
        await self._prune()

    def load(
        self, stored: list[tuple[str, bytes]]
    ) -> tuple[list[AlertEvent], list[c.ScoresUpdated]]:
        """Every alert's newest event and every organisation's newest scores among the stored
        values (the bookkeeping rebuilt on the way); the values none of whose events is anyone's
        newest are doomed (see ``prune``)."""
        newest: dict[str, tuple[Held, str]] = {}
        holders: dict[str, list[str]] = {}
        for key, value in stored:
            try:
                events = held_events(value)
            except (c.ContractError, zlib.error) as exc:
                log.warning(
                    "skipping unreadable stored alerts",
                    extra={"key": key, "reason": getattr(exc, "reason", str(exc))},
                )
                continue
            self.values.doomed.add(key)  # until it is found to hold someone's newest
            for event in events:
                ident = held_id(event)
                holders.setdefault(ident, []).append(key)
                held = newest.get(ident)
                if held is None or _newer(held[0], event):
                    newest[ident] = (event, key)
        for ident, (_, key) in newest.items():
            self.values.found(ident, key, holders[ident])
        found = [event for event, _ in newest.values()]
        scores = [e for e in found if isinstance(e, c.ScoresUpdated)]
        return [e for e in found if not isinstance(e, c.ScoresUpdated)], scores

    async def prune(self) -> None:
        await self._prune()

    async def _compact(self) -> None:
        """Write the sparse values' latest events again, together, in new values (the old ones
        are then no one's latest and go). Skipped for a value whose events are not all held."""
        events: list[Held] = []
        for ids in self.values.take_sparse().values():
            found = [self.latest_of(ident) for ident in ids]
            if all(e is not None and held_id(e) == i for e, i in zip(found, ids, strict=True)):
                events += found  # type: ignore[arg-type]
        if not events:
            return
        values = [packed(payload) for _, payload in c.alert_batches(events)]
        await self._put_all(values)
        for key, value in values:
            self.values.stored(key, [held_id(e) for e in held_events(value)])

    async def _prune(self) -> None:
        """Delete the doomed values (a deletion can doom more: a tombstone no longer needed), then
        write the sparse ones again, which dooms them in turn."""
        while True:
            while self.values.doomed:
                if not await self._delete_doomed():
                    return
            if not self.values.sparse:
                return
            try:
                await self._compact()
            except Exception:
                # Harmless: the sparse values stay as they are, with their latest events.
                log.warning("cannot write sparse stored alerts again", exc_info=True)
                return

    async def _delete_doomed(self) -> bool:
        doomed = sorted(self.values.doomed)
        results = []
        for start in range(0, len(doomed), _CONCURRENCY):
            chunk = [self._delete(key) for key in doomed[start : start + _CONCURRENCY]]
            results += await asyncio.gather(*chunk, return_exceptions=True)
        deleted = [
            k for k, r in zip(doomed, results, strict=True) if not isinstance(r, BaseException)
        ]
        self.values.deleted(deleted)
        if len(deleted) < len(doomed):
            # Harmless while kept: an older event stays shadowed by the newer one that is kept.
            log.warning("cannot delete stored alerts", extra={"count": len(doomed) - len(deleted)})
            return False
        return True
