"""The evaluator's Prometheus metrics and its periodic progress line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Counter, Histogram

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


class ProgressLog:
    """A log line every ``every_s`` seconds summing the flushes since the last one."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._since = {"messages": 0, "rows": 0, "opened": 0, "resolved": 0, "flushes": 0}
        self._last = 0.0  # the first flush is logged at once

    def add(self, messages: int, rows: int, opened: int, resolved: int) -> None:
        since = self._since
        since["messages"] += messages
        since["rows"] += rows
        since["opened"] += opened
        since["resolved"] += resolved
        since["flushes"] += 1
        if self.clock() - self._last >= self.every_s:
            self.emit()

    def emit(self) -> None:
        if self._since["flushes"]:
            log.info("evaluated and stored", extra=dict(self._since))
            self._since = dict.fromkeys(self._since, 0)
        self._last = self.clock()
