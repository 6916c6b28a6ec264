"""A page's wall: the posts as generated at the epoch, those published after it, their texts.

The wall is built from the page's planted wall kind so that STALE and LOW_FREQUENCY come out as
planted, every post clear of the thresholds by a margin a sweep's minutes cannot cross.
"""

from __future__ import annotations

from services.simulator.regional.model import Post, VkGroup
from services.simulator.regional.planting import (
    _BAND,
    _SALT_FREQUENCY,
    _SALT_POST,
    _SALT_UPCOMING,
    _SALT_WALL,
    _away_from_thresholds,
    unit,
)
from services.simulator.regional.rules import (
    _POSTING_KINDS,
    DAY_S,
    LOW_FREQUENCY_RATE,
    UPCOMING_DAYS,
)
from services.simulator.texts import POSTS, REPOST_SOURCES, REPOST_TEXTS, USER_TEXTS


class WallParts:
    """The wall part of :class:`~services.simulator.regional.state.Region`."""

    def posts_rarely(self, group: VkGroup) -> bool:
        """A posting page planted to post below the LOW_FREQUENCY floor (fixed by the page id)."""
        if group.wall_kind not in _POSTING_KINDS:
            return False
        return unit(self.bits(group, _SALT_FREQUENCY)) < LOW_FREQUENCY_RATE

    def posts(self, group: VkGroup, now_ts: float | None = None) -> list[Post]:
        """The wall at ``now_ts`` (default: the clock) in wall.get order: pinned, then newest."""
        cached = self._wall_cache.get(group.id)
        if cached is None:
            cached = self._build_wall(group)
            if len(self._wall_cache) > 20_000:
                self._wall_cache.clear()
            self._wall_cache[group.id] = cached
        now_ts = self.now_ts if now_ts is None else now_ts
        if now_ts <= self.epoch_ts:
            return cached
        wall = cached
        if group.wall_kind in _POSTING_KINDS:
            new = [p for p in self._upcoming(group, cached) if p.date <= now_ts]
            if new:
                pinned = cached[:1] if cached and cached[0].pinned else []
                wall = pinned + new[::-1] + cached[len(pinned) :]
        return [p for p in wall if (self.post_deleted_at(group, p) or now_ts + 1) > now_ts]

    def _upcoming(self, group: VkGroup, wall: list[Post]) -> list[Post]:
        """Posts the page will publish after ``epoch``, oldest first (active pages keep posting)."""
        cached = self._upcoming_cache.get(group.id)
        if cached is not None:
            return cached
        rng = self.rng(group, _SALT_UPCOMING)
        # Each page keeps the habit its wall shows: a post every few days or about one a day.
        if self.posts_rarely(group):
            per_day = 0.12 + 0.16 * rng.random()
        else:
            per_day = 0.9 + 0.6 * rng.random()
        post_id = max((p.id for p in wall), default=0)
        age = -0.25  # the first new post comes at least six hours after the epoch
        posts = []
        while True:
            age -= rng.expovariate(per_day)
            if age < -UPCOMING_DAYS:
                break
            post_id += 1 + int(rng.random() * 2)
            repost = rng.random() < 0.12
            posts.append(Post(post_id, int(self.epoch_ts - age * DAY_S), -group.id, repost, False))
        if len(self._upcoming_cache) > 20_000:
            self._upcoming_cache.clear()
        self._upcoming_cache[group.id] = posts
        return posts

    def _build_wall(self, group: VkGroup) -> list[Post]:
        rng = self.rng(group, _SALT_WALL)
        kind = group.wall_kind
        OWN, REPOST, USER = 0, 1, 2
        plan: list[tuple[float, int]] = []  # (age in days, author kind)
        pinned_age: float | None = None
        user_ok = group.wall == 1

        def band(name: str) -> float:
            lo, hi = _BAND[name]
            return rng.uniform(lo, hi)

        def newer_than(age: float, count: int, author: int) -> None:
            for _ in range(count):
                plan.append((rng.uniform(0.02, max(age - 0.05, 0.03)), author))

        def older_than(age: float, count: int, gap: tuple[float, float] = (0.4, 9.0)) -> None:
            for _ in range(count):
                age += rng.uniform(*gap)
                roll = rng.random()
                author = OWN if roll < 0.82 else REPOST if roll < 0.96 or not user_ok else USER
                plan.append((age, author))

        def posting(age: float) -> None:
            """Older posts of a page that keeps posting, clear of the LOW_FREQUENCY floor of 12
            own posts in 28 days among the 20 returned (a pinned post and three newer ones by
            others take at most four of them)."""
            if self.posts_rarely(group):
                # The k-th older post is at least 3.5·k days older than the newest: 8 own at most.
                older_than(age, rng.randint(3, 30 - len(plan)), gap=(3.5, 7.0))
                return
            for _ in range(16):  # all inside the window: at most 5.6 + 16 × 1.2 = 24.8 days
                age += rng.uniform(0.25, 1.2)
                plan.append((age, OWN))
            older_than(age, rng.randint(0, 30 - len(plan)))

        if kind in ("empty", "disabled"):
            pass
        elif kind in ("active", "stale_medium", "stale_high", "stale_critical"):
            a0 = band({"active": "fresh"}.get(kind, kind.removeprefix("stale_")))
            plan.append((a0, OWN))
            newer_than(a0, rng.randint(0, 3), USER if user_ok and rng.random() < 0.3 else REPOST)
            if kind == "active":
                posting(a0)
            else:
                older_than(a0, rng.randint(3, 30 - len(plan)))
            if kind == "active" and rng.random() < 0.25 and len(plan) > 3:
                # An ordinary pinned post: one of the older own posts.
                pinned_age = max(a for a, k in plan if k == OWN)
                plan.remove((pinned_age, OWN))
        elif kind == "reposts_only":
            # The 20 newest, reposts only, span 9 to 26 days: more than a week without an own post
            # is proven ("medium"), how much more the wall does not show (the own posts lie
            # beyond), and the four-week posting rate cannot be counted.
            age = 0.0
            for _ in range(rng.randint(21, 28)):
                age += rng.uniform(0.45, 1.3)
                plan.append((age, REPOST))
            age += 5.0
            for _ in range(rng.randint(0, 30 - len(plan))):
                age += rng.uniform(1.0, 12.0)
                plan.append((age, OWN))
        elif kind.startswith("reposts_then_own_"):
            a0 = band(kind.removeprefix("reposts_then_own_"))
            plan.append((a0, OWN))
            for _ in range(rng.randint(3, 10)):
                plan.append((band("fresh"), REPOST))
            older_than(a0, rng.randint(0, 30 - len(plan)))
        elif kind == "pinned_old_fresh":
            pinned_age = rng.uniform(120.0, 400.0)
            a0 = band("fresh")
            plan.append((a0, OWN))
            posting(a0)
        elif kind.startswith("pinned_old_reposts_"):
            pinned_age = band(kind.removeprefix("pinned_old_reposts_"))
            if pinned_age < 40:  # keep it clear of the reposts' span for readability
                pinned_age += 8
            # The wall holds more than wall.get returns, so the pinned post alone proves nothing:
            # the 19 reposts under it reach back past the grade's threshold (over 30 days for
            # "high", over 90 for "critical"), and the pinned post bounds the age from above.
            step = (1.7, 2.5) if pinned_age < 90 else (4.9, 6.0)
            age = 0.0
            for _ in range(rng.randint(20, 27)):
                age += rng.uniform(*step)
                plan.append((age, REPOST))
        elif kind == "user_posts_medium":
            a0 = band("medium")
            plan.append((a0, OWN))
            newer_than(a0, rng.randint(2, 6), USER)
            older_than(a0, rng.randint(0, 30 - len(plan)))
        else:
            raise ValueError(f"unknown wall kind {kind!r}")

        limit = 30 if pinned_age is None else 29
        entries = [(_away_from_thresholds(a), k, False) for a, k in plan[:limit]]
        if pinned_age is not None:
            entries.append((_away_from_thresholds(pinned_age), OWN, True))
        entries.sort(key=lambda e: -e[0])  # oldest first: ids grow with time
        now = self.epoch_ts
        posts = []
        post_id = 1 + int(rng.random() * 400)
        for age, author, pinned in entries:
            post_id += 1 + int(rng.random() * 3)  # gaps: deleted posts
            from_id = 1_000_000 + int(rng.random() * 8e8) if author == USER else -group.id
            date = int(now - age * DAY_S)
            posts.append(Post(post_id, date, from_id, author == REPOST, pinned))
        posts.sort(key=lambda p: (not p.pinned, -p.date, -p.id))
        return posts

    def post_text(self, group: VkGroup, post: Post) -> str:
        b = self.bits(group, _SALT_POST, post.id)
        if post.from_id > 0:
            return USER_TEXTS[b % len(USER_TEXTS)]
        if post.repost:
            return "" if unit(b, 48) < 0.6 else "Делимся важной информацией."
        org = self.org_of(group)
        muni = self._muni(org)
        templates = POSTS[org.sphere]
        template = templates[b % len(templates)]
        if "{" not in template:
            return template
        return template.format(
            name=org.name,
            place=muni.admin_centre if muni else "регионе",
            n=1 + (b >> 20) % 12,
        )

    def repost_source(self, group: VkGroup, post: Post) -> tuple[int, str, str, int]:
        """(source group id, name, text, original post id) of a repost's ``copy_history``."""
        b = self.bits(group, _SALT_POST, post.id + 1_000_000)
        gid, name = REPOST_SOURCES[b % len(REPOST_SOURCES)]
        return (
            gid,
            name.format(R=self.region_genitive_of(self.org_of(group))),
            REPOST_TEXTS[(b >> 8) % len(REPOST_TEXTS)],
            1000 + (b >> 16) % 89_001,
        )
