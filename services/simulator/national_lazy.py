"""The national preset's organisations, groups and screen names as containers derived on access.

The :class:`~services.simulator.region.Region` reads them like the lists and dicts of a small
region; nothing per page is stored but the groups a test changed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from services.simulator.region import Organisation, VkGroup

if TYPE_CHECKING:
    from services.simulator.national import World


class _Organisations(Sequence[Organisation]):
    def __init__(self, world: World) -> None:
        self.world = world

    def __len__(self) -> int:
        return self.world.size

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self.world.organisation(k) for k in range(*i.indices(self.world.size))]
        if i < 0:
            i += self.world.size
        return self.world.organisation(i)

    def __iter__(self) -> Iterator[Organisation]:
        for i in range(self.world.size):
            yield self.world.organisation(i)


class _Groups(Mapping[int, VkGroup]):
    """Group id → group, derived on access; groups a test changed are kept as changed."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.kept: dict[int, VkGroup] = {}
        self._recent: OrderedDict[int, VkGroup] = OrderedDict()
        self._len: int | None = None

    def __getitem__(self, gid: int) -> VkGroup:
        group = self.kept.get(gid) or self._recent.get(gid)
        if group is not None:
            return group
        i = self.world.index_of_group(gid) if isinstance(gid, int) else None
        if i is None or not self.world.has_group(i):
            raise KeyError(gid)
        group = self.world.group(i)
        self._recent[gid] = group
        if len(self._recent) > 4096:
            self._recent.popitem(last=False)
        return group

    def keep(self, group: VkGroup) -> None:
        self.kept[group.id] = group

    def __iter__(self) -> Iterator[int]:
        world = self.world
        return (world.group_id(i) for i in range(world.size) if world.has_group(i))

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for i in range(self.world.size) if self.world.has_group(i))
        return self._len


class _ScreenNames(Mapping[str, int]):
    """Custom screen name → group id: the name ends in the organisation's index."""

    def __init__(self, world: World) -> None:
        self.world = world

    def __getitem__(self, name: str) -> int:
        head, _, tail = name.rpartition("_")
        try:
            i = int(tail, 36)
        except ValueError:
            raise KeyError(name) from None
        world = self.world
        if not head or not 0 <= i < world.size or not world.has_group(i):
            raise KeyError(name)
        if not world.custom_screen_name(i) or world.organisation(i).slug.lower() != name:
            raise KeyError(name)
        return world.group_id(i)

    def __iter__(self) -> Iterator[str]:
        world = self.world
        for i in range(world.size):
            if world.has_group(i) and world.custom_screen_name(i):
                yield world.organisation(i).slug.lower()

    def __len__(self) -> int:
        return sum(1 for _ in self)
