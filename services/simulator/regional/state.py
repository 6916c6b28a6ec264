"""The :class:`Region`: its scalars, its clock and its lookups.

What a page shows is derived on demand by the parts it is composed of: ``ProfileParts``
(description, contacts, address), ``WallParts`` (posts), ``CommentParts`` (comments and their
answers), ``ScorecardParts`` (widgets, views, the scorecard's facts) and ``TruthParts`` (the
expected verdicts and the files the demo writes).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.simulator.names import PRESETS, Municipality, Preset
from services.simulator.regional.comments import CommentParts
from services.simulator.regional.model import (
    Organisation,
    Post,
    VkGroup,
    group_id_from_ref,
    ok_shortname,
    vk_ref_from_link,
)
from services.simulator.regional.planting import _SALT_EDIT, _SALT_FATE, _mix, bits, unit
from services.simulator.regional.profile import ProfileParts
from services.simulator.regional.rules import (
    PAGE_CLOSED_RATE,
    PAGE_DELETED_RATE,
    POST_DELETED_RATE,
    PROFILE_EDIT_RATE,
    _after_epoch,
)
from services.simulator.regional.scorecard import ScorecardParts
from services.simulator.regional.truth import TruthParts
from services.simulator.regional.wall import WallParts


@dataclass
class Region(ProfileParts, WallParts, CommentParts, ScorecardParts, TruthParts):
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
        are deleted, descriptions removed (:meth:`description_removed_at`), and pages whose
        :meth:`fate` falls in the step are deleted or closed.

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

    def description_removed_at(self, group: VkGroup | int) -> int | None:
        """When the page's description is removed (a profile edit after the epoch), if ever."""
        b = self.bits(group, _SALT_EDIT)
        if unit(b) >= PROFILE_EDIT_RATE:
            return None
        return self.epoch_ts + _after_epoch(unit(b, 16))

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
