"""The regional centre's scorecard («светофор»): criteria points, total and colour per page and
organisation, from the facts the evaluator holds after a sweep. No I/O, no clock of its own.

A profile's ``scorecard:`` section (``ScorecardConfig``) names the criteria, their weights, the
bands of the reach criteria and the colour thresholds, under a ``version`` that every stored card
carries (a centre compares weeks only under one version). docs/RULES.md describes the default.

Choices, and why:
- A criterion that cannot be evaluated (the answer did not show the field, views are hidden, the
  wall shown does not reach back over the window) scores 0 and is listed in ``not_evaluable``; the
  maximum stays the sum of the weights. Every organisation is then graded on one scale out of the
  same maximum, as the centre's table is, and the list says what a person must check by hand.
- Activity is proportional: ``weight × min(1, own posts in the window ÷ required)``, where
  ``required = posts_per_week × days ÷ 7``; one post of three still counts for something.
- Points are rounded to 0.1 per criterion and the total is the sum of the rounded points, so the
  table adds up as printed.
- An organisation's card is the card of its VK page (Госметка and the widgets are VK's), else the
  best card among its other pages; an organisation with no page scored keeps only the register's
  criterion (connection), every page criterion 0. A page that is gone or closed to the public (a
  closed community, a wall the platform refuses) has no card: citizens cannot use it, and the
  centre's table grades public pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Criterion ids in the order of the table's columns.
CRITERIA = (
    "connection",
    "gov_mark",
    "avatar",
    "description",
    "cover",
    "widgets",
    "activity",
    "reach_week",
    "reach_post",
)
GREEN, YELLOW, RED = "green", "yellow", "red"
DAY_MS = 86_400_000
WEEK_DAYS = 7


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Criterion(_Config):
    weight: float = Field(gt=0, le=100)


class DescriptionCriterion(Criterion):
    # A description shorter than this (spaces aside) scores 0, as DESCRIPTION_MISSING judges it.
    min_chars: int = Field(ge=1, le=10_000)


class WidgetsCriterion(Criterion):
    # Госуслуги widgets wanted («Сообщить о проблеме», «Высказать мнение»): weight ÷ required each.
    required: int = Field(default=2, ge=1, le=2)


class ActivityCriterion(Criterion):
    posts_per_week: float = Field(gt=0, le=100)
    days: int = Field(ge=1, le=92)


class Band(_Config):
    min_share: float = Field(ge=0, le=100)  # of the subscribers: 0.7 = 70 %
    points: float = Field(ge=0)


class BandsCriterion(Criterion):
    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_fit(self) -> BandsCriterion:
        shares = [b.min_share for b in self.bands]
        if len(set(shares)) != len(shares):
            raise ValueError(f"two bands with the same min_share: {sorted(shares)}")
        over = [b.points for b in self.bands if b.points > self.weight]
        if over:
            raise ValueError(f"band points {over} exceed the weight {self.weight:g}")
        ordered = sorted(self.bands, key=lambda b: b.min_share, reverse=True)
        points = [b.points for b in ordered]
        if points != sorted(points, reverse=True):
            raise ValueError("a higher min_share must not give fewer points")
        object.__setattr__(self, "bands", tuple(ordered))
        return self

    @cached_property
    def thresholds(self) -> tuple[tuple[float, float], ...]:
        return tuple((b.min_share, b.points) for b in self.bands)

    def points_for(self, share: float) -> float:
        for min_share, points in self.thresholds:  # highest first
            if share >= min_share:
                return points
        return 0.0


class Criteria(_Config):
    connection: Criterion | None = None
    gov_mark: Criterion | None = None
    avatar: Criterion | None = None
    description: DescriptionCriterion | None = None
    cover: Criterion | None = None
    widgets: WidgetsCriterion | None = None
    activity: ActivityCriterion | None = None
    reach_week: BandsCriterion | None = None
    reach_post: BandsCriterion | None = None


class Colours(_Config):
    green: float = Field(gt=0, le=100)  # total ≥ green: green
    yellow: float = Field(ge=0, le=100)  # total ≥ yellow: yellow; below: red

    @model_validator(mode="after")
    def _ordered(self) -> Colours:
        if self.yellow >= self.green:
            raise ValueError(f"yellow ({self.yellow:g}) must be below green ({self.green:g})")
        return self


class ScorecardConfig(_Config):
    version: int = Field(ge=1)
    criteria: Criteria
    colours: Colours

    @model_validator(mode="after")
    def _some_criterion(self) -> ScorecardConfig:
        if not self.weights:
            raise ValueError("criteria: at least one criterion is needed")
        return self

    # Read for every card of every batch: computed once per profile.
    @cached_property
    def weights(self) -> dict[str, float]:
        """Criterion → its maximum, in table order, for the criteria the profile lists."""
        return {
            name: c.weight for name in CRITERIA if (c := getattr(self.criteria, name)) is not None
        }

    @cached_property
    def maximum(self) -> float:
        return round(sum(self.weights.values()), 1)

    def colour(self, total: float) -> str:
        percent = 100 * total / self.maximum
        return (
            GREEN
            if percent >= self.colours.green
            else YELLOW
            if percent >= self.colours.yellow
            else RED
        )


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What a page's posts showed, counted at the observation (see ``post_facts``).

    None: unknown (hidden views, a wall shown that does not reach back over the window).
    """

    own_posts: int | None = None  # own posts (reposts aside) in the activity window
    # Views of the week's own posts (None: hidden, or the wall shown does not cover the week)
    # and how many there were; divided by the subscribers when the card is made, so that the
    # order in which a sweep's profile and posts arrive does not matter.
    week_views: int | None = None
    week_posts: int = 0


