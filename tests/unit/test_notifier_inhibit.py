"""Inhibition, mirroring Alertmanager's inhibit_test.go, then the shipped rules in the pipeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import AlertLabels, ViolationOpened, ViolationResolved
from services.notifier.inhibit import Inhibitor
from services.notifier.pipeline import INHIBITED, Pipeline
from services.notifier.subscriptions import InhibitRule, Matcher, parse_subscriptions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def m(label: str, op: str, value: str) -> Matcher:
    pattern = re.compile(value) if op in ("=~", "!~") else None
    return Matcher(label, op, value, pattern)  # type: ignore[arg-type]


def rule(source, target, equal=(), name="r") -> InhibitRule:
    return InhibitRule(name, tuple(source), tuple(target), tuple(equal))


def inhibitor_with(rules, sources) -> Inhibitor:
    """``sources``: (labels, firing) per alert, as Alertmanager's test puts them in the cache."""
    inhibitor = Inhibitor(rules)
    for number, (labels, firing) in enumerate(sources):
        inhibitor.observe(f"s{number}", labels, firing)
    return inhibitor


# TestInhibitRuleHasEqual: only the equal labels and the sources' state decide. The sources carry
# src=1 so that the input (without it) is a plain target, not a two-sided match.
HAS_EQUAL = {
    "no source alerts at all": ([], (), {"a": "b"}, False),
    "no equal labels: any source alert satisfies": ([({}, True)], (), {"a": "b"}, True),
    "matching but already resolved": (
        [({"a": "b", "b": "f"}, False), ({"a": "b", "b": "c"}, False)],
        ("a", "b"),
        {"a": "b", "b": "c"},
        False,
    ),
    "matching and unresolved": (
        [({"a": "b", "c": "d"}, False), ({"a": "b", "c": "f"}, True)],
        ("a",),
        {"a": "b"},
        True,
    ),
    "equal label does not match": (
        [({"a": "c", "c": "d"}, False), ({"a": "c", "c": "f"}, False)],
        ("a",),
        {"a": "b"},
        False,
    ),
}


@pytest.mark.parametrize(
    ("sources", "equal", "target", "expected"), HAS_EQUAL.values(), ids=HAS_EQUAL.keys()
)
def test_has_equal(sources, equal, target, expected) -> None:
    sources = [({**labels, "src": "1"}, firing) for labels, firing in sources]
    inhibitor = inhibitor_with([rule([m("src", "=", "1")], [], equal)], sources)
    assert inhibitor.mutes(target) is expected


def _two_rules(target1: Matcher) -> Inhibitor:
    rules = [
        rule([m("s1", "=", "1")], [target1], ["e"], "rule1"),
        rule([m("s2", "=", "1")], [m("t2", "=", "1")], ["e"], "rule2"),
    ]
    # Source 1 matches only rule1's source side; source 2 matches both sides of rule2.
    return inhibitor_with(
        rules,
        [({"s1": "1", "t1": "2", "e": "1"}, True), ({"s2": "1", "t2": "1", "e": "1"}, True)],
    )


# TestInhibitRuleMatches (target matcher t1="1") and TestInhibitRuleMatchers (target t1!="1").
MATCHES = [
    ({"t1": "1", "e": "1"}, True, False),
    ({"t2": "1", "e": "1"}, True, True),
    ({"t1": "1", "t3": "1", "e": "1"}, True, False),
    ({"t1": "1", "t2": "1", "e": "1"}, True, True),
    ({"t1": "0", "e": "1"}, False, True),
    # Both sides of rule1: muted, because source 1 is not itself a target of rule1.
    ({"s1": "1", "t1": "1", "e": "1"}, True, False),
    # Both sides of rule2: not muted by rule2, whose only source matches both sides too.
    ({"s2": "1", "t2": "1", "e": "1"}, False, True),
    ({"t1": "1", "e": "0"}, False, False),
]


@pytest.mark.parametrize(("target", "with_equal", "with_not_equal"), MATCHES)
def test_rule_matches(target, with_equal, with_not_equal) -> None:
    assert _two_rules(m("t1", "=", "1")).mutes(target) is with_equal
    assert _two_rules(m("t1", "!=", "1")).mutes(target) is with_not_equal


# TestInhibit: alertOne {t=1, e=f} is muted by alertTwo {s=1, e=f} only while alertTwo fires.
ALERT_ONE = {"t": "1", "e": "f"}
ALERT_TWO = {"s": "1", "e": "f"}
TIMELINES = {
    "not muted: the source never fired": ([("one", ALERT_ONE, True)], [(ALERT_ONE, False)]),
    "muted by an active source": (
        [("one", ALERT_ONE, True), ("two", ALERT_TWO, True)],
        [(ALERT_ONE, True), (ALERT_TWO, False)],
    ),
    "not muted: the source resolved": (
        [("one", ALERT_ONE, True), ("two", ALERT_TWO, True), ("two", ALERT_TWO, False)],
        [(ALERT_ONE, False), (ALERT_TWO, False)],
    ),
}


@pytest.mark.parametrize(("events", "expected"), TIMELINES.values(), ids=TIMELINES.keys())
def test_inhibit_timeline(events, expected) -> None:
    inhibitor = Inhibitor([rule([m("s", "=", "1")], [m("t", "=", "1")], ["e"])])
    for vid, labels, firing in events:
        inhibitor.observe(vid, labels, firing)
    for labels, muted in expected:
        assert inhibitor.mutes(labels) is muted


