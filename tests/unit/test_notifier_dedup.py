"""The dedup decision, case by case as in Alertmanager's TestDedupStageNeedsUpdate (notify_test.go).

Alertmanager hashes alerts to integers; here they are violation ids. ``repeat`` and ``resolve`` are
the route's repeat_interval and send_resolved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.pipeline import LogEntry, needs_update
from services.notifier.subscriptions import parse_subscriptions

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ZERO = datetime.min.replace(tzinfo=UTC)  # Go's zero time.Time


def ids(*numbers: int) -> frozenset[str]:
    return frozenset(str(n) for n in numbers)


def entry(firing=(), resolved=(), at: datetime = NOW) -> LogEntry:
    return LogEntry(ids(*firing), ids(*resolved), at)


def route(repeat: timedelta = timedelta(hours=4), resolve: bool = True):
    raw = {
        "name": "r",
        "receivers": {"email": ["ops@x.org"]},
        "repeat_interval": f"{int(repeat.total_seconds())}s",
        "send_resolved": resolve,
    }
    return parse_subscriptions({"routes": [raw]}).routes[0]


MIN = timedelta(minutes=1)

# (case, log entry, firing, resolved, repeat_interval, send_resolved, expected)
CASES = [
    ("no nflog entry should update", None, ids(2, 3, 4), ids(), 4 * 60 * MIN, True, True),
    ("no entry, nothing firing: no update", None, ids(), ids(2, 3, 4), 4 * 60 * MIN, True, False),
    ("different firing sets update", entry((1, 2, 3)), ids(2, 3, 4), ids(), 4 * 60 * MIN, True,
     True),
    ("zero timestamp always updates", entry((1, 2, 3), at=ZERO), ids(1, 2, 3), ids(),
     4 * 60 * MIN, True, True),
    ("identical before repeat_interval: no update", entry((1, 2, 3), at=NOW - 9 * MIN),
     ids(1, 2, 3), ids(), 10 * MIN, True, False),
    ("identical after repeat_interval: update", entry((1, 2, 3), at=NOW - 11 * MIN),
     ids(1, 2, 3), ids(), 10 * MIN, True, True),
    ("other resolved, nothing firing, after repeat: no update",
     entry(resolved=(1, 2, 3), at=NOW - 11 * MIN), ids(), ids(3, 4, 5), 10 * MIN, True, False),
    ("new resolved without send_resolved: no update",
     entry((1, 2), (3,), at=NOW - 9 * MIN), ids(1), ids(2, 3), 10 * MIN, False, False),
    ("new resolved with send_resolved: update",
     entry((1, 2), (3,), at=NOW - 9 * MIN), ids(1), ids(2, 3), 10 * MIN, True, True),
    ("all resolved without send_resolved: update (clears the log)",
     entry((1, 2), (3,), at=NOW - 9 * MIN), ids(), ids(1, 2, 3), 10 * MIN, False, True),
    ("all resolved with send_resolved: update",
     entry((1, 2), (3,), at=NOW - 9 * MIN), ids(), ids(1, 2, 3), 10 * MIN, True, True),
    # Beyond Alertmanager's table: a subset of what was sent is no news before the repeat.
    ("fewer firing, none resolved: no update", entry((1, 2), at=NOW - MIN), ids(1), ids(),
     10 * MIN, True, False),
    # The deliberate difference (see pipeline.py): a resolved alert the receiver was never told
    # was firing is no reason to write; Alertmanager would notify here.
    ("resolved but never announced: no update", entry((1,), at=NOW - MIN), ids(1), ids(9),
     10 * MIN, True, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "firing", "resolved", "repeat", "resolve", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_needs_update(entry, firing, resolved, repeat, resolve, expected) -> None:
    assert needs_update(entry, firing, resolved, route(repeat, resolve), NOW) is expected


def test_repeat_can_be_left_out() -> None:
    """pending_groups asks without repeats: a due repeat is not news."""
    old = entry((1,), at=NOW - timedelta(days=1))
    assert needs_update(old, ids(1), ids(), route(), NOW) is True
    assert needs_update(old, ids(1), ids(), route(), NOW, repeat=False) is False
