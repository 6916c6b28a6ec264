"""The batch step: rows per table and violation transitions, only on change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import (
    CommentsObserved,
    Organisation,
    OrganisationsRegistered,
    PageRef,
    PageSnapshot,
    PageUnavailable,
    Platform,
    Post,
    PostsObserved,
    Severity,
    Unavailability,
    ViolationOpened,
    ViolationResolved,
    message_id,
)
from services.evaluator.handlers import TABLE_COLUMNS, process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState
from services.evaluator.verdicts import hashed_id

PROFILE = load_profile("foundation")  # the transition mechanics, on the five foundation rules
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GOOD_DESCRIPTION = (
    "Официальная страница школы № 1 города Лиски. Новости, расписание, приём. "
    "Телефон приёмной: +7 (47391) 4-12-34."
)
SHORT = "Школа. Тел. +7 (473) 255-12-34"  # a phone, but too short
ORG_A = "1023601000001"
ORG_B = "1023601000002"
ORG_C = "1023601000003"


def organisation(org_id: str, *pages: tuple[Platform, str], exempt: bool = False):
    return Organisation(
        org_id=org_id,
        name=f"Школа {org_id[-1]}",
        level="municipal",
        founder="Отдел образования",
        municipality="Лискинский район",
        sphere="education",
        exempt=exempt,
        pages=tuple(PageRef(platform=p, native_id=n, org_id=org_id) for p, n in pages),
    )


def registered(*orgs: Organisation, at: datetime = T0) -> OrganisationsRegistered:
    return OrganisationsRegistered.create(
        observed_at=at,
        registry_version="v1",
        region="36",
        chunk=0,
        chunks=1,
        organisations=orgs,
    )


def ref(org_id: str = ORG_A, native_id: str = "club100") -> PageRef:
    return PageRef(platform=Platform.VK, native_id=native_id, org_id=org_id)


def snapshot(at: datetime, *, description: str = GOOD_DESCRIPTION, wall: int = 1, org_id=ORG_A):
    return PageSnapshot.create(
        observed_at=at,
        platform=Platform.VK,
        page_ref=ref(org_id),
        sweep_id=f"sweep-{at:%H%M}",
        page_id="100",
        name="Школа 1",
        description=description,
        wall=wall,
    )


def posts(at: datetime, age: timedelta, org_id: str = ORG_A) -> PostsObserved:
    return PostsObserved.create(
        observed_at=at,
        platform=Platform.VK,
        page_ref=ref(org_id),
        sweep_id=f"sweep-{at:%H%M}",
        page_id="100",
        posts=(
            Post(post_id="1", posted_at=at - age, is_own=True, is_repost=False, likes=3),
            Post(post_id="2", posted_at=at, is_own=True, is_repost=True),
        ),
    )


def gone(at: datetime, reason: Unavailability = Unavailability.DELETED, org_id: str = ORG_A):
    return PageUnavailable.create(
        observed_at=at,
        platform=Platform.VK,
        page_ref=ref(org_id),
        sweep_id="s",
        reason=reason,
    )


def run(state: EvaluatorState, *events, now: datetime = T0):
    return process_batch(state, list(events), PROFILE, now)


def transitions(out) -> list[tuple[str, str, str]]:
    return [
        (
            "open" if isinstance(a, ViolationOpened) else "resolved",
            a.labels.rule,
            a.labels.severity.value,
        )
        for a in out.alerts
    ]


@pytest.fixture
def state() -> EvaluatorState:
    s = EvaluatorState()
    run(s, registered(organisation(ORG_A, (Platform.VK, "club100"))))
    return s


def test_rows_match_the_table_columns(state: EvaluatorState) -> None:
    out = run(
        state,
        snapshot(T0),
        posts(T0, timedelta(days=1)),
        gone(T0 + timedelta(hours=1)),
        registered(organisation(ORG_B)),
    )
    for table, rows in out.rows.items():
        for row in rows:
            assert len(row) == len(TABLE_COLUMNS[table]), table
    assert len(out.rows["post_observations"]) == 2
    assert len(out.rows["page_snapshots"]) == 1
    assert len(out.rows["pages"]) == 2
    assert len(out.rows["organisations"]) == 1


def test_a_violation_opens_once_and_resolves_once(state: EvaluatorState) -> None:
    first = run(state, snapshot(T0, description=SHORT))
    assert transitions(first) == [("open", "DESCRIPTION_MISSING", "high")]
    opened = first.alerts[0]
    assert opened.violation_id == message_id(ORG_A, "vk", "100", "DESCRIPTION_MISSING", "high")
    assert opened.event_id == message_id("ViolationOpened", opened.violation_id, T0.isoformat())
    assert opened.labels.severity is Severity.HIGH
    assert opened.labels.page_url == "https://vk.com/club100"
    assert opened.labels.municipality == "Лискинский район"
    assert "симв." in opened.summary
    assert first.rows["violations"][0][1] == "open"

    again = run(state, snapshot(T0 + timedelta(days=1), description=SHORT))
    assert again.alerts == []
    assert again.rows["violations"] == []
    assert len(again.rows["check_results"]) == 3  # every verdict is still recorded

    fixed = run(state, snapshot(T0 + timedelta(days=2)))
    assert transitions(fixed) == [("resolved", "DESCRIPTION_MISSING", "high")]
    resolved = fixed.alerts[0]
    assert isinstance(resolved, ViolationResolved)
    assert resolved.violation_id == opened.violation_id
    assert resolved.opened_at == T0
    assert state.open == {}

    assert run(state, snapshot(T0 + timedelta(days=3))).alerts == []


def test_hashed_ids_are_message_ids() -> None:
    """The evaluator's own hashing of string parts gives the contract's ``message_id``."""
    for parts in [(ORG_A, "vk", "100", "STALE", "high"), ("", "", ""), ("Пост", "ё\x1f")]:
        assert hashed_id(*parts) == message_id(*parts)
    assert hashed_id(ORG_A, Platform.VK, Severity.LOW) == message_id(ORG_A, "vk", "low")


def test_severity_change_resolves_and_opens(state: EvaluatorState) -> None:
    out = run(state, posts(T0, timedelta(days=8)))
    assert transitions(out) == [("open", "STALE", "medium")]
    out = run(state, posts(T0 + timedelta(days=1), timedelta(days=9)))
    assert out.alerts == []
    out = run(state, posts(T0 + timedelta(days=25), timedelta(days=33)))
    assert transitions(out) == [("resolved", "STALE", "medium"), ("open", "STALE", "high")]
    medium, high = out.alerts
    assert medium.violation_id != high.violation_id
    # The log orders the two transitions even though they happen in one instant.
    changed = [row[-1] for row in out.rows["violations"]]
    assert changed[0] < changed[1]
    out = run(state, posts(T0 + timedelta(days=26), timedelta(hours=2)))
    assert transitions(out) == [("resolved", "STALE", "high")]


def test_page_missing_any_on_registration_with_exempt() -> None:
    state = EvaluatorState()
    out = run(
        state,
        registered(
            organisation(ORG_A, (Platform.VK, "club100")),
            organisation(ORG_B),  # no pages at all
            organisation(ORG_C, exempt=True),  # no pages, exempt
        ),
    )
    assert [(a.labels.org_id, a.labels.rule, a.labels.platform) for a in out.alerts] == [
        (ORG_B, "PAGE_MISSING_ANY", "any")
    ]
    assert out.alerts[0].labels.page_id == ""
    assert out.alerts[0].labels.severity.value == "critical"
    checks = {(row[3], row[6]): row[7] for row in out.rows["check_results"]}
    assert checks[(ORG_C, "PAGE_MISSING_ANY")] == "pass"
    # A re-import of the same register changes nothing.
    again = run(state, registered(organisation(ORG_B), organisation(ORG_C, exempt=True)))
    assert again.alerts == []
    # The organisation gets a page: resolved.
    fixed = run(state, registered(organisation(ORG_B, (Platform.OK, "777"))))
    assert transitions(fixed) == [("resolved", "PAGE_MISSING_ANY", "critical")]
    # An organisation that becomes exempt is no longer accused either.
    run(state, registered(organisation(ORG_C)))
    assert (ORG_C, "any", "", "PAGE_MISSING_ANY") in state.open
    out = run(state, registered(organisation(ORG_C, exempt=True)))
    assert transitions(out) == [("resolved", "PAGE_MISSING_ANY", "critical")]


def test_gone_page_opens_presence_and_resolves_its_page_violations(state) -> None:
    run(state, snapshot(T0, description=SHORT, wall=0))
    assert {slot[3] for slot in state.open} == {"DESCRIPTION_MISSING", "WALL_CLOSED"}

    out = run(state, gone(T0 + timedelta(hours=1)))
    assert sorted(transitions(out)) == [
        ("open", "PAGE_MISSING_ANY", "critical"),
        ("resolved", "DESCRIPTION_MISSING", "high"),
        ("resolved", "WALL_CLOSED", "high"),
    ]
    assert state.pages["vk:club100"].liveness == "gone"
    pages_row = out.rows["pages"][0]
    assert pages_row[4:7] == ("gone", "deleted", "gone")

    # Gone again: nothing new.
    assert run(state, gone(T0 + timedelta(hours=2), Unavailability.BANNED)).alerts == []
    # Back: presence resolved, page rules evaluated again.
    out = run(state, snapshot(T0 + timedelta(hours=3)))
    assert transitions(out) == [("resolved", "PAGE_MISSING_ANY", "critical")]


def test_private_page_and_api_error_are_not_absence(state: EvaluatorState) -> None:
    run(state, snapshot(T0, description=SHORT))
    out = run(state, gone(T0 + timedelta(hours=1), Unavailability.PRIVATE))
    assert out.alerts == []  # closed page still exists; its page verdicts stay as they were
    assert {row[7] for row in out.rows["check_results"]} == {"not_evaluable"}
    run(state, gone(T0 + timedelta(hours=2), Unavailability.DELETED))
    out = run(state, gone(T0 + timedelta(hours=3), Unavailability.API_ERROR))
    assert out.alerts == []
    assert out.rows["check_results"] == []
    assert out.rows["pages"][0][4:7] == ("unavailable", "api_error", "gone")
    assert state.pages["vk:club100"].liveness == "gone"


def test_older_observation_stores_rows_but_changes_nothing(state: EvaluatorState) -> None:
    run(state, snapshot(T0 + timedelta(hours=2)))
    out = run(state, snapshot(T0, description=SHORT))
    assert out.alerts == []
    assert len(out.rows["page_snapshots"]) == 1


def test_unknown_organisation_rows_with_empty_labels() -> None:
    state = EvaluatorState()
    out = run(state, snapshot(T0, description=SHORT, org_id=ORG_B))
    assert len(out.rows["page_snapshots"]) == 1
    (alert,) = out.alerts
    assert alert.labels.org_id == ORG_B
    assert (alert.labels.org_name, alert.labels.founder, alert.labels.municipality) == ("", "", "")
    assert alert.labels.page_id == "100"
    # Presence is not judged for an organisation the register does not know.
    out = run(state, gone(T0 + timedelta(hours=1), org_id=ORG_B))
    assert transitions(out) == [("resolved", "DESCRIPTION_MISSING", "high")]


def test_comments_are_stored_and_judged(state: EvaluatorState) -> None:
    from gospublic.contracts import Comment

    question = Comment(
        comment_id="7", post_id="1", from_id="501", author_kind="citizen",
        posted_at=T0 - timedelta(days=3),
    )  # fmt: skip
    event = CommentsObserved.create(
        observed_at=T0, platform=Platform.VK, page_ref=ref(), sweep_id="s", page_id="100",
        comments=(question,),
    )  # fmt: skip
    out = process_batch(state, [event], load_profile("dialog-default"), T0)
    assert out.kinds["CommentsObserved"] == 1
    assert len(out.rows["comments"]) == 1
    assert transitions(out) == [
        ("open", "UNANSWERED_COMMENT", "high"),
        ("open", "SLOW_RESPONSE_MEDIAN", "medium"),
    ]
    assert {row[6] for row in out.rows["check_results"]} == {
        "UNANSWERED_COMMENT", "UNANSWERED_COMMENT_SOON", "SLOW_RESPONSE_MEDIAN", "LOW_REPLY_RATE"
    }  # fmt: skip
    # Foundation profile: stored, no comment rules.
    out = run(EvaluatorState(), event)
    assert len(out.rows["comments"]) == 1 and len(out.rows["check_results"]) == 0


def test_rollback_undoes_a_failed_batch(state: EvaluatorState) -> None:
    state.begin()
    out = run(state, snapshot(T0, description=SHORT), gone(T0 + timedelta(hours=1)))
    assert out.alerts
    state.rollback()
    assert state.open == {}
    assert "vk:club100" not in state.pages
    # The redelivered batch produces the same transitions, with the same ids.
    state.begin()
    again = run(state, snapshot(T0, description=SHORT), gone(T0 + timedelta(hours=1)))
    state.commit()
    assert [a.event_id for a in again.alerts] == [a.event_id for a in out.alerts]
    assert state.pages["vk:club100"].liveness == "gone"


def test_rollback_restores_organisations() -> None:
    state = EvaluatorState()
    run(state, registered(organisation(ORG_A, (Platform.VK, "club100"))))
    state.begin()
    run(state, registered(organisation(ORG_A, (Platform.VK, "club200"))))
    assert state.org_by_page == {"vk:club200": ORG_A}
    state.rollback()
    assert state.org_by_page == {"vk:club100": ORG_A}
    assert state.orgs[ORG_A].pages[0].native_id == "club100"


# --- ScoresUpdated ---------------------------------------------------------------------------


def test_scores_are_published_per_organisation_on_change_only() -> None:
    from gospublic.contracts import ScoresUpdated, decode

    state = EvaluatorState()
    profile = load_profile("dialog-default")
    first = process_batch(state, [registered(organisation(ORG_A, (Platform.VK, "club100")))],
                          profile, T0)  # fmt: skip
    assert [x.labels.org_id for x in first.scores] == [ORG_A]
    assert first.scores[0].scores == {"compliance": 100.0}

    # A snapshot and the posts in one batch: one event with every component they give.
    at = T0 + timedelta(hours=1)
    out = process_batch(state, [snapshot(at), posts(at, timedelta(days=1))], profile, at)
    assert len(out.scores) == 1
    event = out.scores[0]
    assert set(event.scores) >= {"design", "frequency", "compliance"}
    assert all(0 <= v <= 100 and round(v, 1) == v for v in event.scores.values())
    assert event.labels.org_name == "Школа 1" and event.labels.municipality == "Лискинский район"
    assert event.scored_at == at
    assert decode(event.to_bytes()) == ScoresUpdated.model_validate(event.model_dump(by_alias=True))

    # The same observations again: the scores did not change, nothing goes out.
    later = at + timedelta(minutes=5)
    assert process_batch(state, [snapshot(later), posts(later, timedelta(days=1))], profile,
                         later).scores == []  # fmt: skip


def test_scores_of_a_failed_batch_go_out_again_with_the_same_id() -> None:
    state = EvaluatorState()
    profile = load_profile("dialog-default")
    process_batch(state, [registered(organisation(ORG_A, (Platform.VK, "club100")))], profile, T0)
    state.begin()
    out = process_batch(state, [snapshot(T0)], profile, T0)
    state.rollback()
    assert out.scores
    state.begin()
    again = process_batch(state, [snapshot(T0)], profile, T0)
    state.commit()
    assert [x.event_id for x in again.scores] == [x.event_id for x in out.scores]


def test_organisation_scores_are_the_mean_over_its_pages() -> None:
    from services.evaluator.handlers import org_scores

    flat = (
        "vk", "1", "design", 80.0,
        "ok", "2", "design", 61.0,
        "vk", "1", "response", 0.5,
        "any", "", "compliance", 0.875,
    )  # fmt: skip
    scores = org_scores(flat)
    assert scores == {"compliance": 87.5, "design": 70.5, "response": 50.0}


def test_a_page_score_is_replaced_in_place_and_rolled_back() -> None:
    state = EvaluatorState()
    state.set_score(ORG_A, "vk", "1", "design", 80.0)
    state.set_score(ORG_A, "ok", "2", "design", 60.0)
    state.begin()
    state.set_score(ORG_A, "vk", "1", "design", 40.0)
    state.set_score(ORG_A, "vk", "1", "response", 0.5)
    assert state.scores[ORG_A] == (
        "vk", "1", "design", 40.0,
        "ok", "2", "design", 60.0,
        "vk", "1", "response", 0.5,
    )  # fmt: skip
    state.rollback()
    assert state.scores[ORG_A] == ("vk", "1", "design", 80.0, "ok", "2", "design", 60.0)


def test_a_max_channel_the_bot_is_not_in_opens_page_not_connected() -> None:
    """Not connected is the channel's own verdict, not a page gone: it opens a violation."""
    profile = load_profile("dialog-default")
    state = EvaluatorState()
    org = organisation(ORG_A, (Platform.MAX, "shkola_gos"))
    process_batch(state, [registered(org)], profile, T0)
    channel = PageRef(platform=Platform.MAX, native_id="shkola_gos", org_id=ORG_A)
    event = PageUnavailable.create(
        observed_at=T0,
        platform=Platform.MAX,
        page_ref=channel,
        sweep_id="s",
        reason=Unavailability.NOT_CONNECTED,
    )
    out = process_batch(state, [event], profile, T0)
    assert [
        (a.labels.rule, a.labels.platform, a.labels.page_id, a.labels.severity.value)
        for a in out.alerts
        if isinstance(a, ViolationOpened)
    ] == [("PAGE_NOT_CONNECTED", "max", "shkola_gos", "medium")]


