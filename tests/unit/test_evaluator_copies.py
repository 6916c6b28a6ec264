"""Cross-platform copies: table-driven cases of copy_shares and originality."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.copies import (
    WINDOW,
    CopyShare,
    PlatformPost,
    copy_shares,
    kept,
    kept_originality,
    normalise,
    originality,
    unkept,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
A = "Приём документов в первый класс начнётся 1 апреля"
B = "Итоги муниципального этапа олимпиады школьников по математике"
C = "Проведены учения по гражданской обороне на территории района"


def post(platform: str, ago: timedelta, text: str) -> PlatformPost:
    return PlatformPost(platform, NOW - ago, text)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Приём документов: https://edu.example.ru/x 📚!", "прием документов"),
        ("[club123|Школа № 1] сообщает", "школа 1 сообщает"),
        ("  ИТОГИ\n\nолимпиады…  ", "итоги олимпиады"),
    ],
)
def test_normalise(text: str, normal: str) -> None:
    assert normalise(text) == normal


@pytest.mark.parametrize(
    ("posts", "expected"),
    [
        pytest.param([], [], id="no posts"),
        pytest.param(
            [post("tg", 3 * H, A), post("max", 1 * H, A + " https://max.ru/x")],
            [CopyShare("tg", "max", 1, 1, 7200.0), CopyShare("max", "tg", 1, 0, None)],
            id="max copies telegram two hours later",
        ),
        pytest.param(
            [
                post("vk", 5 * H, A),
                post("vk", 4 * H, B),
                post("tg", 4 * H, A),
                post("tg", 1 * H, C),
            ],
            [CopyShare("vk", "tg", 2, 1, 3600.0), CopyShare("tg", "vk", 2, 0, None)],
            id="half of telegram copies vk, none of vk copies telegram",
        ),
        pytest.param(
            [post("vk", 1 * H, "Доброе утро!"), post("tg", 2 * H, "Доброе утро!")],
            [CopyShare("tg", "vk", 0, 0, None), CopyShare("vk", "tg", 0, 0, None)],
            id="texts too short to tell are neither copies nor originals",
        ),
    ],
)
def test_copy_shares(posts: list[PlatformPost], expected: list[CopyShare]) -> None:
    assert sorted(copy_shares(posts), key=lambda s: (s.target, s.source)) == sorted(
        expected, key=lambda s: (s.target, s.source)
    )


@pytest.mark.parametrize(
    ("posts", "platform", "counts", "mirror"),
    [
        pytest.param(
            [
                post("tg", 10 * D, A),
                post("max", 9 * D, A),
                post("tg", 3 * D, B),
                post("max", 2 * D, B),
            ],
            "max",
            (2, 0, ("tg",)),
            True,
            id="every max post copies telegram",
        ),
        pytest.param(
            [post("tg", 10 * D, A), post("max", 9 * D, A), post("max", 1 * D, C)],
            "max",
            (2, 1, ("tg",)),
            False,
            id="one original post is enough",
        ),
        pytest.param(
            [post("tg", 3 * D, A)],
            "max",
            (0, 0, ()),
            False,
            id="an empty channel is STALE's",
        ),
        pytest.param(
            [post("max", 40 * D, C), post("tg", 60 * D, A), post("max", 5 * D, A)],
            "max",
            (1, 0, ("tg",)),
            True,
            id="an original older than four weeks does not count",
        ),
        pytest.param(
            [post("max", 5 * D, A), post("tg", 4 * D, A)],
            "max",
            (1, 1, ()),
            False,
            id="the first to post it is the original",
        ),
        pytest.param(
            [post("tg", 3 * D, A), post("max", 2 * D, A)],
            "tg",
            (1, 1, ()),
            False,
            id="the source itself is original",
        ),
    ],
)
def test_originality(posts, platform, counts, mirror) -> None:
    found = originality(posts, platform, NOW)
    assert (found.posts, found.original, found.copied_from) == counts
    assert found.no_original_content is mirror
    by_platform: dict[str, list[tuple[datetime, str]]] = {}
    for p in posts:
        by_platform.setdefault(p.platform, []).append((p.posted_at, p.text))
    held = {name: kept(items) for name, items in by_platform.items()}
    assert kept_originality(held, platform, NOW) == originality(unkept(held), platform, NOW)


def test_kept_originality_is_originality_of_the_unkept_posts() -> None:
    """Random kept posts of three platforms, with times on and around the window's edges and a
    clock with microseconds: the shortcut over (ms, key) pairs finds what ``originality`` does."""
    rng = random.Random(7)
    for _ in range(300):
        now = NOW + timedelta(microseconds=rng.choice([0, 1, 499, 999_999]))
        now_ms = int((now - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        window_ms = WINDOW // timedelta(milliseconds=1)
        edges = [now_ms, now_ms - 1, now_ms + 1, now_ms - window_ms, now_ms - window_ms + 1]
        held = {
            platform: tuple(
                (rng.choice(edges) if rng.random() < 0.3 else now_ms - rng.randrange(40 * 86_400_000),
                 rng.randrange(6))
                for _ in range(rng.randrange(8))
            )
            for platform in rng.sample(["vk", "tg", "max"], rng.randrange(1, 4))
        }  # fmt: skip
        for platform in ("vk", "tg", "max"):
            assert kept_originality(held, platform, now) == originality(unkept(held), platform, now)
