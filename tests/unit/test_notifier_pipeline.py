"""The notifier pipeline on an injected clock: grouping, timing and dedup as in Alertmanager."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import AlertLabels, ViolationOpened, ViolationResolved
from services.notifier.pipeline import Notification, Pipeline
from services.notifier.subscriptions import parse_subscriptions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

BORISOGLEBSK = "Борисоглебский городской округ"
ANNA = "Аннинский муниципальный район"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def labels(
    vid: str, municipality: str = BORISOGLEBSK, severity: str = "high", **extra
) -> AlertLabels:
    fields = {
        "org_id": "1023600000001",
        "org_name": f"МБОУ СОШ {vid}",
        "founder": "Отдел образования",
        "municipality": municipality,
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": "210000123",
        "page_url": "https://vk.com/club210000123",
        "rule": "DESCRIPTION_MISSING",
        "severity": severity,
    }
    fields.update(extra)
    return AlertLabels(**fields)


def opened(vid: str, t: float = 0, **kw) -> ViolationOpened:
    return ViolationOpened.create(
        violation_id=vid,
        labels=labels(vid, **kw),
        summary=f"summary {vid}",
        observed_at=at(t),
        opened_at=at(t),
    )


def resolved(vid: str, t: float, opened_t: float = 0, **kw) -> ViolationResolved:
    return ViolationResolved.create(
        violation_id=vid,
        labels=labels(vid, **kw),
        summary=f"summary {vid}",
        observed_at=at(t),
        opened_at=at(opened_t),
        resolved_at=at(t),
    )


ROUTE = {
    "name": "cur",
    "matchers": {"severity": "=~critical|high"},
    "receivers": {"email": ["ops@cur.example.org"]},
    "group_by": ["municipality"],
    "group_wait": "10s",
    "group_interval": "1m",
    "repeat_interval": "5m",
}


def pipeline(*routes: dict) -> Pipeline:
    return Pipeline(parse_subscriptions({"routes": list(routes or [ROUTE])}))


@dataclass(frozen=True)
class Sent:
    """What a test expects one notification to say."""

    firing: tuple[str, ...]
    resolved: tuple[str, ...] = ()
    new: tuple[str, ...] | None = None  # None: do not check
    route: str = "cur"
    to: str = "ops@cur.example.org"


def summarise(n: Notification) -> Sent:
    return Sent(
        firing=tuple(sorted(e.violation_id for e in n.firing)),
        resolved=tuple(sorted(e.violation_id for e in n.resolved)),
        new=tuple(sorted(n.new_ids)),
        route=n.route.name,
        to=n.receiver.address,
    )


def flush(p: Pipeline, t: float) -> list[Sent]:
    """Flush at ``t`` and pretend every notification was delivered at once."""
    notes = p.due(at(t))
    for n in notes:
        p.mark_sent(n, at(t))
    return sorted((summarise(n) for n in notes), key=lambda s: (s.route, s.to, s.firing))


def check(actual: list[Sent], expected: list[Sent]) -> None:
    assert len(actual) == len(expected), actual
    ordered = sorted(expected, key=lambda s: (s.route, s.to, s.firing))
    for got, want in zip(actual, ordered, strict=True):
        if want.new is None:
            got = Sent(got.firing, got.resolved, None, got.route, got.to)
        assert got == want


# Each scenario: a list of steps (time in seconds, action) where an action is an event to ingest
# or ("flush", expected notifications).
SCENARIOS = {
    "group_wait holds the first notification": [
        (0, opened("A")),
        (9, ("flush", [])),
        (10, ("flush", [Sent(("A",), new=("A",))])),
    ],
    "alerts arriving during group_wait go out together": [
        (0, opened("A")),
        (5, opened("B", 5)),
        (10, ("flush", [Sent(("A", "B"), new=("A", "B"))])),
    ],
    "group_interval limits follow-ups; a new alert waits for it": [
        (0, opened("A")),
        (10, ("flush", [Sent(("A",))])),
        (20, opened("B", 20)),
        (30, ("flush", [])),
        (69, ("flush", [])),
        (70, ("flush", [Sent(("A", "B"), new=("B",))])),
    ],
    "nothing changed: nothing sent until repeat_interval": [
        (0, opened("A")),
        (10, ("flush", [Sent(("A",))])),
        (70, ("flush", [])),
        (250, ("flush", [])),
        (310, ("flush", [Sent(("A",), new=())])),
        (370, ("flush", [])),
    ],
    "resolved alert announced with send_resolved": [
        (0, opened("A")),
        (0, opened("B")),
        (10, ("flush", [Sent(("A", "B"))])),
        (30, resolved("A", 30)),
        (70, ("flush", [Sent(("B",), ("A",), new=())])),
        (130, ("flush", [])),
    ],
    "all resolved clears the group with a resolved notice": [
        (0, opened("A")),
        (10, ("flush", [Sent(("A",))])),
        (30, resolved("A", 30)),
        (70, ("flush", [Sent((), ("A",), new=())])),
        (130, ("flush", [])),
    ],
    "fired and resolved within group_wait: nothing": [
        (0, opened("A")),
        (5, resolved("A", 5)),
        (10, ("flush", [])),
        (70, ("flush", [])),
    ],
    "fired and resolved between two flushes: never mentioned": [
        (0, opened("A")),
        (10, ("flush", [Sent(("A",))])),
        (20, opened("B", 20)),
        (40, resolved("B", 40, opened_t=20)),
        (70, ("flush", [])),
    ],
    "a reopened violation is news again": [
        (0, opened("A")),
        (10, ("flush", [Sent(("A",))])),
        (20, resolved("A", 20)),
        (70, ("flush", [Sent((), ("A",))])),
        (80, opened("A", 80)),
        (90, ("flush", [Sent(("A",), new=("A",))])),
    ],
    "a stale redelivery cannot reopen a resolved violation": [
        (0, opened("A")),
        (10, ("flush", [Sent(("A",))])),
        (20, resolved("A", 20)),
        (21, opened("A", 0)),  # the old opening again, e.g. redelivered late
        (70, ("flush", [Sent((), ("A",))])),
    ],
    "groups per municipality": [
        (0, opened("A")),
        (0, opened("B", municipality=ANNA)),
        (10, ("flush", [Sent(("A",)), Sent(("B",))])),
    ],
    "unmatched alerts are ignored": [
        (0, opened("A", severity="medium")),
        (10, ("flush", [])),
    ],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_scenario(steps) -> None:
    p = pipeline()
    for t, action in steps:
        if isinstance(action, tuple):
            check(flush(p, t), action[1])
        else:
            p.ingest(action, at(t))


def test_resolved_without_send_resolved_is_silent_then_clears() -> None:
    p = pipeline({**ROUTE, "send_resolved": False})
    p.ingest(opened("A"), at(0))
    p.ingest(opened("B"), at(0))
    check(flush(p, 10), [Sent(("A", "B"))])
    p.ingest(resolved("A", 20), at(20))
    assert p.due(at(70)) == []  # a resolution alone is no news
    assert "A" not in p.groups[("cur", (("municipality", BORISOGLEBSK),))].alerts
    p.ingest(resolved("B", 80), at(80))
    [clear] = p.due(at(130))
    assert clear.silent and not clear.firing and not clear.resolved
    p.mark_sent(clear, at(130))
    assert p.groups == {} and p.log == {}
    assert sorted(p.take_forgotten()) == ["A", "B"]
    # After the clear the same violation firing again is announced.
    p.ingest(opened("B", 200), at(200))
    check(flush(p, 210), [Sent(("B",), new=("B",))])


def test_multiple_routes_and_receivers() -> None:
    founder = {
        "name": "founder",
        "matchers": {"municipality": "=~Борисоглеб.*", "founder": "Отдел образования"},
        "receivers": {"email": ["a@edu.example.org", "b@edu.example.org"]},
        "group_by": ["founder"],
        "group_wait": "0s",
    }
    p = pipeline(ROUTE, founder)
    p.ingest(opened("A"), at(0))
    p.ingest(opened("B", severity="medium"), at(0))
    check(
        flush(p, 0),
        [
            Sent(("A", "B"), route="founder", to="a@edu.example.org"),
            Sent(("A", "B"), route="founder", to="b@edu.example.org"),
        ],
    )
    check(flush(p, 10), [Sent(("A",), route="cur")])


def test_failed_send_is_retried_at_the_next_interval() -> None:
    p = pipeline()
    p.ingest(opened("A"), at(0))
    [first] = p.due(at(10))  # never marked sent: delivery failed
    assert p.pending_groups(at(11)) == 1
    assert p.due(at(30)) == []
    [again] = p.due(at(70))
    assert again.message_key == first.message_key  # a retry is the same message
    p.mark_sent(again, at(70))
    assert p.pending_groups(at(71)) == 0


def test_mark_sent_of_a_superseded_flush_does_not_drop_new_state() -> None:
    p = pipeline()
    p.ingest(opened("A"), at(0))
    check(flush(p, 10), [Sent(("A",))])
    p.ingest(resolved("A", 20), at(20))
    [notice] = p.due(at(70))
    p.ingest(opened("A", 75), at(75))  # reopened while the resolved notice was being sent
    p.mark_sent(notice, at(76))
    assert p.alerts["A"].firing and p.take_forgotten() == []
    check(flush(p, 130), [Sent(("A",), new=("A",))])


def test_message_key_changes_for_repeats_but_not_for_retries() -> None:
    p = pipeline()
    p.ingest(opened("A"), at(0))
    [first] = p.due(at(10))
    p.mark_sent(first, at(10))
    [repeat] = p.due(at(310))
    assert repeat.new_ids == frozenset()
    assert repeat.message_key != first.message_key
    assert repeat.group_id == first.group_id


def test_pending_groups_counts_news_not_repeats() -> None:
    p = pipeline()
    assert p.pending_groups(at(0)) == 0
    p.ingest(opened("A"), at(0))
    p.ingest(opened("B", municipality=ANNA), at(0))
    assert p.pending_groups(at(1)) == 2
    flush(p, 10)
    assert p.pending_groups(at(11)) == 0
    assert p.pending_groups(at(10_000)) == 0  # a due repeat is not "pending"


def test_restart_neither_resends_nor_forgets() -> None:
    p = pipeline()
    p.ingest(opened("A"), at(0))
    p.ingest(opened("B"), at(0))
    flush(p, 10)
    saved_log = dict(p.log)

    # A restart: the log and the stored alerts come back; A resolved while we were down.
    q = Pipeline(p.subscriptions, log=saved_log)
    q.ingest(resolved("A", 50), at(100))
    q.ingest(opened("B"), at(100))
    check(flush(q, 110), [Sent(("B",), ("A",), new=())])

    # Only the resolution survived (B was resolved too): the notice still goes out.
    r = Pipeline(p.subscriptions, log=saved_log)
    r.ingest(resolved("B", 60), at(100))
    check(flush(r, 110), [Sent((), ("B",))])


def test_changed_labels_move_an_alert_to_its_new_group() -> None:
    p = pipeline()
    p.ingest(opened("A"), at(0))
    flush(p, 10)
    p.ingest(opened("A", 20, municipality=ANNA), at(20))
    assert ("cur", (("municipality", BORISOGLEBSK),)) not in p.groups
    check(flush(p, 30), [Sent(("A",), new=("A",))])
