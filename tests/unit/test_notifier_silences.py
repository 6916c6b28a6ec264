"""Silences on an injected clock, mirroring Alertmanager's silence_test.go, then in the pipeline."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import AlertLabels, ViolationOpened
from services.notifier import silence_cli
from services.notifier import silences as s
from services.notifier.pipeline import SILENCED, Pipeline
from services.notifier.subscriptions import parse_subscriptions

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


def silence(*matchers: str, start=NOW - HOUR, end=NOW + HOUR, **extra) -> s.Silence:
    fields = {
        "id": "some_id",
        "matchers": tuple(s.parse_matcher_text(text) for text in matchers or ("rule=STALE",)),
        "starts_at": start,
        "ends_at": end,
        "created_by": "Иванов И. И.",
        "comment": "ЦУР-1234: каникулы",
        "updated_at": NOW,
    }
    fields.update(extra)
    return s.Silence(**fields)


# TestValidateSilence, plus the author and comment we require.
VALIDATION = {
    "valid": (silence(start=NOW, end=NOW), ""),
    "no matchers": (silence(matchers=()), "at least one matcher required"),
    "every matcher matches the empty string": (
        silence("org_name=", "municipality=~.*"),
        "at least one matcher must not match the empty string",
    ),
    "a negative matcher alone matches the empty string": (
        silence("rule!=STALE"),
        "at least one matcher must not match the empty string",
    ),
    "end before start": (
        silence(start=NOW, end=NOW - timedelta(seconds=1)),
        "end time must not be before start time",
    ),
    "start without a time zone": (
        silence(start=NOW.replace(tzinfo=None)),
        "starts_at: a time with a time zone required",
    ),
    "bad id": (silence(id="a.b>"), "id: 1-64 letters"),
    "no author": (silence(created_by=" "), "author required"),
    "no comment": (silence(comment=""), "comment required"),
}


@pytest.mark.parametrize(("value", "error"), VALIDATION.values(), ids=VALIDATION.keys())
def test_validate(value: s.Silence, error: str) -> None:
    errors = s.validate(value)
    if not error:
        assert errors == []
    else:
        assert any(error in e for e in errors), errors


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("rule", "bad matcher"),
        ("colour=red", "unknown label 'colour'"),
        ("org_name=~(unclosed", "bad regex"),
        ("severity=urgent", "unknown severity"),
    ],
)
def test_bad_matcher_text(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        s.parse_matcher_text(text)


def test_matcher_text_operators() -> None:
    found = [
        str(s.parse_matcher_text(t))
        for t in ("rule=STALE", "municipality=~Борисоглеб.*", "severity!=info", "org_name!~.*СОШ.*")
    ]
    assert found == [
        "rule='STALE'",
        "municipality=~'Борисоглеб.*'",
        "severity!='info'",
        "org_name!~'.*СОШ.*'",
    ]


STATES = [
    ("pending", NOW + MIN, NOW + HOUR, s.PENDING),
    ("active", NOW - MIN, NOW + HOUR, s.ACTIVE),
    ("starts exactly now", NOW, NOW + HOUR, s.ACTIVE),
    ("ends exactly now", NOW - HOUR, NOW, s.EXPIRED),
    ("expired", NOW - HOUR, NOW - MIN, s.EXPIRED),
]


@pytest.mark.parametrize(("name", "start", "end", "state"), STATES, ids=[x[0] for x in STATES])
def test_state(name, start, end, state) -> None:
    assert silence(start=start, end=end).state(NOW) == state


def test_expire() -> None:
    """TestSilenceExpire: pending becomes [now, now], active ends now, expired is untouched."""
    pending = silence(start=NOW + MIN, end=NOW + HOUR, updated_at=NOW - HOUR)
    active = silence(start=NOW - MIN, end=NOW + HOUR, updated_at=NOW - HOUR)
    expired = silence(start=NOW - HOUR, end=NOW - MIN, updated_at=NOW - HOUR)
    assert s.expire(pending, NOW) == replace(pending, starts_at=NOW, ends_at=NOW, updated_at=NOW)
    assert s.expire(active, NOW) == replace(active, ends_at=NOW, updated_at=NOW)
    assert s.expire(expired, NOW) == expired
    later = NOW + SEC
    assert [x.state(later) for x in (s.expire(pending, NOW), s.expire(active, NOW))] == [
        s.EXPIRED,
        s.EXPIRED,
    ]


def test_silencer_over_time() -> None:
    """TestSilencer: only a matching, active silence mutes; a future one waits its turn."""
    alert = {"rule": "STALE", "org_id": "1"}
    clock = NOW
    silences = s.Silences([silence("rule=WALL_CLOSED", id="other", end=clock + 5 * MIN)])
    assert silences.muting(alert, clock) is None  # a silence that does not match
    silences = s.Silences(
        [*silences.by_id.values(), silence("rule=STALE", id="first", end=clock + 5 * MIN)]
    )
    assert silences.muting(alert, clock).id == "first"
    clock += HOUR
    assert silences.muting(alert, clock) is None  # it expired
    future = silence("rule=STALE", id="first", start=clock + HOUR, end=clock + 3 * HOUR)
    silences = s.Silences([future])
    assert silences.muting(alert, clock) is None
    clock += 2 * HOUR
    assert silences.muting(alert, clock).id == "first"  # it became active
    overlapping = silence("rule=~ST.*", id="second", start=clock + HOUR, end=clock + 3 * HOUR)
    silences = s.Silences([future, overlapping])
    clock += 2 * HOUR  # the first ends, the overlapping second is in force
    assert silences.muting(alert, clock).id == "second"


def test_collectable_after_retention() -> None:
    ended = silence(start=NOW - 10 * HOUR, end=NOW - HOUR)
    assert not s.collectable(ended, NOW)
    assert s.collectable(ended, NOW + s.RETENTION)
    assert not s.collectable(silence(), NOW + s.RETENTION - 2 * HOUR)


def test_encode_decode_round_trip_and_hostile_records() -> None:
    value = silence("municipality=~Борисоглеб.*", "rule!=STALE", "severity=critical")
    assert s.decode(s.encode(value)) == value
    for bad in (b"", b"[]", b"{not json", b'{"id": "x"}', s.encode(replace(value, comment=""))):
        with pytest.raises(ValueError):
            s.decode(bad)


def test_create_cleans_author_and_comment() -> None:
    made = s.create(
        [s.parse_matcher_text("rule=STALE")],
        starts_at=NOW,
        ends_at=NOW + HOUR,
        created_by="Иванов\r\nBcc: x@y.org\u202e",
        comment="причина\x00 " + "я" * 5000,
        now=NOW,
    )
    assert "\r" not in made.created_by and "\u202e" not in made.created_by
    assert "\x00" not in made.comment and len(made.comment) == s.MAX_COMMENT_CHARS
    with pytest.raises(s.SilenceError, match="comment required"):
        s.create(
            [s.parse_matcher_text("rule=STALE")],
            starts_at=NOW,
            ends_at=NOW,
            created_by="a",
            comment="\x00",
            now=NOW,
        )


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    silence_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_builds_a_silence() -> None:
    args = cli_args("add", "rule=STALE", "org_id=1", "-d", "2h", "-c", "ремонт", "-a", "ops")
    made = silence_cli.build(args, NOW)
    assert (made.starts_at, made.ends_at, made.created_by) == (NOW, NOW + 2 * HOUR, "ops")
    args = cli_args("add", "rule=STALE", "--start", "2025-03-10T09:00+03:00", "--end",
                    "2025-03-10T12:00", "-c", "окно")  # fmt: skip
    made = silence_cli.build(args, NOW)
    assert made.starts_at == datetime(2025, 3, 10, 6, 0, tzinfo=UTC)
    assert made.ends_at == datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # no offset: UTC
    with pytest.raises(s.SilenceError) as info:
        silence_cli.build(cli_args("add", "colour=red", "rule", "-d", "soon", "-c", "x"), NOW)
    assert len(info.value.errors) == 3


# --- in the pipeline ---------------------------------------------------------------------


def opened(vid: str, rule: str = "STALE") -> ViolationOpened:
    labels = AlertLabels(
        org_id="1023600000001",
        org_name="Школа",
        founder="",
        municipality="Борисоглебский городской округ",
        sphere="education",
        level="municipal",
        platform="vk",
        page_id="1",
        page_url="https://vk.com/club1",
        rule=rule,
        severity="high",
    )
    return ViolationOpened.create(
        violation_id=vid, labels=labels, summary="", observed_at=NOW, opened_at=NOW
    )


def pipeline() -> Pipeline:
    route = {
        "name": "all",
        "receivers": {"email": ["ops@x.org"]},
        "group_by": ["..."],
        "group_wait": "30s",
        "group_interval": "1m",
    }
    return Pipeline(parse_subscriptions({"routes": [route]}))


def sent(p: Pipeline, at: datetime) -> list[str]:
    notes = p.due(at)
    for note in notes:
        p.mark_sent(note, at)
    return sorted(e.violation_id for note in notes for e in note.firing)


def test_a_silence_added_during_group_wait_applies() -> None:
    p = pipeline()
    p.ingest(opened("stale"), NOW)
    p.ingest(opened("wall", "WALL_CLOSED"), NOW)
    p.set_silences([silence("rule=STALE", start=NOW, end=NOW + 2 * MIN)])
    assert p.pending_groups(NOW) == 1  # only the unmuted group has news
    assert p.muted_counts(NOW)[SILENCED] == 1
    assert sent(p, NOW + 30 * SEC) == ["wall"]
    # Still silenced at the next flush; through once the silence has ended.
    assert sent(p, NOW + 90 * SEC) == []
    assert p.pending_groups(NOW + 2 * MIN) == 1
    assert sent(p, NOW + 150 * SEC) == ["stale"]


def test_expiring_a_silence_lets_the_alert_through_at_the_next_flush() -> None:
    p = pipeline()
    active = silence("rule=STALE", start=NOW, end=NOW + HOUR)
    p.set_silences([active])
    p.ingest(opened("stale"), NOW)
    assert sent(p, NOW + 30 * SEC) == []
    p.set_silences([s.expire(active, NOW + MIN)])
    assert sent(p, NOW + 90 * SEC) == ["stale"]
