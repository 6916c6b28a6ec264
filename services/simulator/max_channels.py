"""Which organisation has a MAX channel, in which planted state, and what its posts say.

Derived from the organisation's index like everything else in the region, so the register's
``max`` column, the MAX simulator and the ground truth agree without a table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from services.simulator.other_pages import ok_group_like, tg_channel
from services.simulator.region import DAY_S, Organisation, Post, Region, VkGroup, bits, unit

JSON_TYPE = "application/json; charset=utf-8"
MAX_ID_BASE = 72_000_000_000_000  # channel ids are -(base + organisation index)
MAX_COUNT = 100
_SALT_MAX = 0x3A
_VK_MENTION = re.compile(r"\[id[0-9]+\|([^\]]*)\]")

# Shares of planted states among the organisations that link a MAX channel.
MAX_LINKED = 0.7
NOT_CONNECTED, EMPTY, STALE, COPIED = 0.15, 0.08, 0.12, 0.2
COPY_LAG_S = (600, 6 * 3600)  # a copied post appears this long after the original
# A copying channel skips the posts whose copy would land within two hours of the epoch or of
# four weeks before it (COPIED_CONTENT's window): its verdict is planted at the epoch, and the
# minutes a sweep takes must not bring a copy in or take one out of the window read.
COPY_CLEARANCE_S = 2 * 3600
COPY_WINDOW_S = 28 * DAY_S


@dataclass(frozen=True)
class Channel:
    index: int  # the organisation's index
    chat_id: int
    name: str
    state: str  # connected | not_connected | empty | stale | copied
    group: VkGroup  # the wall's shape and texts (a copied channel: the copied page's)
    lag_s: int = 0
    copies: str = ""  # a copied channel: the platform it copies (vk | telegram)


def max_name(org: Organisation) -> str:
    return f"{org.slug}_gos" if org.slug else ""


def _org_index(region: Region, org: Organisation) -> int:
    world = getattr(region.organisations, "world", None)
    if world is not None:
        return int(org.slug.rsplit("_", 1)[1], 36)
    return region._org_index()[org.ogrn]


def max_link(region: Region, org: Organisation) -> str:
    """The register's ``max`` cell for the organisation: its channel's link, or "" if none."""
    name = max_name(org)
    if not name:
        return ""
    return f"https://max.ru/{name}" if _linked(region, _org_index(region, org)) else ""


def _linked(region: Region, index: int) -> bool:
    return unit(bits(region.seed, index, _SALT_MAX)) < MAX_LINKED


def channel(region: Region, index: int) -> Channel | None:
    """The MAX channel of the organisation with this index, or None if it links none."""
    if not 0 <= index < len(region.organisations) or not _linked(region, index):
        return None
    org = region.organisations[index]
    name = max_name(org)
    if not name:
        return None
    b = bits(region.seed, index, _SALT_MAX, 1)
    u = unit(b)
    chat_id = -(MAX_ID_BASE + index)
    base = ok_group_like(org, index, MAX_ID_BASE + index)
    members = 20 + int(3000 * unit(b, 16) ** 2)
    base = replace(
        base,
        custom_screen_name=name,
        members=members,
        has_photo=int(unit(b, 32) < 0.8),
        comments_open=True,  # MAX channels take comments under posts (a copying one does not)
    )
    if u < NOT_CONNECTED:
        return Channel(index, chat_id, name, "not_connected", base)
    if u < NOT_CONNECTED + EMPTY:
        return Channel(index, chat_id, name, "empty", replace(base, wall_kind="empty"))
    if u < NOT_CONNECTED + EMPTY + STALE:
        return Channel(index, chat_id, name, "stale", replace(base, wall_kind="stale_critical"))
    if u < NOT_CONNECTED + EMPTY + STALE + COPIED:
        platform, source = _copy_source(region, org)
        if source is not None:
            lag = COPY_LAG_S[0] + int((COPY_LAG_S[1] - COPY_LAG_S[0]) * unit(b, 48))
            group = replace(source, members=members, has_photo=base.has_photo, comments_open=False)
            return Channel(index, chat_id, name, "copied", group, lag, platform)
    return Channel(index, chat_id, name, "connected", base)


def _copy_source(region: Region, org: Organisation) -> tuple[str, VkGroup | None]:
    """The page a copying channel mirrors: the organisation's VK page when it is live, open and
    stays so (the collector reads its wall), else its Telegram channel; ("", None): neither."""
    vk = region.vk_group_of(org)
    if vk is not None and vk.live and not vk.is_closed and vk.wall != 0 and region.fate(vk) is None:
        return "vk", vk
    if org.telegram:
        tg = tg_channel(region, org.telegram.rsplit("/", 1)[-1])
        if tg is not None:
            return "telegram", tg
    return "", None


def body_text(region: Region, ch: Channel, post: Post) -> str:
    """A post's text in MAX: a copying channel's is the copied post's, word for word; any other
    channel's ends with its name, so it is its own (the region draws every page's texts from one
    pool of announcements, and a chance repeat of the body's VK post is no copy)."""
    text = region.post_text(ch.group, post)
    if ch.state == "copied" or not text:
        return text
    return f"{text}\n\n{ch.name} в MAX"


def shown_text(region: Region, ch: Channel, post: Post) -> str:
    """The text a reader of the post sees: its own, or the forwarded message's when it has none."""
    text = body_text(region, ch, post)
    if post.repost and not text:
        return region.repost_source(ch.group, post)[2]
    return text
