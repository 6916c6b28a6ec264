"""How the VK collector reads a post's comments: the first call, then follow-ups for the rest of
the top level and of every thread, bounded per post, with what was left unread named in the event.

A small in-memory VK answers ``wall.getComments`` the way the API does: ``count`` at most 100,
``offset``, ``comment_id`` for one thread, ``thread_items_count`` replies inline (none when it is
not given), ``current_level_count`` the comments of the level asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from gospublic import contracts as c
from services.collector.vk_collect import COMMENT_PAGES_MAX, collect

GID = 4242
PAGE = -GID
NOW = int(datetime(2025, 6, 2, 12, 0, tzinfo=UTC).timestamp())


class FakeVk:
    """One group, one wall; ``threads`` maps a top-level comment to its replies (id, author)."""

    def __init__(
        self,
        posts: dict[int, int],  # post id → author
        top: dict[int, list[tuple[int, int]]],  # post id → top-level comments (id, author)
        threads: dict[int, list[tuple[int, int]]] | None = None,
        counts: dict[int, int] | None = None,  # a post or thread whose count VK overstates
    ) -> None:
        self.posts, self.top, self.threads = posts, top, threads or {}
        self.counts = counts or {}
        self.comment_calls: list[dict[str, Any]] = []

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        assert method == "groups.getById"
        return [{"id": GID, "name": "Администрация", "screen_name": f"club{GID}", "wall": 1,
                 "is_closed": 0, "description": "", "members_count": 10}]  # fmt: skip

    async def execute(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        return [self._answer(method, params) for method, params in calls]

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "wall.get":
            items = []
            for post, author in sorted(self.posts.items(), reverse=True):
                n = len(self.top.get(post, [])) + sum(
                    len(self.threads.get(cid, [])) for cid, _ in self.top.get(post, [])
                )
                items.append({"id": post, "from_id": author, "owner_id": PAGE,
                              "date": NOW - post * 60, "text": "", "comments": {"count": n,
                              "can_post": 1}})  # fmt: skip
            return {"count": len(items), "items": items}
        assert method == "wall.getComments"
        self.comment_calls.append(params)
        post, count = params["post_id"], min(params.get("count", 10), 100)
        offset, inline = params.get("offset", 0), min(params.get("thread_items_count", 0), 10)
        root = params.get("comment_id")
        level = self.threads.get(root, []) if root else self.top.get(post, [])
        items = []
        for cid, author in level[offset : offset + count]:
            obj = self._comment(cid, author, post, root)
            if not root:
                replies = self.threads.get(cid, [])
                obj["thread"] = {
                    "count": self.counts.get(cid, len(replies)),
                    "items": [self._comment(r, a, post, cid) for r, a in replies[:inline]],
                }
            items.append(obj)
        total = self.counts.get(root or -post, len(level))
        return {"count": total, "items": items, "current_level_count": total}

    @staticmethod
    def _comment(cid: int, author: int, post: int, root: int | None) -> dict[str, Any]:
        obj = {"id": cid, "from_id": author, "date": NOW - 86_400 + cid, "post_id": post,
               "owner_id": PAGE, "parents_stack": [root] if root else [], "text": "Вопрос"}  # fmt: skip
        if root:
            obj["reply_to_comment"] = root
        return obj


def run(vk: FakeVk, max_pages: int = COMMENT_PAGES_MAX) -> c.CommentsObserved:
    task = c.CollectTask.create(
        observed_at=datetime.now(UTC), sweep_id="s1", platform=c.Platform.VK,
        pages=(c.PageRef(platform=c.Platform.VK, native_id=str(GID), org_id="1023601234567"),),
    )  # fmt: skip
    collected = asyncio.run(collect(vk, task, 20, {}, comment_pages=max_pages))
    (event,) = [e for e in collected.events if isinstance(e, c.CommentsObserved)]
    return event


def test_a_long_thread_is_read_to_its_end() -> None:
    replies = [(10_000 + n, 500 + n % 7) for n in range(250)]
    vk = FakeVk({1: PAGE}, {1: [(1, 501)]}, {1: replies})
    event = run(vk)
    assert len(event.comments) == 251
    assert event.partial_threads == () and event.partial_posts == ()
    assert all(x.thread_id == "1" for x in event.comments if x.comment_id != "1")
    thread_reads = [p for p in vk.comment_calls if p.get("comment_id") == 1]
    assert sorted(p.get("offset", 0) for p in thread_reads) == [0, 100, 200]


def test_threads_on_later_top_level_pages_are_read_too() -> None:
    """Before, only the threads of the first 100 top-level comments were followed: a page's
    answer in the thread of comment 250 was never seen and the citizen was called unanswered."""
    top = [(n, 500 + n) for n in range(1, 251)]
    replies = [(90_000 + n, 700) for n in range(11)] + [(99_999, PAGE)]
    vk = FakeVk({1: PAGE}, {1: top}, {250: replies})
    event = run(vk)
    ids = {x.comment_id for x in event.comments}
    assert "99999" in ids and len(ids) == 250 + 12
    assert event.partial_threads == () and event.partial_posts == ()


def test_follow_ups_stop_at_the_cap_and_the_rest_is_named_unread(caplog) -> None:
    """VK's counts are unbounded (``current_level_count`` 10⁹): the reads stop at the cap."""
    top = [(n, 500 + n) for n in range(1, 1001)]
    vk = FakeVk({1: PAGE}, {1: top}, counts={-1: 10**9})
    with caplog.at_level(logging.WARNING, logger="gospublic.collector.vk"):
        event = run(vk, max_pages=3)
    assert len(vk.comment_calls) == 1 + 3
    assert len(event.comments) == 400
    assert event.partial_posts == ("1",)
    assert any("cut at the follow-up cap" in r.getMessage() for r in caplog.records)


