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
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from gospublic.contracts import Platform
from gospublic.registry import COLUMNS as REGISTRY_HEADER
from gospublic.registry import ogrn_check_digit, parse_page_link
from services.simulator.names import (
    FILL_DISTRICT,
    FILL_URBAN,
    PRESETS,
    REGIONAL_BODIES,
    REGIONAL_INSTITUTIONS,
    Municipality,
    Namer,
    Preset,
    agree_gender,
    load_municipalities,
)
from services.simulator.texts import (
    COMMENT_TEXTS,
    GOALS,
    INTROS,
    POSTS,
    REPLY_TEXTS,
    REPOST_SOURCES,
    REPOST_TEXTS,
    SHORT_DESCRIPTIONS,
    STREETS,
    TAILS,
    USER_TEXTS,
    mention_name,
)

if TYPE_CHECKING:
    from services.simulator.max_api import Channel

FIRST_GROUP_ID = 210_000_000
DAY_S = 86_400
RULES = (
    "PAGE_MISSING_ANY",
    "ORG_EXEMPT",
    "OFF_LIST_ONLY",
    "PAGE_NOT_PUBLIC",
    "DESCRIPTION_MISSING",
    "CONTACT_PHONE_MISSING",
    "WALL_CLOSED",
    "STALE",
    "LOW_FREQUENCY",
    "UNANSWERED_COMMENT",
    "UNANSWERED_COMMENT_SOON",
    "LOW_REPLY_RATE",
    "WIDGETS_MISSING",
    "WIDGET_FOREIGN_ORG",
    "NOT_VERIFIED",
)
# The rules the ground truth covers on MAX channels, compared apart from the rest: PAGE_NOT_CONNECTED
# (the bot is not in the channel), STALE (stale and empty channels) and COPIED_CONTENT (channels
# copying the organisation's VK page; a copy of Telegram, which the demo does not read, is not
# one). A channel's description, frequency and comments are drawn but not planted as cases, so
# MAX's other verdicts are not compared.
MAX_RULES = ("PAGE_NOT_CONNECTED", "STALE", "COPIED_CONTENT")
NOT_CONNECTED_SEVERITY = "medium"  # PAGE_NOT_CONNECTED in dialog-default
COPIED_SEVERITY = "low"  # COPIED_CONTENT in dialog-default
COPIED_WINDOW_DAYS = 28  # COPIED_CONTENT: the own posts of the last four weeks
COPIED_MIN_TEXT = 20  # a normalised text shorter than this tells nothing of where it came from
# Thresholds of the ``dialog-default`` profile; the ground truth is computed for that profile.
STALE_THRESHOLDS_DAYS = (7, 30, 90)
FREQUENCY_MIN_PER_WEEK = 3  # own posts a week, counted over FREQUENCY_WEEKS
FREQUENCY_WEEKS = 4
# Share of the posting pages (``_POSTING_KINDS``) that post too rarely: an own post every 3.5–7
# days, at most 8 in the window (the floor is 12). The others post every 0.25–1.2 days, at least
# 16 own posts among the 20 the platform returns, all inside the window.
LOW_FREQUENCY_RATE = 0.2
REPLY_SLA_HOURS = 24  # UNANSWERED_COMMENT: wall-clock hours for the page's first reply
REPLY_WARNING_SHARE = 0.75  # UNANSWERED_COMMENT_SOON: warned from this share of the SLA on
REPLY_WINDOW_DAYS = 30  # citizen comments older than this are not judged
REPLY_RATE_MIN = 0.8  # LOW_REPLY_RATE: share of citizen comments answered within ...
REPLY_RATE_DAYS = 7  # ... this many days; a younger unanswered one is not judged yet
# Ages (seconds, at the epoch) no citizen comment comes closer to than two hours: the reply SLA,
# the start of its warning, the edge of its window and the reply-rate allowance, so a run taking
# minutes flips no verdict.
_COMMENT_CLEARANCES = tuple(
    (t, 2 * 3600)
    for t in (
        REPLY_SLA_HOURS * 3600,
        int(REPLY_SLA_HOURS * REPLY_WARNING_SHARE * 3600),  # VK dates are whole seconds
        REPLY_WINDOW_DAYS * DAY_S,
        REPLY_RATE_DAYS * DAY_S,
    )
)
UPCOMING_DAYS = 30  # how far past the epoch active pages keep posting
# What else the clock brings within UPCOMING_DAYS of the epoch, per page or post. Rare enough to
# leave a sweep's picture mostly as it was, common enough that a test region of a hundred pages
# sees each of them within a week or two.
PAGE_DELETED_RATE = 0.02
PAGE_CLOSED_RATE = 0.02
POST_DELETED_RATE = 0.03
# Page replies by kind: (share of citizen comments answered, reply delay from–to in hours). A
# page that answered a comment answers the citizen's follow-up in the thread the same way, so a
# prompt page keeps every reply within hours (well inside the 24-hour SLA) and the slow and silent
# pages, about a third, are the UNANSWERED_COMMENT cases.
_REPLY_KINDS = {"prompt": (1.0, 0.3, 6.0), "slow": (0.8, 26.0, 72.0), "never": (0.05, 30.0, 90.0)}
# Wall kinds whose pages keep posting after the epoch (their STALE verdict stays "pass").
_POSTING_KINDS = frozenset({"active", "pinned_old_fresh"})
# Comment shapes of real pages: a thread where neighbours join before the page answers, longer
# than the 10 replies a first read shows (share of answered questions, replies in it); a comment
# by another community (share of commented posts; its ids start here, clear of the region's).
_LONG_THREAD_RATE = 0.05
_LONG_THREAD_REPLIES = 12
_COMMUNITY_COMMENT_RATE = 0.08
_COMMUNITY_IDS = 300_000_000
DESCRIPTION_MIN_CHARS = 50
WALL_WINDOW = 20


# A Russian phone number as the rules define it: +7 or 8, then ten digits, separated only by
# spaces, hyphens and parentheses. Written here on purpose rather than shared with the evaluator.
PHONE_RE = re.compile(r"(?<![\d+])(?:\+7|8)(?:[ \-()]*\d){10}(?![\d])")


def has_phone(text: str) -> bool:
    return bool(PHONE_RE.search(text or ""))


