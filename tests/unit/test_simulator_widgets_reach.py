"""The simulator's Госуслуги widgets, hidden views and «Госпаблики» flags, and the ground truth
and scorecard facts it derives from them, checked against what the collector's mapping reads."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from gospublic.platforms import vk as vn
from gospublic.registry import parse_registry
from services.collector.vk_collect import GROUP_FIELDS, REQUESTED_FIELDS
from services.evaluator import rules as r
from services.simulator.region import Region, generate_region
from services.simulator.vk_api import VkSimulator

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW, size=400)


def call(region: Region, method: str, **params: str) -> object:
    answer = VkSimulator(region).handle(method, {"access_token": "t", "v": "5.199", **params})
    return answer["response"]


def live_pages(region: Region):
    for org in region.organisations:
        group = region.vk_group_of(org)
        if group is not None and group.live and not group.is_closed:
            yield org, group


def test_every_widget_plan_and_hidden_views_are_planted(region: Region) -> None:
    pages = list(live_pages(region))
    plans = Counter(region.widget_plan(g) for _, g in pages)
    assert set(plans) == {"none", "one", "two", "foreign"}
    assert 0.3 < plans["two"] / len(pages) < 0.6
    hidden = sum(region.views_hidden(g) for _, g in pages)
    assert 0 < hidden < 0.25 * len(pages)
    flags = Counter(org.gospubliki for org in region.organisations)
    assert set(flags) == {"да", "нет", ""}


def test_the_collector_reads_the_widgets_the_truth_counts(region: Region) -> None:
    truth = {(row["page_id"], row["rule"]) for row in region.ground_truth()}
    facts = region.scorecard_facts()
    for org, group in list(live_pages(region))[:120]:
        obj = vn.groups_of(call(region, "groups.getById", group_ids=str(group.id),
                                fields=GROUP_FIELDS))[0]  # fmt: skip
        ref = c.PageRef(platform=c.Platform.VK, native_id=str(group.id), org_id=org.ogrn)
        snapshot = vn.build_snapshot(obj, ref, "s", NOW, REQUESTED_FIELDS)
        count = r.widget_count(snapshot)
        assert count == region.widget_count(group) == facts[org.ogrn].widgets
        assert ((str(group.id), "WIDGETS_MISSING") in truth) == (count < 2)
        foreign = bool(r.foreign_widgets(snapshot))
        assert ((str(group.id), "WIDGET_FOREIGN_ORG") in truth) == foreign
        assert foreign == (region.widget_plan(group) == "foreign")


def test_the_weeks_views_are_those_wall_get_shows(region: Region) -> None:
    facts = region.scorecard_facts()
    checked = Counter()
    for org, group in list(live_pages(region))[:150]:
        if group.wall == 0:
            continue
        answer = call(region, "wall.get", owner_id=str(-group.id), count="20")
        total, posts = vn.wall_posts(answer, -group.id)
        event = c.PostsObserved.create(
            observed_at=NOW, platform=c.Platform.VK, page_id=str(group.id), sweep_id="s",
            page_ref=c.PageRef(platform=c.Platform.VK, native_id=str(group.id),
                               org_id=org.ogrn), posts=tuple(posts), total_count=total,
        )  # fmt: skip
        reach = r.page_reach(event, group.members, r.epoch_ms(NOW))
        fact = facts[org.ogrn]
        assert (reach.own_posts, reach.views) == (fact.week_posts, fact.weekly_views)
        assert reach.complete == fact.week_seen
        unpinned = [r.epoch_ms(p.posted_at) // 1000 for p in posts if not p.is_pinned]
        assert fact.wall_edge == (min(unpinned) if unpinned else None)
        checked["hidden" if fact.weekly_views is None else "shown"] += 1
    assert checked["hidden"] and checked["shown"]


def test_the_register_carries_the_connection_flags(region: Region, tmp_path) -> None:
    path = region.write_registry_csv(tmp_path / "registry.csv")
    orgs = {o.org_id: o for o in parse_registry("registry.csv", path.read_bytes())}
    facts = region.scorecard_facts()
    with path.open(encoding="utf-8") as f:
        assert "gospubliki" in next(csv.reader(f))
    assert {o: orgs[o].gospubliki for o in orgs} == {o: f.gospubliki for o, f in facts.items()}


def test_the_truth_takes_the_government_mark_not_the_blue_tick(region: Region) -> None:
    flagged = {row["page_id"] for row in region.ground_truth() if row["rule"] == "NOT_VERIFIED"}
    pages = [g for _, g in live_pages(region)]
    assert any(g.verified and not g.is_gov for g in pages), "a ticked page without the mark"
    assert any(g.is_gov and not g.verified for g in pages)
    for group in pages:
        assert (str(group.id) in flagged) == (not group.is_gov)
        obj = vn.groups_of(call(region, "groups.getById", group_ids=str(group.id),
                                fields=GROUP_FIELDS))[0]  # fmt: skip
        assert (obj["is_government_organization"], obj["verified"]) == (group.is_gov,
                                                                         group.verified)  # fmt: skip