def test_page_not_connected_resolves_when_the_bot_first_sees_the_channel() -> None:
    """Opened under the register's name (no chat id is known before a snapshot), resolved by the
    first snapshot, which names the channel by its chat id."""
    profile = load_profile("dialog-default")
    state = EvaluatorState()
    process_batch(
        state, [registered(organisation(ORG_A, (Platform.MAX, "shkola_gos")))], profile, T0
    )
    channel = PageRef(platform=Platform.MAX, native_id="shkola_gos", org_id=ORG_A)
    refused = PageUnavailable.create(
        observed_at=T0,
        platform=Platform.MAX,
        page_ref=channel,
        sweep_id="s1",
        reason=Unavailability.NOT_CONNECTED,
    )
    process_batch(state, [refused], profile, T0)
    at = T0 + timedelta(days=1)
    seen = PageSnapshot.create(
        observed_at=at,
        platform=Platform.MAX,
        page_ref=channel,
        sweep_id="s2",
        page_id="-72000000000001",
        name="Школа 1",
        description=GOOD_DESCRIPTION,
    )
    out = process_batch(state, [seen], profile, at)
    assert [
        (a.labels.rule, a.labels.page_id) for a in out.alerts if isinstance(a, ViolationResolved)
    ] == [("PAGE_NOT_CONNECTED", "shkola_gos")]
    assert not [slot for slot in state.open if slot[3] == "PAGE_NOT_CONNECTED"]


