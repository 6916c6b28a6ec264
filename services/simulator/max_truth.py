"""What the MAX channels should yield: the planted states, the posts a collector reads, and the
scorecard's facts; the ground truth and the demo's expected totals read them."""

from __future__ import annotations

from typing import Any

from services.simulator.max_channels import Channel, channel
from services.simulator.max_view import ChannelView
from services.simulator.region import (
    DAY_S,
    DESCRIPTION_MIN_CHARS,
    WALL_WINDOW,
    Post,
    Region,
    ScorecardFacts,
)


def planted(region: Region) -> dict[str, dict[str, Any]]:
    """The ground truth of MAX per organisation (``ogrn``) that links a channel: its name, id, the
    planted state, how many posts it has and how old its newest post and its newest own (not
    forwarded) post are (days, None: none).

    A copying channel's posts are its organisation's VK or Telegram posts (``copies``), ``lag_s``
    later.
    """
    now = region.now_ts
    simulator = ChannelView(region)
    truth: dict[str, dict[str, Any]] = {}
    for index in range(len(region.organisations)):
        ch = channel(region, index)
        if ch is None:
            continue
        posts = [] if ch.state == "not_connected" else simulator._posts(ch)
        newest = max((at for _, at in posts), default=None)
        own = max((at for post, at in posts if not post.repost), default=None)
        truth[region.organisations[index].ogrn] = {
            "name": ch.name,
            "chat_id": ch.chat_id,
            "state": ch.state,
            "posts": len(posts),
            "newest_post_age_days": None if newest is None else round((now - newest) / 86_400, 2),
            # Forwarded posts are not the channel's own: a stale channel may still forward.
            "newest_own_post_age_days": None if own is None else round((now - own) / 86_400, 2),
            "copy_lag_s": ch.lag_s,
            "copies": ch.copies,
        }
    return truth


def read_posts(
    region: Region, ch: Channel, now_ts: float | None = None, window: int = WALL_WINDOW
) -> tuple[list[tuple[Post, int]], bool]:
    """What the collector reads of a channel the bot sees: the ``window`` newest posts as (post,
    its time in MAX), newest first, and whether they are all of the channel's posts."""
    posts = ChannelView(region)._posts(ch, now_ts)
    return posts[:window], len(posts) <= window


def scorecard_facts(
    region: Region, now_ts: float | None = None, window: int = WALL_WINDOW
) -> dict[str, ScorecardFacts]:
    """Per organisation (ОГРН), what the scorecard reads of its MAX channel, for the channels the
    bot sees: the icon as the avatar, the description, participants, own posts and their views.
    MAX has no «Госорганизация» mark, cover or widgets: those criteria give no points. The
    register's «Госпаблики» column is left unknown here (it is the organisation's, not the
    page's): the caller takes it from the organisation's facts."""
    now = region.now_ts if now_ts is None else now_ts
    since = now - 7 * DAY_S
    simulator = ChannelView(region)
    out: dict[str, ScorecardFacts] = {}
    for index, org in enumerate(region.organisations):
        ch = channel(region, index)
        if ch is None or ch.state == "not_connected":
            continue
        seen, complete = read_posts(region, ch, now, window)
        own = [(post, at) for post, at in seen if not post.repost]
        week = [(post, at) for post, at in own if since <= at <= now]
        edge = min((at for _, at in seen), default=None)
        description = region.description(ch.group)
        out[org.ogrn] = ScorecardFacts(
            gospubliki=None,
            page_live=True,
            avatar=bool(ch.group.has_photo),
            description=len(description.strip()) >= DESCRIPTION_MIN_CHARS,
            members=ch.group.members,
            week_posts=len(week),
            weekly_views=sum(simulator.views(ch, post) for post, _ in week),
            week_seen=complete or (edge is not None and edge < since),
            own_post_dates=tuple(at for _, at in own),
            wall_complete=complete,
            wall_edge=edge,
        )
    return out
