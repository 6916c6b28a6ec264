"""A seeded, reproducible synthetic region: organisations, their registry links and their VK pages.

The region is the simulator's world. :func:`generate_region` plants defects at fixed rates so that
every foundation rule has many cases, including the boundary ones (descriptions of exactly 49 and
50 characters, phones only in the contacts or only in the address block, old pinned posts, walls
full of reposts). :meth:`Region.ground_truth` computes the expected violations from the planted
state with its own implementation of the rule semantics, so a comparison with the evaluator tests
both sides.

Per-page state is kept small (a few scalars per group): descriptions, contacts, addresses and posts
are derived on demand from ``(seed, group id)``, so the same code can hold a national preset of
about 175,000 pages. Every derivation is deterministic: the same seed and ``now`` give the same
registry, the same API answers and the same ground truth.

The code lives in :mod:`services.simulator.regional`, split by responsibility; this module is the
name the demo, the benches, the tests and the other simulators import it by.
"""

from __future__ import annotations

from services.simulator.regional.generate import (
    generate_region,
    preset_names,
)
from services.simulator.regional.model import (
    PHONE_RE,
    Address,
    Comment,
    Contact,
    Organisation,
    Post,
    ScorecardFacts,
    VkGroup,
    group_id_from_ref,
    has_phone,
    ok_link,
    ok_shortname,
    vk_ref_from_link,
)
from services.simulator.regional.planting import (
    _DESC_RATES,
    _PHONE_RATES,
    _PRESENCE_RATES,
    _USER_POSTS_RATE,
    _WALL_KIND_RATES,
    _WALL_RATES,
    GOSPUBLIKI_RATES,
    OK_BY_NAME_RATE,
    SALT_API,
    TICK_WITHOUT_MARK_RATE,
    VIEWS_HIDDEN_RATE,
    WALL_KIND_SEVERITY,
    WIDGET_HOST,
    WIDGET_PLANS,
    bits,
    unit,
)
from services.simulator.regional.rules import (
    COPIED_MIN_TEXT,
    COPIED_SEVERITY,
    COPIED_WINDOW_DAYS,
    DAY_S,
    DESCRIPTION_MIN_CHARS,
    FIRST_GROUP_ID,
    FREQUENCY_MIN_PER_WEEK,
    FREQUENCY_WEEKS,
    LOW_FREQUENCY_RATE,
    MAX_RULES,
    NOT_CONNECTED_SEVERITY,
    PAGE_CLOSED_RATE,
    PAGE_DELETED_RATE,
    POST_DELETED_RATE,
    REPLY_RATE_DAYS,
    REPLY_RATE_MIN,
    REPLY_SLA_HOURS,
    REPLY_WARNING_SHARE,
    REPLY_WINDOW_DAYS,
    RULES,
    STALE_THRESHOLDS_DAYS,
    UPCOMING_DAYS,
    WALL_WINDOW,
)
from services.simulator.regional.state import (
    Region,
)
from services.simulator.regional.truth import (
    stale_severity,
)

__all__ = [
    "COPIED_MIN_TEXT",
    "COPIED_SEVERITY",
    "COPIED_WINDOW_DAYS",
    "DAY_S",
    "DESCRIPTION_MIN_CHARS",
    "FIRST_GROUP_ID",
    "FREQUENCY_MIN_PER_WEEK",
    "FREQUENCY_WEEKS",
    "GOSPUBLIKI_RATES",
    "LOW_FREQUENCY_RATE",
    "MAX_RULES",
    "NOT_CONNECTED_SEVERITY",
    "OK_BY_NAME_RATE",
    "PAGE_CLOSED_RATE",
    "PAGE_DELETED_RATE",
    "PHONE_RE",
    "POST_DELETED_RATE",
    "REPLY_RATE_DAYS",
    "REPLY_RATE_MIN",
    "REPLY_SLA_HOURS",
    "REPLY_WARNING_SHARE",
    "REPLY_WINDOW_DAYS",
    "RULES",
    "SALT_API",
    "STALE_THRESHOLDS_DAYS",
    "TICK_WITHOUT_MARK_RATE",
    "UPCOMING_DAYS",
    "VIEWS_HIDDEN_RATE",
    "WALL_KIND_SEVERITY",
    "WALL_WINDOW",
    "WIDGET_HOST",
    "WIDGET_PLANS",
    "_DESC_RATES",
    "_PHONE_RATES",
    "_PRESENCE_RATES",
    "_USER_POSTS_RATE",
    "_WALL_KIND_RATES",
    "_WALL_RATES",
    "Address",
    "Comment",
    "Contact",
    "Organisation",
    "Post",
    "Region",
    "ScorecardFacts",
    "VkGroup",
    "bits",
    "generate_region",
    "group_id_from_ref",
    "has_phone",
    "ok_link",
    "ok_shortname",
    "preset_names",
    "stale_severity",
    "unit",
    "vk_ref_from_link",
]
