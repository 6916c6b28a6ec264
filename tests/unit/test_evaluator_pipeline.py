"""The batch step with the whole catalogue: two-source evidence, cohorts, scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gospublic.contracts import (
    Organisation,
    OrganisationsRegistered,
    PageRef,
    PageSnapshot,
    Platform,
    Post,
    PostsObserved,
    ViolationOpened,
)
from services.evaluator.handlers import TABLE_COLUMNS, process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState

PROFILE = load_profile("dialog-default")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GOOD = "Официальная страница. Наши задачи: образование. Тел. +7 (473) 255-12-34, a@school.ru"


def org(i: int) -> Organisation:
    oid = f"10236010000{i:02d}"
    return Organisation(
        org_id=oid, name=f"Школа {i}", level="municipal", founder="Отдел образования",
        municipality="Лискинский район", sphere="education",
        pages=(PageRef(platform=Platform.VK, native_id=f"club{i}", org_id=oid),),
    )  # fmt: skip


def snapshot(i: int, at: datetime, description: str = GOOD, members: int = 1000) -> PageSnapshot:
    return PageSnapshot.create(
        observed_at=at, platform=Platform.VK, page_ref=org(i).pages[0], sweep_id="s",
        page_id=str(i), name=f"Школа {i}", description=description, wall=1, members=members,
        site="https://school.ru", address="ул. Мира, 1", has_photo=True, has_cover=True,
        is_government_organization=True,
    )  # fmt: skip


def posts(i: int, at: datetime, likes: int = 10, text: str = "Новости") -> PostsObserved:
    return PostsObserved.create(
        observed_at=at, platform=Platform.VK, page_ref=org(i).pages[0], sweep_id="s",
        page_id=str(i), total_count=14,
        posts=tuple(
            Post(post_id=str(k), posted_at=at - timedelta(days=2 * k), is_own=True,
                 is_repost=False, likes=likes, text=text)
            for k in range(14)
        ),
    )  # fmt: skip


def opened(out) -> set[tuple[str, str]]:
    return {(a.labels.page_id, a.labels.rule) for a in out.alerts if isinstance(a, ViolationOpened)}


def register(*orgs: Organisation) -> OrganisationsRegistered:
    return OrganisationsRegistered.create(
        observed_at=T0, registry_version="v", region="36", chunk=0, chunks=1, organisations=orgs
    )


def test_banned_link_in_posts_needs_both_sources_before_it_resolves() -> None:
    state = EvaluatorState()
    process_batch(state, [register(org(1))], PROFILE, T0)
    out = process_batch(state, [posts(1, T0, text="instagram.com/school")], PROFILE, T0)
    assert ("1", "BANNED_PLATFORM_LINKS") in opened(out)  # evidence from one source suffices
    # A clean profile does not clear what the posts showed.
    out = process_batch(state, [snapshot(1, T0 + timedelta(minutes=1))], PROFILE, T0)
    assert not [a for a in out.alerts if a.labels.rule == "BANNED_PLATFORM_LINKS"]
    # Clean posts: both sources clean now, it resolves.
    out = process_batch(state, [posts(1, T0 + timedelta(hours=1))], PROFILE, T0)
    assert [a.labels.rule for a in out.alerts] == ["BANNED_PLATFORM_LINKS"]


def test_low_engagement_against_the_cohort_and_scores() -> None:
    state = EvaluatorState()
    orgs = [org(i) for i in range(1, 26)]
    events = [register(*orgs)]
    for i in range(1, 26):
        events.append(snapshot(i, T0))
        events.append(posts(i, T0, likes=1 if i == 25 else 10 + i))
    out = process_batch(state, events, PROFILE, T0)
    low = {page for page, rule in opened(out) if rule == "LOW_ENGAGEMENT"}
    assert low == {"25"}  # the weakest page, once the cohort has 20 pages
    scores = [dict(zip(TABLE_COLUMNS["scores"], row, strict=True)) for row in out.rows["scores"]]
    components = {s["component"] for s in scores}
    assert {"design", "frequency", "engagement", "er", "compliance"} <= components
    design = [s["value"] for s in scores if s["component"] == "design"]
    assert design and all(v == 100.0 for v in design)
    assert all(s["region"] == "36" and s["sphere"] == "education" for s in scores)
    frequency = [s["value"] for s in scores if s["component"] == "frequency"]
    assert all(v == 1.0 for v in frequency)  # 14 posts in 28 days = 3.5/week
    compliance = [
        s for s in scores if s["component"] == "compliance" and s["org_id"].endswith("25")
    ]
    assert compliance[-1]["value"] < 1.0


def test_rollback_restores_the_cohorts() -> None:
    state = EvaluatorState()
    process_batch(state, [register(org(1)), snapshot(1, T0), posts(1, T0)], PROFILE, T0)
    before = state.cohort_rank(("municipal", "education", "36"), 0.5)
    state.begin()
    process_batch(state, [register(org(2)), snapshot(2, T0), posts(2, T0, likes=900)], PROFILE, T0)
    state.rollback()
    assert state.cohort_rank(("municipal", "education", "36"), 0.5) == before
