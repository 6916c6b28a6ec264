"""The simulator's comments take the shapes real pages show, and its ground truth reads them as
the comment rules do: a top-level answer naming the citizen answers, another community's comment
and citizens talking under a citizen's post are no requests."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from services.simulator.region import Region, generate_region

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW, size=800)


def commented(region: Region):
    for g in sorted(region.groups.values(), key=lambda g: g.id):
        if g.live and not g.is_closed and region.comments_open(g):
            for post in region.posts(g)[:20]:
                comments = region.comments(g, post)
                if comments:
                    yield g, post, comments


def test_every_real_shape_is_there_in_a_sensible_share(region: Region) -> None:
    shapes = Counter()
    for g, post, comments in commented(region):
        for c in comments:
            if c.from_id == -g.id:
                shapes["in thread" if c.thread else "named, reply_to_user" if c.reply_to_user
                       else "named only"] += 1  # fmt: skip
                if not c.thread:
                    assert c.mention > 0
                    assert region.comment_text(c).startswith(f"[id{c.mention}|")
            elif c.from_id < 0:
                shapes["community"] += 1
        if post.from_id > 0:
            shapes["citizen post"] += 1
            assert all(c.from_id != -g.id for c in comments)
        threads = Counter(c.thread for c in comments if c.thread)
        shapes["long thread"] += bool(threads) and max(threads.values()) > 10
    answers = shapes["in thread"] + shapes["named, reply_to_user"] + shapes["named only"]
    assert 0.5 < shapes["in thread"] / answers < 0.7
    assert shapes["named, reply_to_user"] > 50 and shapes["named only"] > 50
    assert shapes["community"] > 20 and shapes["citizen post"] > 5 and shapes["long thread"] > 10


def test_ground_truth_takes_a_named_answer_as_the_answer(region: Region) -> None:
    checked = 0
    for g, post, comments in commented(region):
        if post.from_id != -g.id:
            continue
        replied = {c.id: at for c, at in region.first_replies(g, [post], region.now_ts)}
        for answer in comments:
            if answer.from_id != -g.id or answer.thread:
                continue
            earlier = [c for c in comments if c.from_id == answer.mention and c.date <= answer.date]
            assert earlier
            for c in earlier:
                assert replied[c.id] is not None and replied[c.id] <= answer.date
                checked += 1
    assert checked > 100


def test_ground_truth_judges_no_community_and_no_comment_under_a_citizens_post(
    region: Region,
) -> None:
    judged = Counter()
    for g, post, comments in commented(region):
        replies = region.first_replies(g, [post], region.now_ts)
        if post.from_id != -g.id:
            assert replies == []
            judged["citizen post"] += 1
            continue
        ids = {c.id for c, _ in replies}
        assert ids == {c.id for c in comments if c.from_id > 0}
        judged["community"] += any(c.from_id < 0 and c.from_id != -g.id for c in comments)
    assert judged["citizen post"] > 5 and judged["community"] > 20