@dataclass(frozen=True, slots=True)
class PageFacts:
    """A page's facts for the card; None: the platform's answer did not show it."""

    platform: str
    page_id: str
    gov_mark: bool | None = None
    avatar: bool | None = None
    description_len: int | None = None
    cover: bool | None = None
    widgets: int | None = None
    posts: PostFacts | None = None  # None: the wall was not read (closed, not yet seen)
    subscribers: int | None = None


@dataclass(frozen=True, slots=True)
class Card:
    platform: str  # "any" for an organisation's card
    page_id: str
    points: dict[str, float]  # criterion → points, table order
    maximum: dict[str, float]  # criterion → weight
    not_evaluable: tuple[str, ...]
    total: float
    colour: str

    def key(self) -> tuple:
        """What decides whether a stored card changed."""
        return (self.platform, self.page_id, tuple(self.points.items()), self.not_evaluable)


ANY_PLATFORM = "any"


def post_facts(
    config: ScorecardConfig,
    own_posted: Sequence[int],
    complete_since_ms: int | None,
    now_ms: int,
    week: tuple[int | None, int, bool],
) -> PostFacts:
    """Count a page's posts for the card at ``now_ms``.

    ``own_posted``: when each of the page's own posts shown (reposts aside) was published;
    ``complete_since_ms``: the oldest unpinned post shown, every later post is among them (None:
    the whole wall is shown). A window starting at or after it is not fully seen, as the rules
    read a wall (``rules.Wall.covers_less_than``).
    ``week``: the rules' reach of the 7 days before ``now_ms`` (``rules.page_reach``: the views of
    the week's own posts or None when hidden, how many own posts, whether the wall shown covers
    the week). A week not covered leaves both reach criteria unknown (its views are a lower bound).
    """
    activity = config.criteria.activity
    days = activity.days if activity is not None else WEEK_DAYS
    since = now_ms - days * DAY_MS
    own = sum(1 for at in own_posted if since <= at <= now_ms)
    required = activity.posts_per_week * days / WEEK_DAYS if activity is not None else 0
    shown_enough = complete_since_ms is None or complete_since_ms < since or own >= required
    views, week_posts, week_complete = week
    return PostFacts(own if shown_enough else None, views if week_complete else None, week_posts)


