"""The national preset: about 175,000 VK pages of Russia's regions, each derived from its index.

Nothing per page is stored. An organisation, its VK group, texts and wall are functions of the seed
and the organisation's index, so the preset takes a few megabytes and is ready in a fraction of a
second, and a page is as cheap to answer as in a small region. Planted defects follow the region's
rates; each rate becomes an exact share through an affine permutation of the indices. Links carry
the index (``club<id>`` ids are ``FIRST_ID + 16 * index + jitter``; screen names end in the index in
base 36), so the simulator resolves them without a lookup table.
"""

from __future__ import annotations

import csv
import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from gospublic.registry import ogrn_check_digit
from services.simulator.names import DATA_DIR, Municipality, Namer, Preset, slugify
from services.simulator.national_lazy import _Groups, _Organisations, _ScreenNames
from services.simulator.national_names import (
    _BODIES,
    _CORE,
    _DISTRICT_ADJ,
    _MINISTRY,
    _REGIONAL_INSTITUTIONS,
    InstitutionNaming,
    _Context,
    _label,
)
from services.simulator.region import (
    _DESC_RATES,
    _PHONE_RATES,
    _PRESENCE_RATES,
    _USER_POSTS_RATE,
    _WALL_KIND_RATES,
    _WALL_RATES,
    Organisation,
    Region,
    VkGroup,
    bits,
    ok_link,
)
from services.simulator.regional.planting import allocate

PAGES = 175_000  # VK links in the national register
FIRST_ID = 150_000_000
ID_STRIDE = 16
REGIONS_CSV = "russia_regions.csv"
_NO_VK = ("no_links", "no_links_exempt", "tg_only", "ok_only")


@dataclass(frozen=True)
class _RegionSpan:
    index: int
    preset: Preset
    start: int  # first organisation index
    stop: int
    munis: tuple[int, ...]  # global municipality indices, the capital first


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


class _Permutation:
    """``i → (a·i + c) mod n``: a bijection, so thresholds on it give exact shares."""

    def __init__(self, n: int, seed: int, salt: int) -> None:
        self.n = n
        b = bits(seed, salt, 0xA77)
        a = (b % n) | 1
        while math.gcd(a, n) != 1:
            a += 2
        self.a, self.c = a, (b >> 32) % n

    def unit(self, i: int) -> float:
        return ((self.a * i + self.c) % self.n) / self.n


def organisations_for(pages: int) -> int:
    """The number of organisations whose register lists ``pages`` VK links (exactly)."""
    share = 1.0 - sum(rate for label, rate in _PRESENCE_RATES if label in _NO_VK)
    n = int(pages / share)
    while _vk_links(n) < pages:
        n += 1
    while _vk_links(n - 1) >= pages:
        n -= 1
    return n


def _vk_links(n: int) -> int:
    """Indices whose presence draw falls outside the no-VK bands, for a permutation of ``n``."""
    no_vk = 0
    acc = 0.0
    for label, rate in _PRESENCE_RATES:
        lo, acc = acc, acc + rate
        if label in _NO_VK:
            no_vk += math.ceil(acc * n) - math.ceil(lo * n)
    return n - no_vk


