"""Page rules on Odnoklassniki and Telegram pages: what their data allows, and nothing more.

A rule whose data a platform does not expose is ``not_evaluable`` with the reason, never passed
and never failed. The events are built the way the OK and Telegram collectors build them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import (
    Comment,
    CommentsObserved,
    Organisation,
    OrganisationsRegistered,
    PageRef,
    PageSnapshot,
    PageUnavailable,
    Platform,
    Post,
    PostsObserved,
    Unavailability,
)
from services.evaluator import rules as r
from services.evaluator.handlers import TABLE_COLUMNS, process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # Monday
D = timedelta(days=1)
H = timedelta(hours=1)
ORG_ID = "1023601234567"
DEFAULT = load_profile("dialog-default")
GOOD = (
    "Официальная группа управления образования. Наши задачи — качественное образование. "
    "Тел. +7 (473) 255-12-34, e-mail: edu@liski.ru"
)
NO_CONTACTS = (
    "Официальная группа управления образования. Наши задачи — качественное образование "
    "для всех детей района."
)
REFS = {
    Platform.VK: PageRef(platform=Platform.VK, native_id="club210000123", org_id=ORG_ID),
    Platform.OK: PageRef(platform=Platform.OK, native_id="70000000000123", org_id=ORG_ID),
    Platform.TG: PageRef(platform=Platform.TG, native_id="edu_liski", org_id=ORG_ID),
}


def ok_snapshot(description: str = GOOD, site: str = "https://edu-liski.ru", **kw) -> PageSnapshot:
    """As ``ok_collect._snapshot`` builds it: no wall, marks, address, avatar or cover."""
    return PageSnapshot.create(
        observed_at=NOW, platform=Platform.OK, page_ref=REFS[Platform.OK], sweep_id="s",
        page_id="70000000000123", screen_name="eduliski",
        name="Управление образования Лискинского района", description=description, site=site,
        links=(site,) if site else (), members=900, **kw,
    )  # fmt: skip


def tg_snapshot(description: str = GOOD + " Сайт: https://edu-liski.ru") -> PageSnapshot:
    """As ``tg_collect._page`` builds it from the t.me/s preview."""
    links = tuple(w for w in description.split() if w.startswith("https://"))
    return PageSnapshot.create(
        observed_at=NOW, platform=Platform.TG, page_ref=REFS[Platform.TG], sweep_id="s",
        page_id="edu_liski", screen_name="edu_liski",
        name="Управление образования Лискинского района", description=description, links=links,
        members=400,
    )  # fmt: skip


def by_rule(results) -> dict[str, r.RuleResult]:
    return {x.rule: x for x in results}


# --- profiles -----------------------------------------------------------------------------------

OK_HIDDEN = (r.NOT_VERIFIED, r.ADDRESS_MISSING, r.AVATAR_MISSING, r.COVER_MISSING, r.WALL_CLOSED)
# The t.me/s preview shows the channel's photo (or its initials): the avatar is read there.
TG_HIDDEN = tuple(rule for rule in OK_HIDDEN if rule != r.AVATAR_MISSING)


@pytest.mark.parametrize(
    ("make", "hidden"), [(ok_snapshot, OK_HIDDEN), (tg_snapshot, TG_HIDDEN)], ids=["ok", "tg"]
)
def test_fields_a_platform_does_not_expose_are_not_evaluable(make, hidden) -> None:
    official = "Управление образования администрации Лискинского муниципального района"
    results = by_rule(r.evaluate_profile(make(), DEFAULT, official))
    for rule in hidden:
        assert results[rule].status == r.NOT_EVALUABLE, rule
        assert results[rule].summary == r.NOT_EXPOSED[make().platform][rule]
    for rule in (
        r.PAGE_NOT_PUBLIC, r.NAME_MISMATCH, r.DESCRIPTION_MISSING, r.DESCRIPTION_NO_GOALS,
        r.CONTACT_PHONE_MISSING, r.CONTACT_EMAIL_MISSING, r.WEBSITE_LINK_MISSING,
        r.DESIGN_SCORE_LOW,
    ):  # fmt: skip
        assert results[rule].status == r.PASS, rule


@pytest.mark.parametrize(("make"), [ok_snapshot, tg_snapshot], ids=["ok", "tg"])
@pytest.mark.parametrize(("length", "status"), [(49, r.FAIL), (50, r.PASS)])
def test_description_length_boundary(make, length, status) -> None:
    text = ("Наши задачи — образование. " * 5)[:length]
    assert len(text.strip()) == length
    result = by_rule(r.evaluate_profile(make(text), DEFAULT))[r.DESCRIPTION_MISSING]
    assert result.status == status


@pytest.mark.parametrize(
    ("make", "rule", "status"),
    [
        # OK keeps contacts in fields the collector does not read: no phone in the text proves nothing.
        (ok_snapshot, r.CONTACT_PHONE_MISSING, r.NOT_EVALUABLE),
        (ok_snapshot, r.CONTACT_EMAIL_MISSING, r.NOT_EVALUABLE),
        # A Telegram channel has only its description: nothing there is a missing contact.
        (tg_snapshot, r.CONTACT_PHONE_MISSING, r.FAIL),
        (tg_snapshot, r.CONTACT_EMAIL_MISSING, r.FAIL),
    ],
)
def test_contacts_missing_from_the_description(make, rule, status) -> None:
    result = by_rule(r.evaluate_profile(make(NO_CONTACTS), DEFAULT))[rule]
    assert result.status == status
    if status == r.NOT_EVALUABLE:
        assert "Одноклассник" in result.summary


@pytest.mark.parametrize(
    ("make", "status"),
    [(lambda: ok_snapshot(site=""), r.FAIL), (lambda: tg_snapshot(NO_CONTACTS), r.FAIL),
     (tg_snapshot, r.PASS)],
)  # fmt: skip
def test_website_link(make, status) -> None:
    assert by_rule(r.evaluate_profile(make(), DEFAULT))[r.WEBSITE_LINK_MISSING].status == status


def test_design_score_counts_only_what_the_platform_shows() -> None:
    # On VK a page without address, avatar and cover loses 3 of 10 weight points (70 % < 80 %);
    # on OK those are not shown at all, and the rest passed.
    results = by_rule(r.evaluate_profile(ok_snapshot(), DEFAULT))
    assert results[r.DESIGN_SCORE_LOW].status == r.PASS
    assert results[r.DESIGN_SCORE_LOW].value == "100.0"
    results = by_rule(r.evaluate_profile(ok_snapshot(NO_CONTACTS, site=""), DEFAULT))
    # Only description (2), goals (1) and website (1) could be judged: 3 of 4 points = 75 %.
    assert results[r.DESIGN_SCORE_LOW].value == "75.0"
    assert results[r.DESIGN_SCORE_LOW].status == r.FAIL


def test_a_closed_ok_group_is_not_public() -> None:
    result = by_rule(r.evaluate_profile(ok_snapshot(is_closed=1), DEFAULT))[r.PAGE_NOT_PUBLIC]
    assert (result.status, result.severity) == (r.FAIL, "high")


@pytest.mark.parametrize(
    ("platform", "reason", "status", "severity"),
    [
        (Platform.OK, Unavailability.BANNED, r.FAIL, "critical"),
        (Platform.OK, Unavailability.PRIVATE, r.FAIL, "high"),
        (Platform.TG, Unavailability.NOT_FOUND, r.NOT_EVALUABLE, "critical"),
    ],
)
def test_unavailable_pages(platform, reason, status, severity) -> None:
    results = by_rule(r.evaluate_unavailable(platform, reason, DEFAULT))
    assert (results[r.PAGE_NOT_PUBLIC].status, results[r.PAGE_NOT_PUBLIC].severity) == (
        status, severity,
    )  # fmt: skip
    assert results[r.STALE].status == r.NOT_EVALUABLE


# --- posts --------------------------------------------------------------------------------------


def posts_event(platform: Platform, ages_days: list[float], **post) -> PostsObserved:
    items = tuple(
        Post(post_id=str(100 + i), posted_at=NOW - age * D, is_own=True, is_repost=False, **post)
        for i, age in enumerate(ages_days)
    )
    return PostsObserved.create(
        observed_at=NOW, platform=platform, page_ref=REFS[platform], sweep_id="s",
        page_id=REFS[platform].native_id, posts=items,
    )  # fmt: skip


# A Telegram preview has no comment switch: the collector writes comments_open=False for all.
TG_POST = {"comments_open": False, "views": 300}


@pytest.mark.parametrize(
    ("platform", "post"), [(Platform.OK, {}), (Platform.TG, TG_POST)], ids=["ok", "tg"]
)
@pytest.mark.parametrize(
    ("newest", "status", "severity"),
    [(6.9, r.PASS, "medium"), (7.0, r.FAIL, "medium"), (30.0, r.FAIL, "high"),
     (90.0, r.FAIL, "critical")],
)  # fmt: skip
def test_stale_on_ok_and_telegram(platform, post, newest, status, severity) -> None:
    event = posts_event(platform, [newest, newest + 1], **post)
    result = by_rule(r.evaluate_activity(event, DEFAULT, NOW))[r.STALE]
    assert (result.status, result.severity) == (status, severity)


@pytest.mark.parametrize(
    ("platform", "post"), [(Platform.OK, {}), (Platform.TG, TG_POST)], ids=["ok", "tg"]
)
@pytest.mark.parametrize(("count", "status"), [(11, r.FAIL), (12, r.PASS)])
def test_frequency_on_ok_and_telegram(platform, post, count, status) -> None:
    # 12 own posts in 4 weeks = 3 a week, the floor; older posts show the window was covered.
    ages = [1 + i * 2.2 for i in range(count)] + [40.0]
    result = by_rule(r.evaluate_activity(posts_event(platform, ages, **post), DEFAULT, NOW))
    assert result[r.LOW_FREQUENCY].status == status


def test_comment_switches_are_not_evaluable_where_not_shown() -> None:
    for platform, post in ((Platform.OK, {}), (Platform.TG, TG_POST)):
        result = by_rule(r.evaluate_activity(posts_event(platform, [1, 2], **post), DEFAULT, NOW))
        assert result[r.COMMENTS_CLOSED_POSTS].status == r.NOT_EVALUABLE, platform
    vk = posts_event(Platform.VK, [1, 2], comments_open=False)
    whole = vk.model_copy(update={"total_count": 2})  # the whole wall: 2 of 2 closed
    assert by_rule(r.evaluate_activity(whole, DEFAULT, NOW))[r.COMMENTS_CLOSED_POSTS].status == (
        r.FAIL
    )
    # Two of the last 20 shown on a longer wall: 10 % to 100 % closed, no verdict.
    result = by_rule(r.evaluate_activity(vk, DEFAULT, NOW))[r.COMMENTS_CLOSED_POSTS]
    assert (result.status, result.value.split(" ")[0]) == (r.NOT_EVALUABLE, "10%–100%")


def test_telegram_posts_report_the_comment_rules_as_not_evaluable() -> None:
    results = by_rule(r.evaluate_activity(posts_event(Platform.TG, [1], **TG_POST), DEFAULT, NOW))
    for rule in (r.UNANSWERED_COMMENT, r.SLOW_RESPONSE_MEDIAN, r.LOW_REPLY_RATE):
        assert results[rule].status == r.NOT_EVALUABLE
        assert "t.me/s" in results[rule].summary
    ok = by_rule(r.evaluate_activity(posts_event(Platform.OK, [1]), DEFAULT, NOW))
    assert r.UNANSWERED_COMMENT not in ok  # OK has a comments event of its own


def test_reposts_on_telegram_are_forwards() -> None:
    # A preview has no count of messages: they must reach past the four weeks to be judged.
    forwards = tuple(
        Post(post_id=str(i), posted_at=NOW - i * 4 * D, is_own=False, is_repost=True, **TG_POST)
        for i in range(1, 9)
    )
    own = (Post(post_id="50", posted_at=NOW - 2 * D, is_own=True, is_repost=False, **TG_POST),)
    event = PostsObserved.create(
        observed_at=NOW, platform=Platform.TG, page_ref=REFS[Platform.TG], sweep_id="s",
        page_id="edu_liski", posts=forwards + own,
    )  # fmt: skip
    results = by_rule(r.evaluate_activity(event, DEFAULT, NOW))
    assert results[r.REPOST_HEAVY].status == r.FAIL  # 7 of the 8 within four weeks
    assert results[r.STALE].status == r.PASS
    recent = PostsObserved.create(
        observed_at=NOW, platform=Platform.TG, page_ref=REFS[Platform.TG], sweep_id="s",
        page_id="edu_liski", posts=tuple(p for p in event.posts if p.posted_at > NOW - 10 * D),
    )  # fmt: skip
    # Ten days of a longer channel say nothing of four weeks.
    assert by_rule(r.evaluate_activity(recent, DEFAULT, NOW))[r.REPOST_HEAVY].status == (
        r.NOT_EVALUABLE
    )


def test_engagement_on_telegram_is_not_evaluable_and_on_ok_it_is() -> None:
    tg = posts_event(Platform.TG, [1, 2], **TG_POST)
    assert r.engagement_rate(tg, 400) is None
    result = r.evaluate_engagement(None, None, 0, DEFAULT, Platform.TG)
    assert [(x.rule, x.status) for x in result] == [(r.LOW_ENGAGEMENT, r.NOT_EVALUABLE)]
    assert "просмотры" in result[0].summary
    ok = posts_event(Platform.OK, [1, 2], likes=9)
    assert r.engagement_rate(ok, 900) == pytest.approx(9 / 900)


# --- comments (OK) ------------------------------------------------------------------------------


def test_an_unanswered_ok_comment_fails_the_sla() -> None:
    citizen = Comment(comment_id="1", post_id="100", from_id="5", author_kind="citizen",
                      posted_at=NOW - 30 * H)  # fmt: skip
    event = CommentsObserved.create(
        observed_at=NOW, platform=Platform.OK, page_ref=REFS[Platform.OK], sweep_id="s",
        page_id="70000000000123", comments=(citizen,),
    )  # fmt: skip
    results = by_rule(r.evaluate_comments(event, DEFAULT, NOW))
    assert results[r.UNANSWERED_COMMENT].status == r.FAIL
    answered = Comment(comment_id="2", post_id="100", from_id="-70000000000123",
                       author_kind="page", reply_to="1", posted_at=NOW - 29 * H)  # fmt: skip
    event = event.model_copy(update={"comments": (citizen, answered)})
    assert by_rule(r.evaluate_comments(event, DEFAULT, NOW))[r.UNANSWERED_COMMENT].status == r.PASS


# --- the stream -----------------------------------------------------------------------------------


def organisation(*platforms: Platform) -> Organisation:
    return Organisation(
        org_id=ORG_ID, name="Управление образования Лискинского района", level="municipal",
        founder="Администрация", municipality="Лискинский район", sphere="education",
        pages=tuple(REFS[p] for p in platforms),
    )  # fmt: skip


def registered(org: Organisation) -> OrganisationsRegistered:
    return OrganisationsRegistered.create(
        observed_at=NOW - H, registry_version="v1", region="voronezh", chunk=0, chunks=1,
        organisations=(org,),
    )  # fmt: skip


def test_the_stream_opens_no_violation_for_what_a_platform_does_not_show() -> None:
    org = organisation(Platform.VK, Platform.OK, Platform.TG)
    events = [
        registered(org),
        ok_snapshot(NO_CONTACTS),
        tg_snapshot(),
        posts_event(Platform.OK, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 40]),
        posts_event(Platform.TG, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 40], **TG_POST),
    ]
    out = process_batch(EvaluatorState(), events, DEFAULT, NOW)
    opened = {(a.labels.platform, a.labels.rule) for a in out.alerts}
    for platform in ("ok", "tg"):
        for rule in (*OK_HIDDEN, r.COMMENTS_CLOSED_POSTS, r.LOW_ENGAGEMENT):
            assert (platform, rule) not in opened
    assert ("ok", r.CONTACT_PHONE_MISSING) not in opened
    columns = TABLE_COLUMNS["check_results"]
    rows = [dict(zip(columns, row, strict=True)) for row in out.rows["check_results"]]
    statuses = {(x["platform"], x["rule"]): x["status"] for x in rows}
    assert statuses[("ok", r.CONTACT_PHONE_MISSING)] == r.NOT_EVALUABLE
    assert statuses[("tg", r.WALL_CLOSED)] == r.NOT_EVALUABLE
    assert statuses[("tg", r.UNANSWERED_COMMENT)] == r.NOT_EVALUABLE
    assert statuses[("ok", r.STALE)] == r.PASS
    assert statuses[("tg", r.DESCRIPTION_MISSING)] == r.PASS


def test_engagement_cohorts_are_per_platform() -> None:
    state = EvaluatorState()
    org = organisation(Platform.VK, Platform.OK)
    vk_snapshot = PageSnapshot.create(
        observed_at=NOW, platform=Platform.VK, page_ref=REFS[Platform.VK], sweep_id="s",
        page_id="210000123", name=org.name, description=GOOD, wall=1, members=1000,
    )  # fmt: skip
    events = [
        registered(org),
        vk_snapshot,
        ok_snapshot(),
        posts_event(Platform.VK, [1, 2], likes=10),
        posts_event(Platform.OK, [1, 2], likes=10),
    ]
    process_batch(state, events, DEFAULT, NOW)
    cohorts = {cohort for cohort, _ in state.engagement.values()}
    assert cohorts == {
        ("vk", "municipal", "education", "voronezh"),
        ("ok", "municipal", "education", "voronezh"),
    }


def test_a_gone_ok_page_no_longer_counts_as_presence() -> None:
    org = organisation(Platform.OK)
    gone = PageUnavailable.create(
        observed_at=NOW, platform=Platform.OK, page_ref=REFS[Platform.OK], sweep_id="s",
        reason=Unavailability.DELETED,
    )  # fmt: skip
    out = process_batch(EvaluatorState(), [registered(org), gone], DEFAULT, NOW)
    opened = {(a.labels.platform, a.labels.rule, a.labels.severity) for a in out.alerts}
    assert ("any", r.PAGE_MISSING_ANY, "critical") in opened
    assert ("ok", r.PAGE_NOT_PUBLIC, "critical") in opened


def test_a_gone_telegram_channel_is_no_off_list_page() -> None:
    org = organisation(Platform.TG)
    before = by_rule(r.evaluate_presence(org, {}, DEFAULT))
    assert before[r.OFF_LIST_ONLY].status == r.FAIL
    after = by_rule(r.evaluate_presence(org, {REFS[Platform.TG].key: r.GONE}, DEFAULT))
    assert after[r.OFF_LIST_ONLY].status == r.PASS
    assert after[r.PAGE_MISSING_ANY].status == r.FAIL