def score_page(config: ScorecardConfig, facts: PageFacts, connected: bool | None) -> Card:
    """One page's card. ``connected``: the register's «Госпаблики» column (None: not filled)."""
    c = config.criteria
    points: dict[str, float] = {}
    unknown: list[str] = []

    def yes_no(name: str, criterion: Criterion | None, value: bool | None) -> None:
        if criterion is None:
            return
        if value is None:
            unknown.append(name)
        points[name] = criterion.weight if value else 0.0

    yes_no("connection", c.connection, connected)
    yes_no("gov_mark", c.gov_mark, facts.gov_mark)
    yes_no("avatar", c.avatar, facts.avatar)
    if c.description is not None:
        length = facts.description_len
        yes_no(
            "description",
            c.description,
            None if length is None else length >= c.description.min_chars,
        )
    yes_no("cover", c.cover, facts.cover)
    if c.widgets is not None:
        if facts.widgets is None:
            unknown.append("widgets")
        found = min(facts.widgets or 0, c.widgets.required)
        points["widgets"] = c.widgets.weight * found / c.widgets.required
    posts = facts.posts
    if c.activity is not None:
        own = posts.own_posts if posts is not None else None
        if own is None:
            unknown.append("activity")
            points["activity"] = 0.0
        else:
            required = c.activity.posts_per_week * c.activity.days / WEEK_DAYS
            points["activity"] = c.activity.weight * min(1.0, own / required)
    week_share = post_share = None
    subscribers = facts.subscribers
    if posts is not None and posts.week_views is not None and subscribers and subscribers > 0:
        week_share = posts.week_views / subscribers
        post_share = posts.week_views / posts.week_posts / subscribers if posts.week_posts else 0.0
    for name, criterion, share in (
        ("reach_week", c.reach_week, week_share),
        ("reach_post", c.reach_post, post_share),
    ):
        if criterion is None:
            continue
        if share is None:
            unknown.append(name)
        points[name] = criterion.points_for(share) if share is not None else 0.0
    return _card(config, facts.platform, facts.page_id, points, unknown)


def score_org(config: ScorecardConfig, pages: Iterable[Card], connected: bool | None) -> Card:
    """The organisation's card: its VK page's card, else its best page's, else the register's
    criterion alone (every page criterion 0)."""
    cards = list(pages)
    vk = [card for card in cards if card.platform == "vk"]
    chosen = max(vk or cards, key=lambda card: card.total, default=None)
    if chosen is not None:
        return Card(ANY_PLATFORM, "", chosen.points, chosen.maximum, chosen.not_evaluable,
                    chosen.total, chosen.colour)  # fmt: skip
    empty = PageFacts(ANY_PLATFORM, "", False, False, 0, False, 0, PostFacts(0, 0, 0), 1)
    return score_page(config, empty, connected)


def _card(
    config: ScorecardConfig,
    platform: str,
    page_id: str,
    points: Mapping[str, float],
    unknown: Sequence[str],
) -> Card:
    weights = config.weights
    ordered = {name: round(points[name], 1) for name in weights}
    total = round(sum(ordered.values()), 1)
    return Card(platform, page_id, ordered, weights, tuple(unknown), total, config.colour(total))


def week_of(moment: datetime) -> str:
    """The ISO week ``YYYY-Www`` of a moment, on Moscow time (the centres' week)."""
    year, week, _ = (moment + timedelta(hours=3)).isocalendar()
    return f"{year}-W{week:02d}"


_FLAGS = ("gov_mark", "avatar", "cover")
_NUMBERS = ("description_len", "widgets", "subscribers")
_POSTS = ("own_posts", "week_views", "week_posts")


def facts_map(facts: PageFacts) -> dict[str, float]:
    """A page's facts as the stored card keeps them; an unknown fact is left out."""
    out: dict[str, float] = {}
    for name in (*_FLAGS, *_NUMBERS):
        value = getattr(facts, name)
        if value is not None:
            out[name] = float(value)
    if facts.posts is not None:
        out["posts_read"] = 1.0
        for name in _POSTS:
            value = getattr(facts.posts, name)
            if value is not None:
                out[name] = float(value)
    return out


def facts_from_map(platform: str, page_id: str, stored: Mapping[str, float]) -> PageFacts:
    """The inverse of ``facts_map``."""
    posts = None
    if stored.get("posts_read"):
        own = stored.get("own_posts")
        views = stored.get("week_views")
        posts = PostFacts(
            None if own is None else int(own),
            None if views is None else int(views),
            int(stored.get("week_posts", 0)),
        )
    flags = {name: bool(stored[name]) if name in stored else None for name in _FLAGS}
    numbers = {name: int(stored[name]) if name in stored else None for name in _NUMBERS}
    return PageFacts(platform, page_id, **flags, **numbers, posts=posts)
