"""Which register page a push is about: the registers of the configured regions, by platform id.

A push names its page by the platform's numeric id (VK's ``group_id``, MAX's ``chat_id``). A register
may name a page by that id (VK also ``club123``/``public123``/``event123``) or by a screen name or
public link, which only the platform's API turns into an id: such pages are not found here, and a
push about them is answered and counted (``unknown_page``) while polling keeps covering them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping

from gospublic import contracts as c

log = logging.getLogger("gospublic.receiver.pages")

_VK_NUMERIC = re.compile(r"^-?(?:club|public|event)?([0-9]{1,19})$")
_MAX_NUMERIC = re.compile(r"^-?[0-9]{1,19}$")


def numeric_key(ref: c.PageRef) -> str | None:
    """The platform's numeric id a register entry names, as the push carries it; None if the
    entry names the page otherwise (a screen name, a public link's name)."""
    native = ref.native_id.strip().lower()
    if ref.platform == c.Platform.VK:
        m = _VK_NUMERIC.match(native)
        return str(int(m.group(1))) if m else None
    if ref.platform == c.Platform.MAX:
        return str(int(native)) if _MAX_NUMERIC.match(native) else None
    return None


class PageDirectory:
    """(platform, numeric id) → the register's ``PageRef`` and its EVENTS partition, reloaded now
    and then.

    ``load`` returns the organisations of every configured region, by region key (the partition
    of a page's events is its region's); a failed reload keeps the pages known so far (a push
    about a page found later is still covered by polling).
    """

    def __init__(
        self, load: Callable[[], Awaitable[Mapping[str, Iterable[c.Organisation]]]]
    ) -> None:
        self._load = load
        self._pages: dict[tuple[str, str], c.PageRef] = {}
        self._partitions: dict[tuple[str, str], int] = {}
        self.by_name = 0  # pages a push cannot name (screen names, public links)
        self.loaded = False

    def find(self, platform: c.Platform, native_id: int | str) -> c.PageRef | None:
        key = str(native_id)
        if platform == c.Platform.VK:
            key = key.lstrip("-")  # a community: group_id 123 is owner -123
        return self._pages.get((platform.value, key))

    def partition(self, ref: c.PageRef) -> int:
        """The EVENTS partition of a page ``find`` returned: its register's region's."""
        return self._partitions.get((ref.platform.value, ref.native_id), c.region_partition(""))

    def __len__(self) -> int:
        return len(self._pages)

    def replace(self, registers: Mapping[str, Iterable[c.Organisation]]) -> None:
        pages: dict[tuple[str, str], c.PageRef] = {}
        partitions: dict[tuple[str, str], int] = {}
        by_name = 0
        for region, organisations in registers.items():
            partition = c.region_partition(region)
            for org in organisations:
                for ref in org.pages:
                    if ref.platform not in (c.Platform.VK, c.Platform.MAX):
                        continue
                    key = numeric_key(ref)
                    if key is None:
                        by_name += 1
                    elif (ref.platform.value, key) not in pages:
                        pages[(ref.platform.value, key)] = ref
                        partitions[(ref.platform.value, ref.native_id)] = partition
        self._pages, self._partitions = pages, partitions
        self.by_name, self.loaded = by_name, True

    async def reload(self) -> bool:
        try:
            self.replace(await self._load())
        except Exception as exc:  # the registers could not be read: keep what is known
            log.warning("registers not read; keeping the pages known", extra={"error": str(exc)})
            return False
        log.info("registers read", extra={"pages": len(self), "named_otherwise": self.by_name})
        return True

    async def keep_fresh(self, every_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), every_s)
            except TimeoutError:
                await self.reload()
