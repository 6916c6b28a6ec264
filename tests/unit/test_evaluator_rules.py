"""The five foundation rules at their boundaries, and the profiles that parametrise them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gospublic.contracts import (
    Organisation,
    PageRef,
    PageSnapshot,
    Platform,
    Post,
    PostsObserved,
    Unavailability,
)
from services.evaluator import rules as r
from services.evaluator.profiles import ProfileError, load_profile

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ORG_ID = "1023601234567"
DEFAULT = load_profile("dialog-default")
STRICT = load_profile("bashkortostan-2025")
FEDERAL = load_profile("federal-min")
LONG_ENOUGH = "Официальная страница управления образования администрации района. " * 2


def snapshot(
    description: str = LONG_ENOUGH, phones: tuple[str, ...] = (), wall: int | None = 1, **kw
):
    return PageSnapshot.create(
        observed_at=NOW,
        platform=Platform.VK,
        page_ref=PageRef(platform=Platform.VK, native_id="club210000123", org_id=ORG_ID),
        sweep_id="s1",
        page_id="210000123",
        name="Управление образования",
        description=description,
        phones=phones,
        wall=wall,
        **kw,
    )


def post(age: timedelta, *, own: bool = True, repost: bool = False, pinned: bool = False) -> Post:
    return Post(
        post_id=str(int(age.total_seconds())),
        posted_at=NOW - age,
        is_own=own,
        is_repost=repost,
        is_pinned=pinned,
    )


def posts_event(*posts: Post, total_count: int | None = None) -> PostsObserved:
    return PostsObserved.create(
        observed_at=NOW,
        platform=Platform.VK,
        page_ref=PageRef(platform=Platform.VK, native_id="club210000123", org_id=ORG_ID),
        sweep_id="s1",
        page_id="210000123",
        posts=posts,
        total_count=total_count,
    )


def by_rule(results: list[r.RuleResult]) -> dict[str, r.RuleResult]:
    return {x.rule: x for x in results}


# --- DESCRIPTION_MISSING -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "status"),
    [
        ("", r.FAIL),
        ("   \n\t ", r.FAIL),
        ("я" * 49, r.FAIL),
        ("я" * 50, r.PASS),
        ("   " + "я" * 49 + "   ", r.FAIL),  # spaces around do not count
        ("  " + "я" * 50 + "\n", r.PASS),
    ],
)
def test_description_length_boundary(description: str, status: str) -> None:
    result = by_rule(r.evaluate_profile(snapshot(description), DEFAULT))[r.DESCRIPTION_MISSING]
    assert result.status == status
    assert result.severity == "high"
    assert result.threshold == "50"
    assert result.basis


def test_stricter_profile_needs_a_longer_description() -> None:
    text = "я" * 80
    assert (
        by_rule(r.evaluate_profile(snapshot(text), DEFAULT))[r.DESCRIPTION_MISSING].status == r.PASS
    )
    assert (
        by_rule(r.evaluate_profile(snapshot(text), STRICT))[r.DESCRIPTION_MISSING].status == r.FAIL
    )


def test_failed_description_says_what_to_fix_in_russian() -> None:
    result = by_rule(r.evaluate_profile(snapshot("Школа"), DEFAULT))[r.DESCRIPTION_MISSING]
    assert "5 симв." in result.summary and "50" in result.summary
    assert result.value == "5"


# --- CONTACT_PHONE_MISSING -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "has_phone"),
    [
        ("Телефон: +7 (473) 255-12-34", True),
        ("тел. 8 473 2551234", True),
        ("+74732551234", True),
        ("8(473)255-12-34, приёмная", True),
        ("8-800-200-00-00", True),
        ("+7 473 255 12 34", True),
        ("8 (47370) 2-12-34", True),
        ("звоните: 84732551234.", True),
        ("ИНН 3664012345", False),
        ("ИНН 3664012345, КПП 366401001", False),
        ("ОГРН 1083668012345", False),  # 8 + ten digits inside a longer number
        ("Учебный год 01.09.2024-31.05.2025", False),
        ("Приём с 8-00 до 17-00, 2019-2024", False),
        ("период 2018-2023 гг.", False),
        ("8-473-255-12-34-2023", False),  # too many digits: not a phone
        ("7 (473) 255-12-34", False),  # neither +7 nor 8
        ("+7 (473) 255-12", False),  # too short
        ("255-12-34", False),  # no code
        ("+7.473.255.12.34", False),  # dots are not allowed separators
        ("", False),
    ],
)
def test_phone_formats_in_the_description(text: str, has_phone: bool) -> None:
    description = LONG_ENOUGH + text
    result = by_rule(r.evaluate_profile(snapshot(description), DEFAULT))[r.CONTACT_PHONE_MISSING]
    assert result.status == (r.PASS if has_phone else r.FAIL), text
    assert (r.find_phone([text]) is not None) == has_phone


@pytest.mark.parametrize(
    ("phones", "status"),
    [
        (("+7 (473) 255-12-34",), r.PASS),  # contacts[].phone
        (("", "8 473 255 12 34"), r.PASS),  # main address phone after an empty contact
        (("3664012345",), r.FAIL),
        (("доб. 123",), r.FAIL),
        ((), r.FAIL),
    ],
)
def test_phone_in_contacts_or_address(phones: tuple[str, ...], status: str) -> None:
    result = by_rule(r.evaluate_profile(snapshot(phones=phones), DEFAULT))[r.CONTACT_PHONE_MISSING]
    assert result.status == status


# --- WALL_CLOSED ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "status"),
    [(0, r.FAIL), (1, r.PASS), (2, r.PASS), (3, r.FAIL), (None, r.NOT_EVALUABLE)],
)
def test_wall_values(wall: int | None, status: str) -> None:
    result = by_rule(r.evaluate_profile(snapshot(wall=wall), DEFAULT))[r.WALL_CLOSED]
    assert result.status == status
    assert result.severity == "high"


def test_page_rules_judge_every_platform_a_collector_reads() -> None:
    # Every platform has a descriptor and a collector, MAX included; what MAX does not expose is
    # not_evaluable (tests/unit/test_evaluator_platforms.py has OK, Telegram and MAX in detail).
    page = snapshot().model_copy(update={"platform": Platform.MAX})
    results = {x.rule: x for x in r.evaluate_profile(page, DEFAULT)}
    assert results["PAGE_NOT_PUBLIC"].status == r.PASS
    assert results["PAGE_NOT_CONNECTED"].status == r.PASS
    assert results["COVER_MISSING"].status == r.NOT_EVALUABLE


def test_federal_profile_has_no_completeness_or_activity_rules() -> None:
    assert r.evaluate_profile(snapshot("", wall=0), FEDERAL) == [
        x for x in r.evaluate_profile(snapshot("", wall=0), FEDERAL) if x.rule == r.PAGE_NOT_PUBLIC
    ]
    assert r.evaluate_activity(posts_event(), FEDERAL, NOW) == []


# --- STALE ---------------------------------------------------------------------------------------

D = timedelta(days=1)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("posts", "status", "severity"),
    [
        ((post(6 * D + 23 * H),), r.PASS, "medium"),
        ((post(7 * D),), r.FAIL, "medium"),
        ((post(29 * D),), r.FAIL, "medium"),
        ((post(30 * D),), r.FAIL, "high"),
        ((post(89 * D + 23 * H),), r.FAIL, "high"),
        ((post(90 * D),), r.FAIL, "critical"),
        ((post(400 * D),), r.FAIL, "critical"),
        ((post(0 * D),), r.PASS, "medium"),
        ((post(-1 * H),), r.PASS, "medium"),  # clock skew: a post "from the future"
        # Pinned old post + fresh post: the fresh one counts.
        ((post(200 * D, pinned=True), post(2 * D)), r.PASS, "medium"),
        # Only the pinned old post is own: it still counts, and it is old.
        ((post(200 * D, pinned=True), post(1 * D, repost=True)), r.FAIL, "critical"),
        # A fresh repost does not refresh the page.
        ((post(1 * D, repost=True), post(40 * D)), r.FAIL, "high"),
        # Repost-only window.
        ((post(1 * D, repost=True), post(2 * D, repost=True)), r.FAIL, "critical"),
        # Someone else's post on the wall is not the page's own.
        ((post(1 * D, own=False), post(10 * D)), r.FAIL, "medium"),
        # Empty window.
        ((), r.FAIL, "critical"),
    ],
)
def test_stale_grades(posts: tuple[Post, ...], status: str, severity: str) -> None:
    # The whole wall is shown (see test_evaluator_real_shapes.py for walls holding more).
    event = posts_event(*posts, total_count=len(posts))
    result = by_rule(r.evaluate_activity(event, DEFAULT, NOW))[r.STALE]
    assert (result.status, result.severity) == (status, severity)
    assert result.threshold == "7d/30d/90d"


def test_stale_stricter_profile() -> None:
    grades = {
        age: by_rule(r.evaluate_activity(posts_event(post(age * D)), STRICT, NOW))[r.STALE]
        for age in (2, 3, 14, 60)
    }
    assert [(g.status, g.severity) for g in grades.values()] == [
        (r.PASS, "medium"),
        (r.FAIL, "medium"),
        (r.FAIL, "high"),
        (r.FAIL, "critical"),
    ]


def test_stale_summary_names_the_age() -> None:
    result = by_rule(r.evaluate_activity(posts_event(post(45 * D)), DEFAULT, NOW))[r.STALE]
    assert "45 дн." in result.summary
    assert result.value == "45.0d (собственных записей 1 из 1 показанных)"


# --- PAGE_MISSING_ANY ----------------------------------------------------------------------------


def org(*pages: tuple[Platform, str], exempt: bool = False) -> Organisation:
    return Organisation(
        org_id=ORG_ID,
        name="МБОУ СОШ № 1",
        level="municipal",
        founder="Управление образования",
        municipality="Лискинский район",
        sphere="education",
        exempt=exempt,
        pages=tuple(PageRef(platform=p, native_id=n, org_id=ORG_ID) for p, n in pages),
    )


VK = (Platform.VK, "club1")
VK2 = (Platform.VK, "club2")
OK = (Platform.OK, "555")
TG = (Platform.TG, "school1")


@pytest.mark.parametrize(
    ("pages", "status_by_key", "exempt", "status"),
    [
        ((), {}, False, r.FAIL),
        ((), {}, True, r.PASS),  # exempt: never accused
        ((VK,), {}, False, r.PASS),  # not yet observed: no evidence against it
        ((VK,), {"vk:club1": r.LIVE}, False, r.PASS),
        ((VK,), {"vk:club1": r.GONE}, False, r.FAIL),
        ((VK,), {"vk:club1": r.GONE}, True, r.PASS),
        ((VK, VK2), {"vk:club1": r.GONE}, False, r.PASS),
        ((VK, VK2), {"vk:club1": r.GONE, "vk:club2": r.GONE}, False, r.FAIL),
        ((VK, OK), {"vk:club1": r.GONE}, False, r.PASS),  # an OK page in the register counts
        ((OK,), {}, False, r.PASS),
        ((TG,), {}, False, r.FAIL),  # Telegram is not on the legal list
    ],
)
def test_page_missing_any(pages, status_by_key, exempt, status) -> None:
    result = by_rule(r.evaluate_presence(org(*pages, exempt=exempt), status_by_key, DEFAULT))[
        r.PAGE_MISSING_ANY
    ]
    assert result.status == status
    assert result.severity == "critical"
    assert "8-ФЗ" in result.basis


def test_presence_in_federal_profile() -> None:
    assert by_rule(r.evaluate_presence(org(), {}, FEDERAL))[r.PAGE_MISSING_ANY].status == r.FAIL


def test_unavailable_page_makes_page_rules_not_evaluable() -> None:
    results = by_rule(r.evaluate_unavailable(Platform.VK, Unavailability.DELETED, DEFAULT))
    assert set(results) == set(r.PAGE_RULES)
    assert results.pop(r.PAGE_NOT_PUBLIC).status == r.FAIL  # deleted: the page is not public
    assert {x.status for x in results.values()} == {r.NOT_EVALUABLE}
    federal = r.evaluate_unavailable(Platform.VK, Unavailability.DELETED, FEDERAL)
    assert {x.rule for x in federal} == {
        r.PAGE_NOT_PUBLIC,
        r.BANNED_PLATFORM_LINKS,
        r.FOREIGN_MESSENGER_SERVICE,
    }


# --- profiles ------------------------------------------------------------------------------------


def test_shipped_profiles() -> None:
    assert r.PAGE_MISSING_ANY in FEDERAL.enabled_rules
    assert r.DESCRIPTION_MISSING not in FEDERAL.enabled_rules
    platform_rules = {r.PAGE_MISSING_VK, r.PAGE_MISSING_OK, r.PAGE_MISSING_TG, r.PAGE_MISSING_MAX}
    assert set(DEFAULT.enabled_rules) == set(r.RULES) - platform_rules
    assert set(STRICT.enabled_rules) == set(r.RULES)
    assert set(load_profile("foundation").enabled_rules) == {
        r.PAGE_MISSING_ANY,
        r.DESCRIPTION_MISSING,
        r.CONTACT_PHONE_MISSING,
        r.WALL_CLOSED,
        r.STALE,
    }
    assert DEFAULT.rules.description_missing.min_chars == 50
    assert [g.days for g in STRICT.rules.stale.grades] == [60, 14, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [1, 2", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("rules:\n  STALE_TYPO: {enabled: true, severity: high}\n", "STALE_TYPO"),
        (
            "rules:\n  DESCRIPTION_MISSING: {enabled: true, severity: high}\n",
            "DESCRIPTION_MISSING.min_chars",
        ),
        ("rules:\n  WALL_CLOSED: {enabled: true, severity: urgent}\n", "WALL_CLOSED.severity"),
        (
            "rules:\n  STALE:\n    enabled: true\n    no_own_posts_severity: critical\n"
            "    grades: [{days: 7, severity: medium}, {days: 7, severity: high}]\n",
            "same number of days",
        ),
    ],
)
def test_bad_profile_files_fail_clearly(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile("bad", tmp_path)
    assert message in str(info.value)
    assert "bad.yaml" in str(info.value)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="dialog-default"):
        load_profile("no-such-profile")


def test_profile_by_path(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("rules:\n  PAGE_MISSING_ANY: {enabled: true, severity: high}\n")
    profile = load_profile(str(path))
    assert profile.name == "custom"
    (result,) = r.evaluate_presence(org(), {}, profile)
    assert result.severity == "high"


def test_epoch_ms_answers_for_each_moment_when_asked_again() -> None:
    """``epoch_ms`` keeps its last answer for the same datetime: alternating moments, equal ones
    made apart and a naive one still get their own milliseconds (truncated, as DateTime64(3))."""
    a = datetime(2026, 3, 2, 9, 0, 0, 999_999, tzinfo=UTC)
    b = a + timedelta(microseconds=1)
    equal_to_a = datetime(2026, 3, 2, 9, 0, 0, 999_999, tzinfo=UTC)
    naive = datetime(2026, 3, 2, 9, 0, 0, 1_000)
    expected = {id(x): int(x.timestamp()) * 1000 + x.microsecond // 1000 for x in (a, b, naive)}
    expected[id(equal_to_a)] = expected[id(a)]
    for moment in (a, a, b, a, equal_to_a, naive, naive, b):
        assert r.epoch_ms(moment) == expected[id(moment)]
    assert r.epoch_ms(a) == 1772442000999
    assert r.posted_ms([]) == []
