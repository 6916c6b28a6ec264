"""Counts over everything the pipeline holds, for the notifier's gauges: the groups with news not
yet delivered and the firing alerts muted. Each is a scan of every group or alert, so each is kept
until the pipeline changes (or the silences in force do)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .model import INHIBITED, SILENCED, needs_update

if TYPE_CHECKING:
    from .pipeline import Pipeline


class Census:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._pending: tuple[object, int] = (None, 0)
        self._muted: tuple[object, dict[str, int]] = (None, {})

    def pending_groups(self, now: datetime) -> int:
        """Groups with news for at least one receiver (repeats do not count): 0 means all sent.

        Without repeats the answer depends on the clock only through the silences in force, so it
        is computed again only after a change (the service asks on every tick)."""
        p = self.pipeline
        version = (p.changes, p.silences.active_ids(now))
        if self._pending[0] == version:
            return self._pending[1]
        count = 0
        p.muting.as_of(now, len(p.alerts))
        mutable = p.muting.possible
        for group in p.groups.values():
            if group.inflight and group.inflight.outstanding:
                count += 1
                continue
            if mutable:
                firing, resolved = p.muting.unmuted(group, now, len(p.alerts))
            else:
                # Nothing can be muted (the common case): the group's own sets, only read here,
                # rather than copies of every id held.
                firing, resolved = group.firing, group.resolved
            if not firing and not resolved:
                continue  # everything muted: nothing to say, as at a flush
            for receiver in group.route.receivers:
                entry = p.log.get((group.route.name, receiver.key, group.key_text))
                if needs_update(entry, firing, resolved, group.route, now, repeat=False):
                    count += 1
                    break
        self._pending = (version, count)
        return count

    def muted_counts(self, now: datetime) -> dict[str, int]:
        """Firing alerts muted right now, by reason (for a gauge; cached like pending_groups)."""
        p = self.pipeline
        version = (p.changes, p.silences.active_ids(now))
        if self._muted[0] == version:
            return self._muted[1]
        counts = {INHIBITED: 0, SILENCED: 0}
        p.muting.as_of(now, len(p.alerts))
        # Nothing can be muted without an inhibiting alert or a silence in force (the common
        # case): then no look at each of the hundreds of thousands of alerts held.
        if p.muting.possible:
            for alert in p.alerts.values():
                if alert.firing:
                    reason = p.muting.cached_reason(alert)
                    if reason is not None:
                        counts[reason] += 1
        self._muted = (version, counts)
        return counts
