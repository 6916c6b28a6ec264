"""The Госуслуги widgets in a page's menu, its posts' views, and what the scorecard reads."""

from __future__ import annotations

from datetime import datetime

from services.simulator.regional.model import Post, ScorecardFacts, VkGroup
from services.simulator.regional.planting import (
    _SALT_VIEWS,
    _SALT_WIDGETS,
    SALT_API,
    VIEWS_HIDDEN_RATE,
    WIDGET_HOST,
    WIDGET_PLANS,
    _pick,
    bits,
    unit,
)
from services.simulator.regional.rules import DAY_S, DESCRIPTION_MIN_CHARS, WALL_WINDOW


class ScorecardParts:
    """The scorecard part of :class:`~services.simulator.regional.state.Region`."""

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
