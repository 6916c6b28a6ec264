"""The simulated MAX channels: planted states in their shares, deterministic, and their truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from services.simulator.max_api import (
    COPIED,
    EMPTY,
    MAX_LINKED,
    NOT_CONNECTED,
    STALE,
    channel,
    max_link,
    planted,
)
from services.simulator.other_pages import tg_channel
from services.simulator.region import generate_region

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
    # Copies need a live Telegram channel of the same organisation: at most their share.
    assert 0.05 < shares["copied"] <= COPIED + 0.04
    for ch in linked:
        org = region.organisations[ch.index]
        assert max_link(region, org) == f"https://max.ru/{ch.name}" and ch.chat_id < 0
        if ch.state == "copied":
            assert tg_channel(region, org.telegram.rsplit("/", 1)[-1]) is not None


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
            assert facts["copy_lag_s"] > 0 and facts["posts"] > 0
