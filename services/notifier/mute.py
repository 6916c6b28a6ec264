"""Inhibit and silence, the pipeline's third and fourth stages, judged at flush time.

Checking every alert against every rule on every tick would dominate the notifier, so each alert's
reason (by its event id) is cached while the inhibiting sources and the silences in force are as
they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from .inhibit import Inhibitor
from .model import INHIBITED, SILENCED, Alert, Group
from .silences import Silence, Silences
from .subscriptions import InhibitRule


class Muting:
    def __init__(self, rules: Iterable[InhibitRule], silences: Iterable[Silence] = ()) -> None:
        self.inhibitor = Inhibitor(rules)
        self.silences = Silences(silences)
        # event_id → mute reason, valid for _version (the inhibit sources, the active silences).
        self._cache: dict[str, str | None] = {}
        self._version: object = None
        self._now = datetime.min
        self._active_silences: object = ()

    def set_silences(self, silences: Iterable[Silence]) -> None:
        self.silences = Silences(silences)

    def reason(self, labels: Mapping[str, str], now: datetime) -> str | None:
        if self.inhibitor.mutes(labels):
            return INHIBITED
        if self.silences.muting(labels, now) is not None:
            return SILENCED
        return None

    def as_of(self, now: datetime, held: int) -> None:
        """Judge at ``now`` from here on; ``held`` (alerts held) bounds the cache."""
        self._active_silences = self.silences.active_ids(now)
        version = (self.inhibitor.version, self._active_silences)
        if version != self._version or len(self._cache) > 2 * held + 100:
            self._version = version
            self._cache = {}
        self._now = now

    @property
    def possible(self) -> bool:
        """Whether anything can be muted (after :meth:`as_of`): an inhibiting alert or a silence
        in force. Without (the common case) no alert needs a look."""
        return bool(self.inhibitor.sources or self._active_silences)

    def cached_reason(self, alert: Alert) -> str | None:
        key = alert.event.event_id
        if key not in self._cache:
            self._cache[key] = self.reason(alert.labels, self._now)
        return self._cache[key]

    def unmuted(
        self, group: Group, now: datetime, held: int
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The firing and resolved ids the group may speak of, after inhibition and silences."""
        self.as_of(now, held)
        if not self.possible:
            # Nothing can be muted (the common case): no per-alert look at a group of thousands.
            return group.ids()
        # Stage 3, inhibit, then stage 4, silence.
        alerts = [a for a in group.alerts.values() if self.cached_reason(a) != INHIBITED]
        alerts = [a for a in alerts if self.cached_reason(a) != SILENCED]
        firing = frozenset(a.violation_id for a in alerts if a.firing)
        return firing, frozenset(a.violation_id for a in alerts) - firing
