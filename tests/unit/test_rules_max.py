"""MAX in the rules: what MAX exposes is checked, the rest not_evaluable; a channel the bot cannot
see is «канал не подключён к мониторингу», its own verdict, not a missing page."""

from datetime import UTC, datetime

import pytest

from gospublic.contracts import Organisation, PageRef, PageSnapshot, Platform, Unavailability
from gospublic.rulebook import RULEBOOK
from services.evaluator import rules as r
from services.evaluator.profiles import load_profile

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ORG_ID = "1023601234567"
STRICT = load_profile("bashkortostan-2025")
DEFAULT = load_profile("dialog-default")
FEDERAL = load_profile("federal-min")
MAX_REF = PageRef(platform=Platform.MAX, native_id="school1_gos", org_id=ORG_ID)


def by_rule(results):
    return {x.rule: x for x in results}


def test_a_channel_the_bot_cannot_see_is_not_connected_and_nothing_else_is_judged():
    results = by_rule(r.evaluate_unavailable(Platform.MAX, Unavailability.NOT_CONNECTED, DEFAULT))
    verdict = results.pop(r.PAGE_NOT_CONNECTED)
    assert (verdict.status, verdict.severity, verdict.value) == (r.FAIL, "medium", "not_connected")
    assert "канал не подключён к мониторингу" in verdict.summary.lower()
    assert results[r.PAGE_NOT_PUBLIC].status == r.NOT_EVALUABLE
    assert {x.status for x in results.values()} == {r.NOT_EVALUABLE}
    assert all("не подключён к мониторингу" in x.summary for x in results.values())
    assert RULEBOOK[r.PAGE_NOT_CONNECTED].title == "Канал не подключён к мониторингу"


def test_not_connected_is_off_in_the_law_minimum():
    results = by_rule(r.evaluate_unavailable(Platform.MAX, Unavailability.NOT_CONNECTED, FEDERAL))
    assert r.PAGE_NOT_CONNECTED not in results


@pytest.mark.parametrize(
    ("status", "passes"),
    [(r.UNKNOWN, True), (r.LIVE, True), (r.GONE, False)],
)
def test_page_missing_max_passes_for_a_register_max_link_unless_the_channel_is_gone(status, passes):
    org = Organisation(
        org_id=ORG_ID, name="Школа № 1", level="municipal", founder="Отдел", municipality="Уфа",
        sphere="education", pages=(MAX_REF,),
    )  # fmt: skip
    results = by_rule(r.evaluate_presence(org, {MAX_REF.key: status}, STRICT))
    assert (results["PAGE_MISSING_MAX"].status == r.PASS) is passes


def max_snapshot(**fields) -> PageSnapshot:
    return PageSnapshot.create(
        observed_at=NOW, platform=Platform.MAX, page_ref=MAX_REF, sweep_id="s",
        page_id="-72000000000004", name="Школа № 1", **fields,
    )  # fmt: skip


def test_a_connected_channel_passes_and_what_max_does_not_show_is_not_evaluable():
    results = by_rule(r.evaluate_profile(max_snapshot(description="", has_photo=True), STRICT))
    assert results[r.PAGE_NOT_CONNECTED].status == r.PASS
    for rule in (r.NOT_VERIFIED, r.ADDRESS_MISSING, r.COVER_MISSING, r.WALL_CLOSED):
        assert results[rule].status == r.NOT_EVALUABLE, rule
        assert "MAX" in results[rule].summary or "ВКонтакте" in results[rule].summary
    # Contacts live in the description only: none found proves nothing.
    assert results[r.CONTACT_PHONE_MISSING].status == r.NOT_EVALUABLE
    # What MAX shows is checked.
    assert results[r.DESCRIPTION_MISSING].status == r.FAIL
    assert results[r.AVATAR_MISSING].status == r.PASS


def test_not_connected_is_no_rule_of_platforms_that_show_pages_without_a_bot():
    vk = PageSnapshot.create(
        observed_at=NOW, platform=Platform.VK, sweep_id="s", page_id="1", name="Школа",
        page_ref=PageRef(platform=Platform.VK, native_id="1", org_id=ORG_ID),
    )  # fmt: skip
    assert r.PAGE_NOT_CONNECTED not in by_rule(r.evaluate_profile(vk, STRICT))
    deleted = by_rule(r.evaluate_unavailable(Platform.VK, Unavailability.DELETED, STRICT))
    assert r.PAGE_NOT_CONNECTED not in deleted
