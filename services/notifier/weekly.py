"""The weekly digest: sent from the ticker when its slot comes (Monday 09:00 Moscow time by default),
built from the open alerts, resolutions and scores held; once every subscriber has it, the scores of
that moment become the base of the next digest's "change since last week"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from gospublic.settings import Settings

from . import digest
from .metrics import DIGESTS
from .nflog import RESOLUTION_RETENTION
from .pipeline import labels_of
from .ports import Clock, DigestStore
from .smtp import SendResult
from .state import Held

log = logging.getLogger("gospublic.notifier")

DIGEST_RETRY = timedelta(minutes=5)

SendMail = Callable[[EmailMessage], Awaitable[SendResult]]


class WeeklyDigest:
    def __init__(
        self,
        held: Held,
        store: DigestStore,
        send_mail: SendMail,
        settings: Settings,
        clock: Clock,
        slot: datetime | None = None,
    ) -> None:
        self.held = held
        self.store = store
        self.send_mail = send_mail
        self.settings = settings
        self.clock = clock
        self.slot = slot  # the last slot every subscriber has the digest of
        self._task: asyncio.Task | None = None
        self._retry_at: datetime | None = None

    def schedule(self, now: datetime) -> None:
        """Start the digest of the slot just passed, unless one runs or waits for its retry."""
        if not self.settings.digest_enabled or self.slot is None:
            return
        if self._task is not None and not self._task.done():
            return
        if self._retry_at is not None and now < self._retry_at:
            return
        slot = digest.slot_of(now, self.settings)
        if slot > self.slot:
            self._task = asyncio.create_task(self.run(slot), name="digest")

    async def drain(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def build(self, start: datetime, end: datetime) -> list[digest.Digest]:
        """Snapshot the state here (on the loop), build in a thread: many subscribers × alerts."""
        now = self.clock.now()
        pipeline = self.held.pipeline
        open_alerts = [a.event for a in pipeline.alerts.values() if a.firing]
        resolutions = list(self.held.resolutions.values())
        muted = frozenset(
            event.violation_id
            for event in (*open_alerts, *resolutions)
            if pipeline.mute_reason(labels_of(event), now) is not None
        )
        return await asyncio.to_thread(
            digest.build,
            pipeline.subscriptions,
            open_alerts,
            resolutions,
            start,
            end,
            muted,
            list(self.held.scores.values()),
            dict(self.held.baseline),
        )

    async def send(self, item: digest.Digest) -> bool:
        message = await asyncio.to_thread(digest.render, item, self.settings, self.clock.now())
        result = await self.send_mail(message)
        extra = {
            "to": item.address,
            "organisations": len(item.organisations),
            "open": item.open_total,
            "message_id": message["Message-ID"],
        }
        if result.ok:
            DIGESTS.labels(result="sent").inc()
            log.info("digest sent", extra=extra)
        else:
            DIGESTS.labels(result="failed").inc()
            log.error("digest not delivered", extra={**extra, "error": result.error})
        return result.ok

    async def run(self, slot: datetime) -> None:
        try:
            # Changes from a week before the slot until now: a digest sent late (the notifier
            # was down at the slot) still reports everything since the previous one.
            items = await self.build(slot - digest.PERIOD, self.clock.now())
            failed = 0
            for item in items:
                if await self.store.digest_sent(slot, item.address):
                    continue  # sent before a restart
                if await self.send(item):
                    await self.store.mark_digest_sent(slot, item.address)
                else:
                    failed += 1
            if failed:
                self._retry_at = self.clock.now() + DIGEST_RETRY
                log.warning("some digests not delivered, will retry", extra={"failed": failed})
                return
            await self.store.set_digest_slot(slot)
            self.slot = slot
            self._retry_at = None
            await self._move_baseline(slot)
            await self.store.forget_digest_marks(slot, [item.address for item in items])
            cutoff = self.clock.now() - RESOLUTION_RETENTION
            resolutions = self.held.resolutions
            for vid in [v for v, e in resolutions.items() if e.resolved_at < cutoff]:
                del resolutions[vid]
            log.info("weekly digest done", extra={"slot": slot.isoformat(), "sent": len(items)})
        except Exception:
            self._retry_at = self.clock.now() + DIGEST_RETRY
            log.exception("weekly digest failed, will retry")

    async def _move_baseline(self, slot: datetime) -> None:
        """The scores now become what the next digest compares with."""
        current = {org_id: digest.baseline_of(e) for org_id, e in self.held.scores.items()}
        changed = {o: s for o, s in current.items() if self.held.baseline.get(o) != s}
        try:
            await self.store.save_baseline(changed, slot)
        except Exception:
            # The next digest then shows the change over two weeks: worth a warning, not a retry.
            log.warning("cannot store the scores of this digest", exc_info=True)
            return
        self.held.baseline.update(changed)

    async def send_now(self) -> int:
        """``--digest-now``: every subscriber's digest of the last seven days; the exit status."""
        now = self.clock.now()
        items = await self.build(now - digest.PERIOD, now)
        sent = 0
        for item in items:
            sent += await self.send(item)
        print(f"notifier: digest sent to {sent} of {len(items)} subscriber(s)", flush=True)
        return 0 if sent == len(items) else 1
