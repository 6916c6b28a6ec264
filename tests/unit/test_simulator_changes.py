"""The moments the clock makes a rule fail (``services.simulator.regional.changes``) agree with the
ground truth just before and just after each one; profile edits remove a description at a seeded
time, and the ground truth knows it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from gospublic.contracts import Platform
from gospublic.registry import parse_page_link
from services.simulator.region import generate_region
from services.simulator.regional.changes import KINDS, changes

EPOCH = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
WEEK = 7 * 86_400


@pytest.fixture(scope="module")
def region():
    return generate_region("national", seed=3, now=EPOCH, size=800)


@pytest.fixture(scope="module")
def week(region):
    return changes(region, region.epoch_ts, region.epoch_ts + WEEK)


def verdicts(region, ts: int) -> set[tuple[str, str]]:
    rows = region.ground_truth(now=datetime.fromtimestamp(ts, UTC))
    return {(r["page_id"], r["rule"]) for r in rows if r["platform"] == "vk"}


def test_a_week_brings_every_kind_of_change(week) -> None:
    kinds = Counter(ch.kind for ch in week)
    assert set(kinds) == set(KINDS), kinds
    assert [ch.at for ch in week] == sorted(ch.at for ch in week)


@pytest.mark.parametrize("kind", KINDS)
def test_each_change_turns_its_rule_on_in_the_ground_truth(region, week, kind) -> None:
    """The first few changes of the kind: the rule fails at the moment and did not just before
    (the region's clock stays at the epoch; the truth reads the world at any moment)."""
    sample = [ch for ch in week if ch.kind == kind and ch.kind != "page_gone"][:3]
    for ch in sample:
        before, after = verdicts(region, ch.at - 1), verdicts(region, ch.at)
        for rule in ch.rules:
            assert (ch.page_id, rule) not in before, ch
            assert (ch.page_id, rule) in after, ch


def test_a_page_gone_is_not_public_after_the_clock_passes_its_fate(week) -> None:
    gone = [ch for ch in week if ch.kind == "page_gone"][:3]
    assert gone
    region = generate_region("national", seed=3, now=EPOCH, size=800)
    for ch in gone:
        region.advance(ch.at - region.now_ts)
        page = parse_page_link(Platform.VK, ch.link)
        assert (page, "PAGE_NOT_PUBLIC") in verdicts(region, region.now_ts), ch


def test_a_removed_description_is_gone_from_its_moment_on(region) -> None:
    edited = [g for g in region.groups.values() if region.description_removed_at(g) is not None]
    assert edited
    share = len(edited) / len(region.groups)
    assert 0.01 < share < 0.06
    for group in edited[:20]:
        at = region.description_removed_at(group)
        assert at > region.epoch_ts  # the world at the epoch is the one generated
        assert region.description(group, at) == ""
        before = region.description(group, at - 1)
        assert before == region.description(group, region.epoch_ts)
