"""The flush: evaluate a batch, store it (``writer``), then acknowledge it; or undo and retry.

Nothing is acked before it is stored and its alerts are out; on failure the state changes are
rolled back. A passing failure (ClickHouse or NATS away) is retried in place; a batch that cannot
be evaluated or stored is split until the message at fault is dead-lettered alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_never, wait_exponential

from gospublic import contracts as c
from gospublic.settings import Settings

from .assignment import ProfileBook
from .buffer import Buffer, Item
from .deliveries import Deliveries
from .handlers import BatchOutput, process_batch
from .metrics import (
    BATCH_MESSAGES,
    EVALUATED_AHEAD,
    EVENTS,
    FLUSH_FAILURES,
    FLUSH_PHASE_SECONDS,
    FLUSH_SECONDS,
    ROWS_WRITTEN,
    VIOLATIONS,
    ProgressLog,
)
from .readiness import Readiness
from .restart import Replays
from .writer import BatchWriter

log = logging.getLogger("gospublic.evaluator")

LOG_EVERY_S = 5.0
# A batch whose flush failed for a passing reason (ClickHouse or NATS away) is tried again in
# place, backing off up to the cap, for as long as the outage lasts: storage failures must not use
# up the messages' deliveries and send good events to the dead letters.
IN_PLACE_BACKOFF_S = 0.5
IN_PLACE_BACKOFF_CAP_S = 15.0


def batch_token(batch: list[Item]) -> str:
    """Same messages → same token, so a retried insert of the batch is dropped by ClickHouse."""
    digest = hashlib.sha256()
    for raw, event in batch:
        msg_id = (raw.headers or {}).get("Nats-Msg-Id", "")
        digest.update(f"{msg_id}\x1f{event.event_id}\x1e".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Ahead:
    batch: list[Item]
    out: BatchOutput
    evaluate_s: float


class Failure(NamedTuple):
    error: Exception
    deterministic: bool  # the data is at fault: the same messages fail again
    stored: frozenset[str]  # tables that hold the batch already


def _is_data_error(exc: BaseException) -> bool:
    from .store import is_data_error

    return is_data_error(exc)


class Flusher:
    def __init__(
        self,
        settings: Settings,
        profile: ProfileBook,
        state: Any,
        writer: BatchWriter,
        deliveries: Deliveries,
        buffer: Buffer,
        replays: Replays,
        readiness: Readiness,
        steady: Callable[[], bool] = lambda: True,
        is_data_error: Callable[[BaseException], bool] = _is_data_error,
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.state = state
        self.writer = writer
        self.deliveries = deliveries
        self.buffer = buffer
        self.replays = replays
        self.readiness = readiness
        # Nothing to replay or hold back: the next batch is the buffer's (see ``evaluate_ahead``).
        self.steady = steady
        self.is_data_error = is_data_error
        self.stopping = False
        # The next batch, evaluated while the current one was being stored.
        self.ahead: Ahead | None = None
        self.ahead_evaluate_s = 0.0  # of the batch the flush took from ``ahead``
        self.progress = ProgressLog(LOG_EVERY_S)

    async def flush(
        self, batch: list[Item], stored: frozenset[str] = frozenset(), token: str | None = None
    ) -> None:
        """Store and publish a batch, then ack it.

        A message whose data cannot be evaluated or stored is isolated by splitting the batch and
        dead-lettered alone; the rest is stored now. Tables the failed attempt did store
        (``stored``) are not written again by its halves: their rows are subsets of those rows.
        """
        replayed = token is not None
        token = token or batch_token(batch)
        failure = await self._flush_once(batch, stored, token, replayed)
        if failure is not None and not failure.deterministic and not self.stopping:
            failure = await self._retry_in_place(batch, failure, token, replayed)
        if failure is None:
            return
        FLUSH_FAILURES.inc()
        error = f"{type(failure.error).__name__}: {failure.error}"[:1000]
        if failure.deterministic and len(batch) > 1:
            middle = len(batch) // 2
            await self.flush(batch[:middle], failure.stored)
            await self.flush(batch[middle:], failure.stored)
        elif failure.deterministic:
            reason = f"cannot be evaluated or stored: {error}"
            await self.deliveries.dead_letter_quietly(batch[0][0], reason)
        else:
            log.warning(
                "batch not stored, will retry", extra={"messages": len(batch), "error": error}
            )
            again = await self.deliveries.hand_back(batch, error, self.settings.max_deliver)
            if again:
                self.replays.add(token, again)

    async def _retry_in_place(
        self, batch: list[Item], failure: Failure, token: str, replayed: bool
    ) -> Failure | None:
        """A passing failure (a timeout, storage away) is retried in place until it passes or the
        process stops: handing the batch back to JetStream would let later batches overtake it,
        and verdicts depend on order (a page's posts read the members its snapshot gave).

        Only a failed flush comes here: tenacity's bookkeeping makes reference cycles that hold
        the batch until a collection, which the evaluator makes rare once its state is loaded.
        """
        last: Failure | None = failure
        attempts = 0

        async def attempt() -> Failure | None:
            nonlocal last, attempts
            attempts += 1
            if attempts > 1:  # the first is the flush that failed
                assert last is not None
                # The messages (and the batch taken ahead) wait too.
                await self.deliveries.keep_in_progress(
                    [raw for raw, _ in (*batch, *self.buffer.items)]
                )
                last = await self._flush_once(batch, last.stored, token, replayed)
            return last

        def before_sleep(state: RetryCallState) -> None:
            FLUSH_FAILURES.inc()
            assert last is not None
            log.warning(
                "batch not stored, retrying in place",
                extra={"messages": len(batch), "attempt": state.attempt_number,
                       "error": f"{type(last.error).__name__}: {last.error}"[:300]},
            )  # fmt: skip

        retrying = AsyncRetrying(
            retry=retry_if_result(
                lambda f: f is not None and not f.deterministic and not self.stopping
            ),
            wait=wait_exponential(
                multiplier=IN_PLACE_BACKOFF_S, exp_base=2, min=0, max=IN_PLACE_BACKOFF_CAP_S
            ),
            stop=stop_never,
            before_sleep=before_sleep,
            sleep=self._sleep_unless_stopping,
        )
        return await retrying(attempt)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.25))

    async def _flush_once(
        self, batch: list[Item], stored: frozenset[str], token: str, replayed: bool = False
    ) -> Failure | None:
        started = time.perf_counter()
        out = self._taken_ahead(batch)
        if out is not None:
            started = time.perf_counter() - self.ahead_evaluate_s
        else:
            self.state.begin()
            if replayed:
                # A replayed batch: the restored cohorts may already hold its own pages' new rates
                # (their scores were stored before the crash); evaluate as the first time, in order.
                for _, event in batch:
                    if isinstance(event, c.PostsObserved):
                        self.state.drop_engagement(event.page_ref.key)
            try:
                out = process_batch(self.state, [e for _, e in batch], self.profile, c.utcnow())
            except Exception as exc:
                self.state.rollback()
                log.exception("an event could not be evaluated")
                return Failure(exc, True, stored)
        evaluated = time.perf_counter()
        written: dict[str, int] = {}
        try:
            times = await self.writer.write(batch, out, token, stored, written, self.evaluate_ahead)
            for table, n in written.items():
                ROWS_WRITTEN.labels(table).inc(n)
        except Exception as exc:
            if self.ahead is not None:  # evaluated on top of this batch: undone first
                self.state.rollback()
                self._put_back(self.ahead.batch)
                self.ahead = None
            self.state.rollback()
            data_error = self.is_data_error(exc)
            if not data_error:
                self.readiness.set_storing(False, exc)
            return Failure(exc, data_error, stored | frozenset(written))
        self.state.commit()
        self.readiness.set_storing(True)
        await self.deliveries.acknowledge_all(batch)
        try:
            await self.writer.forget(token)
        except Exception as exc:  # a stale record only delays a restart's replay
            log.warning("batch record not deleted", extra={"error": str(exc)[:300]})
        acked = time.perf_counter()
        self._observe(batch, out, written, started, evaluated, times, acked)
        return None

    def _taken_ahead(self, batch: list[Item]) -> BatchOutput | None:
        """The output evaluated ahead for this batch, if it was; an output evaluated for another
        batch is undone (its messages go back to the buffer)."""
        ahead, self.ahead = self.ahead, None
        self.ahead_evaluate_s = 0.0
        if ahead is not None and ahead.batch is batch:
            EVALUATED_AHEAD.labels("used").inc()
            self.ahead_evaluate_s = ahead.evaluate_s
            return ahead.out
        if ahead is not None:  # not the batch it was evaluated for: evaluate again
            self.state.rollback()
            self._put_back(ahead.batch)
        return None

    def _observe(self, batch, out, written, started, evaluated, times, acked) -> None:
        FLUSH_SECONDS.observe(acked - started)
        FLUSH_PHASE_SECONDS.labels("evaluate").observe(evaluated - started)
        FLUSH_PHASE_SECONDS.labels("insert").observe(times.inserted - evaluated - times.meanwhile_s)
        FLUSH_PHASE_SECONDS.labels("publish").observe(times.published - times.inserted)
        FLUSH_PHASE_SECONDS.labels("ack").observe(acked - times.published)
        BATCH_MESSAGES.observe(len(batch))
        for kind, n in out.kinds.items():
            EVENTS.labels(kind).inc(n)
        opened, resolved = out.opened, out.resolved
        if opened:
            VIOLATIONS.labels("opened").inc(opened)
        if resolved:
            VIOLATIONS.labels("resolved").inc(resolved)
        self.progress.add(len(batch), sum(written.values()), opened, resolved)

    async def evaluate_ahead(self) -> float:
        """Evaluate the next full batch while this one is being stored; seconds it took.

        The store works in its thread (chDB in C++ most of the time), so the evaluation, which is
        Python, overlaps it instead of waiting. Its state changes are a transaction of their own on
        top of this batch's: kept if this batch is stored, undone first if it is not. Only in the
        steady state: nothing to replay or hold, and a full batch waiting, so that it is the batch
        the loop would flush next anyway.
        """
        if self.ahead is not None or not self.steady() or not self.buffer.full:
            return 0.0
        started = time.perf_counter()
        batch = self.buffer.take()
        self.state.begin()
        try:
            out = process_batch(self.state, [e for _, e in batch], self.profile, c.utcnow())
        except Exception:  # evaluated again on its own, where a bad event is isolated
            self.state.rollback()
            self._put_back(batch)
            return time.perf_counter() - started
        elapsed = time.perf_counter() - started
        self.ahead = Ahead(batch, out, elapsed)
        await self.buffer.notify_space()
        return elapsed

    def _put_back(self, batch: list[Item]) -> None:
        """Return the messages of a batch taken ahead to the front of the buffer."""
        EVALUATED_AHEAD.labels("undone").inc()
        self.buffer.put_back(batch)

    def leave_unflushed(self) -> None:
        """Stopping while nothing can be stored or published: what is left stays unacknowledged
        and comes back after ack_wait, rather than holding the stop for every batch's timeout."""
        left = len(self.buffer) + (len(self.ahead.batch) if self.ahead is not None else 0)
        if self.ahead is not None:
            self.state.rollback()
            self.ahead = None
        if left:
            log.warning(
                "stopping with messages not stored, to be redelivered", extra={"messages": left}
            )
        self.progress.emit()
