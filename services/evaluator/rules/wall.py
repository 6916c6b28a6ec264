"""What a page's posts show of its wall (``Wall``: whose posts, the span seen), the week's reach
of its own posts (``Reach``), and WALL_CLOSED settled from visitors' posts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gospublic.contracts import Post, PostsObserved

from .catalogue import NOT_EVALUABLE, PASS, WALL_CLOSED
from .results import DAY_MS, WEEK_MS, RuleResult, epoch_ms, posted_ms


def by_page(post: Post, page_id: str) -> bool:
    """A post the page itself wrote or reposted, not a visitor's post on an open wall.

    ``is_own`` already means "by the page, not a repost"; a repost is the page's when its author
    is the page (VK, OK: the negative page id) or not named at all (a channel's forward).
    """
    return post.is_own or (post.is_repost and post.from_id in ("", f"-{page_id}"))


@dataclass(frozen=True, slots=True)
class Wall:
    """What one ``PostsObserved`` shows of a page's wall, as the activity rules read it.

    ``page_posts`` are the page's own posts and its reposts (with their times); ``own`` the
    page's own non-repost posts. The wall's span is what the unpinned posts cover: a pinned post
    stays on top whatever its age, so it neither makes the page fresh nor reaches further back.
    ``complete`` when the platform said it holds no more posts than it returned.
    """

    shown: int
    page_posts: tuple[tuple[Post, int], ...]
    own: tuple[tuple[Post, int], ...]
    edge_ms: int | None  # the oldest unpinned post shown: the wall is known from here to now
    complete: bool

    @classmethod
    def of(cls, posts: PostsObserved, posted: Sequence[int]) -> Wall:
        """The wall of an event; the activity rules and the scorecard both ask for it, with the
        same event and the same list of times, so the last one made is given again."""
        last = _LAST_WALL
        if last and last[0] is posts and last[1] is posted:
            return last[2]
        wall = cls._of(posts, posted)
        _LAST_WALL[:] = (posts, posted, wall)
        return wall

    @classmethod
    def _of(cls, posts: PostsObserved, posted: Sequence[int]) -> Wall:
        items = posts.posts
        page_tag = f"-{posts.page_id}"
        page_posts = []
        own = []
        edge_ms = None
        for p, ms in zip(items, posted, strict=True):  # one pass: the hot path of a sweep
            if not p.is_pinned and (edge_ms is None or ms < edge_ms):
                edge_ms = ms
            if p.is_own:
                page_posts.append((p, ms))
                if not p.is_repost:
                    own.append((p, ms))
            elif p.is_repost and (p.from_id == page_tag or not p.from_id):
                page_posts.append((p, ms))
        return cls(
            shown=len(items),
            page_posts=tuple(page_posts),
            own=tuple(own),
            edge_ms=edge_ms,
            complete=posts.total_count is not None and posts.total_count <= len(items),
        )

    def covers_less_than(self, since_ms: int) -> bool:
        """The posts shown all fall after ``since_ms`` and the wall holds more: a window reaching
        back to ``since_ms`` is not fully seen."""
        return self.edge_ms is not None and self.edge_ms >= since_ms and not self.complete

    @property
    def shown_note(self) -> str:
        """How many of the posts shown are the page's own (the rest: reposts, visitors' posts)."""
        return _shown_note(len(self.own), self.shown)


# (event, its posts' times, its Wall): the last wall made (``Wall.of``); events are immutable.
_LAST_WALL: list = []


def _shown_note(own: int, shown: int) -> str:
    return f"собственных записей {own} из {shown} показанных"


def shown_note(posts: PostsObserved) -> str:
    """``Wall.shown_note`` without the rest of the wall (for LOW_ENGAGEMENT's value)."""
    own = sum(1 for p in posts.posts if p.is_own and not p.is_repost)
    return _shown_note(own, len(posts.posts))


def wall_open_in_posts(
    result: RuleResult, posts: PostsObserved, now: datetime, days: float = 30.0
) -> RuleResult:
    """WALL_CLOSED for a profile that did not report ``wall``, from the wall itself: a visitor's
    post of the last ``days`` days shows the wall open to citizens (a closed wall keeps its old
    posts, so only a recent one counts). Any other result is returned as it is."""
    if result.rule != WALL_CLOSED or result.status != NOT_EVALUABLE or result.value:
        return result
    since = epoch_ms(now) - int(days * DAY_MS)
    visitors = [
        p for p in posts.posts if not by_page(p, posts.page_id) and epoch_ms(p.posted_at) >= since
    ]
    if not visitors:
        return result
    summary = (
        f"Настройку стены платформа не сообщила, но на стене есть записи жителей за последние "
        f"{days:g} дн. ({len(visitors)}): стена открыта."
    )
    value = f"записи жителей: {len(visitors)}"
    return RuleResult(WALL_CLOSED, PASS, result.severity, value, result.threshold, result.basis,
                      summary)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reach:
    """Views of a page's own posts (not reposts) of the last 7 days, as one ``PostsObserved``
    shows them, for the scorecard's reach criteria.

    ``views`` is None where the views are hidden (VK leaves ``views`` out of a post, or the
    platform never shows them): the reach is then not evaluable, not zero. ``complete`` is False
    when the posts shown all fall within the week and the wall holds more: the week's views are
    then at least ``views`` (a lower bound).
    """

    own_posts: int
    views: int | None
    members: int | None
    complete: bool

    @property
    def weekly_reach(self) -> float | None:
        """The week's views per subscriber (0.7 is 70 %); None without views or subscribers."""
        if self.views is None or not self.members or self.members <= 0:
            return None
        return self.views / self.members

    @property
    def average_views(self) -> float | None:
        """Views per own post of the week; None without views or without a post that week."""
        if self.views is None or self.own_posts == 0:
            return None
        return self.views / self.own_posts


def page_reach(
    posts: PostsObserved, members: int | None, now_ms: int, wall: Wall | None = None
) -> Reach:
    """The page's reach over the 7 days before ``now_ms`` (see ``Reach``); ``wall``: the posts'
    ``Wall`` when the caller has it already (the evaluator reads every page's posts)."""
    since = now_ms - WEEK_MS
    if wall is None:
        wall = Wall.of(posts, posted_ms(posts.posts))
    week = [p for p, ms in wall.own if since <= ms <= now_ms]
    if week:
        hidden = any(p.views is None for p in week)
    else:  # nothing to add up: hidden only if the platform shows no post's views at all
        hidden = bool(posts.posts) and all(p.views is None for p in posts.posts)
    return Reach(
        own_posts=len(week),
        views=None if hidden else sum(p.views or 0 for p in week),
        members=members,
        complete=not wall.covers_less_than(since),
    )


def weekly_reach(posts: PostsObserved, members: int | None, now_ms: int) -> float | None:
    """The week's views of own posts per subscriber (``page_reach(...).weekly_reach``)."""
    return page_reach(posts, members, now_ms).weekly_reach


def average_views_per_post(posts: PostsObserved, now_ms: int) -> float | None:
    """Views per own post of the week (``page_reach(...).average_views``)."""
    return page_reach(posts, None, now_ms).average_views
