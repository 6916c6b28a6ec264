"""The simulated MAX channels: planted states in their shares, deterministic, and their truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from services.evaluator.copies import MIN_TEXT, PlatformPost, normalise, originality
from services.simulator.max_api import (
    COPIED,
    EMPTY,
    MAX_LINKED,
    NOT_CONNECTED,
    STALE,
    MaxSimulator,
    channel,
    max_link,
    planted,
    read_posts,
    shown_text,
)
from services.simulator.other_pages import tg_channel
from services.simulator.region import WALL_WINDOW, generate_region

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def test_states_are_planted_in_their_shares_and_reproducibly() -> None:
    region = generate_region("voronezh", seed=3, now=NOW, size=1500)
    again = generate_region("voronezh", seed=3, now=NOW, size=1500)
    channels = [channel(region, i) for i in range(len(region.organisations))]
    assert channels == [channel(again, i) for i in range(len(again.organisations))]
    linked = [ch for ch in channels if ch is not None]
    assert abs(len(linked) / len(channels) - MAX_LINKED) < 0.05
    shares = {k: n / len(linked) for k, n in Counter(ch.state for ch in linked).items()}
    assert abs(shares["not_connected"] - NOT_CONNECTED) < 0.04
    assert abs(shares["empty"] - EMPTY) < 0.03
    assert abs(shares["stale"] - STALE) < 0.04
    # Copies need a live VK page or Telegram channel of the same organisation: at most their share.
    assert 0.05 < shares["copied"] <= COPIED + 0.04
    for ch in linked:
        org = region.organisations[ch.index]
        assert max_link(region, org) == f"https://max.ru/{ch.name}" and ch.chat_id < 0
        if ch.state == "copied" and ch.copies == "vk":
            vk = region.vk_group_of(org)
            assert vk is not None and vk.live and not vk.is_closed and ch.group.id == vk.id
        elif ch.state == "copied":
            assert ch.copies == "telegram"
            assert tg_channel(region, org.telegram.rsplit("/", 1)[-1]) is not None
    # A live VK page is copied before Telegram: the demo reads VK, not Telegram.
    assert Counter(ch.copies for ch in linked if ch.state == "copied")["vk"] > len(linked) * 0.1


def test_the_truth_names_each_channel_state_and_age() -> None:
    region = generate_region("voronezh", seed=3, now=NOW, size=300)
    truth = planted(region)
    assert truth and {t["state"] for t in truth.values()} == {
        "connected",
        "not_connected",
        "empty",
        "stale",
        "copied",
    }
    for facts in truth.values():
        if facts["state"] in ("empty", "not_connected"):
            assert facts["posts"] == 0 and facts["newest_post_age_days"] is None
        if facts["state"] == "stale":
            assert facts["newest_own_post_age_days"] > 90
        if facts["state"] == "copied":
            assert facts["copy_lag_s"] > 0 and facts["copies"] in ("vk", "telegram")


def _texts_on_vk(region, org) -> dict[str, set[int]]:
    """The organisation's VK posts: normalised text → the times it was posted."""
    group = region.vk_group_of(org)
    if group is None or not group.live:
        return {}
    out: dict[str, set[int]] = {}
    for post in region.posts(group):
        text = normalise(region.post_text(group, post))
        if len(text) >= MIN_TEXT:
            out.setdefault(text, set()).add(post.date)
    return out


def test_only_a_copying_channel_repeats_its_organisations_vk_posts() -> None:
    """The region draws every page's texts from one pool: a channel that copies nothing must not
    repeat the body's VK post by chance (COPIED_CONTENT would call it a mirror), and a copying
    channel's posts are the VK posts, word for word, ``lag_s`` later."""
    region = generate_region("voronezh", seed=3, now=NOW, size=600)
    simulator = MaxSimulator(region)
    copies = 0
    for index, org in enumerate(region.organisations):
        ch = channel(region, index)
        if ch is None or ch.state == "not_connected":
            continue
        on_vk = _texts_on_vk(region, org)
        for post, at in simulator._posts(ch):
            text = normalise(shown_text(region, ch, post))
            if ch.state == "copied" and ch.copies == "vk" and not post.repost:
                assert at - ch.lag_s in on_vk.get(text, set())
                copies += 1
            elif ch.state != "copied" and len(text) >= MIN_TEXT:
                assert text not in on_vk, (ch.name, text)
    assert copies > 100


def test_the_truth_calls_copied_content_only_on_channels_copying_vk() -> None:
    region = generate_region("voronezh", seed=3, now=NOW, size=1500)
    rows = [r for r in region.max_ground_truth() if r["rule"] == "COPIED_CONTENT"]
    assert rows and all(r["severity"] == "low" for r in rows)
    by_chat = {ch.chat_id: ch for i in range(1500) if (ch := channel(region, i)) is not None}
    for row in rows:
        ch = by_chat[int(row["page_id"])]
        assert ch.state == "copied" and ch.copies == "vk"
    counts = region.truth_document()["platform_counts"]["max"]
    assert counts["COPIED_CONTENT"] == len(rows)


def test_the_truths_copies_are_the_evaluators_verdict_on_what_the_collectors_read() -> None:
    """COPIED_CONTENT as planted agrees with the rule's own measure over the 20 newest posts the
    collectors read of the VK page and of the channel: a post copied hours later whose VK
    original is older than the VK posts read is, as the evaluator sees it, the channel's own."""
    region = generate_region("voronezh", seed=3, now=NOW, size=1500)
    flagged = {r["page_id"] for r in region.max_ground_truth() if r["rule"] == "COPIED_CONTENT"}
    verdicts = Counter()
    for index, org in enumerate(region.organisations):
        ch = channel(region, index)
        if ch is None or ch.state != "copied" or ch.copies != "vk":
            continue
        seen, _ = read_posts(region, ch, NOW.timestamp())
        vk = region.vk_group_of(org)
        on_vk = region.posts(vk, NOW.timestamp())[:WALL_WINDOW]
        posts = [
            PlatformPost("vk", datetime.fromtimestamp(p.date, UTC), region.post_text(vk, p))
            for p in on_vk
        ] + [
            PlatformPost("max", datetime.fromtimestamp(at, UTC), shown_text(region, ch, p))
            for p, at in seen
        ]
        copied = originality(posts, "max", NOW).no_original_content
        assert (str(ch.chat_id) in flagged) == copied, ch.name
        verdicts[copied] += 1
    # Both kinds are planted: full mirrors, and copies with an original the VK read misses.
    assert verdicts[True] > 5 and verdicts[False] > 5