def test_the_deadline_warning_opens_then_resolves_or_gives_way(state: EvaluatorState) -> None:
    """UNANSWERED_COMMENT_SOON opens at 75 % of the 24-hour SLA and resolves when the page
    answers; for a question left unanswered it resolves at the deadline as UNANSWERED_COMMENT
    opens."""
    from gospublic.contracts import Comment

    asked = T0 - timedelta(days=3)
    profile = load_profile("dialog-default")

    def comment(cid: str, post: str, kind: str, hours: float, reply_to: str | None = None):
        return Comment(
            comment_id=cid, post_id=post, from_id="501" if kind == "citizen" else "-100",
            author_kind=kind, reply_to=reply_to, posted_at=asked + timedelta(hours=hours),
        )  # fmt: skip

    def at(hours: float, *comments: Comment) -> list[tuple[str, str, str]]:
        now = asked + timedelta(hours=hours)
        event = CommentsObserved.create(
            observed_at=now, platform=Platform.VK, page_ref=ref(), sweep_id=f"s{hours}",
            page_id="100", comments=comments,
        )  # fmt: skip
        out = process_batch(state, [event], profile, now)
        return sorted(t for t in transitions(out) if t[1].startswith("UNANSWERED"))

    first = comment("7", "1", "citizen", 0)
    answer = comment("8", "1", "page", 20, reply_to="7")
    assert at(17, first) == []
    assert at(19, first) == [("open", "UNANSWERED_COMMENT_SOON", "warning")]
    assert at(21, first, answer) == [("resolved", "UNANSWERED_COMMENT_SOON", "warning")]

    second = comment("9", "2", "citizen", 22)  # on another post, never answered
    assert at(22 + 19, first, answer, second) == [("open", "UNANSWERED_COMMENT_SOON", "warning")]
    assert at(22 + 23, first, answer, second) == []  # still warned, nothing new
    assert at(22 + 25, first, answer, second) == [
        ("open", "UNANSWERED_COMMENT", "high"),
        ("resolved", "UNANSWERED_COMMENT_SOON", "warning"),
    ]
