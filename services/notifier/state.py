"""What the notifier holds in memory, shared by its parts: the pipeline (alerts, groups, the
notification log, silences), and for the digest the resolutions and every organisation's scores.

A lock orders KV writes between the intake and the ticker, so the deletion of a forgotten alert can
never overtake the write of the same alert reopening.
"""

from __future__ import annotations

import asyncio
import logging

from gospublic import contracts as c

from .compact import compact
from .heldstore import SCORES_ID
from .metrics import SILENCES_ACTIVE
from .pipeline import Pipeline
from .ports import AlertStore, Clock
from .silences import Silence

log = logging.getLogger("gospublic.notifier")


class Held:
    def __init__(self, pipeline: Pipeline, clock: Clock) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.resolutions: dict[str, c.ViolationResolved] = {}
        # Each organisation's latest scores, and its scores as of the last weekly digest.
        self.scores: dict[str, c.ScoresUpdated] = {}
        self.baseline: dict[str, dict[str, float]] = {}
        self.kv_lock = asyncio.Lock()

    def latest_event(self, held_id: str) -> c.Event | None:
        """The latest event held under ``held_id`` (``heldstore.held_id``): an alert's, or an
        organisation's scores."""
        if held_id.startswith(SCORES_ID):
            return self.scores.get(held_id.removeprefix(SCORES_ID))
        alert = self.pipeline.alerts.get(held_id)
        return alert.event if alert is not None else None

    def silences(self) -> list[Silence]:
        return list(self.pipeline.silences.by_id.values())

    def set_silences(self, silences: list[Silence]) -> None:
        self.pipeline.set_silences(silences)
        SILENCES_ACTIVE.set(len(self.pipeline.silences.active_ids(self.clock.now())))
        log.info("silences updated", extra={"silences": len(silences)})

    def remember_scores(self, event: c.ScoresUpdated) -> bool:
        """Keep the newer of the held and the given scores; True if the given ones were newer."""
        held = self.scores.get(event.labels.org_id)
        if held is not None and held.scored_at > event.scored_at:
            return False
        self.scores[event.labels.org_id] = compact(event)
        return True

    def remember_resolution(self, event: c.ViolationResolved) -> None:
        held = self.resolutions.get(event.violation_id)
        if held is None or held.resolved_at <= event.resolved_at:
            self.resolutions[event.violation_id] = compact(event)

    async def forget(self, store: AlertStore) -> None:
        async with self.kv_lock:
            await self.forget_locked(store)

    async def forget_locked(self, store: AlertStore) -> None:
        """Delete from KV the alerts the pipeline let go of (resolved and dealt with)."""
        forgotten = self.pipeline.take_forgotten()
        if not forgotten:
            return
        try:
            await store.forget_alerts(forgotten)
        except Exception:
            # Harmless leftovers: on load they are resolved alerts nobody was told about.
            log.warning("cannot delete forgotten alerts", extra={"count": len(forgotten)})
