"""COPIED_CONTENT through the evaluator: a MAX channel that only mirrors the body's Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gospublic.contracts import (
    Organisation,
    OrganisationsRegistered,
    PageRef,
    Platform,
    Post,
    PostsObserved,
    ViolationOpened,
    ViolationResolved,
)
from services.evaluator.handlers import process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
ORG = "1023601000001"
TEXTS = (
    "Приём документов в первый класс начнётся 1 апреля",
    "Итоги муниципального этапа олимпиады школьников по математике",
    "Проведены учения по гражданской обороне на территории района",
)
PAGES = {Platform.TG: "school1", Platform.MAX: "school1_gos"}


def registered(profile_pages=PAGES) -> OrganisationsRegistered:
    org = Organisation(
        org_id=ORG, name="Школа № 1", level="municipal", founder="Отдел образования",
        municipality="Лиски", sphere="education",
        pages=tuple(PageRef(platform=p, native_id=n, org_id=ORG) for p, n in profile_pages.items()),
    )  # fmt: skip
    return OrganisationsRegistered.create(
        observed_at=T0, registry_version="v1", region="36", chunk=0, chunks=1, organisations=(org,)
    )


def posts(platform: Platform, at: datetime, texts: tuple[str, ...], lag: timedelta):
    return PostsObserved.create(
        observed_at=at, platform=platform, sweep_id=f"s{at:%H}", page_id=PAGES[platform],
        page_ref=PageRef(platform=platform, native_id=PAGES[platform], org_id=ORG),
        posts=tuple(
            Post(post_id=str(n), posted_at=at - (n + 1) * 24 * H + lag, is_own=True,
                 is_repost=False, text=text)
            for n, text in enumerate(texts)
        ),
    )  # fmt: skip


def copied(out) -> list[tuple[str, str]]:
    return [
        ("open" if isinstance(a, ViolationOpened) else "resolved", a.labels.platform)
        for a in out.alerts
        if isinstance(a, ViolationOpened | ViolationResolved) and a.labels.rule == "COPIED_CONTENT"
    ]


@pytest.mark.parametrize(
    ("profile", "max_texts", "expected"),
    [
        ("dialog-default", TEXTS, [("open", "max")]),
        ("dialog-default", (*TEXTS[:2], "Собственная новость канала о летнем лагере"), []),
        ("federal-min", TEXTS, []),
    ],
)
def test_a_channel_that_only_copies_the_organisations_other_page(profile, max_texts, expected):
    state, book = EvaluatorState(), load_profile(profile)
    process_batch(state, [registered()], book, T0)
    process_batch(state, [posts(Platform.TG, T0 + H, TEXTS, timedelta(0))], book, T0 + H)
    out = process_batch(
        state, [posts(Platform.MAX, T0 + 2 * H, max_texts, 2 * H)], book, T0 + 2 * H
    )
    assert copied(out) == expected


def test_the_state_keeps_a_bounded_number_of_posts_per_page():
    state, book = EvaluatorState(), load_profile("dialog-default")
    process_batch(state, [registered()], book, T0)
    many = tuple(f"Новость номер {n} о жизни школы и района" for n in range(200))
    process_batch(state, [posts(Platform.TG, T0 + H, many, timedelta(0))], book, T0 + H)
    assert len(state.post_texts[ORG]["tg"]) == 28


def test_an_organisation_on_one_platform_keeps_nothing():
    state, book = EvaluatorState(), load_profile("dialog-default")
    process_batch(state, [registered({Platform.TG: "school1"})], book, T0)
    process_batch(state, [posts(Platform.TG, T0 + H, TEXTS, timedelta(0))], book, T0 + H)
    assert state.post_texts == {}
