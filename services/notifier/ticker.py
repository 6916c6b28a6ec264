"""The ticker: every ``notifier_tick_s`` the dispatcher starts what is due, forgotten alerts leave
the KV bucket, the gauges are refreshed and the weekly digest starts when its slot comes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from .dispatch import Dispatcher
from .metrics import ALERTS_MUTED, GROUPS_PENDING, SILENCES_ACTIVE
from .pipeline import INHIBITED, SILENCED
from .ports import AlertStore, Clock
from .state import Held
from .weekly import WeeklyDigest

log = logging.getLogger("gospublic.notifier")

GAUGE_PERIOD = timedelta(seconds=5)
PENDING_SHARE = 19  # wait 19 times as long as the last pending-groups count took
# ...and at least this long: during a sweep every alert changes the count, and a count of a few
# hundred groups of hundreds of alerts takes milliseconds (a gauge a second old is fresh enough).
PENDING_PERIOD_S = 1.0


class Ticker:
    def __init__(
        self,
        held: Held,
        dispatcher: Dispatcher,
        weekly: WeeklyDigest,
        store: AlertStore,
        clock: Clock,
        *,
        period_s: float,
    ) -> None:
        self.held = held
        self.dispatcher = dispatcher
        self.weekly = weekly
        self.store = store
        self.clock = clock
        self.period_s = period_s
        self._gauges_at = datetime.min.replace(tzinfo=UTC)
        self._wakeup = asyncio.Event()
        self._pending_at = 0.0  # time.monotonic() of the next pending-groups count

    def wake(self) -> None:
        """Tick now rather than at the end of the period (something is due now)."""
        self._wakeup.set()

    async def tick(self) -> None:
        now = self.clock.now()
        self.dispatcher.start(now)
        await self.held.forget(self.store)
        pipeline = self.held.pipeline
        if time.monotonic() >= self._pending_at:
            # A scan of every alert after any change: with hundreds of thousands held it would
            # take most of the loop on every tick. At most a twentieth of the time goes to it.
            started = time.monotonic()
            GROUPS_PENDING.set(pipeline.pending_groups(now))
            took = time.monotonic() - started
            self._pending_at = started + max(PENDING_PERIOD_S, (PENDING_SHARE + 1) * took)
        if now >= self._gauges_at:
            # A scan of every alert: a few seconds stale is fine for these gauges.
            self._gauges_at = now + GAUGE_PERIOD
            muted = pipeline.muted_counts(now)
            for reason in (INHIBITED, SILENCED):
                ALERTS_MUTED.labels(reason=reason).set(muted.get(reason, 0))
            SILENCES_ACTIVE.set(len(pipeline.silences.active_ids(now)))
        self.weekly.schedule(now)

    async def drain(self) -> None:
        """Wait for every delivery (and a running digest) to finish and be recorded."""
        await self.dispatcher.drain()
        await self.weekly.drain()
        await self.held.forget(self.store)

    async def run(self, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(self._wake_on(stop), name="ticker-stop")
        try:
            while not stop.is_set():
                self._wakeup.clear()  # a wake during the tick brings the next one at once
                try:
                    await self.tick()
                except Exception:
                    log.exception("notifier tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.period_s)
        finally:
            stopping.cancel()
            await self.drain()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()
