"""The region's records (organisations, VK communities, posts, comments) and link helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from services.simulator.regional.planting import _SALT_OK_LINK, OK_BY_NAME_RATE, bits, unit

# A Russian phone number as the rules define it: +7 or 8, then ten digits, separated only by
# spaces, hyphens and parentheses. Written here on purpose rather than shared with the evaluator.
PHONE_RE = re.compile(r"(?<![\d+])(?:\+7|8)(?:[ \-()]*\d){10}(?![\d])")


def has_phone(text: str) -> bool:
    return bool(PHONE_RE.search(text or ""))


# A post's words as COPIED_CONTENT compares them: lower case, ё read as е, without links, VK
# markup (``[club1|Name]`` keeps the name), emoji or punctuation. Written here too rather than
# imported from the evaluator: the ground truth reads the rules on its own, and no service
# imports another.
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"\[(?:id|club|public)[0-9]+\|([^\]]*)\]")
_NOT_WORD = re.compile(r"[^\w]+")


def normalise(text: str) -> str:
    """The words of a post, so the same announcement on VK, Telegram and MAX reads the same."""
    text = _MENTION.sub(r"\1", text)
    text = _URL.sub(" ", text).lower().replace("ё", "е")
    return " ".join(_NOT_WORD.sub(" ", text).replace("_", " ").split())


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
