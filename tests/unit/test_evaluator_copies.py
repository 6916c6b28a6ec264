"""Cross-platform copies: table-driven cases of copy_shares and originality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.copies import (
    CopyShare,
    PlatformPost,
    copy_shares,
    normalise,
    originality,
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
