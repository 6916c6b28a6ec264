"""Generating a region from a preset and a seed: organisations, links, pages and planted defects.

The draws run in a fixed order from one seeded stream; anything added later draws by hash
(:func:`~services.simulator.regional.planting.bits`) so the regions of existing seeds stay as they
were.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from gospublic.registry import ogrn_check_digit
from services.simulator.names import (
    FILL_DISTRICT,
    FILL_URBAN,
    PRESETS,
    REGIONAL_BODIES,
    REGIONAL_INSTITUTIONS,
    Namer,
    agree_gender,
    load_municipalities,
)
from services.simulator.regional.model import Organisation, VkGroup, ok_link
from services.simulator.regional.planting import (
    _DESC_RATES,
    _PHONE_RATES,
    _PRESENCE_RATES,
    _SALT_GOSPUBLIKI,
    _SALT_MARK,
    _USER_POSTS_RATE,
    _WALL_KIND_RATES,
    _WALL_RATES,
    GOSPUBLIKI_RATES,
    TICK_WITHOUT_MARK_RATE,
    _mix,
    _pick,
    _quotas,
    allocate,
    bits,
    unit,
)
from services.simulator.regional.rules import FIRST_GROUP_ID
from services.simulator.regional.state import Region


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
            munis, namers, allocate(total - len(specs), weights), strict=True
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
