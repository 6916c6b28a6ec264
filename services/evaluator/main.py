"""``gospublic evaluator``: EVENTS in batches → rules → ClickHouse → ALERTS on change.

Flow per flush: decode (already done on receipt) → ``handlers.process_batch`` → one insert per table
with a deterministic ``insert_deduplication_token`` → publish the transitions → ack. Nothing is
acked before it is stored and its alerts are out; on failure the state changes are rolled back and
the messages are nak'ed with a delay, so the redelivery produces the same rows and alerts again
(deduplicated by ClickHouse and by JetStream). A message that is not a valid event is dead-lettered
at once; one that keeps failing is dead-lettered after ``max_deliver`` deliveries.

The parts, each its own object: the consumer (``bus.Consumer``) hands messages to the ``Intake``,
which decodes and routes them into the ``Buffer``; ``RestartHold`` and ``Replays`` keep a restart's
order; the ``Flusher`` evaluates, has the ``BatchWriter`` store, and acknowledges through
``Deliveries``; ``Readiness`` answers /readyz. ``Evaluator`` owns the loop that flushes (a task of
its own, so stopping the intake never cancels a flush half-way), and ``serve`` is the one place the
real store, NATS and batch log are built and handed to them (``ports``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from gospublic import bus, runtime
from gospublic import contracts as c
from gospublic.bus.topology import (
    PartitionError,
    evaluator_start,
    owned_partitions,
    partition_filter,
)
from gospublic.settings import Settings

from .assignment import ProfileBook, load_book
from .batchlog import BatchLog, Replay
from .buffer import ORGANISATIONS_PER_MESSAGE, Buffer, Item, batch_weight
from .deliveries import Deliveries
from .flusher import Flusher, batch_token
from .intake import Intake
from .ports import BatchRecords, Clock, JetStreamOutbox, Outbox, Store
from .profiles import ProfileError
from .readiness import Readiness
from .restart import Replays, RestartHold
from .writer import BatchWriter

# Importable from here as before the parts had modules of their own.
__all__ = [
    "ORGANISATIONS_PER_MESSAGE", "Evaluator", "add_arguments", "batch_token", "batch_weight",
    "serve",
]  # fmt: skip

log = logging.getLogger("gospublic.evaluator")

# How long a restarted evaluator waits for the messages of a batch it must replay.
REPLAY_PATIENCE_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=None,
        help="default rule profile, name or YAML path (default: GOSPUBLIC_PROFILE, dialog-default)",
    )
    parser.add_argument(
        "--profile-assignment",
        type=Path,
        default=None,
        help="YAML assigning profiles per region, level or sphere (default: "
        "GOSPUBLIC_PROFILE_ASSIGNMENT or the shipped one)",
    )
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=None,
        help="directory of profile YAML files (default: GOSPUBLIC_PROFILES_DIR or the shipped ones)",
    )


class Evaluator:
    """The parts put together, and the loop that flushes: when the buffer is full or old enough,
    a replayed batch first; on stop, what is left, then return."""

    def __init__(
        self,
        settings: Settings,
        profile: ProfileBook,
        store: Store,
        state: Any,
        js: Any = None,
        batch_log: BatchRecords | None = None,
        replays: dict[str, Replay] | None = None,
        *,
        outbox: Outbox | None = None,
        readiness: Readiness | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.state = state
        self.clock = clock
        outbox = outbox if outbox is not None else JetStreamOutbox(js)
        self.readiness = readiness if readiness is not None else Readiness()
        self.buffer = Buffer(settings.batch_max_messages, clock)
        self.deliveries = Deliveries(outbox)
        self.hold = RestartHold(clock)
        # Batches a previous run left half-stored: their messages are held back until all are here.
        self.replays = Replays(replays, batch_log, on_ready=self.buffer.wake, clock=clock)
        self.intake = Intake(settings, self.buffer, self.deliveries, self.hold, self.replays)
        self.flusher = Flusher(
            settings, profile, state, BatchWriter(store, outbox, batch_log), self.deliveries,
            self.buffer, self.replays, self.readiness,
            steady=lambda: not self.replays.ready and not self.replays and not self.hold.active,
        )  # fmt: skip
        self.stopping = False

    # --- what serve and the tests call -------------------------------------------------------

    @property
    def storing(self) -> bool:
        return self.readiness.storing

    async def receive(self, messages: list[Any]) -> None:
        await self.intake.receive(messages)

    def hold_until_returned(self, delivered_seq: int, unacked: int, patience_s: float) -> None:
        self.hold.start(delivered_seq, unacked, patience_s)

    async def flush(
        self, batch: list[Item], stored: frozenset[str] = frozenset(), token: str | None = None
    ) -> None:
        await self.flusher.flush(batch, stored, token)

    def next_batch(self) -> tuple[str | None, list[Item]]:
        """(token to reuse or None, messages): a batch to replay first, else the whole buffer."""
        if self.replays.ready:
            return self.replays.next_ready()
        return None, self.buffer.take()

    # --- the loop ----------------------------------------------------------------------------

    @property
    def _progress_every(self) -> float:
        return self.settings.evaluator_ack_wait_s / 3

    async def run(self) -> None:
        """Flush when the buffer is full or old enough; on stop, flush what is left and return."""
        max_wait = self.settings.batch_max_wait_s
        buffer, hold, replays, flusher = self.buffer, self.hold, self.replays, self.flusher
        while True:
            if hold.overdue():
                self.intake.route_all(hold.release())
            if hold.held and self.clock() - hold.last_progress > self._progress_every:
                hold.last_progress = self.clock()
                await self.deliveries.keep_in_progress([raw for raw, _ in hold.held])
            if replays.overdue(REPLAY_PATIENCE_S):
                replays.give_up()
            if self.stopping and not self.readiness.storing:
                flusher.leave_unflushed()
                return
            if flusher.ahead is not None:
                await flusher.flush(flusher.ahead.batch)
                continue
            if replays.ready:
                token, batch = replays.next_ready()
                await flusher.flush(batch, token=token)
                continue
            if buffer.items:
                due = buffer.since + max_wait - self.clock()
                if not buffer.full and due > 0 and not self.stopping:
                    await buffer.sleep(due)
                    continue
            elif self.stopping:
                flusher.progress.emit()
                return
            else:
                waiting = bool(replays) or hold.active
                await buffer.sleep(min(1.0, self._progress_every) if waiting else None)
                continue
            batch = buffer.take()
            await buffer.notify_space()
            await flusher.flush(batch)

    async def receive_last(self) -> None:
        """The intake is handing over its last messages: take them without waiting for space, or
        a flush that cannot finish (NATS away) would hold the intake's stop, and so the stop."""
        self.buffer.overfull_ok = True
        await self.buffer.notify_space()

    async def stop(self) -> None:
        self.stopping = self.flusher.stopping = True
        self.buffer.overfull_ok = True
        self.buffer.wake()
        await self.buffer.notify_space()


