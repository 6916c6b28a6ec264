"""Odnoklassniki groups and Telegram channels of the simulated organisations.

An organisation's OK group and Telegram channel are derived from its index, like everything else:
each becomes a :class:`VkGroup`-shaped record (a name, a description kind, a wall kind, members,
a deleted/blocked/private state) with its own id, so the region's description, wall and comment
generators serve all three platforms. Planted defects: OK groups deleted, blocked or closed;
Telegram links to channels that do not exist; stale, empty and repost-only walls on both.
"""

from __future__ import annotations

from dataclasses import replace

from services.simulator.region import Organisation, Region, VkGroup, bits, ok_shortname, unit

OK_PREFIX = "https://ok.ru/group/"
TG_PREFIX = "https://t.me/"
TG_ID_BASE = 1_000_000_000_000  # Telegram channel ids live far from VK and OK ids
_SALT_OK, _SALT_TG = 0x0C, 0x7C

# Shares of planted states.
OK_DELETED, OK_BLOCKED, OK_PRIVATE = 0.03, 0.02, 0.04
TG_MISSING = 0.06
_WALLS = (
    ("active", 0.62),
    ("stale_medium", 0.1),
    ("stale_high", 0.08),
    ("stale_critical", 0.08),
    ("empty", 0.06),
    ("reposts_only", 0.06),
)
_DESCRIPTIONS = (("normal", 0.8), ("empty", 0.08), ("short", 0.12))


def _pick(u: float, table: tuple) -> str:
    acc = 0.0
    for label, share in table:
        acc += share
        if u < acc:
            return label
    return table[-1][0]


def _org_index(region: Region, org: Organisation) -> int:
    # The national preset's organisations know their index through their group id stride;
    # a region's list is small enough to search.
    world = getattr(region.organisations, "world", None)
    if world is not None:
        return int(org.slug.rsplit("_", 1)[1], 36)
    return region._org_index()[org.ogrn]


def ok_group(region: Region, ok_id: int) -> VkGroup | None:
    """The OK group with this id, or None if no organisation links it (or it was deleted)."""
    org = region.org_by_ok(ok_id)
    if org is None:
        return None
    i = _org_index(region, org)
    b = bits(region.seed, i, _SALT_OK)
    u = unit(b)
    deactivated = "deleted" if u < OK_DELETED else "banned" if u < OK_DELETED + OK_BLOCKED else ""
    return VkGroup(
        id=ok_id,
        org=i,
        name=org.name[:200],
        custom_screen_name=ok_shortname(org),
        type="group",
        deactivated=deactivated,
        wall=1,
        desc_kind=_pick(unit(b, 16), _DESCRIPTIONS),
        phone_place="description",
        wall_kind=_pick(unit(b, 32), _WALLS),
        members=30 + int(2000 * unit(b, 48) ** 2),
        verified=0,
        is_gov=False,
        has_photo=1,
        has_cover=0,
        has_site=True,
        has_address=False,
        comments_open=True,
    )


def ok_private(region: Region, group: VkGroup) -> bool:
    """A closed group: its profile shows, its topics do not."""
    u = unit(bits(region.seed, group.org, _SALT_OK, 1))
    return not group.deactivated and u < OK_PRIVATE / (1 - OK_DELETED - OK_BLOCKED)


def tg_channel(region: Region, name: str) -> VkGroup | None:
    """The public channel ``@name``, or None if the register links a channel that does not exist."""
    org = region.org_by_telegram(name)
    if org is None:
        return None
    i = _org_index(region, org)
    b = bits(region.seed, i, _SALT_TG)
    if unit(b) < TG_MISSING:
        return None
    group = ok_group_like(org, i, TG_ID_BASE + i)
    return replace(
        group,
        custom_screen_name=name,
        desc_kind=_pick(unit(b, 16), _DESCRIPTIONS),
        wall_kind=_pick(unit(b, 32), _WALLS),
        members=50 + int(5000 * unit(b, 48) ** 2),
        comments_open=False,
    )


def ok_group_like(org: Organisation, index: int, gid: int) -> VkGroup:
    return VkGroup(
        id=gid,
        org=index,
        name=org.name[:200],
        custom_screen_name=org.slug,
        type="page",
        deactivated="",
        wall=1,
        desc_kind="normal",
        phone_place="description",
        wall_kind="active",
        members=0,
        verified=0,
        is_gov=False,
        has_photo=1,
        has_cover=0,
        has_site=False,
        has_address=False,
        comments_open=False,
    )
