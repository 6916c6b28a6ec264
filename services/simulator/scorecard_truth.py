"""Each organisation's expected scorecard total, from what the simulator planted.

Computed from ``Region.scorecard_facts`` (the planted page, widgets, views and register column),
and for an organisation without a VK page the scorecard can read from its MAX channel's
(``max_api.scorecard_facts``), and the numbers of a profile's ``scorecard:`` section as the YAML holds them, following
docs/RULES.md «Оценочная таблица» — not through the evaluator's code, so that the demo's
comparison can catch the evaluator getting a criterion wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from .region import DAY_S, Region, ScorecardFacts


def _band(bands: list[Mapping[str, float]], share: float) -> float:
    reached = [b["points"] for b in bands if share >= b["min_share"]]
    return max(reached, default=0.0)


def card_points(facts: ScorecardFacts, section: Mapping[str, Any], now_ts: float) -> dict:
    """Criterion → points for one organisation (before rounding)."""
    criteria = section["criteria"]
    points: dict[str, float] = {}

    def weight(name: str) -> float:
        return float(criteria[name]["weight"])

    if "connection" in criteria:
        points["connection"] = weight("connection") if facts.gospubliki else 0.0
    page = facts.page_live
    for name, planted in (
        ("gov_mark", facts.gos_mark),
        ("avatar", facts.avatar),
        ("description", facts.description),
        ("cover", facts.cover),
    ):
        if name in criteria:
            points[name] = weight(name) if page and planted else 0.0
    if "widgets" in criteria:
        required = criteria["widgets"].get("required", 2)
        points["widgets"] = weight("widgets") * min(facts.widgets, required) / required
    if "activity" in criteria:
        activity = criteria["activity"]
        days = activity["days"]
        required = activity["posts_per_week"] * days / 7
        since = now_ts - days * DAY_S
        own = sum(1 for date in facts.own_post_dates if since <= date <= now_ts)
        # The wall returned covers the window when all of it came, or when its oldest unpinned
        # post is older than the window's start; 3 own posts are enough either way.
        covered = facts.wall_complete or facts.wall_edge is None or facts.wall_edge < since
        known = covered or own >= required
        points["activity"] = weight("activity") * min(1.0, own / required) if known else 0.0
    views, members = facts.weekly_views, facts.members
    reach = page and facts.week_seen and views is not None and members > 0
    if "reach_week" in criteria:
        share = views / members if reach else None  # type: ignore[operator]
        points["reach_week"] = _band(criteria["reach_week"]["bands"], share) if reach else 0.0
    if "reach_post" in criteria:
        if reach:
            share = views / facts.week_posts / members if facts.week_posts else 0.0  # type: ignore[operator]
            points["reach_post"] = _band(criteria["reach_post"]["bands"], share)
        else:
            points["reach_post"] = 0.0
    return points


def expected_totals(
    region: Region, section: Mapping[str, Any], now: datetime | None = None
) -> dict[str, float]:
    """ОГРН → the total the organisation's card must show (each criterion rounded to 0.1).

    An organisation's card is its VK page's card, else its best page's: without a live, open VK
    page, the MAX channel the bot sees (the only other platform the demo reads), else the
    register's column alone.
    """
    from .max_api import scorecard_facts as max_facts

    at = now or region.now
    now_ts = at.timestamp()
    channels = max_facts(region, now_ts)
    totals: dict[str, float] = {}
    for ogrn, facts in region.scorecard_facts(at).items():
        if not facts.page_live and ogrn in channels:
            facts = replace(channels[ogrn], gospubliki=facts.gospubliki)
        points = card_points(facts, section, now_ts)
        totals[ogrn] = round(sum(round(p, 1) for p in points.values()), 1)
    return totals