async def own_replays(
    js: Any, replays: dict[str, Replay], partitions: frozenset[int]
) -> dict[str, Replay]:
    """The recorded batches of this replica's partitions. Every replica records its batches in
    one log: another's batch would be waited for in vain (its messages never come here) and then
    dropped from the log. A batch holds messages of one replica's partitions, so its first
    message tells whose it is; one no longer in the stream is kept (nobody can replay it)."""
    if partitions == frozenset(range(c.EVENT_PARTITIONS)):
        return replays
    mine = {}
    for token, replay in replays.items():
        try:
            first = await js.get_msg(c.EVENTS_STREAM, min(replay.sequences))
        except Exception:  # expired or deleted
            mine[token] = replay
            continue
        if c.subject_partition(first.subject) in partitions:
            mine[token] = replay
    return mine


async def serve(nats_url: str, settings: Settings, args: argparse.Namespace, stop) -> int:
    from nats.js.api import AckPolicy, ConsumerConfig

    from gospublic.observability import HealthServer

    from .store import ClickHouseStore, MigrationError

    try:
        profile = load_book(
            getattr(args, "profile", None) or settings.profile,
            getattr(args, "profiles_dir", None) or settings.profiles_dir,
            getattr(args, "profile_assignment", None) or settings.profile_assignment,
        )
    except ProfileError as exc:
        log.error("cannot load the rule profile", extra={"error": str(exc)})
        return 2
    try:
        # The partitions of EVENTS this replica owns: its own durable reads only their subjects.
        partitions = owned_partitions(settings)
    except PartitionError as exc:
        log.error("cannot tell the partitions to own", extra={"error": str(exc)})
        return 2
    durable = c.evaluator_durable(partitions)

    readiness = Readiness()
    nc = None
    health = await HealthServer(settings.http_host, settings.http_port, ready=readiness).start()
    log.info(
        "evaluator starting",
        extra={
            "http_port": health.port,
            "profile": profile.default.name,
            "rules": profile.default.enabled_rules,
            "assignment": profile.describe(),
        },
    )
    store = None
    consumer: bus.Consumer | None = None
    flusher: asyncio.Task | None = None
    try:
        store = await ClickHouseStore.open(settings)
        try:
            applied = await store.migrate()
        except MigrationError as exc:
            log.error("cannot migrate ClickHouse", extra={"error": str(exc)})
            return 2
        readiness.migrated = True
        state = await store.load_state()
        log.info(
            "state loaded",
            extra={
                "migrations": [f"{m.version:04d}_{m.name}" for m in applied],
                "organisations": len(state.orgs),
                "pages": len(state.pages),
                "open_violations": len(state.open),
            },
        )
        runtime.keep_loaded_state_out_of_gc()
        nc = await bus.connect(nats_url, settings, "evaluator")
        readiness.connected = lambda: nc.is_connected
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        batch_log = BatchLog(js)
        replays = await own_replays(js, await batch_log.open(), partitions)
        evaluator = Evaluator(
            settings, profile, store, state, js, batch_log, replays, readiness=readiness
        )

        batch = settings.batch_max_messages
        config = ConsumerConfig(
            durable_name=durable,
            **partition_filter(partitions),
            ack_policy=AckPolicy.EXPLICIT,
            # DeliverPolicy.ALL for a first evaluator; a new partition set takes over from the
            # evaluator durables there are (see evaluator_start).
            **await evaluator_start(js, durable),
            # Time for a slow flush before redelivery; room for a full buffer, one being
            # flushed and one pull request in flight.
            ack_wait=settings.evaluator_ack_wait_s,
            max_ack_pending=max(1000, 3 * batch),
        )
        consumer = bus.Consumer(
            nc,
            js,
            stream=c.EVENTS_STREAM,
            config=config,
            handle=evaluator.receive,
            batch=min(batch, 2000),
            expires_s=min(settings.batch_max_wait_s, 1.0),
            create=False,  # added below with the settings of this run, not only when missing
        )
        with contextlib.suppress(Exception):  # no durable yet: nothing was left behind
            info = await js.consumer_info(c.EVENTS_STREAM, durable)
            evaluator.hold_until_returned(
                info.delivered.stream_seq or 0,
                info.num_ack_pending or 0,
                settings.evaluator_ack_wait_s + 30,
            )
        flusher = asyncio.create_task(evaluator.run(), name="evaluator-flush")
        await js.add_consumer(c.EVENTS_STREAM, config)
        await consumer.start()
        readiness.consuming = True
        log.info(
            "evaluator consuming",
            extra={"durable": durable, "partitions": c.partitions_spec(partitions)},
        )

        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, flusher}, return_when=asyncio.FIRST_COMPLETED)
        if flusher.done():  # it only returns on stop; anything else is a bug worth a restart
            stopper.cancel()
            flusher.result()
            return 1
        readiness.consuming = False
        await evaluator.receive_last()
        await consumer.stop()
        await evaluator.stop()
        await flusher
        log.info("evaluator stopped", extra={"open_violations": len(state.open)})
        return 0
    finally:
        if flusher is not None and not flusher.done():
            flusher.cancel()
        if consumer is not None and consumer.running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.drain()
        if store is not None:
            await store.close()
        await health.stop()
