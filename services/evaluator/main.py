"""``gospublic evaluator``: EVENTS in batches → rules → ClickHouse → ALERTS on change.

Flow per flush: decode (already done on receipt) → ``handlers.process_batch`` → one insert per table
with a deterministic ``insert_deduplication_token`` → publish the transitions → ack. Nothing is
acked before it is stored and its alerts are out; on failure the state changes are rolled back and
the messages are nak'ed with a delay, so the redelivery produces the same rows and alerts again
(deduplicated by ClickHouse and by JetStream). A message that is not a valid event is dead-lettered
at once; one that keeps failing is dead-lettered after ``max_deliver`` deliveries.

The intake (``jsbulk.PullIntake``, the JetStream pull protocol spoken directly because nats-py's
``fetch`` costs more per message than decoding it) only hands messages to ``receive``, which decodes
and buffers; a separate task owns the size/time buffer and the flush, so stopping the intake never
cancels a flush half-way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram

from gospublic import bus, runtime
from gospublic import contracts as c
from gospublic.settings import Settings

from .assignment import ProfileBook, load_book
from .batchlog import BatchLog, Replay
from .fastdecode import decode
from .handlers import HANDLED_EVENTS, TABLE_COLUMNS, TABLE_ORDER, BatchOutput, process_batch
from .jsbulk import PullIntake
from .profiles import ProfileError

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
FLUSH_PHASE_SECONDS = Histogram(
    "gospublic_evaluator_flush_phase_seconds",
    "Time per flush phase: evaluate (rules and rows), insert, publish (alerts), ack",
    ["phase"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DECODE_SECONDS = Counter(
    "gospublic_evaluator_decode_seconds_total", "Time spent decoding and buffering messages"
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
EVALUATED_AHEAD = Counter(
    "gospublic_evaluator_batches_evaluated_ahead_total",
    "Batches evaluated while the previous one was stored: used, or undone when it was not stored",
    ["outcome"],
)
FLUSH_FAILURES = Counter(
    "gospublic_evaluator_flush_failures_total", "Batches that could not be stored or published"
)
LATE_COPIES = Counter(
    "gospublic_evaluator_late_copies_total",
    "Redelivered copies of messages already stored and acknowledged: acknowledged, not evaluated",
)

LOG_EVERY_S = 5.0
MAX_NAK_DELAY_S = 30.0
ORGANISATIONS_PER_MESSAGE = 5  # see batch_weight
# A batch whose flush failed for a passing reason (ClickHouse or NATS away) is tried again in
# place, backing off up to the cap, for as long as the outage lasts: storage failures must not use
# up the messages' deliveries and send good events to the dead letters.
IN_PLACE_BACKOFF_S = 0.5
IN_PLACE_BACKOFF_CAP_S = 15.0
# How long a restarted evaluator waits for the messages of a batch it must replay.
REPLAY_PATIENCE_S = 600.0
# Stream seqs remembered as done, for dropping late redelivered copies: far more than can be
# delivered and not yet acknowledged at once (max_ack_pending), a few MB.
REMEMBERED_DONE = 200_000


class _Done:
    """``_accept``'s answer for a copy of a message already stored and acknowledged."""


DONE = _Done()


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