def vk_ref_from_link(link: str) -> str:
    """``https://vk.com/club123`` → ``club123``; ``https://vk.com/name`` → ``name``."""
    ref = link.strip().rstrip("/")
    for prefix in ("https://", "http://"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    for host in ("m.vk.com/", "vk.com/", "www.vk.com/"):
        if ref.startswith(host):
            ref = ref[len(host) :]
    return ref


def ok_shortname(org: Organisation) -> str:
    """The short name of the organisation's OK group (``ok.ru/<name>``); the dot keeps the
    national preset's index readable at the end."""
    return org.slug.replace("_", ".")


def ok_link(org: Organisation, ok_id: int, seed: int, index: int) -> str:
    """The register's OK link: by group id, or for a share of organisations by short name."""
    if unit(bits(seed, index, _SALT_OK_LINK)) < OK_BY_NAME_RATE:
        return f"https://ok.ru/{ok_shortname(org)}"
    return f"https://ok.ru/group/{ok_id}"


def group_id_from_ref(ref: str) -> int | None:
    """Numeric id of ``123``, ``club123``, ``public123`` or ``event123``; None for screen names."""
    m = re.fullmatch(r"(?:club|public|event)?(\d+)", ref.strip().lower())
    return int(m.group(1)) if m else None


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

# --- State -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Organisation:
    ogrn: str
    name: str
    level: str  # regional | municipal
    founder: str
    municipality: str
    sphere: str  # administration | education | health | culture | sport | social
    exempt: bool
    vk: str = ""
    ok: str = ""
    telegram: str = ""
    kind: str = ""  # institution type, e.g. "school"
    presence: str = "live"  # the planted presence scenario, see _PRESENCE_RATES
    group_id: int | None = None  # VK group id behind the link (also for ids that do not exist)
    slug: str = ""
    municipality_index: int = -1
    ok_id: int = 0  # OK group id behind the ``ok`` link, which may name it by short name
    gospubliki: str = ""  # the register's «Госпаблики» cell: да, нет or empty (not known)

    @property
    def org_id(self) -> str:
        return self.ogrn

    def registry_row(self) -> dict[str, str]:
        return {
            "ogrn": self.ogrn,
            "name": self.name,
            "level": self.level,
            "founder": self.founder,
            "municipality": self.municipality,
            "sphere": self.sphere,
            "exempt": "1" if self.exempt else "0",
            "vk": self.vk,
            "ok": self.ok,
            "telegram": self.telegram,
            "gospubliki": self.gospubliki,
        }


@dataclass(slots=True)
class VkGroup:
    """One VK community. Text content and posts are derived from ``(seed, id)`` on demand."""

    id: int
    org: int  # index into Region.organisations
    name: str
    custom_screen_name: str
    type: str  # group | page
    deactivated: str  # "" | deleted | banned
    wall: int  # 0 off, 1 open, 2 limited, 3 closed
    desc_kind: str
    phone_place: str
    wall_kind: str
    members: int
    verified: int
    is_gov: bool
    has_photo: int
    has_cover: int
    has_site: bool
    has_address: bool
    comments_open: bool
    is_closed: int = 0  # 1: a closed community (the clock can close a page, see Region.fate)

    @property
    def screen_name(self) -> str:
        return self.custom_screen_name or f"club{self.id}"

    @property
    def live(self) -> bool:
        return not self.deactivated


@dataclass(frozen=True, slots=True)
class ScorecardFacts:
    """What the regional scorecard reads of an organisation's VK page (``Region.scorecard_facts``).

    ``page_live``: a live, open VK page (the rest is False/0/None without one). ``description``
    as DESCRIPTION_MISSING judges it; ``widgets`` the Госуслуги widgets placed (0–2, a foreign
    ОГРН included); ``week_posts`` and ``weekly_views`` the own posts (not reposts) of the last 7
    days among those wall.get returns and their views (None: hidden); ``week_seen`` False when
    those posts do not reach back 7 days and the wall holds more; ``own_post_dates`` the own
    posts' times (epoch seconds) among them. No planted post lies within a day of the 7-day edge
    at the epoch (``_CLEARANCES``), so a sweep's seconds flip none of these.
    """

    gospubliki: bool | None
    page_live: bool = False
    gos_mark: bool = False
    avatar: bool = False
    description: bool = False
    cover: bool = False
    widgets: int = 0
    members: int = 0
    week_posts: int = 0
    weekly_views: int | None = None
    week_seen: bool = False
    own_post_dates: tuple[int, ...] = ()
    # The whole wall is among the posts returned; the oldest unpinned post returned (epoch s).
    wall_complete: bool = False
    wall_edge: int | None = None


class Post(NamedTuple):
    id: int
    date: int
    from_id: int
    repost: bool
    pinned: bool


class Comment(NamedTuple):
    id: int
    post_id: int
    from_id: int  # a citizen (> 0), the page itself (-group id) or another community (< 0)
    date: int
    thread: int  # the top-level comment this one answers in its thread; 0 for a top-level one
    reply_to_user: int  # whom it answers (VK's reply_to_user; a top-level answer may carry it)
    text: int  # index into the texts, see Region.comment_text
    mention: int = 0  # the citizen the text starts by naming, ``[id…|Имя], …``; 0: none


class Contact(NamedTuple):
    user_id: int
    desc: str
    phone: str
    email: str


class Address(NamedTuple):
    id: int
    title: str
    address: str
    phone: str
    latitude: float
    longitude: float
    city_id: int


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


# --- Region --------------------------------------------------------------------------------


@dataclass
class Region:
    """The world the simulator answers from; everything but the scalars is derived on demand.

    ``now`` is the simulated clock: tests move it with :meth:`advance`. The wall as generated is
    dated relative to ``epoch`` (the ``now`` at generation); posts and comments dated after
    ``epoch`` appear as the clock passes them, and a few posts and pages go (deleted, closed) at
    seeded times after it. At ``epoch`` the world is exactly the one generated.
    """

    preset: str
    seed: int
    now: datetime
    organisations: Sequence[Organisation]
    groups: Mapping[int, VkGroup]
    municipality_list: list[Municipality] = field(default_factory=list, repr=False)
    _by_screen_name: Mapping[str, int] = field(default_factory=dict, repr=False)
    _wall_cache: dict[int, list[Post]] = field(default_factory=dict, repr=False)
    presets: list[Preset] = field(default_factory=list, repr=False)
    epoch: datetime | None = None
    _upcoming_cache: dict[int, list[Post]] = field(default_factory=dict, repr=False)
    _capitals: dict[int, Municipality] = field(default_factory=dict, repr=False)
    _lookups: dict[str, dict] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.epoch is None:
            self.epoch = self.now
        if not self.presets:
            self.presets = [PRESETS[self.preset]]

    # Clock ---------------------------------------------------------------------------------
    @property
    def now_ts(self) -> int:
        return int(self.now.timestamp())

    @property
    def epoch_ts(self) -> int:
        assert self.epoch is not None
        return int(self.epoch.timestamp())

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward: new posts, comments and page replies become visible, posts
        are deleted, and pages whose :meth:`fate` falls in the step are deleted or closed.

        Fates are fixed by the seed and the page id, so two steps of a day give the same world
        as one of two days.
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        before = self.now_ts
        self.now = self.now + timedelta(seconds=seconds)
        for gid in self.groups:  # one hash a page; only the pages due are looked at
            fate = self.fate(gid)
            if fate is None or not before < fate[1] <= self.now_ts:
                continue
            group = self.groups[gid]
            if group.live and not group.is_closed:
                change = {"deactivated": "deleted"} if fate[0] == "deleted" else {"is_closed": 1}
                self.change_page(gid, **change)
        return self.now

    def fate(self, group: VkGroup | int) -> tuple[str, int] | None:
        """``("deleted" | "closed", unix time)`` if the page is deleted or closed after the epoch."""
        b = self.bits(group, _SALT_FATE)
        u = unit(b)
        if u >= PAGE_DELETED_RATE + PAGE_CLOSED_RATE:
            return None
        kind = "deleted" if u < PAGE_DELETED_RATE else "closed"
        return kind, self.epoch_ts + _after_epoch(unit(b, 16))

    def post_deleted_at(self, group: VkGroup, post: Post) -> int | None:
        """When the page deletes ``post``, if it ever does (always after the epoch)."""
        b = self.bits(group, _SALT_FATE, post.id)
        if unit(b) >= POST_DELETED_RATE:
            return None
        return max(self.epoch_ts, post.date) + _after_epoch(unit(b, 16))

    def change_page(self, group_id: int, **fields: object) -> None:
        """Test hook: a page goes private, loses its wall or is deleted between sweeps."""
        group = self.groups[group_id]
        for name, value in fields.items():
            if not hasattr(group, name):
                raise AttributeError(name)
            setattr(group, name, value)
        keep = getattr(self.groups, "keep", None)
        if keep is not None:  # the national preset derives groups on access
            keep(group)
        self._wall_cache.pop(group_id, None)

    # Lookups -------------------------------------------------------------------------------
    @property
    def region_genitive(self) -> str:
        return self.presets[0].region

    def preset_of(self, org: Organisation) -> Preset:
        muni = self._muni(org)
        return self.presets[muni.region if muni is not None else 0]

    def region_genitive_of(self, org: Organisation) -> str:
        return self.preset_of(org).region

    def municipalities(self) -> list[str]:
        return [m.name for m in self.municipality_list]

    def resolve(self, ref: str) -> VkGroup | None:
        """A group by numeric id, ``club<id>`` or screen name, as groups.getById resolves it."""
        gid = group_id_from_ref(ref)
        if gid is None:
            gid = self._by_screen_name.get(ref.strip().lower())
        return self.groups.get(gid) if gid is not None else None

    def vk_group_of(self, org: Organisation) -> VkGroup | None:
        return self.resolve(vk_ref_from_link(org.vk)) if org.vk else None

    def org_of(self, group: VkGroup) -> Organisation:
        return self.organisations[group.org]

    def _org_index(self) -> dict[str, int]:
        index = self._lookups.get("ogrn")
        if index is None:
            index = self._lookups["ogrn"] = {o.ogrn: i for i, o in enumerate(self.organisations)}
        return index

    def org_by_ok(self, ok_id: int) -> Organisation | None:
        """The organisation whose register row links OK group ``ok_id``."""
        world = getattr(self.organisations, "world", None)
        if world is not None:  # national: the id carries the index
            i = (ok_id - 70_000_000_000_000) // 97
            org = self.organisations[i] if 0 <= i < len(self.organisations) else None
            return org if org is not None and org.ok and org.ok_id == ok_id else None
        by_ok = self._lookups.get("ok")
        if by_ok is None:
            by_ok = self._lookups["ok"] = {o.ok_id: o for o in self.organisations if o.ok}
        return by_ok.get(ok_id)

    def org_by_ok_name(self, name: str) -> Organisation | None:
        """The organisation whose OK group has the short name ``name`` (linked by name or not)."""
        name = name.lower()
        world = getattr(self.organisations, "world", None)
        if world is not None:  # national: the name ends in the index
            org = self._org_named(name, ".")
            return org if org is not None and org.ok and ok_shortname(org) == name else None
        by_name = self._lookups.get("ok_name")
        if by_name is None:
            by_name = self._lookups["ok_name"] = {
                ok_shortname(o).lower(): o for o in self.organisations if o.ok
            }
        return by_name.get(name)

    def _org_named(self, name: str, separator: str) -> Organisation | None:
        """National: the organisation whose index (base 36) ends ``name`` after ``separator``."""
        try:
            i = int(name.rsplit(separator, 1)[1], 36)
        except (IndexError, ValueError):
            return None
        return self.organisations[i] if 0 <= i < len(self.organisations) else None

    def org_by_telegram(self, name: str) -> Organisation | None:
        """The organisation whose register row links the Telegram channel ``@name``."""
        link = f"https://t.me/{name}"
        world = getattr(self.organisations, "world", None)
        if world is not None:  # national: the name ends in the index
            org = self._org_named(name, "_")
            return org if org is not None and org.telegram == link else None
        by_tg = self._lookups.get("tg")
        if by_tg is None:
            by_tg = self._lookups["tg"] = {o.telegram: o for o in self.organisations if o.telegram}
        return by_tg.get(link)

    def rng(self, group: VkGroup | int, salt: int, extra: int = 0) -> random.Random:
        gid = group if isinstance(group, int) else group.id
        return random.Random(_mix(self.seed, gid, salt, extra))

    def bits(self, group: VkGroup | int, salt: int, extra: int = 0) -> int:
        gid = group if isinstance(group, int) else group.id
        return bits(self.seed, gid, salt, extra)

    def _capital_of(self, org: Organisation) -> Municipality:
        muni = self._muni(org)
        index = muni.region if muni is not None else 0
        capital = self._capitals.get(index)
        if capital is None:
            name = self.presets[index].capital
            capital = next(
                m for m in self.municipality_list if m.region == index and m.name == name
            )
            self._capitals[index] = capital
        return capital

    def _muni(self, org: Organisation) -> Municipality | None:
        if 0 <= org.municipality_index < len(self.municipality_list):
            return self.municipality_list[org.municipality_index]
        return None

    # Profile content -------------------------------------------------------------------------
    def phone(self, group: VkGroup) -> str:
        rng = self.rng(group, _SALT_CONTACT, 1)
        org = self.org_of(group)
        muni = self._muni(org) or self._capital_of(org)
        area = self.preset_of(org).phone_code
        if muni.name.startswith("городской округ город"):
            code, local = area, f"{rng.randint(200, 299)}{rng.randint(0, 9999):04d}"
        else:
            code, local = f"{area}{40 + muni.index % 40:02d}", f"{rng.randint(20000, 69999)}"
        dashed = (
            f"{local[:3]}-{local[3:5]}-{local[5:]}"
            if len(local) == 7
            else f"{local[0]}-{local[1:3]}-{local[3:]}"
        )
        style = rng.randrange(5)
        if style == 0:
            return f"+7 ({code}) {dashed}"
        if style == 1:
            return f"8 ({code}) {dashed}"
        if style == 2:
            return f"8-{code}-{dashed}"
        if style == 3:
            return f"+7{code}{local}"
        return f"8 {code} {local}"

    def local_phone(self, group: VkGroup) -> str:
        rng = self.rng(group, _SALT_CONTACT, 2)
        return f"{rng.randint(2, 6)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"

    def email(self, group: VkGroup) -> str:
        org = self.org_of(group)
        domain = ("yandex.ru", "mail.ru", f"gov{self.preset_of(org).slug}.ru")[group.id % 3]
        return f"{org.slug or 'org' + str(group.id)}@{domain}"

    def address_text(self, group: VkGroup) -> str:
        rng = self.rng(group, _SALT_CONTACT, 3)
        org = self.org_of(group)
        muni = self._muni(org) or self._capital_of(org)
        preset = self.preset_of(org)
        if muni.name == preset.capital:
            index = preset.postal * 1000 + rng.randint(0, 90)
        else:
            index = (preset.postal + 2) * 1000 + rng.randint(0, 999)
        prefix = "г." if muni.urban or rng.random() < 0.5 else "с."
        street = f"{rng.choice(STREETS)}, д. {rng.randint(1, 120)}"
        return f"{index}, {prefix} {muni.admin_centre}, {street}"

    def description(self, group: VkGroup) -> str:
        org = self.org_of(group)
        rng = self.rng(group, _SALT_DESC)
        kind = group.desc_kind
        if kind == "empty":
            return ""
        if kind == "blank":
            return rng.choice(("   ", " \n ", "\n\n", "\t "))
        if kind == "short":
            return rng.choice(SHORT_DESCRIPTIONS)
        if kind in ("len49", "len50", "padded49", "padded50"):
            target = int(kind[-2:])
            base = (
                f"Официальная страница: {org.name}. Новости, объявления и события "
                "учреждения для жителей."
            )
            text = base[:target]
            if text[-1].isspace():
                text = text[:-1] + "."
            if kind.startswith("padded"):
                return "  " + text + " \n"
            return text
        parts = [rng.choice(INTROS).format(name=org.name), GOALS[org.sphere]]
        if rng.random() < 0.7:
            parts.append(f"Адрес: {self.address_text(group)}.")
        if group.phone_place in ("description", "description_contacts"):
            parts.append(
                rng.choice(("Телефон: {}.", "Тел.: {}", "Приёмная: {}.")).format(self.phone(group))
            )
        elif group.phone_place == "local":
            parts.append(f"Тел. {self.local_phone(group)}.")
        if rng.random() < 0.5:
            parts.append(f"E-mail: {self.email(group)}")
        tail = rng.choice(TAILS)
        if tail:
            parts.append(tail)
        return " ".join(parts)

    def contacts(self, group: VkGroup) -> list[Contact]:
        rng = self.rng(group, _SALT_CONTACT, 4)
        place = group.phone_place
        with_phone = place in ("contacts", "contacts_address", "description_contacts")
        items = []
        if with_phone:
            items.append(
                Contact(
                    rng.randint(1_000_000, 800_000_000) if rng.random() < 0.6 else 0,
                    rng.choice(("Приёмная", "Директор", "Главный врач", "Секретарь")),
                    self.phone(group),
                    self.email(group) if rng.random() < 0.7 else "",
                )
            )
        elif place == "local" and rng.random() < 0.5:
            items.append(Contact(0, "Вахта", self.local_phone(group), ""))
        if rng.random() < 0.5:
            items.append(
                Contact(rng.randint(1_000_000, 800_000_000), "Администратор сообщества", "", "")
            )
        return items

    def main_address(self, group: VkGroup) -> Address | None:
        place = group.phone_place
        if not group.has_address and place not in ("address", "contacts_address"):
            return None
        rng = self.rng(group, _SALT_CONTACT, 5)
        phone = self.phone(group) if place in ("address", "contacts_address") else ""
        org = self.org_of(group)
        return Address(
            id=group.id % 10_000_000 + 1000,
            title=org.name[:100],
            address=self.address_text(group).split(", ", 2)[-1],
            phone=phone,
            latitude=round(50.4 + rng.random() * 2.3, 6),
            longitude=round(38.3 + rng.random() * 3.8, 6),
            city_id=42 if "Воронеж" in org.municipality else 1_000_000 + org.municipality_index,
        )

    def site(self, group: VkGroup) -> str:
        if not group.has_site:
            return ""
        org = self.org_of(group)
        return f"https://{(org.slug or str(group.id)).replace('_', '-')}.gosuslugi.ru"

    # Wall ------------------------------------------------------------------------------------
    def posts_rarely(self, group: VkGroup) -> bool:
        """A posting page planted to post below the LOW_FREQUENCY floor (fixed by the page id)."""
        if group.wall_kind not in _POSTING_KINDS:
            return False
        return unit(self.bits(group, _SALT_FREQUENCY)) < LOW_FREQUENCY_RATE

    def posts(self, group: VkGroup, now_ts: float | None = None) -> list[Post]:
        """The wall at ``now_ts`` (default: the clock) in wall.get order: pinned, then newest."""
        cached = self._wall_cache.get(group.id)
        if cached is None:
            cached = self._build_wall(group)
            if len(self._wall_cache) > 20_000:
                self._wall_cache.clear()
            self._wall_cache[group.id] = cached
        now_ts = self.now_ts if now_ts is None else now_ts
        if now_ts <= self.epoch_ts:
            return cached
        wall = cached
        if group.wall_kind in _POSTING_KINDS:
            new = [p for p in self._upcoming(group, cached) if p.date <= now_ts]
            if new:
                pinned = cached[:1] if cached and cached[0].pinned else []
                wall = pinned + new[::-1] + cached[len(pinned) :]
        return [p for p in wall if (self.post_deleted_at(group, p) or now_ts + 1) > now_ts]

    def _upcoming(self, group: VkGroup, wall: list[Post]) -> list[Post]:
        """Posts the page will publish after ``epoch``, oldest first (active pages keep posting)."""
        cached = self._upcoming_cache.get(group.id)
        if cached is not None:
            return cached
        rng = self.rng(group, _SALT_UPCOMING)
        # Each page keeps the habit its wall shows: a post every few days or about one a day.
        if self.posts_rarely(group):
            per_day = 0.12 + 0.16 * rng.random()
        else:
            per_day = 0.9 + 0.6 * rng.random()
        post_id = max((p.id for p in wall), default=0)
        age = -0.25  # the first new post comes at least six hours after the epoch
        posts = []
        while True:
            age -= rng.expovariate(per_day)
            if age < -UPCOMING_DAYS:
                break
            post_id += 1 + int(rng.random() * 2)
            repost = rng.random() < 0.12
            posts.append(Post(post_id, int(self.epoch_ts - age * DAY_S), -group.id, repost, False))
        if len(self._upcoming_cache) > 20_000:
            self._upcoming_cache.clear()
        self._upcoming_cache[group.id] = posts
        return posts

    # Comments --------------------------------------------------------------------------------
    def reply_kind(self, group: VkGroup) -> str:
        """How the page answers citizens: ``prompt`` (hours), ``slow`` (days) or ``never``."""
        u = unit(self.bits(group, _SALT_REPLY_KIND))
        return "prompt" if u < 0.65 else "slow" if u < 0.85 else "never"

    def comments_open(self, group: VkGroup) -> bool:
        return group.comments_open and group.wall != 0

    def comments(self, group: VkGroup, post: Post, now_ts: float | None = None) -> list[Comment]:
        """Comments on a post visible at ``now_ts``, oldest first: citizens and the page's replies.

        Replies sit in the thread of the citizen comment they answer (``thread`` is its id) and
        come from the page itself, ``from_id = -group_id``.
        """
        now_ts = self.now_ts if now_ts is None else now_ts
        return [c for c in self._all_comments(group, post) if c.date <= now_ts]

    def _all_comments(self, group: VkGroup, post: Post) -> list[Comment]:
        """Every comment the post will have, dated. Under the page's own posts: citizens' questions
        and the page's answers, given in the citizen's thread or at the top level naming the
        citizen (``[id…|Имя], …``, with or without ``reply_to_user``), as real pages do; now and
        then a long thread where other citizens join in before the page answers (more replies
        than a first read shows), and a comment by another community. Under a citizen's post:
        citizens talking to each other."""
        if not self.comments_open(group):
            return []
        b = self.bits(group, _SALT_COMMENTS, post.id)
        u = unit(b)
        if u < 0.72:  # most posts get no comment: decided by one hash, nothing else computed
            return []
        citizens = 1 if u < 0.86 else 2 if u < 0.93 else 3 if u < 0.97 else 4 + b % 3
        if post.from_id != -group.id:
            return self._citizen_talk(group, post, citizens)
        answered, lo, hi = _REPLY_KINDS[self.reply_kind(group)]
        # (date, author, thread draft index, text, reply_to_user, mention)
        drafts: list[tuple[int, int, int, int, int, int]] = []
        for n in range(citizens):
            b1 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 1)
            b2 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 2)
            delay = min(-math.log(1.0 - unit(b1)) * 8 * 3600, 10 * DAY_S)
            date = self._clear_of_sla(post.date + 300 + int(delay))
            author = 1_000_000 + b2 % 800_000_000
            top = len(drafts)
            drafts.append((date, author, -1, (b2 >> 32) & 0xFF, 0, 0))
            if unit(b1, 16) < answered:
                b3 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 32 + n)
                answer_at = date + int((lo + (hi - lo) * unit(b1, 32)) * 3600)
                style = b3 >> 48
                if unit(b3, 32) < _LONG_THREAD_RATE:
                    # Neighbours join the thread first; the page answers them all in the thread.
                    style = 0
                    for k in range(_LONG_THREAD_REPLIES):
                        joined = self._clear_of_sla(date + (k + 1) * 120)
                        if joined < answer_at - 60:
                            neighbour = 1_000_000 + (b3 + 7919 * (k + 1)) % 800_000_000
                            drafts.append((joined, neighbour, top, k, author, author))
                drafts.append(self._answer(group, answer_at, author, top, b2 >> 40, style))
                if unit(b1, 48) < 0.2:
                    date = self._clear_of_sla(answer_at + int((0.2 + 29.8 * unit(b2, 48)) * 3600))
                    drafts.append((date, author, top, (b2 >> 56) & 0xFF, -group.id, 0))
                    date += int((lo + (hi - lo) * unit(b3)) * 3600)
                    drafts.append(self._answer(group, date, author, top, b3 >> 16, b3 >> 52))
        if unit(b, 48) < _COMMUNITY_COMMENT_RATE:
            # Another community (a fund, a school) writes under the page's post: no request.
            community = -(_COMMUNITY_IDS + b % 10_000_000)
            date = self._clear_of_sla(post.date + 600 + int(unit(b, 32) * DAY_S))
            drafts.append((date, community, -1, (b >> 24) & 0xFF, 0, 0))
        return self._numbered(post, drafts)

    def _answer(
        self, group: VkGroup, date: int, author: int, top: int, text: int, style: int
    ) -> tuple[int, int, int, int, int, int]:
        """The page's answer to ``author``: in the thread (most), or at the top level naming the
        citizen, with ``reply_to_user`` or without it."""
        u = (style & 0xF) / 16
        if u < 0.6:
            return (date, -group.id, top, text & 0xFF, author, 0)
        return (date, -group.id, -1, text & 0xFF, author if u < 0.8 else 0, author)

    def _citizen_talk(self, group: VkGroup, post: Post, citizens: int) -> list[Comment]:
        """Citizens under a citizen's post: questions to the author, replies between them."""
        drafts: list[tuple[int, int, int, int, int, int]] = []
        for n in range(citizens):
            b1 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 1)
            b2 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 2)
            date = self._clear_of_sla(post.date + 300 + int(unit(b1) * 2 * DAY_S))
            author = 1_000_000 + b2 % 800_000_000
            top = len(drafts)
            drafts.append((date, author, -1, (b2 >> 32) & 0xFF, 0, 0))
            if unit(b1, 16) < 0.5:
                date = self._clear_of_sla(date + int((0.5 + 12 * unit(b1, 32)) * 3600))
                drafts.append((date, post.from_id, top, (b2 >> 40) & 0xFF, author, author))
        return self._numbered(post, drafts)

    @staticmethod
    def _numbered(post: Post, drafts: list[tuple[int, int, int, int, int, int]]) -> list[Comment]:
        order = sorted(range(len(drafts)), key=lambda i: (drafts[i][0], i))
        ids = {i: post.id * 1000 + n + 1 for n, i in enumerate(order)}
        comments = []
        for i in order:
            date, author, top, text, to_user, mention = drafts[i]
            comments.append(
                Comment(
                    id=ids[i],
                    post_id=post.id,
                    from_id=author,
                    date=date,
                    thread=ids[top] if top >= 0 else 0,
                    reply_to_user=to_user,
                    text=text,
                    mention=mention,
                )
            )
        return comments

    def _clear_of_sla(self, date: int) -> int:
        """A citizen comment's date, moved a little later if its age at the epoch is near the
        reply SLA or the window's edge (later keeps it after the post and the reply it follows)."""
        for threshold, margin in _COMMENT_CLEARANCES:
            if threshold - margin < self.epoch_ts - date < threshold + margin:
                date = self.epoch_ts - (threshold - margin) + 60
        return date

    def first_replies(
        self, group: VkGroup, posts: Sequence[Post], now_ts: float
    ) -> list[tuple[Comment, int | None]]:
        """Each citizen request on ``posts`` visible at ``now_ts`` with the date of the page's
        first answer to it (None while unanswered).

        A request is a person's comment on one of the page's own posts (another community's
        comment is not, nor citizens talking under a citizen's post). The page answers it with a
        comment written no earlier, in its thread or naming its author (``reply_to_user`` or
        ``[id…|Имя]``, in a thread or at the top level); a citizen's follow-up in a thread the
        page answered before waits for its own answer.
        """
        out: list[tuple[Comment, int | None]] = []
        for post in posts:
            if post.from_id != -group.id:
                continue
            comments = self.comments(group, post, now_ts)
            page = [c for c in comments if c.from_id == -group.id]
            for c in comments:
                if c.from_id < 0:
                    continue
                root = c.thread or c.id
                replies = [
                    p.date
                    for p in page
                    if p.date >= c.date
                    and (
                        (p.thread and p.thread == root) or c.from_id in (p.mention, p.reply_to_user)
                    )
                ]
                out.append((c, min(replies) if replies else None))
        return out

    @staticmethod
    def unanswered_comments(
        replies: Sequence[tuple[Comment, int | None]],
        now_ts: float,
        hours: float = REPLY_SLA_HOURS,
        window_days: float = REPLY_WINDOW_DAYS,
    ) -> list[tuple[Comment, float]]:
        """Citizen comments of the window (from :meth:`first_replies`) that waited for the
        page's first reply longer than ``hours`` or are still waiting, with the hours waited."""
        since = now_ts - window_days * DAY_S
        late = []
        for c, replied in replies:
            if c.date < since:
                continue
            waited = max(0.0, ((now_ts if replied is None else replied) - c.date) / 3600)
            if waited > hours:
                late.append((c, waited))
        return late

    @staticmethod
    def comments_near_deadline(
        replies: Sequence[tuple[Comment, int | None]],
        now_ts: float,
        hours: float = REPLY_SLA_HOURS,
        share: float = REPLY_WARNING_SHARE,
        window_days: float = REPLY_WINDOW_DAYS,
    ) -> list[Comment]:
        """Citizen comments of the window still waiting for the page's first reply after
        ``share`` of ``hours`` but not past them: UNANSWERED_COMMENT_SOON's warning band."""
        since = now_ts - window_days * DAY_S
        return [
            c
            for c, replied in replies
            if replied is None
            and c.date >= since
            and share * hours <= (now_ts - c.date) / 3600 <= hours
        ]

    @staticmethod
    def reply_rate(
        replies: Sequence[tuple[Comment, int | None]],
        now_ts: float,
        days: float = REPLY_RATE_DAYS,
    ) -> float | None:
        """Share of the citizen comments answered within ``days``, among those answered or older
        than that (None when there is none to judge)."""
        within = days * DAY_S
        judged = answered = 0
        for c, replied in replies:
            if replied is not None or now_ts - c.date >= within:
                judged += 1
                answered += replied is not None and replied - c.date <= within
        return answered / judged if judged else None

    def comment_text(self, comment: Comment) -> str:
        """The text as VK gives it; a comment naming a citizen starts ``[id…|Имя], `` as the
        site writes it (``mention_name`` gives the name)."""
        texts = REPLY_TEXTS if comment.from_id < 0 else COMMENT_TEXTS
        text = texts[comment.text % len(texts)]
        if comment.mention:
            return f"[id{comment.mention}|{mention_name(comment.mention)}], {text}"
        return text

    def _build_wall(self, group: VkGroup) -> list[Post]:
        rng = self.rng(group, _SALT_WALL)
        kind = group.wall_kind
        OWN, REPOST, USER = 0, 1, 2
        plan: list[tuple[float, int]] = []  # (age in days, author kind)
        pinned_age: float | None = None
        user_ok = group.wall == 1

        def band(name: str) -> float:
            lo, hi = _BAND[name]
            return rng.uniform(lo, hi)

        def newer_than(age: float, count: int, author: int) -> None:
            for _ in range(count):
                plan.append((rng.uniform(0.02, max(age - 0.05, 0.03)), author))

        def older_than(age: float, count: int, gap: tuple[float, float] = (0.4, 9.0)) -> None:
            for _ in range(count):
                age += rng.uniform(*gap)
                roll = rng.random()
                author = OWN if roll < 0.82 else REPOST if roll < 0.96 or not user_ok else USER
                plan.append((age, author))

        def posting(age: float) -> None:
            """Older posts of a page that keeps posting, clear of the LOW_FREQUENCY floor of 12
            own posts in 28 days among the 20 returned (a pinned post and three newer ones by
            others take at most four of them)."""
            if self.posts_rarely(group):
                # The k-th older post is at least 3.5·k days older than the newest: 8 own at most.
                older_than(age, rng.randint(3, 30 - len(plan)), gap=(3.5, 7.0))
                return
            for _ in range(16):  # all inside the window: at most 5.6 + 16 × 1.2 = 24.8 days
                age += rng.uniform(0.25, 1.2)
                plan.append((age, OWN))
            older_than(age, rng.randint(0, 30 - len(plan)))

        if kind in ("empty", "disabled"):
            pass
        elif kind in ("active", "stale_medium", "stale_high", "stale_critical"):
            a0 = band({"active": "fresh"}.get(kind, kind.removeprefix("stale_")))
            plan.append((a0, OWN))
            newer_than(a0, rng.randint(0, 3), USER if user_ok and rng.random() < 0.3 else REPOST)
            if kind == "active":
                posting(a0)
            else:
                older_than(a0, rng.randint(3, 30 - len(plan)))
            if kind == "active" and rng.random() < 0.25 and len(plan) > 3:
                # An ordinary pinned post: one of the older own posts.
                pinned_age = max(a for a, k in plan if k == OWN)
                plan.remove((pinned_age, OWN))
        elif kind == "reposts_only":
            # The 20 newest, reposts only, span 9 to 26 days: more than a week without an own post
            # is proven ("medium"), how much more the wall does not show (the own posts lie
            # beyond), and the four-week posting rate cannot be counted.
            age = 0.0
            for _ in range(rng.randint(21, 28)):
                age += rng.uniform(0.45, 1.3)
                plan.append((age, REPOST))
            age += 5.0
            for _ in range(rng.randint(0, 30 - len(plan))):
                age += rng.uniform(1.0, 12.0)
                plan.append((age, OWN))
        elif kind.startswith("reposts_then_own_"):
            a0 = band(kind.removeprefix("reposts_then_own_"))
            plan.append((a0, OWN))
            for _ in range(rng.randint(3, 10)):
                plan.append((band("fresh"), REPOST))
            older_than(a0, rng.randint(0, 30 - len(plan)))
        elif kind == "pinned_old_fresh":
            pinned_age = rng.uniform(120.0, 400.0)
            a0 = band("fresh")
            plan.append((a0, OWN))
            posting(a0)
        elif kind.startswith("pinned_old_reposts_"):
            pinned_age = band(kind.removeprefix("pinned_old_reposts_"))
            if pinned_age < 40:  # keep it clear of the reposts' span for readability
                pinned_age += 8
            # The wall holds more than wall.get returns, so the pinned post alone proves nothing:
            # the 19 reposts under it reach back past the grade's threshold (over 30 days for
            # "high", over 90 for "critical"), and the pinned post bounds the age from above.
            step = (1.7, 2.5) if pinned_age < 90 else (4.9, 6.0)
            age = 0.0
            for _ in range(rng.randint(20, 27)):
                age += rng.uniform(*step)
                plan.append((age, REPOST))
        elif kind == "user_posts_medium":
            a0 = band("medium")
            plan.append((a0, OWN))
            newer_than(a0, rng.randint(2, 6), USER)
            older_than(a0, rng.randint(0, 30 - len(plan)))
        else:
            raise ValueError(f"unknown wall kind {kind!r}")

        limit = 30 if pinned_age is None else 29
        entries = [(_away_from_thresholds(a), k, False) for a, k in plan[:limit]]
        if pinned_age is not None:
            entries.append((_away_from_thresholds(pinned_age), OWN, True))
        entries.sort(key=lambda e: -e[0])  # oldest first: ids grow with time
        now = self.epoch_ts
        posts = []
        post_id = 1 + int(rng.random() * 400)
        for age, author, pinned in entries:
            post_id += 1 + int(rng.random() * 3)  # gaps: deleted posts
            from_id = 1_000_000 + int(rng.random() * 8e8) if author == USER else -group.id
            date = int(now - age * DAY_S)
            posts.append(Post(post_id, date, from_id, author == REPOST, pinned))
        posts.sort(key=lambda p: (not p.pinned, -p.date, -p.id))
        return posts

    def post_text(self, group: VkGroup, post: Post) -> str:
        b = self.bits(group, _SALT_POST, post.id)
        if post.from_id > 0:
            return USER_TEXTS[b % len(USER_TEXTS)]
        if post.repost:
            return "" if unit(b, 48) < 0.6 else "Делимся важной информацией."
        org = self.org_of(group)
        muni = self._muni(org)
        templates = POSTS[org.sphere]
        template = templates[b % len(templates)]
        if "{" not in template:
            return template
        return template.format(
            name=org.name,
            place=muni.admin_centre if muni else "регионе",
            n=1 + (b >> 20) % 12,
        )

    def repost_source(self, group: VkGroup, post: Post) -> tuple[int, str, str, int]:
        """(source group id, name, text, original post id) of a repost's ``copy_history``."""
        b = self.bits(group, _SALT_POST, post.id + 1_000_000)
        gid, name = REPOST_SOURCES[b % len(REPOST_SOURCES)]
        return (
            gid,
            name.format(R=self.region_genitive_of(self.org_of(group))),
            REPOST_TEXTS[(b >> 8) % len(REPOST_TEXTS)],
            1000 + (b >> 16) % 89_001,
        )

    # Госуслуги widgets, views ------------------------------------------------------------------
    def widget_plan(self, group: VkGroup) -> str:
        """none, one, two or foreign (both widgets, with another body's ОГРН): see WIDGET_PLANS."""
        return _pick(unit(self.bits(group, _SALT_WIDGETS)), WIDGET_PLANS)

    def widget_count(self, group: VkGroup) -> int:
        return {"none": 0, "one": 1}.get(self.widget_plan(group), 2)

    def menu_items(self, group: VkGroup) -> list[dict[str, object]]:
        """The community menu VK returns (``menu.items``): the planted Госуслуги widgets with
        their tracking parameters, and the site link where the page has a site."""
        org = self.org_of(group)
        plan = self.widget_plan(group)
        b = self.bits(group, _SALT_WIDGETS, 1)
        ogrn = org.ogrn
        if plan == "foreign" and len(self.organisations) > 1:
            # Another body's ОГРН: the register's first organisation's (or its second's).
            first, second = self.organisations[0], self.organisations[1]
            ogrn = (second if first.ogrn == org.ogrn else first).ogrn
        code = self.preset_of(org).region_code
        kinds = ["problem", "opinion"]
        if plan == "none":
            kinds = []
        elif plan == "one":
            kinds = [kinds[b & 1]]
        items: list[dict[str, object]] = []
        for kind in kinds:
            if kind == "problem":
                title = "Сообщить о проблеме"
                url = (
                    f"{WIDGET_HOST}/form/?opaId={100_000 + b % 900_000}&utm_source=vk"
                    f"&utm_medium={code}&utm_campaign={ogrn}"
                )
            else:
                title = "Высказать мнение"
                if org.level == "municipal" and org.municipality_index >= 0:
                    place = f"mun_code={code}{600 + org.municipality_index % 400:03d}000"
                    url = f"{WIDGET_HOST}/og/org-activities?{place}&utm_source=vk2"
                else:
                    url = f"{WIDGET_HOST}/og/org-activities?reg_code={code}&utm_source=vk1"
                url += f"&utm_medium={code}&utm_campaign={ogrn}"
            items.append({"id": len(items) + 1, "title": title, "url": url, "type": "link"})
        if group.has_site:
            items.append(
                {"id": len(items) + 1, "title": "Официальный сайт", "url": self.site(group),
                 "type": "link"}
            )  # fmt: skip
        return items

    def views_hidden(self, group: VkGroup) -> bool:
        return unit(self.bits(group, _SALT_VIEWS)) < VIEWS_HIDDEN_RATE

    def counted_views(self, group: VkGroup, post: Post, now_ts: float | None = None) -> int:
        """A post's views, shown or not (its likes follow them): they grow over its first day."""
        b = bits(self.seed, group.id, SALT_API, post.id)
        age_days = max(0.0, ((self.now_ts if now_ts is None else now_ts) - post.date) / DAY_S)
        return int(max(group.members, 30) * (0.2 + 1.3 * unit(b)) * min(1.0, 0.3 + age_days))

    def scorecard_facts(
        self, now: datetime | None = None, window: int = WALL_WINDOW
    ) -> dict[str, ScorecardFacts]:
        """Per organisation (by ОГРН), what the regional scorecard reads of its VK page, at the
        clock: as the collector sees it (the ``window`` newest posts wall.get returns)."""
        now_ts = (now or self.now).timestamp()
        since = now_ts - 7 * DAY_S
        out: dict[str, ScorecardFacts] = {}
        connection = {"да": True, "нет": False}
        for org in self.organisations:
            group = self.vk_group_of(org)
            connected = connection.get(org.gospubliki)
            if group is None or not group.live or group.is_closed:
                out[org.ogrn] = ScorecardFacts(gospubliki=connected)
                continue
            wall = self.posts(group, now_ts) if group.wall != 0 else []
            seen = wall[:window]
            own = [p for p in seen if p.from_id == -group.id and not p.repost]
            week = [p for p in own if since <= p.date <= now_ts]
            # Hidden views hide the week's total even without a post that week (as the rules
            # read it: no post of the wall shows any).
            hidden = self.views_hidden(group) and bool(seen)
            views = sum(self.counted_views(group, p, now_ts) for p in week)
            unpinned = [p.date for p in seen if not p.pinned]
            complete = len(wall) <= len(seen)
            edge = min(unpinned) if unpinned else None
            week_seen = complete or (edge is not None and edge < since)
            out[org.ogrn] = ScorecardFacts(
                gospubliki=connected,
                page_live=True,
                gos_mark=group.is_gov,
                avatar=bool(group.has_photo),
                description=len(self.description(group).strip()) >= DESCRIPTION_MIN_CHARS,
                cover=bool(group.has_cover),
                widgets=self.widget_count(group),
                members=group.members,
                week_posts=len(week),
                weekly_views=None if hidden else views,
                week_seen=week_seen,
                own_post_dates=tuple(p.date for p in own),
                wall_complete=complete,
                wall_edge=edge,
            )
        return out

    # Ground truth ----------------------------------------------------------------------------
    def max_link(self, org: Organisation) -> str:
        """The register's ``max`` cell: the organisation's MAX channel (the MAX simulator's), or ""."""
        from services.simulator.max_api import max_link

        return max_link(self, org)

    def ground_truth(
        self,
        *,
        description_min_chars: int = DESCRIPTION_MIN_CHARS,
        stale_days: tuple[float, float, float] = STALE_THRESHOLDS_DAYS,
        min_posts_per_week: float = FREQUENCY_MIN_PER_WEEK,
        frequency_weeks: int = FREQUENCY_WEEKS,
        window: int = WALL_WINDOW,
        now: datetime | None = None,
    ) -> list[dict[str, str]]:
        """Expected violations of the planted rules (``RULES``), in registry order.

        Presence: an exempt organisation is reported (info) and never missing; one whose only
        live channels are Telegram or MAX is off the legal list; a deleted or banned VK page of an
        organisation that must keep one is not public, under the id its register link names.
        A closed page is not public either (exempt or not: the rules apply to the pages kept); its
        profile is still read, its wall is not, so STALE and LOW_FREQUENCY are left out for it.
        STALE takes the newest own post when it is known (the whole wall returned, or an own post
        within the span of the unpinned posts returned); otherwise the grade the span proves, or
        nothing when it proves none (not evaluable).
        LOW_FREQUENCY counts own posts (not reposts) of the window among the ``window`` posts
        wall.get returns; when all of those fall inside it and the wall holds more, the verdict
        is "not evaluable", no violation. UNANSWERED_COMMENT judges the comments on those posts
        (see :meth:`first_replies`), LOW_REPLY_RATE the share answered within a week.
        """
        now_ts = (now or self.now).timestamp()
        rows: list[dict[str, str]] = []

        def add(org: Organisation, platform: str, page_id: str, rule: str, severity: str) -> None:
            rows.append(
                {
                    "org_id": org.ogrn,
                    "platform": platform,
                    "page_id": page_id,
                    "rule": rule,
                    "severity": severity,
                }
            )

        for org in self.organisations:
            group = self.vk_group_of(org)
            live = group is not None and group.live
            if org.exempt:
                add(org, "any", "", "ORG_EXEMPT", "info")
            if not org.exempt and not live and not org.ok:
                add(org, "any", "", "PAGE_MISSING_ANY", "critical")
                if org.telegram or self.max_link(org):
                    add(org, "any", "", "OFF_LIST_ONLY", "high")
            if group is not None and not group.live and not org.exempt:
                add(org, "vk", parse_page_link(Platform.VK, org.vk), "PAGE_NOT_PUBLIC", "critical")
            if not live:
                continue
            page_id = str(group.id)
            description = self.description(group)
            if len(description.strip()) < description_min_chars:
                add(org, "vk", page_id, "DESCRIPTION_MISSING", "high")
            texts = [description]
            texts += [c.phone for c in self.contacts(group)]
            address = self.main_address(group)
            if address is not None:
                texts.append(address.phone)
            if not any(has_phone(t) for t in texts):
                add(org, "vk", page_id, "CONTACT_PHONE_MISSING", "high")
            if group.wall in (0, 3):
                add(org, "vk", page_id, "WALL_CLOSED", "high")
            if self.widget_count(group) < 2:
                add(org, "vk", page_id, "WIDGETS_MISSING", "medium")
            if not group.is_gov:  # the «Госорганизация» mark; the blue tick does not count
                add(org, "vk", page_id, "NOT_VERIFIED", "high")
            if self.widget_plan(group) == "foreign" and len(self.organisations) > 1:
                add(org, "vk", page_id, "WIDGET_FOREIGN_ORG", "high")
            if group.is_closed:
                add(org, "vk", page_id, "PAGE_NOT_PUBLIC", "high")
                continue
            wall = self.posts(group, now_ts) if group.wall != 0 else []
            seen = wall[:window]
            own = [p.date for p in seen if p.from_id == -group.id and not p.repost]
            edge = min((p.date for p in seen if not p.pinned), default=None)
            severity = stale_severity(own, edge, len(wall) <= len(seen), now_ts, stale_days)
            if severity:
                add(org, "vk", page_id, "STALE", severity)
            # Own posts a week in the window, among the posts returned; a low count proves
            # nothing when all of them fall inside the window and the wall holds more.
            since = now_ts - frequency_weeks * 7 * DAY_S
            recent = sum(1 for date in own if date >= since)
            if recent / frequency_weeks < min_posts_per_week:
                unpinned = [p.date for p in seen if not p.pinned]
                unseen = len(wall) > len(seen) and bool(unpinned) and min(unpinned) >= since
                if not unseen:
                    add(org, "vk", page_id, "LOW_FREQUENCY", "medium")
            if not self.comments_open(group):
                continue
            replies = self.first_replies(group, seen, now_ts)
            if self.unanswered_comments(replies, now_ts):
                add(org, "vk", page_id, "UNANSWERED_COMMENT", "high")
            if self.comments_near_deadline(replies, now_ts):
                add(org, "vk", page_id, "UNANSWERED_COMMENT_SOON", "warning")
            share = self.reply_rate(replies, now_ts)
            if share is not None and share < REPLY_RATE_MIN:
                add(org, "vk", page_id, "LOW_REPLY_RATE", "medium")
        rows += self.max_ground_truth(stale_days=stale_days, window=window, now=now)
        return rows

    def max_ground_truth(
        self,
        *,
        stale_days: tuple[float, float, float] = STALE_THRESHOLDS_DAYS,
        window: int = WALL_WINDOW,
        now: datetime | None = None,
    ) -> list[dict[str, str]]:
        """Expected violations of ``MAX_RULES`` on the MAX simulator's channels, in registry
        order. A channel the bot is not in is PAGE_NOT_CONNECTED under the name its register link
        gives (nothing else about it can be judged); a channel it sees is judged under its chat
        id from the ``window`` newest posts the collector reads, as STALE reads a VK wall
        (forwarded posts are not the channel's own; MAX pins nothing to the top of the list).
        """
        from services.simulator.max_api import channel, read_posts

        now_ts = (now or self.now).timestamp()
        rows: list[dict[str, str]] = []
        for index, org in enumerate(self.organisations):
            ch = channel(self, index)
            if ch is None:
                continue
            if ch.state == "not_connected":
                rule, page_id, severity = "PAGE_NOT_CONNECTED", ch.name, NOT_CONNECTED_SEVERITY
            else:
                seen, complete = read_posts(self, ch, now_ts, window)
                own = [at for post, at in seen if not post.repost]
                edge = min((at for _, at in seen), default=None)
                rule, page_id = "STALE", str(ch.chat_id)
                severity = stale_severity(own, edge, complete, now_ts, stale_days)
                if self.copies_vk(org, ch, seen, now_ts, window):
                    rows.append(
                        {
                            "org_id": org.ogrn,
                            "platform": "max",
                            "page_id": page_id,
                            "rule": "COPIED_CONTENT",
                            "severity": COPIED_SEVERITY,
                        }
                    )
            if severity:
                rows.append(
                    {
                        "org_id": org.ogrn,
                        "platform": "max",
                        "page_id": page_id,
                        "rule": rule,
                        "severity": severity,
                    }
                )
        return rows

    def copies_vk(
        self,
        org: Organisation,
        ch: Channel,
        seen: list[tuple[Post, int]],
        now_ts: float,
        window: int,
    ) -> bool:
        """COPIED_CONTENT on a MAX channel against the organisation's VK page as the collectors
        read both (the ``window`` newest posts of each): the channel's texts of the last four
        weeks, each long enough to tell, all of them posted on VK no later than on MAX. A channel
        without such texts is not a copy (an empty one is STALE's)."""
        from services.evaluator.copies import normalise
        from services.simulator.max_api import shown_text

        group = self.vk_group_of(org)
        if group is None or not group.live or group.is_closed or group.wall == 0:
            return False
        on_vk: dict[str, int] = {}
        for post in self.posts(group, now_ts)[:window]:
            text = normalise(self.post_text(group, post))
            if len(text) >= COPIED_MIN_TEXT:
                on_vk[text] = min(on_vk.get(text, post.date), post.date)
        since = now_ts - COPIED_WINDOW_DAYS * DAY_S
        on_max: dict[str, int] = {}
        for post, at in seen:
            text = normalise(shown_text(self, ch, post))
            if len(text) >= COPIED_MIN_TEXT:
                on_max[text] = min(on_max.get(text, at), at)
        recent = {text: at for text, at in on_max.items() if since <= at <= now_ts}
        return bool(recent) and all(
            text in on_vk and on_vk[text] <= at for text, at in recent.items()
        )

    def write_registry_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=REGISTRY_HEADER)
            writer.writeheader()
            for org in self.organisations:
                writer.writerow({**org.registry_row(), "max": self.max_link(org)})
        return path

    def write_ground_truth(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = self.truth_document()
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    def truth_document(self) -> dict:
        """The ground truth at the clock, as ``ground_truth.json`` holds it."""
        violations = self.ground_truth()
        counts = dict.fromkeys(RULES, 0)
        max_counts = dict.fromkeys(MAX_RULES, 0)
        for row in violations:
            if row["platform"] == "max":
                max_counts[row["rule"]] += 1
            else:
                counts[row["rule"]] += 1
        return {
            "preset": self.preset,
            "seed": self.seed,
            "now": self.now.isoformat(),
            "organisations": len(self.organisations),
            "pages": sum(1 for org in self.organisations if org.vk),
            "violations": violations,
            # Per rule, over VK pages and organisations; the platforms listed under
            # "platform_counts" are compared apart, for their own rules only.
            "counts": counts,
            "platform_counts": {"max": max_counts},
        }


def stale_severity(
    own: Sequence[float],
    edge: float | None,
    complete: bool,
    now_ts: float,
    stale_days: tuple[float, float, float] = STALE_THRESHOLDS_DAYS,
) -> str:
    """STALE's severity ("" for none) from the times of the own posts among those returned, the
    oldest unpinned post returned (``edge``) and whether the whole wall was returned.

    The newest own post is known when the whole wall is returned, or when one lies within the
    span of the unpinned posts returned (a pinned post stays on top at any age); a page with no
    own post at all is critical. Otherwise the span proves only that none is newer than its
    oldest post (nothing when it proves no grade: not evaluable).
    """
    medium, high, critical = stale_days

    def grade(age_days: float) -> str:
        if age_days >= critical:
            return "critical"
        if age_days >= high:
            return "high"
        return "medium" if age_days >= medium else ""

    if complete or (own and edge is not None and max(own) >= edge):
        return grade((now_ts - max(own)) / DAY_S) if own else "critical"
    return "" if edge is None else grade((now_ts - edge) / DAY_S)


# --- Generation ----------------------------------------------------------------------------


def _after_epoch(u: float) -> int:
    """Seconds after the epoch for a fraction ``u``: from six hours to UPCOMING_DAYS, so the
    world at the epoch (the first sweep, the demo) is exactly the one generated."""
    return int((0.25 + u * (UPCOMING_DAYS - 0.25)) * DAY_S)


def _allocate(total: int, weights: list[float]) -> list[int]:
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


class _OgrnFactory:
    def __init__(self, rng: random.Random, region_code: str):
        self.rng = rng
        self.region_code = region_code
        self.used: set[str] = set()

    def __call__(self) -> str:
        while True:
            year = self.rng.choice(("02", "02", "03", "03", "05", "06", "11", "15", "16", "21"))
            inspection = f"{self.rng.randint(1, 68):02d}"
            first12 = f"1{year}{self.region_code}{inspection}{self.rng.randint(0, 99999):05d}"
            ogrn = first12 + str(ogrn_check_digit(first12))
            if ogrn not in self.used:
                self.used.add(ogrn)
                return ogrn


def generate_region(
    preset: str = "voronezh",
    *,
    seed: int = 42,
    now: datetime,
    size: int | None = None,
) -> Region:
    """Generate the region; ``size`` is the number of organisations (default: the preset's)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if preset == "national":
        from services.simulator.national import generate_national

        return generate_national(seed=seed, now=now, size=size)
    config = PRESETS[preset]
    total = config.size if size is None else size
    if total < 1:
        raise ValueError("size must be at least 1")
    rng = random.Random(_mix(seed, 0xC0FFEE))
    munis = load_municipalities(preset)
    new_ogrn = _OgrnFactory(rng, config.region_code)
    capital = next((m for m in munis if m.name == config.capital), munis[0])

    # 1. Organisations: regional bodies, every municipality's core bodies, then institutions.
    specs: list[tuple[str, str, str, str, str, str, str, int]] = []
    #              kind, sphere, level, name, founder, municipality, slug, municipality index
    r, rn = config.region, config.region_nominative
    ministries = {}
    for sphere, pattern, slug in REGIONAL_BODIES:
        name = pattern.format(R=r, Rn=rn.split()[0])
        ministries[slug] = name
        founder = rn if slug == "gov" else f"Правительство {r}"
        specs.append(
            (
                "regional_body",
                sphere,
                "regional",
                name,
                founder,
                rn,
                f"{slug}_{config.slug}",
                -1,
            )
        )
    capital_adj = capital.fem  # «Воронежская»
    for sphere, pattern, slug, founder_key in REGIONAL_INSTITUTIONS:
        name = agree_gender(pattern.format(C=capital_adj, R=r), capital.root)
        specs.append(
            (
                "regional_institution",
                sphere,
                "regional",
                name,
                ministries[founder_key],
                capital.name,
                f"{slug}_{capital.slug}",
                capital.index,
            )
        )
    namers = [Namer(m, random.Random(_mix(seed, 0xA11CE, m.index)), config) for m in munis]
    for m, namer in zip(munis, namers, strict=True):
        for kind, sphere, level, name, founder, slug in namer.core():
            specs.append((kind, sphere, level, name, founder, m.name, slug, m.index))
    if total <= len(specs):
        specs = _spread_take(specs, total)
    else:
        weights = [m.population**0.75 for m in munis]
        for m, namer, count in zip(
            munis, namers, _allocate(total - len(specs), weights), strict=True
        ):
            mix = FILL_URBAN if m.urban else FILL_DISTRICT
            kinds = [k for k, _ in mix]
            kind_weights = [w for _, w in mix]
            made = 0
            while made < count:
                kind = namer.rng.choices(kinds, kind_weights)[0]
                spec = namer.make(kind)
                if spec is None:  # that kind ran out here; numbered schools never do
                    kind = "school"
                    spec = namer.make(kind)
                assert spec is not None
                sphere, level, name, founder, slug = spec
                specs.append((kind, sphere, level, name, founder, m.name, slug, m.index))
                made += 1
        # Keep the registry grouped by municipality, regional bodies first.
        specs.sort(key=lambda s: s[7])

    organisations: list[Organisation] = []
    used_slugs: set[str] = set()
    for kind, sphere, level, name, founder, muni_name, slug, muni_index in specs:
        slug = slug[:28].strip("_")
        unique, k = slug, 2
        while unique in used_slugs:
            unique, k = f"{slug}_{k}", k + 1
        used_slugs.add(unique)
        organisations.append(
            Organisation(
                ogrn=new_ogrn(),
                name=name,
                level=level,
                founder=founder,
                municipality=muni_name,
                sphere=sphere,
                exempt=False,
                kind=kind,
                slug=unique,
                municipality_index=muni_index,
            )
        )

    # 2. Presence scenarios, then links and group ids.
    indices = list(range(len(organisations)))
    presence = _quotas(rng, indices, _PRESENCE_RATES, "live")
    groups: dict[int, VkGroup] = {}
    by_screen_name: dict[str, int] = {}
    next_id = FIRST_GROUP_ID
    live_pages: list[int] = []
    for i, org in enumerate(organisations):
        scenario = presence[i]
        org.presence = scenario
        org.exempt = "exempt" in scenario
        base_has_vk = scenario not in ("no_links", "no_links_exempt", "tg_only", "ok_only")
        has_ok = (
            scenario.endswith("_ok")
            or scenario == "ok_only"
            or (scenario in ("live", "exempt_live") and rng.random() < 0.35)
        )
        if has_ok:
            org.ok_id = rng.randint(70_000_000_000_000, 70_000_099_999_999)
            org.ok = ok_link(org, org.ok_id, seed, i)
        if scenario == "tg_only" or (base_has_vk and rng.random() < 0.3):
            org.telegram = f"https://t.me/{org.slug}"
        if not base_has_vk:
            continue
        gid = next_id + rng.randint(1, 40)
        next_id = gid
        org.group_id = gid
        custom = rng.random() < 0.35
        screen_name = org.slug if custom else ""
        link_by_name = custom and rng.random() < 0.5
        if scenario.startswith("vk_not_found"):
            # The registry points at a page that is not there: a free id or an unknown name.
            if link_by_name:
                org.vk = f"https://vk.com/{org.slug}_old"
                org.group_id = None
            else:
                org.vk = f"https://vk.com/club{gid}"
            continue
        org.vk = f"https://vk.com/{screen_name}" if link_by_name else f"https://vk.com/club{gid}"
        deactivated = (
            "deleted"
            if scenario in ("vk_deleted", "vk_deleted_ok", "exempt_deleted")
            else "banned"
            if scenario.startswith("vk_banned")
            else ""
        )
        groups[gid] = _new_group(rng, gid, i, org, screen_name, deactivated)
        if screen_name:
            by_screen_name[screen_name.lower()] = gid
        if not deactivated:
            live_pages.append(gid)

    # 3. Page-level defects of the live pages.
    desc = _quotas(rng, live_pages, _DESC_RATES, "normal")
    walls = _quotas(rng, live_pages, _WALL_RATES, 1)
    for gid in live_pages:
        groups[gid].desc_kind = desc[gid]
        groups[gid].wall = walls[gid]
    phones = _quotas(rng, live_pages, _PHONE_RATES, "description")
    for gid in live_pages:
        place = phones[gid]
        if desc[gid] != "normal" and place.startswith("description"):
            place = "contacts_address" if place == "description_contacts" else "contacts"
        groups[gid].phone_place = place
        if place == "address":
            groups[gid].has_address = True
    with_wall = [gid for gid in live_pages if walls[gid] != 0]
    kinds = _quotas(rng, with_wall, _WALL_KIND_RATES, "active")
    for gid in live_pages:
        groups[gid].wall_kind = kinds.get(gid, "disabled")
    open_active = [gid for gid in with_wall if walls[gid] == 1 and kinds[gid] == "active"]
    for gid in rng.sample(
        open_active, k=min(len(open_active), round(_USER_POSTS_RATE * len(open_active)))
    ):
        groups[gid].wall_kind = "user_posts_medium"

    # 4. The register's «Госпаблики» column, by hash so the draws above stay as they were.
    for i, org in enumerate(organisations):
        org.gospubliki = _pick(unit(bits(seed, i, _SALT_GOSPUBLIKI)), GOSPUBLIKI_RATES)
    for gid, group in groups.items():
        if group.verified and unit(bits(seed, gid, _SALT_MARK)) < TICK_WITHOUT_MARK_RATE:
            group.is_gov = False

    return Region(
        preset=preset,
        seed=seed,
        now=now,
        organisations=organisations,
        groups=groups,
        municipality_list=munis,
        _by_screen_name=by_screen_name,
    )


def _spread_take(specs: list, n: int) -> list:
    """The first ``n`` organisations of a small region, spread across kinds and municipalities."""
    by_kind: dict[str, list] = {}
    for spec in specs:
        by_kind.setdefault(spec[0], []).append(spec)
    out: list = []
    queues = list(by_kind.values())
    while len(out) < n:
        for queue in queues:
            if queue and len(out) < n:
                out.append(queue.pop(0))
    return sorted(out, key=lambda s: s[7])


def _new_group(
    rng: random.Random,
    gid: int,
    org_index: int,
    org: Organisation,
    screen_name: str,
    deactivated: str,
) -> VkGroup:
    big = org.level == "regional" and org.kind == "regional_body"
    members = int(rng.lognormvariate(8.5 if big else 6.3, 0.9))
    name = org.name
    if rng.random() < 0.15:
        name = f"{org.name} | официальная страница"
    return VkGroup(
        id=gid,
        org=org_index,
        name=name[:200],
        custom_screen_name=screen_name,
        type="page" if rng.random() < 0.4 else "group",
        deactivated=deactivated,
        wall=1,
        desc_kind="normal",
        phone_place="description",
        wall_kind="active",
        members=members,
        verified=1 if big and rng.random() < 0.6 else 0,
        is_gov=rng.random() < 0.85,
        has_photo=0 if rng.random() < 0.04 else 1,
        has_cover=1 if rng.random() < 0.6 else 0,
        has_site=rng.random() < 0.8,
        has_address=rng.random() < 0.7,
        comments_open=rng.random() < 0.9,
    )


def preset_names() -> list[str]:
    return sorted(PRESETS)
