"""The weekly digest: its schedule, what it counts per subscriber, and how it renders."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from gospublic.contracts import AlertLabels, ViolationOpened, ViolationResolved
from gospublic.settings import Settings
from services.notifier import digest
from services.notifier.subscriptions import parse_subscriptions

END = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow
START = END - digest.PERIOD
DAY = timedelta(days=1)
SETTINGS = Settings(_env_file=None)

SLOTS = [
    ("exactly at the slot", datetime(2025, 3, 3, 6, 0, tzinfo=UTC), 0, "09:00", "Europe/Moscow",
     datetime(2025, 3, 3, 6, 0, tzinfo=UTC)),
    ("a minute before: last week's", datetime(2025, 3, 3, 5, 59, tzinfo=UTC), 0, "09:00",
     "Europe/Moscow", datetime(2025, 2, 24, 6, 0, tzinfo=UTC)),
    ("Sunday in UTC is Monday in Moscow", datetime(2025, 3, 9, 23, 0, tzinfo=UTC), 0, "09:00",
     "Europe/Moscow", datetime(2025, 3, 3, 6, 0, tzinfo=UTC)),
    ("Friday 17:30", datetime(2025, 3, 3, 6, 0, tzinfo=UTC), 4, "17:30", "Europe/Moscow",
     datetime(2025, 2, 28, 14, 30, tzinfo=UTC)),
    ("after a DST change (Berlin summer time)", datetime(2025, 4, 1, 0, 0, tzinfo=UTC), 0,
     "09:00", "Europe/Berlin", datetime(2025, 3, 31, 7, 0, tzinfo=UTC)),
    ("before it (Berlin winter time)", datetime(2025, 3, 31, 6, 59, tzinfo=UTC), 0, "09:00",
     "Europe/Berlin", datetime(2025, 3, 24, 8, 0, tzinfo=UTC)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("now", "weekday", "time", "tz", "slot"), [x[1:] for x in SLOTS], ids=[x[0] for x in SLOTS]
)
def test_latest_slot(now, weekday, time, tz, slot) -> None:
    assert digest.latest_slot(now, weekday, time, tz) == slot


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        digest.latest_slot(END, 0, "09:00", "Mars/Olympus")


def labels(org: str, municipality: str = "Борисоглеб", **extra: str) -> AlertLabels:
    fields = {
        "org_id": f"10236000000{org}",
        "org_name": f"Школа {org}",
        "founder": "Отдел образования",
        "municipality": municipality,
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": org,
        "page_url": f"https://vk.com/club{org}",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    fields.update(extra)
    return AlertLabels(**fields)


def opened(vid: str, org: str, at: datetime, **kw: str) -> ViolationOpened:
    return ViolationOpened.create(
        violation_id=vid, labels=labels(org, **kw), summary=vid, observed_at=at, opened_at=at
    )


def resolved(vid: str, org: str, opened_at: datetime, at: datetime, **kw) -> ViolationResolved:
    return ViolationResolved.create(
        violation_id=vid,
        labels=labels(org, **kw),
        summary=vid,
        observed_at=at,
        opened_at=opened_at,
        resolved_at=at,
    )


SUBSCRIPTIONS = parse_subscriptions(
    {
        "routes": [
            {"name": "cur", "receivers": {"email": ["cur@x.org"], "webhook": ["https://h/x"]}},
            {
                "name": "borisoglebsk",
                "matchers": {"municipality": "Борисоглеб"},
                "receivers": {"email": ["mo@x.org", "cur@x.org"]},
            },
            {"name": "quiet", "receivers": {"email": ["quiet@x.org"]}, "digest": False},
        ]
    }
)

OPEN = [
    opened("old-critical", "01", START - 30 * DAY, rule="STALE", severity="critical"),
    opened("new-high", "01", START + DAY),
    opened("other-town", "02", START + 2 * DAY, municipality="Анна"),
    opened("muted", "03", START + DAY),
    opened("reopened", "04", START + 5 * DAY, rule="WALL_CLOSED"),
]
RESOLVED = [
    resolved("fixed", "01", START - 10 * DAY, START + 3 * DAY, rule="WALL_CLOSED"),
    resolved("blip", "02", START + DAY, START + 2 * DAY, municipality="Анна"),
    resolved("long-ago", "01", START - 20 * DAY, START - DAY),
    resolved("reopened", "04", START - 5 * DAY, START + 4 * DAY, rule="WALL_CLOSED"),
]


def build() -> dict[str, digest.Digest]:
    items = digest.build(SUBSCRIPTIONS, OPEN, RESOLVED, START, END, frozenset({"muted"}))
    return {item.address: item for item in items}


def test_one_digest_per_subscriber_over_their_routes() -> None:
    items = build()
    assert sorted(items) == ["cur@x.org", "mo@x.org"]  # "quiet" opted out
    assert items["cur@x.org"].routes == ("cur", "borisoglebsk")
    assert {row.org_id[-2:] for row in items["mo@x.org"].organisations} == {"01", "04"}
    assert {row.org_id[-2:] for row in items["cur@x.org"].organisations} == {"01", "02", "04"}


def test_counts_and_changes() -> None:
    cur = build()["cur@x.org"]
    rows = {row.org_id[-2:]: row for row in cur.organisations}
    assert rows["01"].open == {"critical": 1, "high": 1}
    assert (rows["01"].opened, rows["01"].resolved) == (1, 1)
    assert rows["02"].open == {"high": 1} and (rows["02"].opened, rows["02"].resolved) == (2, 1)
    # Reopened after its resolution: listed as open and new, not as fixed.
    assert rows["04"].open == {"high": 1} and rows["04"].resolved == 0
    assert [row.org_id[-2:] for row in cur.organisations] == ["01", "02", "04"]  # critical first
    assert sorted(e.violation_id for e in cur.opened) == [
        "blip",
        "new-high",
        "other-town",
        "reopened",
    ]
    assert sorted(e.violation_id for e in cur.resolved) == ["blip", "fixed"]
    assert cur.open_by_severity["critical"] == 1 and cur.open_total == 4
    assert [(f.rule, f.violations, f.organisations) for f in cur.fixes] == [
        ("STALE", 1, 1),
        ("DESCRIPTION_MISSING", 2, 2),
        ("WALL_CLOSED", 1, 1),
    ]


def test_nothing_to_report_still_says_so() -> None:
    [item] = digest.build(
        parse_subscriptions({"routes": [{"name": "r", "receivers": {"email": ["a@x.org"]}}]}),
        [],
        [],
        START,
        END,
    )
    assert item.organisations == () and item.open_total == 0
    message = digest.render(item, SETTINGS, END)
    assert "открытых нарушений нет" in message["Subject"]


HOSTILE = "<script>alert(1)</script>\r\nBcc: victim@x.org \u202egpj.exe 🏫 " + "Ш" * 10_000


def parsed(item: digest.Digest):
    raw = digest.render(item, SETTINGS, END).as_bytes()
    return raw, email.message_from_bytes(raw, policy=policy.default)


def test_render_is_multipart_linked_and_safe() -> None:
    events = [opened("x", "01", START + DAY, org_name=HOSTILE, municipality=HOSTILE)]
    [item] = digest.build(
        parse_subscriptions({"routes": [{"name": "r", "receivers": {"email": ["a@x.org"]}}]}),
        events,
        [],
        START,
        END,
    )
    raw, message = parsed(item)
    assert message.get_content_type() == "multipart/alternative"
    head = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head
    assert message["Subject"].startswith("[GosPublic] Сводка за 24.02.2025–03.03.2025: 1 нарушение")
    html_body = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script>" not in html_body and "&lt;script&gt;" in html_body
    assert "\u202e" not in html_body and "\u202e" not in text
    assert "🏫" in html_body and len(html_body) < 30_000
    assert 'href="http://localhost:3000/d/gospublic-org?var-org_id=1023600000001"' in html_body
    assert 'href="http://localhost:3000/d/gospublic-region"' in html_body
    assert "Что исправить в первую очередь" in html_body and "Что исправить" in text
    # The same digest rendered again keeps its Message-ID (a retry), another week does not.
    assert digest.render(item, SETTINGS, END)["Message-ID"] == message["Message-ID"]
    later = digest.Digest(**{**item.__dict__, "start": END, "end": END + digest.PERIOD})
    assert digest.render(later, SETTINGS, END)["Message-ID"] != message["Message-ID"]


# --- scores ----------------------------------------------------------------------------------


def scores(org: str, at: datetime, municipality: str = "Борисоглеб", **values: float):
    from gospublic.contracts import OrgLabels, ScoresUpdated

    return ScoresUpdated.create(
        observed_at=at,
        labels=OrgLabels(
            org_id=f"10236000000{org}",
            org_name=f"Школа {org}",
            founder="Отдел образования",
            municipality=municipality,
            sphere="education",
            level="municipal",
        ),
        scores=values,
        scored_at=at,
    )


SCORES = [
    scores("01", START + DAY, compliance=60.0, design=50.0, response=40.0),
    scores("01", START + 2 * DAY, compliance=62.5, design=55.5, response=40.0),  # the latest
    scores("05", START + DAY, compliance=100.0, design=90.0),  # no violations at all
    scores("06", START + DAY, municipality="Анна", compliance=75.0),
]
BASELINE = {"1023600000001": {"compliance": 70.0, "design": 55.5, "response": 30.0}}


def build_with_scores() -> dict[str, digest.Digest]:
    items = digest.build(
        SUBSCRIPTIONS, OPEN, RESOLVED, START, END, frozenset({"muted"}), SCORES, BASELINE
    )
    return {item.address: item for item in items}


def test_scores_reach_the_subscribers_whose_routes_cover_the_organisation() -> None:
    items = build_with_scores()
    mo = {row.org_id[-2:]: row for row in items["mo@x.org"].organisations}
    cur = {row.org_id[-2:]: row for row in items["cur@x.org"].organisations}
    # Борисоглеб's route covers 05 (scored, no violations), not Анна's 06; "cur" covers all.
    assert set(mo) == {"01", "04", "05"}
    assert set(cur) == {"01", "02", "04", "05", "06"}
    # Organisations with violations first; the scored ones without them after.
    assert [row.org_id[-2:] for row in items["cur@x.org"].organisations][-2:] == ["05", "06"]
    assert mo["05"].total == 0 and mo["05"].scores == {"compliance": 100.0, "design": 90.0}
    assert mo["04"].scores == {}


def test_scores_change_since_the_previous_digest_and_the_fixes_per_organisation() -> None:
    row = {r.org_id[-2:]: r for r in build_with_scores()["cur@x.org"].organisations}["01"]
    assert row.scores == {"compliance": 62.5, "design": 55.5, "response": 40.0}
    assert row.change("compliance") == -7.5
    assert row.change("design") == 0
    assert row.change("response") == 10.0
    assert row.change("frequency") is None
    assert digest.score_texts(row) == [
        "Соответствие 62,5 (−7,5)",
        "Оформление 55,5 (±0,0)",
        "Отклик 40,0 (+10,0)",
    ]
    assert row.fixes == ("STALE", "DESCRIPTION_MISSING")  # critical first
    new = {r.org_id[-2:]: r for r in build_with_scores()["cur@x.org"].organisations}["05"]
    assert new.previous is None and digest.score_texts(new) == [
        "Соответствие 100,0",
        "Оформление 90,0",
    ]


def test_scores_render_in_both_parts_escaped() -> None:
    hostile = scores("07", START + DAY, compliance=12.5)
    hostile = hostile.model_copy(
        update={"labels": hostile.labels.model_copy(update={"org_name": HOSTILE})}
    )
    [item] = digest.build(
        parse_subscriptions({"routes": [{"name": "r", "receivers": {"email": ["a@x.org"]}}]}),
        [opened("x", "01", START + DAY, rule="STALE", severity="critical")],
        [],
        START,
        END,
        scores=[*SCORES[:2], hostile],
        baseline=BASELINE,
    )
    _, message = parsed(item)
    html_body = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Оценки (изменение за неделю)" in html_body
    assert "Соответствие 62,5 (−7,5)<br>Оформление 55,5 (±0,0)<br>Отклик 40,0 (+10,0)" in html_body
    assert "Оценки: Соответствие 62,5 (−7,5), Оформление 55,5 (±0,0), Отклик 40,0 (+10,0)" in text
    assert "Исправить: " in text
    assert "Соответствие 12,5" in text and "Соответствие 12,5" in html_body
    assert "<script>" not in html_body and "&lt;script&gt;" in html_body
    assert "\u202e" not in html_body and "\u202e" not in text
    head = message.as_string().split("\n\n", 1)[0]
    assert "\nBcc:" not in head


def routes_one() -> object:
    return parse_subscriptions({"routes": [{"name": "r", "receivers": {"email": ["a@x.org"]}}]})


def bodies(item: digest.Digest) -> tuple[str, str]:
    message = digest.render(item, SETTINGS, END)
    plain = message.get_body(("plain",)).get_content()
    return plain, message.get_body(("html",)).get_content()


def test_a_short_digest_does_not_announce_a_negative_rest() -> None:
    # "…и ещё -298" closed every digest of fewer than 300 organisations.
    events = [opened(f"v{n}", f"{n:02d}", START + DAY) for n in range(3)]
    [item] = digest.build(routes_one(), events, [], START, END)
    for body in bodies(item):
        assert "и ещё" not in body, body


def test_a_long_digest_says_how_many_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest, "MAX_ORGANISATIONS", 2)
    monkeypatch.setattr(digest, "MAX_CHANGES", 2)
    events = [opened(f"v{n}", f"{n:02d}", START + DAY) for n in range(3)]
    [item] = digest.build(routes_one(), events, [], START, END)
    for body in bodies(item):
        assert body.count("и ещё 1") == 2, body


BIDI_SCRIPT = "<script>alert(1)</script>\u202eexe.cod\u202c \u2067עברית\u2069\u200f"


def test_the_digest_template_escapes_and_cleans_a_hostile_name() -> None:
    events = [opened("x", "01", START + DAY, org_name=BIDI_SCRIPT, municipality=BIDI_SCRIPT)]
    [item] = digest.build(routes_one(), events, [], START, END)
    html_body = bodies(item)[1]
    assert "<script>" not in html_body
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt;exe.cod עברית</bdi>" in html_body
    for char in "\u202e\u202c\u2067\u2069\u200f":
        assert char not in html_body, repr(char)


# --- scorecard -------------------------------------------------------------------------------


def carded(org: str, at: datetime, total: float, colour: str, **values: float):
    from gospublic.contracts import OrgScorecard

    card = OrgScorecard(total=total, out_of=95.0, colour=colour, version=1)
    return scores(org, at, **values).model_copy(update={"scorecard": card})


CARDED = [
    carded("01", START + DAY, 40.0, "red", compliance=60.0),
    carded("01", START + 2 * DAY, 62.5, "yellow", compliance=62.5),  # the latest
    carded("05", START + DAY, 90.0, "green", compliance=100.0),
]


def test_the_digest_shows_each_organisations_light_and_its_change_since_last_week() -> None:
    baseline = {"1023600000001": digest.baseline_of(CARDED[0])}
    assert baseline["1023600000001"] == {"compliance": 60.0, "scorecard": 40.0}
    [item] = digest.build(routes_one(), OPEN[:1], [], START, END, scores=CARDED, baseline=baseline)
    rows = {row.org_id[-2:]: row for row in item.organisations}
    assert rows["01"].scorecard_change() == 22.5
    assert digest.scorecard_text(rows["01"]) == "жёлтый, 62,5 из 95 (+22,5)"
    assert rows["05"].scorecard_change() is None  # no digest before: nothing to compare with
    assert digest.scorecard_text(rows["05"]) == "зелёный, 90 из 95"
    assert digest.lights_summary(item) == "Светофор: зелёных 1, жёлтых 1, красных 0"
    _, message = parsed(item)
    html_body = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Светофор: зелёных 1, жёлтых 1, красных 0" in text
    assert "   Светофор: жёлтый, 62,5 из 95 (+22,5)" in text
    assert "Светофор (изменение за неделю)" in html_body
    assert 'background:#FFEB9C">жёлтый, 62,5 из 95 (+22,5)</td>' in html_body
    assert 'background:#C6EFCE">зелёный, 90 из 95</td>' in html_body


def test_without_a_scorecard_the_digest_says_nothing_of_it() -> None:
    [item] = digest.build(routes_one(), OPEN[:1], [], START, END, scores=SCORES)
    assert digest.lights_summary(item) == "" and digest.baseline_of(SCORES[0]) == SCORES[0].scores
    _, message = parsed(item)
    assert "Светофор:" not in message.get_body(("plain",)).get_content()


def test_scores_of_version_1_are_read_without_a_scorecard() -> None:
    from gospublic import contracts as c

    event = CARDED[1]
    again = c.decode(event.to_bytes())
    assert again == event and again.schema_ == "ScoresUpdated/2"
    old = event.model_copy(update={"scorecard": None, "schema_": "ScoresUpdated/1"})
    read = c.decode(old.to_bytes())
    assert read.scorecard is None and read.schema_ == "ScoresUpdated/2"
