"""The scorecard: criterion points, totals, colours and what could not be evaluated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.evaluator.profiles import ProfileError, load_profile, parse_profile
from services.evaluator.scorecard import (
    DAY_MS,
    PageFacts,
    PostFacts,
    ScorecardConfig,
    facts_from_map,
    facts_map,
    post_facts,
    score_org,
    score_page,
    week_of,
)

DEFAULT = load_profile("dialog-default").scorecard
REGIONAL = load_profile("bashkortostan-2025").scorecard
NOW_MS = int(datetime(2026, 12, 6, 12, tzinfo=UTC).timestamp() * 1000)

FULL = PageFacts("vk", "1", True, True, 120, True, 2, PostFacts(3, 750, 3), 1000)


def _facts(**changes) -> PageFacts:
    values = {name: getattr(FULL, name) for name in FULL.__slots__}
    return PageFacts(**{**values, **changes})


def test_the_default_is_the_issue_weighting():
    assert DEFAULT.weights == {
        "connection": 10, "gov_mark": 10, "avatar": 5, "description": 5, "cover": 10,
        "widgets": 10, "activity": 30, "reach_week": 10, "reach_post": 5,
    }  # fmt: skip
    assert REGIONAL.weights["connection"] == 20
    assert REGIONAL.criteria.activity.days == 30


@pytest.mark.parametrize(
    ("facts", "connected", "points", "total", "colour", "unknown"),
    [
        (FULL, True, {}, 95.0, "green", ()),
        (_facts(widgets=1), True, {"widgets": 5.0}, 90.0, "green", ()),
        (_facts(widgets=0, cover=False), True, {"widgets": 0.0, "cover": 0.0}, 75.0, "yellow", ()),
        # Activity is proportional: 2 of 3 own posts → 20 of 30.
        (_facts(posts=PostFacts(2, 750, 3)), True, {"activity": 20.0}, 85.0, "green", ()),
        (_facts(posts=PostFacts(7, 750, 3)), True, {"activity": 30.0}, 95.0, "green", ()),
        # Reach bands: 55 % → 7, 30 % → 5, 29.9 % → 0; per post 18 % → 3, 5 % → 0, 29.9 % → 5.
        (
            _facts(posts=PostFacts(3, 550, 3)),
            True,
            {"reach_week": 7, "reach_post": 3},
            90.0,
            "green",
            (),
        ),
        (
            _facts(posts=PostFacts(3, 300, 6)),
            True,
            {"reach_week": 5, "reach_post": 0},
            85.0,
            "green",
            (),
        ),
        (_facts(posts=PostFacts(3, 299, 1)), True, {"reach_week": 0}, 85.0, "green", ()),
        # Not evaluable: 0 points and listed; the maximum stays 95.
        (
            _facts(posts=PostFacts(3, None, 3)),
            True,
            {"reach_week": 0, "reach_post": 0},
            80.0,
            "green",
            ("reach_week", "reach_post"),
        ),
        (
            _facts(posts=None),
            None,
            {"connection": 0, "activity": 0, "reach_week": 0, "reach_post": 0},
            40.0,
            "red",
            ("connection", "activity", "reach_week", "reach_post"),
        ),
        (
            _facts(gov_mark=None, widgets=None, description_len=None),
            False,
            {"connection": 0, "gov_mark": 0, "widgets": 0, "description": 0},
            60.0,
            "yellow",
            ("gov_mark", "description", "widgets"),
        ),
        (_facts(description_len=49), True, {"description": 0}, 90.0, "green", ()),
    ],
)
def test_page_card(facts, connected, points, total, colour, unknown):
    card = score_page(DEFAULT, facts, connected)
    expected = {**DEFAULT.weights, **{k: float(v) for k, v in points.items()}}
    assert card.points == expected
    assert card.total == total == round(sum(card.points.values()), 1)
    assert card.colour == colour
    assert card.not_evaluable == unknown


def test_colours_are_shares_of_the_maximum():
    # 95 points at most: 76 is 80 % (green), 75.9 below; 47.5 is 50 % (yellow).
    assert DEFAULT.colour(76.0) == "green"
    assert DEFAULT.colour(75.9) == "yellow"
    assert DEFAULT.colour(47.5) == "yellow"
    assert DEFAULT.colour(47.4) == "red"


def test_regional_activity_over_30_days():
    # 3 a week over 30 days = 90/7 ≈ 12.86 posts; 6 of them → 20 × 6 / 12.857 = 9.3.
    card = score_page(REGIONAL, _facts(posts=PostFacts(6, 750, 3)), True)
    assert card.points["activity"] == 9.3
    assert card.points["connection"] == 20


def _ago(*days: float) -> list[int]:
    return [NOW_MS - int(d * DAY_MS) for d in days]


@pytest.mark.parametrize(
    ("own", "complete_since_days", "week", "expected"),
    [
        # The whole wall shown: own posts of the 7 days (one 8 days old aside).
        (_ago(1, 2, 6.9, 8), None, (300, 3, True), PostFacts(3, 300, 3)),
        # The window starts exactly 7 days back: a post at that instant counts.
        (_ago(7), None, (100, 1, True), PostFacts(1, 100, 1)),
        # The wall shown reaches back only 2 days and holds 1 own post: activity unknown, and
        # the week's views are a lower bound: reach unknown too.
        (_ago(1), 2, (100, 1, False), PostFacts(None, None, 1)),
        # ... but 3 own posts are enough whatever came before them.
        (_ago(0.5, 1, 1.5), 2, (300, 3, False), PostFacts(3, None, 3)),
        # A span starting exactly at the window's start does not cover it (as the rules read it).
        (_ago(1), 7, (100, 1, False), PostFacts(None, None, 1)),
        (_ago(1), 7.01, (100, 1, True), PostFacts(1, 100, 1)),
        # Hidden views: reach unknown, activity known.
        (_ago(1, 2), None, (None, 2, True), PostFacts(2, None, 2)),
        # No own post this week.
        (_ago(10), None, (0, 0, True), PostFacts(0, 0, 0)),
    ],
)
def test_post_facts_on_a_fixed_clock(own, complete_since_days, week, expected):
    since = None if complete_since_days is None else NOW_MS - int(complete_since_days * DAY_MS)
    assert post_facts(DEFAULT, own, since, NOW_MS, week) == expected


@pytest.mark.parametrize(
    ("posts", "subscribers", "reach_week", "reach_post", "unknown"),
    [
        (PostFacts(0, 0, 0), 100, 0, 0, ()),  # no own post this week: no reach
        (PostFacts(3, 300, 3), None, 0, 0, ("reach_week", "reach_post")),  # subscribers unknown
        (PostFacts(3, 300, 3), 0, 0, 0, ("reach_week", "reach_post")),
        (PostFacts(1, 70, 1), 100, 10, 5, ()),
    ],
)
def test_reach_is_divided_by_the_subscribers_of_the_card(
    posts, subscribers, reach_week, reach_post, unknown
):
    card = score_page(DEFAULT, _facts(posts=posts, subscribers=subscribers), True)
    assert (card.points["reach_week"], card.points["reach_post"]) == (reach_week, reach_post)
    assert card.not_evaluable == unknown


def test_facts_survive_the_stored_map():
    for facts in (FULL, _facts(posts=None, gov_mark=None), _facts(posts=PostFacts(None, None, 2))):
        assert facts_from_map("vk", "1", facts_map(facts)) == facts


def test_regional_window_counts_30_days():
    own = _ago(1, 8, 15, 29)
    week = (100, 1, True)
    assert post_facts(REGIONAL, own, None, NOW_MS, week).own_posts == 4
    assert post_facts(DEFAULT, own, None, NOW_MS, week).own_posts == 1


def test_organisation_takes_its_vk_page_else_its_best_page():
    vk = score_page(DEFAULT, _facts(widgets=0), True)
    ok = score_page(DEFAULT, _facts(platform="ok", page_id="9"), True)
    assert ok.total > vk.total
    org = score_org(DEFAULT, [ok, vk], True)
    assert (org.platform, org.total, org.points) == ("any", vk.total, vk.points)
    tg = score_page(DEFAULT, _facts(platform="tg", page_id="t", cover=False), True)
    assert score_org(DEFAULT, [tg, ok], True).total == ok.total


def test_organisation_without_a_page_keeps_the_register_criterion():
    card = score_org(DEFAULT, [], True)
    assert card.total == 10.0 and card.colour == "red" and card.not_evaluable == ()
    unknown = score_org(DEFAULT, [], None)
    assert unknown.total == 0.0 and unknown.not_evaluable == ("connection",)


def test_week_is_iso_on_moscow_time():
    # Sunday 22:00 UTC is Monday 01:00 in Moscow: the next week.
    assert week_of(datetime(2026, 12, 6, 20, 59, tzinfo=UTC)) == "2026-W49"
    assert week_of(datetime(2026, 12, 6, 22, 0, tzinfo=UTC)) == "2026-W50"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"criteria": {"avatar": {"weight": 5}}, "colours": {"green": 80, "yellow": 50}},
            "version",
        ),
        (
            {"version": 1, "criteria": {}, "colours": {"green": 80, "yellow": 50}},
            "at least one criterion",
        ),
        (
            {
                "version": 1,
                "criteria": {"avatar": {"weight": 5}},
                "colours": {"green": 50, "yellow": 80},
            },
            "must be below green",
        ),
        (
            {
                "version": 1,
                "criteria": {
                    "reach_week": {"weight": 5, "bands": [{"min_share": 0.5, "points": 7}]}
                },
                "colours": {"green": 80, "yellow": 50},
            },
            "exceed the weight",
        ),
        (
            {
                "version": 1,
                "criteria": {
                    "reach_week": {
                        "weight": 10,
                        "bands": [{"min_share": 0.5, "points": 3}, {"min_share": 0.3, "points": 5}],
                    }
                },
                "colours": {"green": 80, "yellow": 50},
            },
            "fewer points",
        ),
        (
            {
                "version": 1,
                "criteria": {"likes": {"weight": 5}},
                "colours": {"green": 80, "yellow": 50},
            },
            "scorecard.criteria.likes",
        ),
        (
            {
                "version": 1,
                "criteria": {"activity": {"weight": 30, "posts_per_week": 3}},
                "colours": {"green": 80, "yellow": 50},
            },
            "scorecard.criteria.activity.days",
        ),
    ],
)
def test_a_bad_scorecard_section_is_refused_with_its_place(section, message):
    with pytest.raises(ProfileError, match=message) as error:
        parse_profile({"name": "x", "rules": {}, "scorecard": section}, "x.yaml")
    assert "x.yaml" in str(error.value)


def test_config_round_trips():
    assert ScorecardConfig.model_validate(DEFAULT.model_dump()) == DEFAULT