def test_changed_labels_move_a_source() -> None:
    inhibitor = Inhibitor([rule([m("s", "=", "1")], [m("t", "=", "1")], ["e"])])
    inhibitor.observe("two", {"s": "1", "e": "f"}, True)
    inhibitor.observe("two", {"s": "1", "e": "g"}, True)
    assert not inhibitor.mutes({"t": "1", "e": "f"})
    assert inhibitor.mutes({"t": "1", "e": "g"})
    assert inhibitor.sources == 1


# --- the shipped default rules, in the pipeline ------------------------------------------


def labels(org_id: str = "1023600000001", **extra: str) -> AlertLabels:
    fields = {
        "org_id": org_id,
        "org_name": f"Школа {org_id}",
        "founder": "Отдел образования",
        "municipality": "Борисоглебский городской округ",
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": "210000123",
        "page_url": "https://vk.com/club210000123",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    fields.update(extra)
    return AlertLabels(**fields)


def opened(vid: str, t: float = 0, **kw: str) -> ViolationOpened:
    when = T0 + timedelta(seconds=t)
    return ViolationOpened.create(
        violation_id=vid, labels=labels(**kw), summary=vid, observed_at=when, opened_at=when
    )


def resolved(vid: str, t: float, **kw: str) -> ViolationResolved:
    when = T0 + timedelta(seconds=t)
    return ViolationResolved.create(
        violation_id=vid,
        labels=labels(**kw),
        summary=vid,
        observed_at=when,
        opened_at=T0,
        resolved_at=when,
    )


MISSING = {"rule": "PAGE_MISSING_ANY", "severity": "critical", "platform": "any", "page_id": ""}
NOT_PUBLIC = {"rule": "PAGE_NOT_PUBLIC", "severity": "critical"}


def pipeline(**extra) -> Pipeline:
    route = {
        "name": "all",
        "receivers": {"email": ["ops@x.org"]},
        "group_by": ["..."],
        "group_wait": "0s",
        "group_interval": "1m",
    }
    return Pipeline(parse_subscriptions({"routes": [route], **extra}))


def flush(p: Pipeline, t: float) -> list[str]:
    notes = p.due(T0 + timedelta(seconds=t))
    for note in notes:
        p.mark_sent(note, T0 + timedelta(seconds=t))
    return sorted(e.violation_id for note in notes for e in note.firing)


DEFAULTS = {
    "a missing page mutes the organisation's profile and activity alerts": (
        [opened("missing", **MISSING), opened("desc"), opened("stale", rule="STALE")],
        ["missing"],
    ),
    "only the organisation with the missing page": (
        [opened("missing", **MISSING), opened("desc", org_id="1023600000002")],
        ["desc", "missing"],
    ),
    "a presence rule of the same organisation is not muted": (
        [opened("missing", **MISSING), opened("tg", rule="PAGE_MISSING_TG", platform="tg")],
        ["missing", "tg"],
    ),
    "a deleted page mutes that page's alerts": (
        [opened("gone", **NOT_PUBLIC), opened("wall", rule="WALL_CLOSED")],
        ["gone"],
    ),
    "a deleted page leaves the organisation's other page alone": (
        [opened("gone", **NOT_PUBLIC), opened("ok", platform="ok", page_id="5500")],
        ["gone", "ok"],
    ),
}


@pytest.mark.parametrize(("events", "sent"), DEFAULTS.values(), ids=DEFAULTS.keys())
def test_default_rules(events, sent) -> None:
    p = pipeline()
    for event in events:
        p.ingest(event, T0)
    assert flush(p, 0) == sent


def test_muted_at_flush_and_released_when_the_source_resolves() -> None:
    p = pipeline()
    p.ingest(opened("missing", **MISSING), T0)
    p.ingest(opened("desc"), T0)
    assert flush(p, 0) == ["missing"]
    assert p.muted_counts(T0) == {INHIBITED: 1, "silenced": 0}
    assert p.pending_groups(T0) == 0  # a muted group is not "pending"
    p.ingest(resolved("missing", 30, **MISSING), T0 + timedelta(seconds=30))
    # The page is back; its description is still missing: now it is news.
    assert flush(p, 60) == ["desc"]


def test_inhibit_rules_can_be_turned_off_or_replaced() -> None:
    off = pipeline(inhibit_rules=[])
    assert off.subscriptions.inhibit_rules == ()
    for event in (opened("missing", **MISSING), opened("desc")):
        off.ingest(event, T0)
    assert flush(off, 0) == ["desc", "missing"]

    own = pipeline(
        inhibit_rules=[
            {
                "name": "critical-mutes-high",
                "source_matchers": {"severity": "critical"},
                "target_matchers": {"severity": "high"},
                "equal": ["org_id"],
            }
        ]
    )
    for event in (opened("stale", rule="STALE", severity="critical"), opened("desc")):
        own.ingest(event, T0)
    assert flush(own, 0) == ["stale"]


def test_an_unrouted_alert_still_inhibits() -> None:
    route = {
        "name": "profile-only",
        "matchers": {"rule": "!=PAGE_MISSING_ANY"},
        "receivers": {"email": ["ops@x.org"]},
        "group_wait": "0s",
    }
    p = Pipeline(parse_subscriptions({"routes": [route]}))
    p.ingest(opened("missing", **MISSING), T0)
    p.ingest(opened("desc"), T0)
    assert p.due(T0) == []