def test_a_thread_cut_at_the_cap_is_named_unread() -> None:
    replies = [(10_000 + n, 501) for n in range(1000)]
    vk = FakeVk({1: PAGE}, {1: [(1, 501), (2, 502)]}, {1: replies})
    event = run(vk, max_pages=4)
    assert len(vk.comment_calls) == 1 + 4
    assert event.partial_threads == ("1",) and event.partial_posts == ()


def test_the_cap_by_default_bounds_the_calls_of_one_post() -> None:
    vk = FakeVk({1: PAGE}, {1: [(1, 501)]}, {1: [(10_000, 502)]}, counts={1: 10**12})
    event = run(vk)
    assert len(vk.comment_calls) <= 1 + COMMENT_PAGES_MAX
    assert event.partial_threads == ("1",)


def test_comments_under_a_citizens_post_are_not_read() -> None:
    vk = FakeVk({1: PAGE, 2: 777}, {1: [(1, 501)], 2: [(2, 778)]})
    event = run(vk)
    assert {p["post_id"] for p in vk.comment_calls} == {1}
    assert [x.comment_id for x in event.comments] == ["1"]


@pytest.mark.parametrize("inline", [0, 10])
def test_every_reply_is_read_whatever_the_inline_count(inline: int, monkeypatch) -> None:
    from services.collector import vk_comments

    monkeypatch.setattr(vk_comments, "THREAD_ITEMS", inline)
    replies = [(10_000 + n, PAGE if n == 11 else 501) for n in range(12)]
    vk = FakeVk({1: PAGE}, {1: [(1, 501)]}, {1: replies})
    event = run(vk)
    assert len(event.comments) == 13 and event.partial_threads == ()


def test_a_failed_thread_read_is_named_unread_and_read_again_next_sweep() -> None:
    from services.collector.vk_client import VkError

    class Failing(FakeVk):
        def _answer(self, method: str, params: dict[str, Any]) -> Any:
            if params.get("comment_id") == 1:
                self.comment_calls.append(params)
                return VkError(10, "Internal server error")
            return super()._answer(method, params)

    vk = Failing({1: PAGE}, {1: [(1, 501)]}, {1: [(10_000 + n, 502) for n in range(12)]})
    task = c.CollectTask.create(
        observed_at=datetime.now(UTC), sweep_id="s1", platform=c.Platform.VK,
        pages=(c.PageRef(platform=c.Platform.VK, native_id=str(GID), org_id="1023601234567"),),
    )  # fmt: skip
    collected = asyncio.run(collect(vk, task, 20, {}))
    (event,) = [e for e in collected.events if isinstance(e, c.CommentsObserved)]
    assert event.partial_threads == ("1",)
    assert len(event.comments) == 11  # the question and the 10 replies shown inline
    (cursor,) = collected.cursors.values()
    assert "1" not in cursor.comments  # not recorded as read: the next sweep reads it again


@pytest.mark.parametrize(
    ("top", "waiting"),
    [
        ([(10, 501)], {"1": NOW - 86_400 + 10}),  # a citizen's question, no answer yet
        ([(10, 501), (11, PAGE)], {}),  # the page answered after it
    ],
)
def test_the_cursor_keeps_the_comments_still_waiting_for_the_scheduler(top, waiting) -> None:
    task = c.CollectTask.create(
        observed_at=datetime.now(UTC), sweep_id="s1", platform=c.Platform.VK,
        pages=(c.PageRef(platform=c.Platform.VK, native_id=str(GID), org_id="1023601234567"),),
    )  # fmt: skip
    collected = asyncio.run(collect(FakeVk({1: PAGE}, {1: top}), task, 20, {}))
    assert collected.cursors[f"vk.{GID}"].waiting == waiting
