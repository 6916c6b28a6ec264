"""Deterministic draws and the rates at which defects are planted.

Every per-page detail is drawn from ``(seed, group id, salt)`` by :func:`bits`, cheap enough for
the national preset's millions of posts; the rates below become exact shares of a region through
:func:`_quotas`, so every rule has many cases, the boundary ones included.
"""

from __future__ import annotations

import random

from services.simulator.regional.rules import FREQUENCY_WEEKS, STALE_THRESHOLDS_DAYS


def _mix(*parts: int) -> int:
    """A stable 64-bit seed from integers (``hash()`` of strings is randomised per process)."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value ^= part & 0xFFFFFFFFFFFFFFFF
        value = (value * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value


_MASK = 0xFFFFFFFFFFFFFFFF


def bits(*parts: int) -> int:
    """64 deterministic bits from integers, much cheaper than seeding ``random.Random``.

    A national sweep derives a few numbers for each of millions of posts; tuple hashing of ints is
    not randomised per process, and the final mix spreads consecutive post ids over all bits.
    """
    h = hash(parts) & _MASK
    h = ((h ^ (h >> 33)) * 0xFF51AFD7ED558CCD) & _MASK
    h = ((h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


def unit(value: int, shift: int = 0) -> float:
    """A fraction in [0, 1) from 16 of the bits, so one ``bits()`` call gives four numbers."""
    return ((value >> shift) & 0xFFFF) / 65536.0


# Salts for the independent deterministic streams of one group.
_SALT_DESC, _SALT_CONTACT, _SALT_WALL, _SALT_POST = 1, 2, 3, 4
SALT_API = 5  # for API-only details (counters, hashes, photos) derived in vk_api
_SALT_UPCOMING, _SALT_COMMENTS, _SALT_REPLY_KIND, _SALT_FATE = 6, 7, 8, 9
_SALT_OK_LINK = 10
_SALT_FREQUENCY = 11
_SALT_WIDGETS, _SALT_VIEWS, _SALT_GOSPUBLIKI, _SALT_MARK = 12, 13, 14, 15
_SALT_EDIT = 16
# Pages with VK's blue tick (``verified``) that lack the «Госорганизация» mark: the tick is not it.
TICK_WITHOUT_MARK_RATE = 0.25
# The Госуслуги feedback widgets planted in a page's menu: none, one of the two, both, or both
# with another body's ОГРН in their links (shares of the pages, cumulative thresholds below).
WIDGET_PLANS = (("none", 0.25), ("one", 0.20), ("two", 0.45), ("foreign", 0.10))
# Pages whose posts come without ``views`` (the reach is then not evaluable).
VIEWS_HIDDEN_RATE = 0.1
# The register's «Госпаблики» column: connected, not connected, not known (an empty cell).
GOSPUBLIKI_RATES = (("да", 0.6), ("нет", 0.3), ("", 0.1))
WIDGET_HOST = "https://pos.gosuslugi.ru"


def _pick(u: float, plans: tuple[tuple[str, float], ...]) -> str:
    for name, share in plans:
        if u < share:
            return name
        u -= share
    return plans[-1][0]


OK_BY_NAME_RATE = 0.3  # OK links in the register that name the group by short name

# --- Planted defects ---------------------------------------------------------------------------

# Organisation-level presence scenarios (share of all organisations); the rest have a live VK page.
_PRESENCE_RATES = (
    ("no_links", 0.045),  # neither VK nor OK: a PAGE_MISSING_ANY case
    ("no_links_exempt", 0.02),  # the same but exempt: must not count
    ("tg_only", 0.02),  # only Telegram, which is not on the legal list
    ("ok_only", 0.03),  # only OK, which counts as live
    ("vk_deleted", 0.025),
    ("vk_deleted_ok", 0.012),  # deleted VK page but an OK page: no violation
    ("vk_banned", 0.017),
    ("vk_banned_ok", 0.008),
    ("vk_not_found", 0.02),  # registry link to an id or screen name that does not exist
    ("vk_not_found_ok", 0.008),
    ("exempt_deleted", 0.006),  # exempt with a deleted page: must not count
    ("exempt_live", 0.006),  # exempt with a live page: page rules still apply
)
_DESC_RATES = (
    ("empty", 0.03),
    ("blank", 0.01),  # whitespace only
    ("short", 0.05),
    ("len49", 0.015),
    ("len50", 0.015),
    ("padded49", 0.008),  # 49 characters between spaces and a newline: still too short
    ("padded50", 0.008),
)
_PHONE_RATES = (
    ("none", 0.07),
    ("local", 0.03),  # a local number without the +7/8 prefix and area code: not a phone
    ("contacts", 0.08),  # only in contacts[].phone
    ("address", 0.06),  # only in the main address
    ("contacts_address", 0.16),
    ("description_contacts", 0.15),
)  # the rest: "description"
_WALL_RATES = ((0, 0.03), (3, 0.04), (2, 0.12))  # the rest: 1 (open)
_WALL_KIND_RATES = (
    ("stale_medium", 0.10),
    ("stale_high", 0.08),
    ("stale_critical", 0.06),
    ("empty", 0.04),
    ("reposts_only", 0.04),  # the 20 newest are reposts; own posts only beyond the window
    ("reposts_then_own_medium", 0.02),
    ("reposts_then_own_high", 0.02),
    ("pinned_old_fresh", 0.04),  # an old pinned post on top, fresh own posts below
    ("pinned_old_reposts_high", 0.02),  # an old pinned own post, only reposts below
    ("pinned_old_reposts_critical", 0.01),
)  # the rest: "active"; wall 0 pages get "disabled", and some open walls "user_posts_medium"
_USER_POSTS_RATE = 0.04  # of open walls (wall == 1)

# Expected STALE severity per wall kind ("" = pass); the unit tests check the ground truth by it.
WALL_KIND_SEVERITY = {
    "active": "",
    "pinned_old_fresh": "",
    "stale_medium": "medium",
    "user_posts_medium": "medium",
    "reposts_then_own_medium": "medium",
    "stale_high": "high",
    "reposts_then_own_high": "high",
    "pinned_old_reposts_high": "high",
    "stale_critical": "critical",
    "pinned_old_reposts_critical": "critical",
    "empty": "critical",
    "reposts_only": "medium",  # the grade its span proves: see Region._build_wall
    "disabled": "critical",
}

# Age bands (days) that keep at least a day between any post and a 7/30/90-day threshold.
_BAND = {
    "fresh": (0.05, 5.6),
    "medium": (8.4, 28.6),
    "high": (31.4, 88.6),
    "critical": (91.4, 400.0),
}


# Ages (days) no post may come closer to than the margin: the STALE thresholds by a day, the
# LOW_FREQUENCY window's edge by half a day (a day each way would leave no room below 30).
_CLEARANCES = (
    *((float(t), 1.0) for t in STALE_THRESHOLDS_DAYS),
    (FREQUENCY_WEEKS * 7.0, 0.5),
)


def _away_from_thresholds(age: float) -> float:
    for _ in range(len(_CLEARANCES) + 1):
        near = next(((t, m) for t, m in _CLEARANCES if t - m < age < t + m), None)
        if near is None:
            break
        t, m = near
        age = t + m + 0.05 if age >= t else t - m - 0.05
    return max(age, 0.02)


def _quotas(rng: random.Random, items: list, rates: tuple, default: str | int) -> dict:
    """Assign labels at exact rates: shuffle, then hand out ``round(rate * n)`` of each."""
    order = list(range(len(items)))
    rng.shuffle(order)
    n = len(items)
    result = {}
    pos = 0
    for label, rate in rates:
        k = round(rate * n)
        if k == 0 and n >= 40 and rate > 0:
            k = 1
        for i in order[pos : pos + k]:
            result[items[i]] = label
        pos += k
    for i in order[pos:]:
        result[items[i]] = default
    return result


def allocate(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``weights``."""
    if total <= 0:
        return [0] * len(weights)
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    rest = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in rest[: total - sum(out)]:
        out[i] += 1
    return out