class World(InstitutionNaming):
    """The national preset's structure and its per-index derivations."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size
        rng = random.Random(bits(seed, 0x5A710))
        with (DATA_DIR / REGIONS_CSV).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        self.presets: list[Preset] = []
        self.munis: list[Municipality] = []
        weights = [float(row["population"]) ** 0.8 for row in rows]
        counts = allocate(size, weights)
        self.regions: list[_RegionSpan] = []
        start = 0
        muni_starts: list[int] = []
        self._muni_span: list[tuple[int, int]] = []  # municipality → (start, stop) of its orgs
        for r, (row, count) in enumerate(zip(rows, counts, strict=True)):
            preset = Preset(
                region=row["genitive"],
                region_nominative=row["name"],
                capital=f"городской округ город {row['capital']}",
                region_code=row["code"],
                slug=slugify(row["capital"])[:6],
                municipalities_csv="",
                size=count,
                phone_code=row["phone"],
                postal=int(row["postal"]),
                abbr="",
            )
            self.presets.append(preset)
            population = float(row["population"])
            districts = max(5, min(45, round(population / 75)))
            names = rng.sample(_DISTRICT_ADJ, k=districts)
            first = len(self.munis)
            capital_adj = row["capital_adj"]
            self.munis.append(
                Municipality(
                    first,
                    "urban_okrug",
                    preset.capital,
                    row["capital"],
                    region=r,
                    adj=capital_adj,
                    town_gen=row["capital_genitive"],
                )
            )
            for adj in names:
                self.munis.append(
                    Municipality(
                        len(self.munis),
                        "municipal_district",
                        f"{adj} муниципальный {'округ' if rng.random() < 0.4 else 'район'}",
                        adj[:-2] + "ое" if adj.endswith("ий") else adj,
                        region=r,
                    )
                )
            munis = tuple(range(first, len(self.munis)))
            top = len(_BODIES) + len(_REGIONAL_INSTITUTIONS)
            rest = max(0, count - top)
            shares = [3.0] + [rng.uniform(0.6, 1.4) for _ in names]
            per_muni = allocate(rest, shares)
            cursor = start + min(count, top)
            for _, n in zip(munis, per_muni, strict=True):
                muni_starts.append(cursor)
                self._muni_span.append((cursor, cursor + n))
                cursor += n
            self.regions.append(_RegionSpan(r, preset, start, start + count, munis))
            start += count
        self._region_starts = [span.start for span in self.regions]
        self._muni_starts = muni_starts
        p = [_Permutation(size, seed, salt) for salt in range(12)]
        self._presence, self._ok, self._tg, self._custom, self._by_name = p[:5]
        self._desc, self._wall, self._phone, self._kind, self._user = p[5:10]
        self._namers: dict[int, Namer] = {}
        self._cores: dict[int, list] = {}
        self._contexts: dict[int, _Context] = {}

    # --- Presence ---------------------------------------------------------------------------
    def presence(self, i: int) -> str:
        return _label(self._presence.unit(i), _PRESENCE_RATES, "live")

    def group_id(self, i: int) -> int:
        return FIRST_ID + ID_STRIDE * i + 1 + bits(self.seed, i, 0x61D) % (ID_STRIDE - 1)

    def index_of_group(self, gid: int) -> int | None:
        i = (gid - FIRST_ID - 1) // ID_STRIDE
        if not 0 <= i < self.size or self.group_id(i) != gid:
            return None
        return i

    def has_group(self, i: int) -> bool:
        scenario = self.presence(i)
        return scenario not in _NO_VK and not scenario.startswith("vk_not_found")

    def custom_screen_name(self, i: int) -> bool:
        return self._custom.unit(i) < 0.35

    # --- Organisations ----------------------------------------------------------------------
    def region_of(self, i: int) -> _RegionSpan:
        return self.regions[bisect_right(self._region_starts, i) - 1]

    @lru_cache(maxsize=8192)  # noqa: B019 - one World per process, cleared with it
    def organisation(self, i: int) -> Organisation:
        if not 0 <= i < self.size:
            raise IndexError(i)
        span = self.region_of(i)
        preset = span.preset
        offset = i - span.start
        capital = self.munis[span.munis[0]]
        bodies = len(_BODIES)
        if offset < bodies:
            sphere, pattern, slug = _BODIES[offset]
            name = pattern.format(R=preset.region)
            founder = (
                preset.region_nominative if slug == "gov" else f"Правительство {preset.region}"
            )
            kind, level, muni = "regional_body", "regional", capital
        elif offset < bodies + len(_REGIONAL_INSTITUTIONS):
            sphere, pattern, slug, founder_key = _REGIONAL_INSTITUTIONS[offset - bodies]
            name = pattern.format(R=preset.region, C=capital.fem, Cm=capital.masc)
            founder = _MINISTRY[founder_key].format(R=preset.region)
            kind, level, muni = "regional_institution", "regional", capital
        else:
            m = bisect_right(self._muni_starts, i) - 1
            muni = self.munis[m]
            lo, _ = self._muni_span[m]
            k = i - lo
            if k < _CORE:
                kind, sphere, level, name, founder, slug = self._core(muni)[k]
            else:
                kind, sphere, level, name, founder, slug = self._fill(muni, preset, i, k)
        scenario = self.presence(i)
        slug = f"{slug[:24].strip('_')}_{_b36(i)}"
        org = Organisation(
            ogrn=self._ogrn(i, span),
            name=name,
            level=level,
            founder=founder,
            municipality=muni.name if kind != "regional_body" else preset.region_nominative,
            sphere=sphere,
            exempt="exempt" in scenario,
            kind=kind,
            presence=scenario,
            slug=slug,
            municipality_index=muni.index,
        )
        has_ok = (
            scenario.endswith("_ok")
            or scenario == "ok_only"
            or (scenario in ("live", "exempt_live") and self._ok.unit(i) < 0.35)
        )
        if has_ok:
            org.ok_id = 70_000_000_000_000 + 97 * i + bits(self.seed, i) % 97
            org.ok = ok_link(org, org.ok_id, self.seed, i)
        base_has_vk = scenario not in _NO_VK
        if scenario == "tg_only" or (base_has_vk and self._tg.unit(i) < 0.3):
            org.telegram = f"https://t.me/{slug}"
        if not base_has_vk:
            return org
        gid = self.group_id(i)
        org.group_id = gid
        custom = self.custom_screen_name(i)
        link_by_name = custom and self._by_name.unit(i) < 0.5
        if scenario.startswith("vk_not_found"):
            if link_by_name:
                org.vk = f"https://vk.com/{slug}_old"
                org.group_id = None
            else:
                org.vk = f"https://vk.com/club{gid}"
            return org
        org.vk = f"https://vk.com/{slug}" if link_by_name else f"https://vk.com/club{gid}"
        return org

    def _ogrn(self, i: int, span: _RegionSpan) -> str:
        offset = i - span.start
        year = ("02", "03", "05", "06", "11", "15", "16", "21")[bits(self.seed, i, 0x0E) % 8]
        serial = offset * 37 + bits(self.seed, i, 0x0F) % 37  # unique inside the region
        first12 = f"1{year}{span.preset.region_code}{serial:07d}"
        return first12 + str(ogrn_check_digit(first12))

    # --- Groups -------------------------------------------------------------------------------
    def group(self, i: int) -> VkGroup:
        """The VK community of organisation ``i`` (which must have one)."""
        org = self.organisation(i)
        scenario = org.presence
        rng = random.Random(bits(self.seed, i, 0x6A0))
        big = org.kind == "regional_body"
        deactivated = (
            "deleted"
            if scenario in ("vk_deleted", "vk_deleted_ok", "exempt_deleted")
            else "banned"
            if scenario.startswith("vk_banned")
            else ""
        )
        name = org.name if rng.random() >= 0.15 else f"{org.name} | официальная страница"
        group = VkGroup(
            id=self.group_id(i),
            org=i,
            name=name[:200],
            custom_screen_name=org.slug if self.custom_screen_name(i) else "",
            type="page" if rng.random() < 0.4 else "group",
            deactivated=deactivated,
            wall=1,
            desc_kind="normal",
            phone_place="description",
            wall_kind="active",
            members=int(rng.lognormvariate(8.5 if big else 6.3, 0.9)),
            verified=1 if big and rng.random() < 0.6 else 0,
            is_gov=rng.random() < 0.85,
            has_photo=0 if rng.random() < 0.04 else 1,
            has_cover=1 if rng.random() < 0.6 else 0,
            has_site=rng.random() < 0.8,
            has_address=rng.random() < 0.7,
            comments_open=rng.random() < 0.9,
        )
        if deactivated:
            return group
        desc = _label(self._desc.unit(i), _DESC_RATES, "normal")
        wall = _label(self._wall.unit(i), _WALL_RATES, 1)
        place = _label(self._phone.unit(i), _PHONE_RATES, "description")
        if desc != "normal" and place.startswith("description"):
            place = "contacts_address" if place == "description_contacts" else "contacts"
        group.desc_kind, group.wall, group.phone_place = desc, wall, place
        if place == "address":
            group.has_address = True
        if wall == 0:
            group.wall_kind = "disabled"
        else:
            kind = _label(self._kind.unit(i), _WALL_KIND_RATES, "active")
            if kind == "active" and wall == 1 and self._user.unit(i) < _USER_POSTS_RATE:
                kind = "user_posts_medium"
            group.wall_kind = kind
        return group


def generate_national(*, seed: int, now: datetime, size: int | None = None) -> Region:
    world = World(seed, organisations_for(PAGES) if size is None else size)
    return Region(
        preset="national",
        seed=seed,
        now=now,
        organisations=_Organisations(world),
        groups=_Groups(world),
        municipality_list=world.munis,
        _by_screen_name=_ScreenNames(world),
        presets=world.presets,
    )
