"""What ``/readyz`` answers: an orchestrator sends no traffic to an evaluator that cannot store it."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("gospublic.evaluator")


class Readiness:
    """Ready when migrated, consuming, connected to NATS, and storing: ``storing`` is False from a
    failed store or publish until the next batch goes through."""

    def __init__(self) -> None:
        self.migrated = False
        self.consuming = False
        self.storing = True
        self.connected: Callable[[], bool] = lambda: False

    def __call__(self) -> bool:
        return self.migrated and self.consuming and self.connected() and self.storing

    def set_storing(self, storing: bool, exc: BaseException | None = None) -> None:
        if storing != self.storing:
            self.storing = storing
            if storing:
                log.info("storing again, ready")
            else:
                error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("cannot store or publish, not ready", extra={"error": error})
