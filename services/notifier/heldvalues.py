"""Where the held alerts live in the KV bucket: one value per ALERTS message, not one per alert.

An alert is stored before its message is acked. A national sweep brings some 110,000 alerts in a few
hundred ``AlertBatch`` messages, and a put per alert was a publish, an ack and a stored message each
(in the notifier and in nats-server). So the message's own bytes are stored, once and compressed,
under a key made from them (``held.<hash>``), and each alert knows the value holding its latest
event.

A value stays as long as it holds some alert's latest event. The catch is the events a value holds
that are no longer anyone's latest (an alert that resolved since, a repeat of an older event): on a
restart each alert takes the newest of its stored events, so an older event must never outlive the
newer one. Two rules keep it so:

- a value is deleted only when none of its events is anyone's latest, so an alert's latest event is
  stored as long as the alert is held;
- when a forgotten alert (resolved and dealt with) still has an older event in a stored value, the
  value of its last event stays too, as a tombstone, until every value with an older one is gone.

A value whose events are mostly no one's latest any more is written again with only the latest
ones (``take_sparse``), so the bucket stays within a few times the size of what is held.

This class is the bookkeeping only (pure, no I/O); ``heldstore.HeldStore`` does the puts and deletes.
Values written by older notifiers (``alert.<hash>``, one event each) take part like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

# A value is written again with only its latest events once fewer than one in SPARSE is.
SPARSE = 4


class HeldValues:
    def __init__(self) -> None:
        self.home: dict[str, str] = {}  # violation id → key of the value with its latest event
        self.live: dict[str, int] = {}  # key → alerts (and tombstones) whose latest event it holds
        self.older: dict[str, set[str]] = {}  # violation id → keys of values with an older event
        self.dead_in: dict[str, set[str]] = {}  # key → violation ids of the older events it holds
        self.tombs: dict[str, str] = {}  # forgotten violation id → key of its last event
        self.doomed: set[str] = set()  # keys to delete: none of their events is anyone's latest
        self.members: dict[str, set[str]] = {}  # key → the violation ids whose latest it holds
        self.size: dict[str, int] = {}  # key → the alert events it holds
        self.sparse: set[str] = set()  # keys to write again with only their latest events

    def stored(self, key: str, latest: Iterable[str], others: Iterable[str] = ()) -> None:
        """The value ``key`` is stored: it holds the latest events of ``latest`` and older (or
        repeated) events of ``others`` (violation ids)."""
        latest, others = list(latest), list(others)
        self.doomed.discard(key)
        self.size[key] = max(self.size.get(key, 0), len(latest) + len(others))
        for vid in latest:
            previous = self.home.get(vid)
            if previous == key:
                continue
            tomb = self.tombs.pop(vid, None)
            if previous is not None:
                self.members[previous].discard(vid)
            for superseded in (previous, tomb):
                if superseded is not None:
                    self._older(vid, superseded)
                    self._release(superseded)
            self._home(vid, key)
        for vid in others:
            if self.home.get(vid) != key and self.tombs.get(vid) != key:
                self._older(vid, key)
        if key not in self.live:
            self.doomed.add(key)

    def found(self, vid: str, key: str, older: Iterable[str]) -> None:
        """Read back at start: ``key`` holds the alert's newest event, ``older`` older ones."""
        self._home(vid, key)
        self.size[key] = self.size.get(key, 0) + 1
        self.doomed.discard(key)
        for other in older:
            if other != key:
                self._older(vid, other)

    def forgotten(self, violation_ids: Iterable[str]) -> None:
        """These alerts are no longer held: their values may go, unless an older event of the
        alert is stored elsewhere (then the last one stays, as a tombstone)."""
        for vid in violation_ids:
            key = self.home.pop(vid, None)
            if key is None:
                continue
            self.members[key].discard(vid)
            if self.older.get(vid):
                self.tombs[vid] = key
            else:
                self._release(key)

    def deleted(self, keys: Iterable[str]) -> None:
        """These doomed values are deleted: their older events are gone, and so may be the
        tombstones that were kept because of them (which makes more values doomed)."""
        for key in keys:
            self.doomed.discard(key)
            for vid in self.dead_in.pop(key, ()):
                holders = self.older.get(vid)
                if holders is None:
                    continue
                holders.discard(key)
                if not holders:
                    del self.older[vid]
                    tomb = self.tombs.pop(vid, None)
                    if tomb is not None:
                        self._release(tomb)

    def take_sparse(self) -> dict[str, list[str]]:
        """Values where fewer than one event in ``SPARSE`` is still someone's latest, each with
        the violation ids of those: to be written again with only them, so that an alert open
        for months does not keep a whole message of resolved ones. Not a tombstone's value (its
        forgotten event is held nowhere else)."""
        sparse, self.sparse = self.sparse, set()
        tombs = set(self.tombs.values())
        return {
            key: sorted(self.members[key])
            for key in sparse
            if key in self.live and key not in tombs and self.members.get(key)
        }

    def _home(self, vid: str, key: str) -> None:
        self.home[vid] = key
        self.live[key] = self.live.get(key, 0) + 1
        self.members.setdefault(key, set()).add(vid)

    def _older(self, vid: str, key: str) -> None:
        self.older.setdefault(vid, set()).add(key)
        self.dead_in.setdefault(key, set()).add(vid)

    def _release(self, key: str) -> None:
        count = self.live.get(key, 0) - 1
        if count > 0:
            self.live[key] = count
            if count * SPARSE < self.size.get(key, 0):
                self.sparse.add(key)
        else:
            self.live.pop(key, None)
            self.members.pop(key, None)
            self.size.pop(key, None)
            self.sparse.discard(key)
            self.doomed.add(key)
