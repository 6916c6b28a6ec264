"""The intake: a batch of ALERTS messages into the KV bucket and the pipeline, then the replies.

A message holds one alert event or an organisation's ``ScoresUpdated`` (what the evaluator sent
before it batched, still read for a rolling upgrade), or an ``AlertBatch`` of them (a flush's
alerts and scores). Every item is taken as if it had come alone: each alert is stored in the KV
bucket and recorded in its groups, scores are kept as the organisation's latest, for the digest
only. A message is acked once everything it holds is stored; a KV failure naks the messages whose
items it concerned, for a later redelivery (what was stored of them is taken again as a stale
repeat, see ``Pipeline.is_stale``). A malformed message, a batch with one bad item included, is
dead-lettered with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gospublic import contracts as c

from . import fastdecode
from .heldstore import StoredMessage
from .metrics import ALERTS_RECEIVED, DEAD_LETTERS, SCORES_RECEIVED
from .pipeline import AlertEvent, supersedes
from .ports import AlertStore, Bus
from .state import Held

log = logging.getLogger("gospublic.notifier")

NAK_DELAY_S = 2.0


class Intake:
    def __init__(
        self,
        held: Held,
        store: AlertStore,
        bus: Bus,
        *,
        max_message_bytes: int,
        on_due: Callable[[], None] = lambda: None,
    ) -> None:
        self.held = held
        self.store = store
        self.bus = bus
        self.max_message_bytes = max_message_bytes
        # Called when an alert opened a group that is to flush now (group_wait 0s): the ticker
        # flushes at once instead of at its next tick.
        self.on_due = on_due

    async def handle(self, messages: list[Any]) -> None:
        log.debug("alert batch received", extra={"count": len(messages)})
        alerts: list[tuple[Any, AlertEvent]] = []
        scored: list[tuple[Any, c.ScoresUpdated]] = []
        taken: list[Any] = []
        for raw in messages:
            try:
                items = self._items(raw)
            except c.ContractError as exc:
                await self._dead_letter(raw, exc)
                continue
            taken.append(raw)
            for event in items:
                if isinstance(event, c.ScoresUpdated):
                    scored.append((raw, event))
                else:
                    alerts.append((raw, event))
        failed: set[int] = set()  # id() of the messages to nak
        if scored:
            failed |= await self._take_scores(scored)
        due = False
        if alerts:
            stored = await self._take_alerts(alerts)
            if stored:
                due = self.held.pipeline.new_group_due(self.held.clock.now())
            else:
                failed |= {id(raw) for raw, _ in alerts}
        for raw in taken:
            if id(raw) in failed:
                await self.bus.reply(raw, "nak", delay=NAK_DELAY_S)
        await self.bus.reply_all([raw for raw in taken if id(raw) not in failed], "ack")
        if due:
            self.on_due()

    def _items(self, raw: Any) -> tuple[AlertEvent | c.ScoresUpdated, ...]:
        """The events a message holds, in order; ``ContractError`` for anything else."""
        event = fastdecode.decode(raw.data, max_bytes=self.max_message_bytes)
        if isinstance(event, c.AlertBatch):
            return event.items
        if not isinstance(event, c.ViolationOpened | c.ViolationResolved | c.ScoresUpdated):
            raise c.ContractError(f"{event.schema_} does not belong on {raw.subject}", "wrong_type")
        return (event,)

    async def _dead_letter(self, raw: Any, error: c.ContractError) -> None:
        try:
            await self.bus.dead_letter(raw.data, error, dict(raw.headers or {}))
        except Exception:
            log.exception("cannot dead-letter a malformed alert, will retry")
            await self.bus.reply(raw, "nak", delay=NAK_DELAY_S)
            return
        DEAD_LETTERS.inc()
        await self.bus.reply(raw, "ack")

    async def _take_alerts(self, alerts: list[tuple[Any, AlertEvent]]) -> bool:
        """Store the messages holding the newest event of a violation, then ingest them all;
        False on a KV failure."""
        pipeline = self.held.pipeline
        async with self.held.kv_lock:
            # Only the newest event per violation counts as stored: an older redelivery must not
            # take its place.
            latest: dict[str, tuple[Any, AlertEvent]] = {}
            for raw, event in alerts:
                held = latest.get(event.violation_id)
                if held is not None and supersedes(held[1], event):
                    continue
                if held is None and pipeline.is_stale(event):
                    continue
                latest[event.violation_id] = (raw, event)
            # Each message once, as it came: one put for all the alerts it holds.
            messages: dict[int, StoredMessage] = {}
            for raw, event in alerts:
                message = messages.get(id(raw))
                if message is None:
                    message = messages[id(raw)] = StoredMessage(raw.data, [], [])
                if latest.get(event.violation_id, (None, None))[1] is event:
                    message.latest.append(event)
                else:
                    message.others.append(event.violation_id)
            try:
                await self.store.save_alerts([m for m in messages.values() if m.latest])
            except Exception:
                log.exception("cannot store alerts, will retry", extra={"count": len(alerts)})
                return False
            for _, event in latest.values():
                if isinstance(event, c.ViolationResolved):
                    self.held.remember_resolution(event)
            now = self.held.clock.now()
            firing = 0
            for _, event in alerts:
                firing += isinstance(event, c.ViolationOpened)
                pipeline.ingest(event, now)
            ALERTS_RECEIVED.labels(state="firing").inc(firing)
            ALERTS_RECEIVED.labels(state="resolved").inc(len(alerts) - firing)
            await self.held.forget_locked(self.store)
        return True

    async def _take_scores(self, scored: list[tuple[Any, c.ScoresUpdated]]) -> set[int]:
        """Store the newest scores per organisation; the id()s of the messages to nak on a KV
        failure (none when stored)."""
        newest: dict[str, c.ScoresUpdated] = {}
        for _, event in scored:
            held = newest.get(event.labels.org_id)
            if held is None or held.scored_at <= event.scored_at:
                newest[event.labels.org_id] = event
        async with self.held.kv_lock:
            fresh = [
                e
                for e in newest.values()
                if (held := self.held.scores.get(e.labels.org_id)) is None
                or held.scored_at <= e.scored_at
            ]
            try:
                await self.store.save_scores(fresh)
            except Exception:
                log.exception("cannot store scores, will retry", extra={"count": len(scored)})
                return {id(raw) for raw, _ in scored}
            for event in fresh:
                self.held.remember_scores(event)
        SCORES_RECEIVED.inc(len(scored))
        return set()
