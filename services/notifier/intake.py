"""The intake: a batch of ALERTS messages into the KV bucket and the pipeline, then the replies.

A message holds one alert event or an organisation's ``ScoresUpdated`` (what the evaluator sent
before it batched, still read for a rolling upgrade), or an ``AlertBatch`` of them (a flush's
alerts and scores). Every item is taken as if it had come alone: each alert is stored in the KV
bucket and recorded in its groups, scores are kept as the organisation's latest, for the digest
only. A message is acked once everything it holds is stored, in one KV value per message
(``heldstore``); a KV failure naks the messages that held anything, for a later redelivery (what
was stored of them is taken again as a stale repeat, see ``Pipeline.is_stale``). A malformed message, a batch with one bad item included, is
dead-lettered with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gospublic import contracts as c

from . import fastdecode
from .heldstore import StoredMessage, held_id
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
        stored = await self._take(alerts, scored) if alerts or scored else True
        due = bool(alerts) and stored and self.held.pipeline.new_group_due(self.held.clock.now())
        # On a KV failure every message that held something is naked, for a later redelivery.
        failed = set() if stored else {id(raw) for raw, _ in (*alerts, *scored)}
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

    async def _take(
        self, alerts: list[tuple[Any, AlertEvent]], scored: list[tuple[Any, c.ScoresUpdated]]
    ) -> bool:
        """Store the messages holding a violation's newest event or an organisation's newest
        scores, then take them in; False on a KV failure (nothing taken)."""
        pipeline = self.held.pipeline
        async with self.held.kv_lock:
            # Only the newest event per violation, and the newest scores per organisation, count
            # as stored: an older redelivery must not take their place.
            latest: dict[str, tuple[Any, AlertEvent]] = {}
            for raw, event in alerts:
                held = latest.get(event.violation_id)
                if held is not None and supersedes(held[1], event):
                    continue
                if held is None and pipeline.is_stale(event):
                    continue
                latest[event.violation_id] = (raw, event)
            newest: dict[str, tuple[Any, c.ScoresUpdated]] = {}
            for raw, scores in scored:
                org = scores.labels.org_id
                held_scores = newest.get(org, (None, self.held.scores.get(org)))[1]
                if held_scores is None or held_scores.scored_at <= scores.scored_at:
                    newest[org] = (raw, scores)
            # Each message once, as it came: one put for all it holds.
            messages: dict[int, StoredMessage] = {}
            for raw, event in (*alerts, *scored):
                message = messages.get(id(raw))
                if message is None:
                    message = messages[id(raw)] = StoredMessage(raw.data, [], [])
                if isinstance(event, c.ScoresUpdated):
                    kept = newest.get(event.labels.org_id, (None, None))[1]
                else:
                    kept = latest.get(event.violation_id, (None, None))[1]
                if kept is event:
                    message.latest.append(event)
                else:
                    message.others.append(held_id(event))
            try:
                await self.store.save_alerts([m for m in messages.values() if m.latest])
            except Exception:
                log.exception(
                    "cannot store alerts, will retry", extra={"count": len(alerts) + len(scored)}
                )
                return False
            for _, scores in newest.values():
                self.held.remember_scores(scores)
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
            SCORES_RECEIVED.inc(len(scored))
            await self.held.forget_locked(self.store)
        return True
