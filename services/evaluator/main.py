"""``gospublic evaluator``: EVENTS in batches → rules → ClickHouse → ALERTS on change.

Flow per flush: decode (already done on receipt) → ``handlers.process_batch`` → one insert per table
with a deterministic ``insert_deduplication_token`` → publish the transitions → ack. Nothing is
acked before it is stored and its alerts are out; on failure the state changes are rolled back and
the messages are nak'ed with a delay, so the redelivery produces the same rows and alerts again
(deduplicated by ClickHouse and by JetStream). A message that is not a valid event is dead-lettered
at once; one that keeps failing is dead-lettered after ``max_deliver`` deliveries.

The FastStream handler only decodes and buffers; a separate task owns the size/time buffer and the
flush, so stopping the subscriber never cancels a flush half-way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings

from .handlers import HANDLED_EVENTS, TABLE_COLUMNS, TABLE_ORDER, process_batch
from .profiles import Profile, ProfileError, load_profile

log = logging.getLogger("gospublic.evaluator")

EVENTS = Counter(
    "gospublic_evaluator_events_total", "Events stored and evaluated, by kind", ["kind"]
)
DEAD_LETTERS = Counter(
    "gospublic_evaluator_dead_letters_total", "Messages sent to the dead-letter stream"
)
FLUSH_SECONDS = Histogram(
    "gospublic_evaluator_flush_seconds",
    "Time to evaluate, store and publish one batch",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_MESSAGES = Histogram(
    "gospublic_evaluator_batch_messages",
    "Messages per flushed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)
ROWS_WRITTEN = Counter(
    "gospublic_evaluator_rows_written_total", "Rows inserted into ClickHouse, by table", ["table"]
)
VIOLATIONS = Counter(
    "gospublic_evaluator_violations_total", "Violation transitions published", ["transition"]
)
FLUSH_FAILURES = Counter(
    "gospublic_evaluator_flush_failures_total", "Batches that could not be stored or published"
)

LOG_EVERY_S = 5.0
MAX_NAK_DELAY_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=None,
        help="rule profile name or YAML path (default: GOSPUBLIC_PROFILE, dialog-default)",
    )
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=None,
        help="directory of profile YAML files (default: GOSPUBLIC_PROFILES_DIR or the shipped ones)",
    )


def batch_token(batch: list[tuple[Any, c.Event]]) -> str:
    """Same messages → same token, so a retried insert of the batch is dropped by ClickHouse."""
    digest = hashlib.sha256()
    for raw, event in batch:
        msg_id = (raw.headers or {}).get("Nats-Msg-Id", "")
        digest.update(f"{msg_id}\x1f{event.event_id}\x1e".encode())
    return digest.hexdigest()[:32]


def alert_message(event: c.ViolationOpened | c.ViolationResolved) -> bus.Outgoing:
    subject = c.alert_subject(event.labels.severity.value, event.labels.rule)
    return bus.Outgoing(subject, event.to_bytes(), event.event_id)


class Evaluator:
    """The buffer, the flush and the acks; the rules and the rows live in ``handlers``."""

    def __init__(self, settings: Settings, profile: Profile, store: Any, state: Any, js: Any):
        self.settings = settings
        self.profile = profile
        self.store = store
        self.state = state
        self.js = js
        self.buffer: list[tuple[Any, c.Event]] = []
        self.buffer_since = 0.0
        self.stopping = False
        self._wakeup = asyncio.Event()
        self._space = asyncio.Condition()
        self._since_log = {"messages": 0, "rows": 0, "opened": 0, "resolved": 0, "flushes": 0}
        self._last_log = 0.0  # the first flush is logged at once

    # --- receiving (FastStream handler) ----------------------------------------------------

    async def receive(self, messages: list[Any]) -> None:
        """Decode and buffer; dead-letter what is not a valid event. Never flushes itself."""
        done = 0
        try:
            for raw in messages:
                reason = self._accept(raw)
                if reason is not None:
                    await self._dead_letter(raw, reason)
                done += 1
        except asyncio.CancelledError:
            # Stopping mid-batch: hand the rest back now rather than after ack_wait.
            for raw in messages[done:]:
                with contextlib.suppress(Exception):
                    await raw.nak()
            raise
        if len(self.buffer) >= self.settings.batch_max_messages:
            self._wakeup.set()
            async with self._space:
                await self._space.wait_for(
                    lambda: self.stopping or len(self.buffer) < self.settings.batch_max_messages
                )

    def _accept(self, raw: Any) -> str | None:
        """Buffer a valid event and return None, or return why the message is dead-lettered."""
        delivered, limit = raw.metadata.num_delivered, self.settings.max_deliver
        if delivered > limit:
            return f"delivered {delivered} times, limit {limit}"
        try:
            event = c.decode(raw.data)
        except c.ContractError as exc:
            return exc.reason
        if not isinstance(event, HANDLED_EVENTS):
            return f"{event.schema_} is not an event the evaluator reads"
        if not self.buffer:
            self.buffer_since = time.monotonic()
            self._wakeup.set()
        self.buffer.append((raw, event))
        return None

    async def _dead_letter(self, raw: Any, reason: str) -> None:
        await bus.dead_letter(self.js, "evaluator", raw.data, reason, dict(raw.headers or {}))
        await raw.ack()
        DEAD_LETTERS.inc()

    # --- flushing --------------------------------------------------------------------------

    async def run(self) -> None:
        """Flush when the buffer is full or old enough; on stop, flush what is left and return."""
        max_messages = self.settings.batch_max_messages
        max_wait = self.settings.batch_max_wait_s
        while True:
            if self.buffer:
                due = self.buffer_since + max_wait - time.monotonic()
                if len(self.buffer) < max_messages and due > 0 and not self.stopping:
                    await self._sleep(due)
                    continue
            elif self.stopping:
                self._emit_progress()
                return
            else:
                await self._sleep(None)
                continue
            batch, self.buffer = self.buffer, []
            async with self._space:
                self._space.notify_all()
            await self.flush(batch)

    async def _sleep(self, timeout: float | None) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def stop(self) -> None:
        self.stopping = True
        self._wakeup.set()
        async with self._space:
            self._space.notify_all()

    async def flush(
        self, batch: list[tuple[Any, c.Event]], stored: frozenset[str] = frozenset()
    ) -> None:
        """Store and publish a batch, then ack it.

        A message whose data cannot be evaluated or stored is isolated by splitting the batch and
        dead-lettered alone; the rest is stored now. Tables the failed attempt did store
        (``stored``) are not written again by its halves: their rows are subsets of those rows.
        """
        failure = await self._flush_once(batch, stored)
        if failure is None:
            return
        exc, deterministic, stored = failure
        FLUSH_FAILURES.inc()
        error = f"{type(exc).__name__}: {exc}"[:1000]
        if deterministic and len(batch) > 1:
            middle = len(batch) // 2
            await self.flush(batch[:middle], stored)
            await self.flush(batch[middle:], stored)
        elif deterministic:
            await self._dead_letter_quietly(batch[0][0], f"cannot be evaluated or stored: {error}")
        else:
            log.warning(
                "batch not stored, will retry", extra={"messages": len(batch), "error": error}
            )
            await self._retry_later(batch, error)

    async def _flush_once(
        self, batch: list[tuple[Any, c.Event]], stored: frozenset[str]
    ) -> tuple[Exception, bool, frozenset[str]] | None:
        """None on success, else (error, whether the data is at fault, tables stored so far)."""
        from .store import is_data_error

        started = time.perf_counter()
        self.state.begin()
        try:
            out = process_batch(self.state, [e for _, e in batch], self.profile, c.utcnow())
        except Exception as exc:
            self.state.rollback()
            log.exception("an event could not be evaluated")
            return exc, True, stored
        token = batch_token(batch)
        written: dict[str, int] = {}
        try:
            for table in TABLE_ORDER:
                rows = out.rows[table]
                if rows and table not in stored:
                    written[table] = await self.store.insert(
                        table, rows, TABLE_COLUMNS[table], f"evaluator-{token}-{table}"
                    )
                    ROWS_WRITTEN.labels(table).inc(len(rows))
            await bus.publish_all(self.js, [alert_message(a) for a in out.alerts])
        except Exception as exc:
            self.state.rollback()
            return exc, is_data_error(exc), stored | frozenset(written)
        self.state.commit()
        try:
            for raw, _ in batch:
                await raw.ack()
        except Exception as exc:
            log.warning("ack failed after the batch was stored", extra={"error": str(exc)[:300]})

        FLUSH_SECONDS.observe(time.perf_counter() - started)
        BATCH_MESSAGES.observe(len(batch))
        for kind, n in out.kinds.items():
            EVENTS.labels(kind).inc(n)
        opened, resolved = out.opened, out.resolved
        if opened:
            VIOLATIONS.labels("opened").inc(opened)
        if resolved:
            VIOLATIONS.labels("resolved").inc(resolved)
        self._log_progress(len(batch), sum(written.values()), opened, resolved)
        return None

    async def _dead_letter_quietly(self, raw: Any, reason: str) -> None:
        try:
            await self._dead_letter(raw, reason)
        except Exception as exc:  # the message stays unacked and comes back after ack_wait
            log.warning("dead-letter failed", extra={"error": str(exc)[:300]})

    async def _retry_later(self, batch: list[tuple[Any, c.Event]], error: str) -> None:
        for raw, _ in batch:
            delivered = raw.metadata.num_delivered
            if delivered >= self.settings.max_deliver:
                reason = f"failed {delivered} deliveries, last error: {error}"
                await self._dead_letter_quietly(raw, reason)
                continue
            try:
                await raw.nak(delay=min(MAX_NAK_DELAY_S, 0.5 * 2**delivered))
            except Exception as exc:  # the server redelivers after ack_wait anyway
                log.warning("nak failed", extra={"error": str(exc)[:300]})

    def _log_progress(self, messages: int, rows: int, opened: int, resolved: int) -> None:
        since = self._since_log
        since["messages"] += messages
        since["rows"] += rows
        since["opened"] += opened
        since["resolved"] += resolved
        since["flushes"] += 1
        if time.monotonic() - self._last_log >= LOG_EVERY_S:
            self._emit_progress()

    def _emit_progress(self) -> None:
        if self._since_log["flushes"]:
            log.info("evaluated and stored", extra=dict(self._since_log))
            self._since_log = dict.fromkeys(self._since_log, 0)
        self._last_log = time.monotonic()


async def serve(nats_url: str, settings: Settings, args: argparse.Namespace, stop) -> int:
    from faststream import AckPolicy, Context
    from faststream.nats import JStream, PullSub
    from nats.js.api import ConsumerConfig

    from gospublic.observability import HealthServer

    from .store import ClickHouseStore, MigrationError

    try:
        profile = load_profile(
            getattr(args, "profile", None) or settings.profile,
            getattr(args, "profiles_dir", None) or settings.profiles_dir,
        )
    except ProfileError as exc:
        log.error("cannot load the rule profile", extra={"error": str(exc)})
        return 2

    readiness = {"migrated": False, "consuming": False}
    nc = None
    health = await HealthServer(
        settings.http_host,
        settings.http_port,
        ready=lambda: all(readiness.values()) and nc is not None and nc.is_connected,
    ).start()
    log.info(
        "evaluator starting",
        extra={"http_port": health.port, "profile": profile.name, "rules": profile.enabled_rules},
    )
    store = None
    broker = None
    flusher: asyncio.Task | None = None
    try:
        store = await ClickHouseStore.open(settings)
        try:
            applied = await store.migrate()
        except MigrationError as exc:
            log.error("cannot migrate ClickHouse", extra={"error": str(exc)})
            return 2
        readiness["migrated"] = True
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
        nc = await bus.connect(nats_url, settings, "evaluator")
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        evaluator = Evaluator(settings, profile, store, state, js)

        broker = bus.make_broker(nats_url, settings, "evaluator")

        async def raw_bodies(message: Any, original: Any) -> Any:
            # The bytes are decoded once, by the contracts, not by FastStream as well.
            return message.body

        batch = settings.batch_max_messages
        subscriber = broker.subscriber(
            "events.>",
            stream=JStream(name=c.EVENTS_STREAM, declare=False),
            durable=c.EVALUATOR_DURABLE,
            pull_sub=PullSub(
                batch_size=min(batch, 1000), batch=True, timeout=min(settings.batch_max_wait_s, 0.5)
            ),
            ack_policy=AckPolicy.MANUAL,
            # Room for a full buffer plus one being flushed; time for a slow flush before redelivery.
            config=ConsumerConfig(ack_wait=120, max_ack_pending=max(1000, 3 * batch)),
            decoder=raw_bodies,
        )

        @subscriber
        async def handle(bodies: Any, msg: Any = Context("message")) -> None:  # noqa: B008
            await evaluator.receive(msg.raw_message)

        flusher = asyncio.create_task(evaluator.run(), name="evaluator-flush")
        await broker.start()
        readiness["consuming"] = True
        log.info("evaluator consuming", extra={"durable": c.EVALUATOR_DURABLE})

        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, flusher}, return_when=asyncio.FIRST_COMPLETED)
        if flusher.done():  # it only returns on stop; anything else is a bug worth a restart
            stopper.cancel()
            flusher.result()
            return 1
        readiness["consuming"] = False
        await subscriber.stop()
        await evaluator.stop()
        await flusher
        log.info("evaluator stopped", extra={"open_violations": len(state.open)})
        return 0
    finally:
        if flusher is not None and not flusher.done():
            flusher.cancel()
        if broker is not None:
            await broker.stop()
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.drain()
        if store is not None:
            await store.close()
        await health.stop()
