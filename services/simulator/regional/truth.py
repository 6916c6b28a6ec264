"""The ground truth: the violations the planted world must produce, and the demo's files.

Computed with the simulator's own reading of the rules (thresholds in ``rules``), so comparing it
with the evaluator's verdicts tests both sides.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gospublic.contracts import Platform
from gospublic.registry import COLUMNS as REGISTRY_HEADER
from gospublic.registry import parse_page_link
from services.simulator.regional.model import Organisation, Post, has_phone, normalise
from services.simulator.regional.rules import (
    COPIED_MIN_TEXT,
    COPIED_SEVERITY,
    COPIED_WINDOW_DAYS,
    DAY_S,
    DESCRIPTION_MIN_CHARS,
    FREQUENCY_MIN_PER_WEEK,
    FREQUENCY_WEEKS,
    MAX_RULES,
    NOT_CONNECTED_SEVERITY,
    REPLY_RATE_MIN,
    RULES,
    STALE_THRESHOLDS_DAYS,
    WALL_WINDOW,
)

if TYPE_CHECKING:
    from services.simulator.max_api import Channel


class TruthParts:
    """The ground-truth part of :class:`~services.simulator.regional.state.Region`."""

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
            description = self.description(group, now_ts)
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