def batch_weight(event: c.Event) -> int:
    """What an event counts for in a batch of ``batch_max_messages``, in messages.

    A register chunk holds hundreds of organisations, each making about a fifth of the rows one
    page's posts make. Counted as one message, a national register (350 chunks) came in a single
    batch whose rows, serialised, took the evaluator's memory from 0.4 to 1.7 GB, and the Python
    heap kept that size for the rest of the run.
    """
    if isinstance(event, c.OrganisationsRegistered):
        return max(1, len(event.organisations) // ORGANISATIONS_PER_MESSAGE)
    return 1


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


def scores_message(event: c.ScoresUpdated) -> bus.Outgoing:
    return bus.Outgoing(c.scores_subject(event.labels.org_id), event.to_bytes(), event.event_id)


@dataclass(frozen=True, slots=True)
class _Ahead:
    batch: list[tuple[Any, c.Event]]
    out: BatchOutput
    evaluate_s: float


class Evaluator:
    """The buffer, the flush and the acks; the rules and the rows live in ``handlers``."""

    def __init__(
        self,
        settings: Settings,
        profile: ProfileBook,
        store: Any,
        state: Any,
        js: Any,
        batch_log: BatchLog | None = None,
        replays: dict[str, Replay] | None = None,
    ):
        self.settings = settings
        self.batch_log = batch_log
        # Batches a previous run left half-stored: their messages are held back until all are here.
        self.replays: dict[str, Replay] = replays or {}
        self._replay_of = {seq: r.token for r in self.replays.values() for seq in r.sequences}
        self._replays_since = time.monotonic()
        self.ready: list[tuple[str, list[tuple[Any, c.Event]]]] = []
        self._in_process: dict[int, list[Any]] = {}  # stream seq → other deliveries of it
        # Stream seqs stored and acknowledged lately, oldest first (see ``_acknowledge``).
        self._done: deque[int] = deque()
        self._done_set: set[int] = set()
        self._last_progress = 0.0
        self.hold_above: int | None = None
        self.held: list[tuple[Any, c.Event]] = []
        self._returned: set[int] = set()
        self._awaiting = 0
        self._hold_until = 0.0
        self.profile = profile
        self.store = store
        self.state = state
        self.js = js
        self.buffer: list[tuple[Any, c.Event]] = []
        self._weight = 0  # of the buffer, in messages (see ``batch_weight``)
        self.buffer_since = 0.0
        self.stopping = False
        # The intake is handing over its last messages: take them without waiting for space, or
        # a flush that cannot finish (NATS away) would hold the intake's stop, and so the stop.
        self.receiving_last = False
        # False from a failed store or publish until the next batch goes through: /readyz says
        # so, and an orchestrator sends no traffic to an evaluator that cannot store it.
        self.storing = True
        self._wakeup = asyncio.Event()
        self._space = asyncio.Condition()
        # The next batch, evaluated while the current one was being stored (see ``_evaluate_ahead``).
        self._ahead: _Ahead | None = None
        self._since_log = {"messages": 0, "rows": 0, "opened": 0, "resolved": 0, "flushes": 0}
        self._last_log = 0.0  # the first flush is logged at once

    # --- receiving (from the intake) ---------------------------------------------------------

    async def receive(self, messages: list[Any]) -> None:
        """Decode and buffer; dead-letter what is not a valid event. Never flushes itself, but
        waits whenever the buffer holds a full batch, so a long list is not all decoded at once."""
        done = 0
        started = time.perf_counter()
        try:
            for raw in messages:
                reason = self._accept(raw)
                if reason is DONE:
                    await self._acknowledge_late_copy(raw)
                elif reason is not None:
                    await self._dead_letter(raw, reason)
                done += 1
                if self._weight >= self.settings.batch_max_messages:
                    DECODE_SECONDS.inc(time.perf_counter() - started)
                    await self._wait_for_space()
                    started = time.perf_counter()
            DECODE_SECONDS.inc(time.perf_counter() - started)
        except asyncio.CancelledError:
            # Stopping mid-batch: hand the rest back now rather than after ack_wait.
            for raw in messages[done:]:
                with contextlib.suppress(Exception):
                    await raw.nak()
            raise

    async def _wait_for_space(self) -> None:
        self._wakeup.set()
        async with self._space:
            await self._space.wait_for(
                lambda: (
                    self.stopping
                    or self.receiving_last
                    or self._weight < self.settings.batch_max_messages
                )
            )

    def _accept(self, raw: Any) -> str | c.ContractError | _Done | None:
        """Buffer a valid event and return None, or return why the message is dead-lettered
        (``DONE``: it was stored already, only this copy is left to acknowledge)."""
        seq = raw.metadata.sequence.stream
        again = self._in_process.get(seq)
        if again is not None:
            # Redelivered while this process still holds it (ack_wait ran out): keep one copy,
            # acknowledge the others with it.
            again.append(raw)
            return None
        if seq in self._done_set:
            return DONE
        delivered, limit = raw.metadata.num_delivered, self.settings.max_deliver
        if delivered > limit:
            return f"delivered {delivered} times, limit {limit}"
        try:
            event = decode(raw.data, max_bytes=self.settings.max_message_bytes)
        except c.ContractError as exc:
            return exc
        if not isinstance(event, HANDLED_EVENTS):
            return c.ContractError(
                f"{event.schema_} is not an event the evaluator reads", "wrong_type"
            )
        self._in_process[seq] = []
        if self.hold_above is not None and self._hold(raw, event):
            return None
        self._route(raw, event)
        return None

    def _hold(self, raw: Any, event: c.Event) -> bool:
        """After a restart: keep newer messages back until the ones a crashed run held are back.

        JetStream gives the new messages at once and the unacknowledged ones only after
        ``ack_wait``; evaluating in stream order keeps the verdicts (and the rows) those of an
        uninterrupted run.
        """
        seq = raw.metadata.sequence.stream
        # Redeliveries come back in no particular order either: hold them too, then sort.
        self.held.append((raw, event))
        if seq <= self.hold_above:
            self._returned.add(seq)
        if len(self._returned) >= self._awaiting or time.monotonic() >= self._hold_until:
            self._release()
        return True

    @property
    def _progress_every(self) -> float:
        return self.settings.evaluator_ack_wait_s / 3

    async def _keep_held(self) -> None:
        """Held messages are not ours to lose: tell JetStream they are being worked on."""
        self._last_progress = time.monotonic()
        for raw, _ in self.held:
            with contextlib.suppress(Exception):
                await raw.in_progress()

    def _release(self) -> None:
        held, self.held = sorted(self.held, key=lambda m: m[0].metadata.sequence.stream), []
        self.hold_above = None
        self._returned.clear()
        for raw, event in held:
            self._route(raw, event)

    def hold_until_returned(self, delivered_seq: int, unacked: int, patience_s: float) -> None:
        """Called at start with the durable's state: messages up to ``delivered_seq`` of which
        ``unacked`` are still out with a previous (crashed) run."""
        if unacked > 0:
            self.hold_above = delivered_seq
            self._awaiting = unacked
            self._hold_until = time.monotonic() + patience_s
            log.info(
                "waiting for a previous run's unacknowledged messages",
                extra={"unacked": unacked, "up_to_seq": delivered_seq},
            )

    def _route(self, raw: Any, event: c.Event) -> None:
        """Into the batch a previous run recorded, or into the buffer."""
        if self._replay_of:
            token = self._replay_of.get(raw.metadata.sequence.stream)
            if token is not None:
                replay = self.replays[token]
                replay.received[raw.metadata.sequence.stream] = (raw, event)
                if replay.complete:
                    self._finish_replay(token)
                return None
        if not self.buffer:
            self.buffer_since = time.monotonic()
            self._wakeup.set()
        self.buffer.append((raw, event))
        self._weight += batch_weight(event)

    def _finish_replay(self, token: str) -> None:
        replay = self.replays.pop(token)
        for seq in replay.sequences:
            self._replay_of.pop(seq, None)
        batch = [replay.received[seq] for seq in sorted(replay.received)]
        self.ready.append((token, batch))
        self._wakeup.set()

    def _give_up_replays(self) -> None:
        """Messages of a recorded batch that never came back (dead-lettered, expired): go on."""
        for token in list(self.replays):
            replay = self.replays[token]
            log.warning(
                "batch to replay incomplete, flushing what came",
                extra={"token": token, "expected": len(replay.sequences),
                       "received": len(replay.received)},
            )  # fmt: skip
            if replay.received:
                self._finish_replay(token)
                self.ready[-1] = ("", self.ready[-1][1])  # a different batch: a new token
            else:
                self.replays.pop(token)
                for seq in replay.sequences:
                    self._replay_of.pop(seq, None)
            if self.batch_log is not None:
                asyncio.get_running_loop().create_task(self.batch_log.forget(token))

    async def _dead_letter(self, raw: Any, reason: str | c.ContractError) -> None:
        await bus.dead_letter(self.js, "evaluator", raw.data, reason, dict(raw.headers or {}))
        await self._acknowledge(raw)
        DEAD_LETTERS.inc()

    async def _acknowledge(self, raw: Any) -> None:
        """Ack a message done with (stored, or dead-lettered) and the copies of it held here.

        Its seq is remembered for a while: JetStream redelivers a message whose ack_wait ran out
        while it waited in the intake or the buffer, and such a copy may arrive after this ack.
        Evaluated again, it would store the page's rows a second time.
        """
        seq = raw.metadata.sequence.stream
        self._remember_done(seq)  # first: a failed ack below brings a copy back too
        await raw.ack()
        for other in self._in_process.pop(seq, ()):
            await other.ack()

    def _remember_done(self, seq: int) -> None:
        if seq not in self._done_set:
            self._done.append(seq)
            self._done_set.add(seq)
            if len(self._done) > REMEMBERED_DONE:
                self._done_set.discard(self._done.popleft())

    async def _acknowledge_late_copy(self, raw: Any) -> None:
        LATE_COPIES.inc()
        try:
            await raw.ack()
        except Exception as exc:  # it comes back once more, and is dropped again
            log.warning("ack of a late copy failed", extra={"error": str(exc)[:300]})

    # --- flushing --------------------------------------------------------------------------

    async def run(self) -> None:
        """Flush when the buffer is full or old enough; on stop, flush what is left and return."""
        max_messages = self.settings.batch_max_messages
        max_wait = self.settings.batch_max_wait_s
        while True:
            if self.hold_above is not None and time.monotonic() >= self._hold_until:
                self._release()
            if self.held and time.monotonic() - self._last_progress > self._progress_every:
                await self._keep_held()
            if self.replays and time.monotonic() - self._replays_since > REPLAY_PATIENCE_S:
                self._give_up_replays()
            if self.stopping and not self.storing:
                self._leave_unflushed()
                return
            if self._ahead is not None:
                await self.flush(self._ahead.batch)
                continue
            if self.ready:
                token, batch = self.next_batch()
                await self.flush(batch, token=token)
                continue
            if self.buffer:
                due = self.buffer_since + max_wait - time.monotonic()
                if self._weight < max_messages and due > 0 and not self.stopping:
                    await self._sleep(due)
                    continue
            elif self.stopping:
                self._emit_progress()
                return
            else:
                waiting = self.replays or self.hold_above is not None
                await self._sleep(min(1.0, self._progress_every) if waiting else None)
                continue
            batch, self.buffer, self._weight = self.buffer, [], 0
            async with self._space:
                self._space.notify_all()
            await self.flush(batch)

    def _leave_unflushed(self) -> None:
        """Stopping while nothing can be stored or published: what is left stays unacknowledged
        and comes back after ack_wait, rather than holding the stop for every batch's timeout."""
        left = len(self.buffer) + (len(self._ahead.batch) if self._ahead is not None else 0)
        if self._ahead is not None:
            self.state.rollback()
            self._ahead = None
        if left:
            log.warning(
                "stopping with messages not stored, to be redelivered", extra={"messages": left}
            )
        self._emit_progress()

    def next_batch(self) -> tuple[str | None, list[tuple[Any, c.Event]]]:
        """(token to reuse or None, messages): a batch to replay first, else the whole buffer."""
        if self.ready:
            token, batch = self.ready.pop(0)
            return token or None, batch
        batch, self.buffer, self._weight = self.buffer, [], 0
        return None, batch

    async def _sleep(self, timeout: float | None) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.25))

    async def receive_last(self) -> None:
        self.receiving_last = True
        async with self._space:
            self._space.notify_all()

    async def stop(self) -> None:
        self.stopping = True
        self._wakeup.set()
        async with self._space:
            self._space.notify_all()

    async def flush(
        self,
        batch: list[tuple[Any, c.Event]],
        stored: frozenset[str] = frozenset(),
        token: str | None = None,
    ) -> None:
        """Store and publish a batch, then ack it.

        A message whose data cannot be evaluated or stored is isolated by splitting the batch and
        dead-lettered alone; the rest is stored now. Tables the failed attempt did store
        (``stored``) are not written again by its halves: their rows are subsets of those rows.
        """
        replayed = token is not None
        token = token or batch_token(batch)
        failure = await self._flush_once(batch, stored, token, replayed)
        # A passing failure (a timeout, storage away) is retried in place until it passes or the
        # process stops: handing the batch back to JetStream would let later batches overtake it,
        # and verdicts depend on order (a page's posts read the members its snapshot gave).
        attempt = 0
        while failure is not None and not failure[1] and not self.stopping:
            attempt += 1
            FLUSH_FAILURES.inc()
            log.warning(
                "batch not stored, retrying in place",
                extra={"messages": len(batch), "attempt": attempt,
                       "error": f"{type(failure[0]).__name__}: {failure[0]}"[:300]},
            )  # fmt: skip
            await self._sleep_unless_stopping(
                min(IN_PLACE_BACKOFF_CAP_S, IN_PLACE_BACKOFF_S * 2 ** (attempt - 1))
            )
            for raw, _ in (*batch, *self.buffer):  # the batch fetched ahead waits too
                with contextlib.suppress(Exception):
                    await raw.in_progress()
            failure = await self._flush_once(batch, failure[2], token, replayed)
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
            await self._retry_later(batch, error, token)

    async def _flush_once(
        self,
        batch: list[tuple[Any, c.Event]],
        stored: frozenset[str],
        token: str,
        replayed: bool = False,
    ) -> tuple[Exception, bool, frozenset[str]] | None:
        """None on success, else (error, whether the data is at fault, tables stored so far)."""
        from .store import is_data_error

        started = time.perf_counter()
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.batch is batch:
            out, started = ahead.out, time.perf_counter() - ahead.evaluate_s
            EVALUATED_AHEAD.labels("used").inc()
        else:
            if ahead is not None:  # not the batch it was evaluated for: evaluate again
                self.state.rollback()
                self._put_back(ahead.batch)
            out = None
        if out is None:
            self.state.begin()
        if out is None and replayed:
            # A replayed batch: the restored cohorts may already hold its own pages' new rates
            # (their scores were stored before the crash); evaluate as the first time, in order.
            for _, event in batch:
                if isinstance(event, c.PostsObserved):
                    self.state.drop_engagement(event.page_ref.key)
        if out is None:
            try:
                out = process_batch(self.state, [e for _, e in batch], self.profile, c.utcnow())
            except Exception as exc:
                self.state.rollback()
                log.exception("an event could not be evaluated")
                return exc, True, stored
        evaluated = time.perf_counter()
        written: dict[str, int] = {}
        # The violation log goes in after the alerts: a crash between the two leaves the
        # violation unrecorded, so it is opened (and its alert, deduplicated by id) once more,
        # never lost. Every other table goes first.
        first = [t for t in TABLE_ORDER if t != "violations" and t not in stored]
        last = [t for t in ("violations",) if t not in stored]
        try:
            if self.batch_log is not None and not stored:
                await self.batch_log.record(
                    token, [raw.metadata.sequence.stream for raw, _ in batch]
                )
            storing = asyncio.ensure_future(
                self.store.insert_tables(
                    [(t, out.rows[t], TABLE_COLUMNS[t], f"evaluator-{token}-{t}") for t in first],
                    written,
                )
            )
            await asyncio.sleep(0)  # the insert starts in its thread
            ahead_s = await self._evaluate_ahead()
            await storing
            inserted = time.perf_counter()
            await bus.publish_all(
                self.js,
                [alert_message(a) for a in out.alerts] + [scores_message(x) for x in out.scores],
            )
            published = time.perf_counter()
            await self.store.insert_tables(
                [(t, out.rows[t], TABLE_COLUMNS[t], f"evaluator-{token}-{t}") for t in last],
                written,
            )
            for table, n in written.items():
                ROWS_WRITTEN.labels(table).inc(n)
        except Exception as exc:
            if self._ahead is not None:  # evaluated on top of this batch: undone first
                self.state.rollback()
                self._put_back(self._ahead.batch)
                self._ahead = None
            self.state.rollback()
            data_error = is_data_error(exc)
            if not data_error:
                self._set_storing(False, exc)
            return exc, data_error, stored | frozenset(written)
        self.state.commit()
        self._set_storing(True)
        for raw, _ in batch:  # all of it is stored, even if an ack below fails
            self._remember_done(raw.metadata.sequence.stream)
        try:
            for raw, _ in batch:
                await self._acknowledge(raw)
        except Exception as exc:
            log.warning("ack failed after the batch was stored", extra={"error": str(exc)[:300]})
        if self.batch_log is not None:
            try:
                await self.batch_log.forget(token)
            except Exception as exc:  # a stale record only delays a restart's replay
                log.warning("batch record not deleted", extra={"error": str(exc)[:300]})
        acked = time.perf_counter()

        FLUSH_SECONDS.observe(acked - started)
        FLUSH_PHASE_SECONDS.labels("evaluate").observe(evaluated - started)
        FLUSH_PHASE_SECONDS.labels("insert").observe(inserted - evaluated - ahead_s)
        FLUSH_PHASE_SECONDS.labels("publish").observe(published - inserted)
        FLUSH_PHASE_SECONDS.labels("ack").observe(acked - published)
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

    async def _evaluate_ahead(self) -> float:
        """Evaluate the next full batch while this one is being stored; seconds it took.

        The store works in its thread (chDB in C++ most of the time), so the evaluation, which is
        Python, overlaps it instead of waiting. Its state changes are a transaction of their own on
        top of this batch's: kept if this batch is stored, undone first if it is not. Only in the
        steady state: nothing to replay or hold, and a full batch waiting, so that it is the batch
        the loop would flush next anyway.
        """
        if (
            self._ahead is not None
            or self.ready
            or self.replays
            or self.hold_above is not None
            or self._weight < self.settings.batch_max_messages
        ):
            return 0.0
        started = time.perf_counter()
        batch, self.buffer, self._weight = self.buffer, [], 0
        self.state.begin()
        try:
            out = process_batch(self.state, [e for _, e in batch], self.profile, c.utcnow())
        except Exception:  # evaluated again on its own, where a bad event is isolated
            self.state.rollback()
            self._put_back(batch)
            return time.perf_counter() - started
        elapsed = time.perf_counter() - started
        self._ahead = _Ahead(batch, out, elapsed)
        async with self._space:
            self._space.notify_all()
        return elapsed

    def _put_back(self, batch: list[tuple[Any, c.Event]]) -> None:
        """Return the messages of a batch taken ahead to the front of the buffer."""
        EVALUATED_AHEAD.labels("undone").inc()
        self.buffer = batch + self.buffer
        self._weight += sum(batch_weight(event) for _, event in batch)
        if self.buffer:
            self.buffer_since = time.monotonic()

    def _set_storing(self, storing: bool, exc: Exception | None = None) -> None:
        if storing != self.storing:
            self.storing = storing
            if storing:
                log.info("storing again, ready")
            else:
                error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("cannot store or publish, not ready", extra={"error": error})

    async def _dead_letter_quietly(self, raw: Any, reason: str) -> None:
        try:
            await self._dead_letter(raw, reason)
        except Exception as exc:  # the message stays unacked and comes back after ack_wait
            log.warning("dead-letter failed", extra={"error": str(exc)[:300]})

    async def _retry_later(
        self, batch: list[tuple[Any, c.Event]], error: str, token: str | None = None
    ) -> None:
        """Nak for a delayed redelivery; the redelivered messages are put together again into
        the same batch, under the same token, since some of its inserts may have succeeded."""
        again: list[int] = []
        nak_failed: Exception | None = None
        for raw, _ in batch:
            seq = raw.metadata.sequence.stream
            self._in_process.pop(seq, None)
            delivered = raw.metadata.num_delivered
            if delivered >= self.settings.max_deliver:
                reason = f"failed {delivered} deliveries, last error: {error}"
                await self._dead_letter_quietly(raw, reason)
                continue
            again.append(seq)
            if nak_failed is not None:  # the connection is away: the rest would fail the same way
                continue
            try:
                await raw.nak(delay=min(MAX_NAK_DELAY_S, 0.5 * 2**delivered))
            except Exception as exc:  # the server redelivers after ack_wait anyway
                nak_failed = exc
        if nak_failed is not None:
            log.warning(
                "nak failed, the server redelivers after ack_wait",
                extra={"messages": len(again), "error": str(nak_failed)[:300]},
            )
        if token and again:
            self.replays[token] = Replay(token, frozenset(again))
            self._replay_of.update(dict.fromkeys(again, token))
            self._replays_since = time.monotonic()

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
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

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

    readiness = {"migrated": False, "consuming": False}
    nc = None
    evaluator: Evaluator | None = None
    health = await HealthServer(
        settings.http_host,
        settings.http_port,
        ready=lambda: (
            all(readiness.values())
            and nc is not None
            and nc.is_connected
            and evaluator is not None
            and evaluator.storing
        ),
    ).start()
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
    intake: PullIntake | None = None
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
        runtime.keep_loaded_state_out_of_gc()
        nc = await bus.connect(nats_url, settings, "evaluator")
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        batch_log = BatchLog(js)
        replays = await batch_log.open()
        evaluator = Evaluator(settings, profile, store, state, js, batch_log, replays)

        batch = settings.batch_max_messages
        intake = PullIntake(
            nc,
            js,
            stream=c.EVENTS_STREAM,
            config=ConsumerConfig(
                durable_name=c.EVALUATOR_DURABLE,
                filter_subject="events.>",
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                # Time for a slow flush before redelivery; room for a full buffer, one being
                # flushed and one pull request in flight.
                ack_wait=settings.evaluator_ack_wait_s,
                max_ack_pending=max(1000, 3 * batch),
            ),
            handle=evaluator.receive,
            batch=min(batch, 2000),
            expires_s=min(settings.batch_max_wait_s, 1.0),
        )
        with contextlib.suppress(Exception):  # no durable yet: nothing was left behind
            info = await js.consumer_info(c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
            evaluator.hold_until_returned(
                info.delivered.stream_seq or 0,
                info.num_ack_pending or 0,
                settings.evaluator_ack_wait_s + 30,
            )
        flusher = asyncio.create_task(evaluator.run(), name="evaluator-flush")
        await intake.start()
        readiness["consuming"] = True
        log.info("evaluator consuming", extra={"durable": c.EVALUATOR_DURABLE})

        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, flusher}, return_when=asyncio.FIRST_COMPLETED)
        if flusher.done():  # it only returns on stop; anything else is a bug worth a restart
            stopper.cancel()
            flusher.result()
            return 1
        readiness["consuming"] = False
        await evaluator.receive_last()
        await intake.stop()
        await evaluator.stop()
        await flusher
        log.info("evaluator stopped", extra={"open_violations": len(state.open)})
        return 0
    finally:
        if flusher is not None and not flusher.done():
            flusher.cancel()
        if intake is not None and intake.running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(intake.stop(), 10)
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.drain()
        if store is not None:
            await store.close()
        await health.stop()
