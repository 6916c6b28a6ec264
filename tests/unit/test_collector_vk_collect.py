"""Pure parts of the VK collection: matching pages to groups, wall outcomes, bus messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gospublic import contracts as c
from services.collector.vk_client import VkError, VkGarbage
from services.collector.vk_collect import Chunk, match_group, to_outgoing
from services.collector.worker import page_outcomes

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def ref(native_id: str) -> c.PageRef:
    return c.PageRef(platform=c.Platform.VK, native_id=native_id, org_id="1023601234567")


def chunk(*native_ids: str) -> Chunk:
    task = c.CollectTask.create(
        observed_at=NOW,
        sweep_id="sweep-7",
        platform=c.Platform.VK,
        pages=tuple(ref(n) for n in native_ids),
    )
    return Chunk(task)


@pytest.mark.parametrize(
    ("native_id", "expected"),
    [("123", 123), ("club123", 123), ("public123", 123), ("Liski_Adm", 7), ("nobody", None)],
)
def test_match_group(native_id: str, expected: int | None) -> None:
    by_id = {123: {"id": 123}, 7: {"id": 7, "screen_name": "liski_adm"}}
    by_screen = {"liski_adm": by_id[7]}
    group = match_group(native_id, by_id, by_screen)
    assert (group["id"] if group else None) == expected


@pytest.mark.parametrize(
    ("outcome", "reason", "code"),
    [
        (VkError(15, "Access denied: wall is disabled"), c.Unavailability.PRIVATE, 15),
        (VkError(30, "This profile is private"), c.Unavailability.PRIVATE, 30),
        (VkError(203, "Access to group denied"), c.Unavailability.PRIVATE, 203),
        (VkError(10, "Internal server error"), c.Unavailability.API_ERROR, 10),
        (VkGarbage("truncated JSON"), c.Unavailability.API_ERROR, None),
        ({"count": 1, "items": [{"id": 1}]}, c.Unavailability.API_ERROR, None),
    ],
)
def test_wall_failure_becomes_page_unavailable(outcome: object, reason, code) -> None:
    pages = chunk("123")
    pages.posts(0, 123, outcome, NOW)
    (event,) = pages.events[0]
    assert isinstance(event, c.PageUnavailable)
    assert (event.reason, event.error_code) == (reason, code)
    assert event.detail.startswith("wall.get: ")
    assert event.observed_at == NOW and event.sweep_id == "sweep-7"


def test_wall_answer_becomes_posts_observed() -> None:
    pages = chunk("123")
    pages.posts(0, 123, {"count": 1, "items": [{"id": 9, "date": 1, "from_id": -123}]}, NOW)
    (event,) = pages.events[0]
    assert isinstance(event, c.PostsObserved)
    assert event.page_id == "123" and event.posts[0].is_own


def test_message_ids_are_stable_per_page_kind_and_sweep() -> None:
    pages = chunk("club123")
    pages.down(0, NOW, c.Unavailability.NOT_FOUND, "gone")
    pages.down(0, NOW, c.Unavailability.NOT_FOUND, "gone again")
    first, second = (to_outgoing(e) for e in pages.events[0])
    assert first.subject == c.event_subject("vk", "page_unavailable", c.region_partition(""))
    assert (
        first.msg_id
        == second.msg_id
        == c.message_id("vk", "club123", "page_unavailable", "sweep-7")
    )
    assert first.payload != second.payload  # event ids differ; JetStream keeps the first


def test_oversized_posts_batch_is_cut_to_fit_one_message() -> None:
    posts = tuple(
        c.Post(post_id=str(i), posted_at=NOW, is_own=True, is_repost=False, text="я" * 90_000)
        for i in range(20)
    )
    event = c.PostsObserved.create(
        observed_at=NOW,
        platform=c.Platform.VK,
        page_ref=ref("1"),
        sweep_id="s",
        page_id="1",
        posts=posts,
    )
    assert len(event.to_bytes()) > c.MAX_EVENT_BYTES
    message = to_outgoing(event)
    assert len(message.payload) <= c.MAX_EVENT_BYTES
    decoded = c.decode(message.payload)
    assert len(decoded.posts) == 20 and len(decoded.posts[0].text) == 4000


def test_page_outcomes_count_each_page_once() -> None:
    pages = chunk("1", "2", "3")
    pages.events[0].append(
        c.PageSnapshot.create(
            observed_at=NOW,
            platform=c.Platform.VK,
            page_ref=ref("1"),
            sweep_id="sweep-7",
            page_id="1",
            name="x",
        )
    )
    pages.posts(0, 1, {"count": 0, "items": []}, NOW)
    pages.posts(1, 2, VkError(15, "denied"), NOW)
    pages.down(2, NOW, c.Unavailability.DELETED, "deactivated: deleted")
    events = [e for page in pages.events for e in page]
    task = c.CollectTask.create(
        observed_at=NOW, sweep_id="sweep-7", platform=c.Platform.VK, pages=tuple(pages.refs)
    )
    assert page_outcomes(task, events) == {"ok": 1, "private": 1, "deleted": 1}


@pytest.mark.parametrize(
    "items",
    [
        [{"id": 9, "date": 1, "from_id": -123, "likes": {"count": 2**63}}],
        [{"id": 9, "date": 1, "from_id": -123, "views": {"count": 10**30}}],
        [{"id": 9, "date": 1, "from_id": -123, "comments": {"count": -(2**63) - 1}}],
    ],
    ids=["likes 2**63", "views 10**30", "comments below Int64"],
)
def test_a_counter_beyond_int64_is_a_malformed_answer_not_an_event(items: list) -> None:
    """ClickHouse stores the counters as Int64: such a post became an event whose insert failed the
    evaluator's whole batch. It is the page's malformed answer now."""
    pages = chunk("123")
    pages.posts(0, 123, {"count": 1, "items": items}, NOW)
    (event,) = pages.events[0]
    assert isinstance(event, c.PageUnavailable)
    assert event.reason == c.Unavailability.API_ERROR
    assert "less than or equal" in event.detail or "greater than or equal" in event.detail
