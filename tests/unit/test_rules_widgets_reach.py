"""WIDGETS_MISSING, WIDGET_FOREIGN_ORG and the reach facts of the scorecard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import PageRef, PageSnapshot, Platform, Post, PostsObserved, Widget
from gospublic.rulebook import RULEBOOK
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW_MS = r.epoch_ms(NOW)
OGRN = "1023600000017"
OTHER = "1023600000999"
REF = PageRef(platform=Platform.VK, native_id="club210000123", org_id=OGRN)
DEFAULT = load_profile("dialog-default")


def widget(kind: str, ogrn: str = OGRN) -> Widget:
    return Widget(kind=kind, title=kind, url=f"https://pos.gosuslugi.ru/{kind}", ogrn=ogrn)


def snapshot(widgets, platform: Platform = Platform.VK) -> PageSnapshot:
    ref = REF if platform == Platform.VK else REF.model_copy(update={"platform": platform})
    return PageSnapshot.create(
        observed_at=NOW, platform=platform, page_ref=ref, sweep_id="s", page_id="210000123",
        name="Администрация", widgets=widgets, is_government_organization=True,
    )  # fmt: skip


def results(widgets) -> dict[str, r.RuleResult]:
    return {x.rule: x for x in r.evaluate_profile(snapshot(widgets), DEFAULT)}


@pytest.mark.parametrize(
    ("widgets", "status", "value"),
    [
        ((), r.FAIL, 0),
        ((widget("problem"),), r.FAIL, 1),
        ((widget("opinion"), widget("opinion")), r.FAIL, 1),  # one kind twice is one of two
        ((widget("problem"), widget("other"), widget("opinion")), r.PASS, 2),
        ((widget("problem", OTHER), widget("opinion", OTHER)), r.PASS, 2),
        (None, r.NOT_EVALUABLE, ""),
    ],
)
def test_widgets_missing_counts_the_two_feedback_widgets(widgets, status, value) -> None:
    result = results(widgets)[r.WIDGETS_MISSING]
    assert (result.status, result.value) == (status, str(value))
    if status == r.FAIL:
        assert "из 2 виджетов Госуслуг" in result.summary


def test_a_widget_with_another_bodys_ogrn_is_its_own_verdict() -> None:
    foreign = results((widget("problem"), widget("opinion", OTHER)))[r.WIDGET_FOREIGN_ORG]
    assert foreign.status == r.FAIL and foreign.value == OTHER and OGRN in foreign.summary
    assert foreign.severity == "high"
    mine = results((widget("problem"), widget("opinion", "")))[r.WIDGET_FOREIGN_ORG]
    assert mine.status == r.PASS  # a link without tracking parameters names no other body
    assert results(None)[r.WIDGET_FOREIGN_ORG].status == r.NOT_EVALUABLE


def test_the_widget_rules_are_in_the_catalogue_and_the_rulebook() -> None:
    for rule in (r.WIDGETS_MISSING, r.WIDGET_FOREIGN_ORG):
        assert r.RULES[rule].scope == "page" and rule in r.PAGE_RULES
        assert RULEBOOK[rule].title and RULEBOOK[rule].fix and RULEBOOK[rule].norm(None)
        assert rule in DEFAULT.enabled_rules


def test_the_blue_tick_is_not_the_government_mark() -> None:
    snap = snapshot(()).model_copy(update={"is_government_organization": False, "verified": True})
    verdicts = {x.rule: x.status for x in r.evaluate_profile(snap, DEFAULT)}
    assert verdicts[r.NOT_VERIFIED] == r.FAIL


def post(hours: float, views: int | None, *, own: bool = True, repost: bool = False) -> Post:
    return Post(
        post_id=str(int(hours * 10)), posted_at=NOW - timedelta(hours=hours), is_own=own and not
        repost, is_repost=repost, views=views, from_id="-210000123",
    )  # fmt: skip


def event(*posts: Post, total: int | None = None) -> PostsObserved:
    return PostsObserved.create(
        observed_at=NOW, platform=Platform.VK, page_ref=REF, sweep_id="s", page_id="210000123",
        posts=posts, total_count=len(posts) if total is None else total,
    )  # fmt: skip


def test_reach_adds_up_the_weeks_own_posts() -> None:
    posts = event(
        post(1, 300),
        post(30, 500),
        post(24 * 6.9, 200),
        post(24 * 7.5, 10_000),  # a week ago
        post(2, 7_000, repost=True),
        post(3, 9_000, own=False),  # a repost, a visitor's post
    )
    reach = r.page_reach(posts, 1_000, NOW_MS)
    assert (reach.own_posts, reach.views, reach.complete) == (3, 1_000, True)
    assert reach.weekly_reach == pytest.approx(1.0)
    assert reach.average_views == pytest.approx(1_000 / 3)
    assert r.weekly_reach(posts, 1_000, NOW_MS) == reach.weekly_reach
    assert r.average_views_per_post(posts, NOW_MS) == reach.average_views


def test_hidden_views_make_the_reach_not_evaluable_rather_than_zero() -> None:
    reach = r.page_reach(event(post(1, 300), post(5, None)), 1_000, NOW_MS)
    assert reach.views is None and reach.weekly_reach is None and reach.average_views is None
    quiet = r.page_reach(event(post(24 * 10, None)), 1_000, NOW_MS)
    assert quiet.views is None  # the platform shows no views at all
    shown = r.page_reach(event(post(24 * 10, 50)), 1_000, NOW_MS)
    assert (shown.views, shown.weekly_reach, shown.average_views) == (0, 0.0, None)


def test_reach_without_subscribers_is_not_evaluable_and_a_short_span_is_a_lower_bound() -> None:
    assert r.page_reach(event(post(1, 300)), None, NOW_MS).weekly_reach is None
    assert r.page_reach(event(post(1, 300)), 0, NOW_MS).weekly_reach is None
    partial = r.page_reach(event(post(1, 300), post(20, 100), total=40), 1_000, NOW_MS)
    assert not partial.complete and partial.views == 400
