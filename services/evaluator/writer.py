"""Storing one evaluated batch: its record, its rows and its alerts, in an order a crash survives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gospublic import bus
from gospublic import contracts as c

from .buffer import Item
from .deliveries import stream_seq
from .handlers import BatchOutput
from .ports import BatchRecords, Insert, Outbox, Store
from .schema import TABLE_COLUMNS, TABLE_ORDER


def alert_messages(
    alerts: list[c.ViolationOpened | c.ViolationResolved], scores: list[c.ScoresUpdated]
) -> list[bus.Outgoing]:
    """A flush's alerts, then its scores, in ``AlertBatch`` messages (a few hundred items each).

    One message per flush rather than per alert: each message costs a publish and its
    acknowledgement here, a store and a delivery in nats-server, a delivery and an ack in the
    notifier. The batches of one flush are the same each time it is evaluated (the same events in
    the same order), so a flush published again after a crash makes the same messages, which
    JetStream drops by ``Nats-Msg-Id``; where a replay's composition differs, the notifier's
    per-alert dedup (an event it holds, or an older one, changes nothing) keeps it from
    notifying twice.
    """
    return [
        bus.Outgoing(c.ALERT_BATCH_SUBJECT, payload, event_id)
        for event_id, payload in c.alert_batches([*alerts, *scores])
    ]


@dataclass(frozen=True, slots=True)
class Written:
    """When the rows were stored and the alerts published (perf_counter), and the seconds spent
    meanwhile evaluating the next batch."""

    inserted: float
    published: float
    meanwhile_s: float


async def _nothing() -> float:
    return 0.0


class BatchWriter:
    def __init__(self, store: Store, outbox: Outbox, records: BatchRecords | None = None):
        self.store = store
        self.outbox = outbox
        self.records = records

    async def write(
        self,
        batch: list[Item],
        out: BatchOutput,
        token: str,
        stored: frozenset[str],
        written: dict[str, int],
        meanwhile: Callable[[], Awaitable[float]] = _nothing,
    ) -> Written:
        """Record the batch, insert its rows, publish its alerts; raise on the first failure.

        ``written`` gets each table as soon as it holds the batch's rows, so a retry does not
        write those again (``stored``). ``meanwhile`` runs while the first inserts do (in their
        thread). The violation log goes in after the alerts: a crash between the two leaves the
        violation unrecorded, so it is opened (and its alert, deduplicated by id) once more, never
        lost. Every other table goes first.
        """
        first = [t for t in TABLE_ORDER if t != "violations" and t not in stored]
        last = [t for t in ("violations",) if t not in stored]
        if self.records is not None and not stored:
            await self.records.record(token, [stream_seq(raw) for raw, _ in batch])
        storing = asyncio.ensure_future(
            self.store.insert_tables(_inserts(out, token, first), written)
        )
        await asyncio.sleep(0)  # the insert starts in its thread
        meanwhile_s = await meanwhile()
        await storing
        inserted = time.perf_counter()
        await self.outbox.publish(alert_messages(out.alerts, out.scores))
        published = time.perf_counter()
        await self.store.insert_tables(_inserts(out, token, last), written)
        return Written(inserted, published, meanwhile_s)

    async def forget(self, token: str) -> None:
        """The batch is acknowledged: a restart has nothing of it to replay."""
        if self.records is not None:
            await self.records.forget(token)


def _inserts(out: BatchOutput, token: str, tables: list[str]) -> list[Insert]:
    return [(t, out.rows[t], TABLE_COLUMNS[t], f"evaluator-{token}-{t}") for t in tables]
