"""The intake: a batch of ALERTS messages into the KV bucket and the pipeline, then the replies.

Each alert is stored in the KV bucket and recorded in its groups, then acked; an organisation's
``ScoresUpdated`` (on ``alerts.scores.*``) is kept as its latest scores, for the digest only; a
malformed message is dead-lettered. A KV failure naks the batch for a later redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gospublic import contracts as c

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
        good: list[tuple[Any, AlertEvent]] = []
        scored: list[tuple[Any, c.ScoresUpdated]] = []
        for raw in messages:
            try:
                event = c.decode(raw.data, max_bytes=self.max_message_bytes)
                if isinstance(event, c.ScoresUpdated):
                    scored.append((raw, event))
                    continue
                if not isinstance(event, c.ViolationOpened | c.ViolationResolved):
                    raise c.ContractError(
                        f"{event.schema_} does not belong on {raw.subject}", "wrong_type"
                    )
            except c.ContractError as exc:
                await self._dead_letter(raw, exc)
                continue
            good.append((raw, event))
        if scored:
            await self._take_scores(scored)
        if good:
            await self._take_alerts(good)

    async def _dead_letter(self, raw: Any, error: c.ContractError) -> None:
        try:
            await self.bus.dead_letter(raw.data, error, dict(raw.headers or {}))
        except Exception:
            log.exception("cannot dead-letter a malformed alert, will retry")
            await self.bus.reply(raw, "nak", delay=NAK_DELAY_S)
            return
        DEAD_LETTERS.inc()
        await self.bus.reply(raw, "ack")

    async def _take_alerts(self, good: list[tuple[Any, AlertEvent]]) -> None:
        pipeline = self.held.pipeline
        async with self.held.kv_lock:
            # Only the newest event per violation is stored: an older redelivery must not
            # overwrite it, and concurrent puts of one key would land in any order.
            latest: dict[str, AlertEvent] = {}
            for _, event in good:
                held = latest.get(event.violation_id)
                if held is not None and supersedes(held, event):
                    continue
                if held is None and pipeline.is_stale(event):
                    continue
                latest[event.violation_id] = event
            try:
                await self.store.save_alerts(list(latest.values()))
            except Exception:
                log.exception("cannot store alerts, will retry", extra={"count": len(good)})
                for raw, _ in good:
                    await self.bus.reply(raw, "nak", delay=NAK_DELAY_S)
                return
            for event in latest.values():
                if isinstance(event, c.ViolationResolved):
                    self.held.remember_resolution(event)
            now = self.held.clock.now()
            for _, event in good:
                state = "firing" if isinstance(event, c.ViolationOpened) else "resolved"
                ALERTS_RECEIVED.labels(state=state).inc()
                pipeline.ingest(event, now)
            await self.held.forget_locked(self.store)
        await self.bus.reply_all([raw for raw, _ in good], "ack")
        if pipeline.new_group_due(now):
            self.on_due()

    async def _take_scores(self, scored: list[tuple[Any, c.ScoresUpdated]]) -> None:
        """Store the newest scores per organisation, then ack; on a KV failure nak them all."""
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
                for raw, _ in scored:
                    await self.bus.reply(raw, "nak", delay=NAK_DELAY_S)
                return
            for event in fresh:
                self.held.remember_scores(event)
        SCORES_RECEIVED.inc(len(scored))
        await self.bus.reply_all([raw for raw, _ in scored], "ack")
