"""One batch step: decoded events in, rows for each table and violation transitions out.

No I/O. Rows are plain tuples in the column order of ``TABLE_COLUMNS`` (the hot path handles a
hundred thousand post observations a second, so nothing goes through pydantic again); the two times
of ``post_observations`` are DateTime64(3) ticks (``epoch_ms``), which the driver writes as they are
instead of converting each ``datetime`` itself (the same for ``check_results.checked_at`` and
``scores.scored_at``, written many times per event). The state is
changed in place; the caller wraps the call in ``state.begin()`` and commits or rolls back once it
knows whether the rows were stored and the alerts published.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import repeat
from operator import attrgetter
from typing import Any

from gospublic.contracts import (
    PAGE_GONE,
    SCORE_COMPONENTS,
    AlertLabels,
    CommentsObserved,
    Event,
    Organisation,
    OrganisationsRegistered,
    OrgLabels,
    OrgScorecard,
    PageEvent,
    PageSnapshot,
    PageUnavailable,
    PostsObserved,
    ScoresUpdated,
    Severity,
    Unavailability,
    ViolationOpened,
    ViolationResolved,
    built,
    message_id,
)
from gospublic.platforms.descriptor import descriptor

from . import copies
from . import rules as r
from . import scorecard as sc
from .assignment import ProfileBook
from .profiles import Profile
from .state import EvaluatorState, OpenViolation, PageState, Slot, counts_as_present
from .workcal import WorkCalendar

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "organisations": (
        "org_id", "name", "level", "founder", "municipality", "sphere", "exempt", "region",
        "page_platforms", "page_native_ids", "registry_version", "registered_at",
    ),
    "pages": (
        "platform", "native_id", "page_id", "org_id", "status", "reason", "liveness", "name",
        "screen_name", "members", "wall", "is_closed", "description_len", "has_phone",
        "is_government_organization", "verified", "observed_at", "sweep_id",
    ),
    "page_snapshots": (
        "observed_at", "sweep_id", "event_id", "platform", "native_id", "page_id", "org_id",
        "screen_name", "name", "description", "site", "links", "phones", "emails", "address",
        "members", "is_closed", "is_government_organization", "verified", "wall", "has_photo",
        "has_cover",
    ),
    "post_observations": (
        "observed_at", "sweep_id", "platform", "page_id", "org_id", "post_id", "posted_at",
        "is_own", "is_repost", "is_pinned", "comments_open", "comments_count", "likes", "reposts",
        "views", "text_len",
    ),
    "comments": (
        "observed_at", "sweep_id", "platform", "page_id", "org_id", "post_id", "comment_id",
        "from_id", "author_kind", "reply_to", "posted_at", "text_len",
    ),
    "scores": (
        "scored_at", "profile", "org_id", "platform", "page_id", "component", "value", "region",
        "level", "sphere", "founder", "municipality",
    ),
    "check_results": (
        "checked_at", "sweep_id", "profile", "org_id", "platform", "page_id", "rule", "status",
        "severity", "value", "threshold",
    ),
    "scorecards": (
        "scored_at", "week", "profile", "version", "region", "org_id", "org_name", "level",
        "founder", "municipality", "sphere", "platform", "page_id", "total", "colour", "points",
        "maximum", "not_evaluable", "facts",
    ),
    "violations": (
        "violation_id", "state", "org_id", "org_name", "founder", "municipality", "sphere",
        "level", "platform", "page_id", "page_url", "rule", "severity", "summary", "basis",
        "value", "threshold", "opened_at", "resolved_at", "changed_at",
    ),
}  # fmt: skip

# The order in which a flush writes: the violation log last, right before the alerts go out.
TABLE_ORDER = tuple(TABLE_COLUMNS)

# Post fields in TABLE_COLUMNS order between posted_at and text_len.
_POST_FLAGS = attrgetter(
    "is_own", "is_repost", "is_pinned", "comments_open", "comments_count", "likes", "reposts",
    "views",
)  # fmt: skip

HANDLED_EVENTS = (
    OrganisationsRegistered,
    PageSnapshot,
    PostsObserved,
    PageUnavailable,
    CommentsObserved,
)

ANY_PLATFORM = "any"
_OPENED = ViolationOpened.schema_id()
_RESOLVED = ViolationResolved.schema_id()
_SCORES = ScoresUpdated.schema_id()
# Score components on a 0..1 scale in the scores table (design is a percentage already); "er",
# the raw engagement rate, is not a score and is not published.
_FRACTIONS = frozenset({"frequency", "engagement", "response", "compliance"})
_PUBLISHED = frozenset(SCORE_COMPONENTS)


def page_url(platform: str, page_id: str) -> str:
    """Where a person opens the page: its platform's descriptor says."""
    if not page_id:
        return ""
    try:
        return descriptor(platform).page_url(page_id)
    except KeyError:
        return ""


epoch_ms = r.epoch_ms


def violation_id(org_id: str, platform: str, page_id: str, rule: str, severity: str) -> str:
    return message_id(org_id, platform, page_id, rule, severity)


class Columns:
    """Rows of one table, handed to the driver as columns.

    The busiest table gets whole columns per event (``extend``); the others append row tuples,
    which are transposed in one go when the columns are read (row order is not kept between the
    two ways, and ClickHouse does not need it). Reading it back (``len``, iteration, indexing)
    yields row tuples, for tests and retries.
    """

    __slots__ = ("_columns", "_rows", "append")

    def __init__(self, width: int) -> None:
        self._columns: list[list[Any]] = [[] for _ in range(width)]
        self._rows: list[tuple] = []
        self.append = self._rows.append

    @property
    def columns(self) -> list[list[Any]]:
        if self._rows:
            for column, values in zip(self._columns, zip(*self._rows, strict=True), strict=True):
                column.extend(values)
            self._rows.clear()
        return self._columns

    def extend(self, n: int, columns: Sequence[Any]) -> None:
        """Add ``n`` rows given column by column; a ``Same`` value repeats for all of them."""
        for column, values in zip(self._columns, columns, strict=True):
            if type(values) is Same:
                column.extend(repeat(values.value, n))
            else:
                column.extend(values)

    def __len__(self) -> int:
        return len(self._columns[0]) + len(self._rows)

    def __iter__(self) -> Iterator[tuple]:
        return zip(*self.columns, strict=True)

    def __getitem__(self, i: int) -> tuple:
        return tuple(column[i] for column in self.columns)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Columns):
            return self.columns == other.columns
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Same:
    value: Any


@dataclass
class BatchOutput:
    rows: dict[str, Columns] = field(
        default_factory=lambda: {t: Columns(len(c)) for t, c in TABLE_COLUMNS.items()}
    )
    alerts: list[ViolationOpened | ViolationResolved] = field(default_factory=list)
    # Organisations whose rounded scores changed in the batch, one event each.
    scores: list[ScoresUpdated] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    # Every verdict with its page, when asked for (``gospublic check``); None on the stream path.
    verdicts: list[tuple[str, str, str, r.RuleResult]] | None = None

    @property
    def opened(self) -> int:
        return sum(1 for a in self.alerts if isinstance(a, ViolationOpened))

    @property
    def resolved(self) -> int:
        return sum(1 for a in self.alerts if isinstance(a, ViolationResolved))


class _Step:
    """Processes one batch against the state; collects rows and alerts."""

    def __init__(self, state: EvaluatorState, profiles: ProfileBook, now: datetime) -> None:
        self.state = state
        self.profiles = profiles
        # The profile of the organisation whose event is being applied (see ``_use``).
        self.profile = profiles.default
        self.now = now
        self._rule_counts: dict[str, int] = {}
        self._rule_count = self._count_rules(self.profile)
        self.out = BatchOutput()
        self._check = self.out.rows["check_results"].append
        # Organisations scored in this batch and the time of their newest score.
        self._scored: dict[str, tuple[Organisation, datetime]] = {}
        # Organisations whose scorecard facts may have changed, and the newest observation.
        self._carded: dict[str, tuple[Organisation, datetime]] = {}
        # Each organisation's pages' cards and its card, computed once per batch (publish_scores
        # and write_scorecards both need them).
        self._cards: dict[str, tuple[list[sc.Card], sc.Card] | None] = {}

    def _count_rules(self, profile: Profile) -> int:
        count = self._rule_counts.get(profile.name)
        if count is None:
            count = self._rule_counts[profile.name] = len(profile.enabled_rules)
        return count

    def _use(self, org: Organisation | None, org_id: str) -> None:
        """Check what follows with the organisation's profile (the default for an unknown one)."""
        profile = self.profiles.for_org(org, self.state.region.get(org_id, ""))
        if profile is not self.profile:
            self.profile = profile
            self._rule_count = self._count_rules(profile)

    # --- transitions -----------------------------------------------------------------------

    def _labels(self, org: Organisation | None, slot: Slot, severity: str) -> AlertLabels:
        org_id, platform, page_id, rule = slot
        # Built from validated events and the profile: constructed, not validated again (a first
        # sweep opens hundreds of thousands of these).
        return built(
            AlertLabels,
            org_id=org_id,
            org_name=org.name if org else "",
            founder=org.founder if org else "",
            municipality=org.municipality if org else "",
            sphere=org.sphere if org else "",
            level=org.level if org else "",
            platform=platform,
            page_id=page_id,
            page_url=page_url(platform, page_id),
            rule=rule,
            severity=Severity(severity),
        )

    def _open(self, org: Organisation | None, slot: Slot, result: r.RuleResult, at: datetime):
        labels = self._labels(org, slot, result.severity)
        vid = violation_id(*slot[:3], slot[3], result.severity)
        value, threshold = result.value[:500], result.threshold[:500]
        event = built(
            ViolationOpened,
            schema_=_OPENED,
            event_id=message_id("ViolationOpened", vid, at.isoformat()),
            observed_at=at,
            violation_id=vid,
            labels=labels,
            summary=result.summary[:5000],
            basis=result.basis[:2000],
            value=value,
            threshold=threshold,
            opened_at=at,
        )
        self.state.open_violation(slot, OpenViolation.of(vid, result.severity, labels, at))
        self.out.alerts.append(event)
        self.out.rows["violations"].append(
            (
                vid, "open", labels.org_id, labels.org_name, labels.founder, labels.municipality,
                labels.sphere, labels.level, labels.platform, labels.page_id, labels.page_url,
                labels.rule, result.severity, result.summary, result.basis, result.value,
                result.threshold, at, None, self.state.tick(self.now),
            )
        )  # fmt: skip

    def _resolve(self, slot: Slot, current: OpenViolation, at: datetime, summary: str) -> None:
        labels = current.labels
        event = built(
            ViolationResolved,
            schema_=_RESOLVED,
            event_id=message_id("ViolationResolved", current.violation_id, at.isoformat()),
            observed_at=at,
            violation_id=current.violation_id,
            labels=labels,
            summary=summary[:5000],
            opened_at=current.opened_at,
            resolved_at=at,
        )
        self.state.close_violation(slot)
        self.out.alerts.append(event)
        self.out.rows["violations"].append(
            (
                current.violation_id, "resolved", labels.org_id, labels.org_name, labels.founder,
                labels.municipality, labels.sphere, labels.level, labels.platform, labels.page_id,
                labels.page_url, labels.rule, current.severity, summary, "", "", "",
                current.opened_at, at, self.state.tick(self.now),
            )
        )  # fmt: skip

    def _transition(
        self, org: Organisation | None, slot: Slot, result: r.RuleResult, at: datetime
    ) -> None:
        current = self.state.open.get(slot)
        if result.status == r.FAIL:
            if current is not None and current.severity == result.severity:
                return
            if current is not None:
                self._resolve(
                    slot, current, at,
                    f"Уровень нарушения изменился на «{result.severity}»: {result.summary}",
                )  # fmt: skip
            self._open(org, slot, result, at)
        elif result.status == r.PASS and current is not None:
            self._resolve(slot, current, at, f"Нарушение устранено. {result.summary}")

    def _record(
        self,
        org: Organisation | None,
        org_id: str,
        platform: str,
        page_id: str,
        results: Iterable[r.RuleResult],
        at: datetime,
        sweep_id: str,
        *,
        transitions: bool = True,
        resolve_open: bool = False,
    ) -> None:
        profile = self.profile.name
        at_ms = epoch_ms(at)
        if self.out.verdicts is not None:
            results = list(results)
            self.out.verdicts.extend((org_id, platform, page_id, x) for x in results)
        for result in results:
            self._check(
                (
                    at_ms, sweep_id, profile, org_id, platform, page_id, result.rule,
                    result.status, result.severity, result.value, result.threshold,
                )
            )  # fmt: skip
            if not transitions:
                continue
            slot = (org_id, platform, page_id, result.rule)
            if resolve_open:
                current = self.state.open.get(slot)
                if current is not None:
                    self._resolve(slot, current, at, result.summary)
            else:
                self._transition(org, slot, result, at)

    def _resolve_under(
        self, org_id: str, platform: str, old_id: str, results: list[r.RuleResult], at: datetime
    ) -> None:
        """A page known until now only by its register id (unavailable before any snapshot: a
        MAX channel the bot was not in, a VK page gone) now has the platform's id: what opened
        under the register id is judged under the new one from now on, so it resolves there."""
        summaries = {x.rule: x.summary for x in results}
        stale = [slot for slot in self.state.open if slot[:3] == (org_id, platform, old_id)]
        for slot in stale:
            summary = summaries.get(slot[3], "Страница снова доступна.")
            self._resolve(slot, self.state.open[slot], at, summary)

    def _presence(self, org: Organisation, at: datetime, sweep_id: str = "") -> None:
        results = r.evaluate_presence(org, self.state.page_status(org), self.profile)
        self._record(org, org.org_id, ANY_PLATFORM, "", results, at, sweep_id)
        self._score(org, org.org_id, ANY_PLATFORM, "", "compliance", self._compliance(org), at)

    # --- scores ----------------------------------------------------------------------------

    def _score(
        self,
        org: Organisation | None,
        org_id: str,
        platform: str,
        page_id: str,
        component: str,
        value: float | None,
        at: datetime,
    ) -> None:
        if value is None:
            return
        self.out.rows["scores"].append(
            (
                epoch_ms(at), self.profile.name, org_id, platform, page_id, component, float(value),
                self.state.region.get(org_id, ""), org.level if org else "",
                org.sphere if org else "", org.founder if org else "",
                org.municipality if org else "",
            )
        )  # fmt: skip
        # value == value: a NaN would make an event the notifier rejects.
        if org is not None and component in _PUBLISHED and value == value:
            self.state.set_score(org_id, platform, page_id, component, float(value))
            held = self._scored.get(org_id)
            if held is None or at > held[1]:
                self._scored[org_id] = (org, at)

    def _cards_of(self, org_id: str, org: Organisation) -> tuple[list[sc.Card], sc.Card] | None:
        """The pages' cards and the organisation's card from the facts held now (None: no
        scorecard in its profile); the profile in use is the organisation's afterwards."""
        self._use(org, org_id)
        if org_id not in self._cards:
            config = self.profile.scorecard
            if config is None:
                self._cards[org_id] = None
            else:
                connected = self.state.connected.get(org_id)
                pages = [
                    sc.score_page(config, facts, connected)
                    for page in org.pages
                    if (facts := self.state.card_facts.get(page.key)) is not None
                ]
                self._cards[org_id] = (pages, sc.score_org(config, pages, connected))
        return self._cards[org_id]

    def _org_scorecard(self, org_id: str, org: Organisation) -> OrgScorecard | None:
        """The organisation's scorecard as the digest shows it (None: no scorecard)."""
        cards = self._cards_of(org_id, org)
        if cards is None or self.profile.scorecard is None:
            return None
        card = cards[1]
        out_of = sum(card.maximum.values())
        if out_of <= 0:
            return None
        return OrgScorecard(
            total=card.total, out_of=out_of, colour=card.colour,
            version=self.profile.scorecard.version,
        )  # fmt: skip

    def publish_scores(self) -> None:
        """One ScoresUpdated per organisation scored or carded in the batch whose rounded scores
        or scorecard changed; each carries the organisation's current scorecard (the notifier
        keeps only the latest event per organisation)."""
        due = {**self._carded, **self._scored}
        for org_id, (org, at) in due.items():
            scores = org_scores(self.state.scores.get(org_id, ()))
            card = self._org_scorecard(org_id, org)
            shown = None if card is None else (card.total, card.out_of, card.colour, card.version)
            digest = hash((tuple(scores.items()), shown))
            if not scores or digest == self.state.published_scores.get(org_id):
                continue
            self.state.set_published_scores(org_id, digest)
            labels = built(
                OrgLabels,
                org_id=org_id, org_name=org.name, founder=org.founder,
                municipality=org.municipality, sphere=org.sphere, level=org.level,
            )  # fmt: skip
            self.out.scores.append(
                built(
                    ScoresUpdated,
                    schema_=_SCORES,
                    event_id=message_id("ScoresUpdated", org_id, at.isoformat(), scores, shown),
                    observed_at=at,
                    labels=labels,
                    scores=scores,
                    scored_at=at,
                    scorecard=card,
                )
            )  # fmt: skip

    def _compliance(self, org: Organisation) -> float:
        """Share of the profile's rules the organisation has no open violation of (info aside)."""
        total = self._rule_count
        return max(0.0, 1.0 - self.state.open_by_org.get(org.org_id, 0) / total) if total else 1.0

    def _page_scores(self, org: Organisation | None, org_id: str, platform: str, page_id: str,
                     at: datetime, **components: float | None) -> None:  # fmt: skip
        for component, value in components.items():
            self._score(org, org_id, platform, page_id, component, value, at)
        if org is not None:
            self._score(org, org_id, ANY_PLATFORM, "", "compliance", self._compliance(org), at)

    # --- scorecard -------------------------------------------------------------------------

    def _card_changed(self, org: Organisation | None, at: datetime) -> None:
        if org is None:
            return
        held = self._carded.get(org.org_id)
        if held is None or at > held[1]:
            self._carded[org.org_id] = (org, at)

    def _drop_card(self, org: Organisation | None, key: str, at: datetime) -> None:
        if key in self.state.card_facts:
            self.state.drop_card_facts(key)
            self._card_changed(org, at)

    def _card_facts(
        self, org: Organisation | None, key: str, at: datetime, facts: sc.PageFacts
    ) -> None:
        if self.profile.scorecard is None:
            return
        self.state.set_card_facts(key, facts)
        self._card_changed(org, at)

    def _card_posts(
        self,
        org: Organisation | None,
        key: str,
        event: PostsObserved,
        posted: Sequence[int],
        members: int | None,
        at: datetime,
    ) -> None:
        config = self.profile.scorecard
        if config is None:
            return
        now = epoch_ms(at)
        wall = r.Wall.of(event, posted)
        reach = r.page_reach(event, members, now, wall)
        # The wall's span as the rules read it: all of it, or from its oldest unpinned post on.
        since = None if wall.complete else wall.edge_ms
        week = (reach.views, reach.own_posts, reach.complete)
        own = [ms for _, ms in wall.own]
        facts = sc.post_facts(config, own, since, now, week)
        old = self.state.card_facts.get(key) or sc.PageFacts(event.platform.value, event.page_id)
        self._card_facts(org, key, at, replace(old, posts=facts))

    def write_scorecards(self) -> None:
        """The cards of each organisation whose facts changed in the batch, when they changed."""
        rows = self.out.rows["scorecards"]
        for org_id, (org, at) in self._carded.items():
            cards = self._cards_of(org_id, org)
            config = self.profile.scorecard
            if cards is None or config is None:
                continue
            connected = self.state.connected.get(org_id)
            pages, card = cards
            digest = hash((config.version, card.key(), *(p.key() for p in pages)))
            if digest == self.state.written_cards.get(org_id):
                continue
            self.state.set_written_cards(org_id, digest)
            head = (
                epoch_ms(at), sc.week_of(at), self.profile.name, config.version,
                self.state.region.get(org_id, ""), org_id, org.name, org.level, org.founder,
                org.municipality, org.sphere,
            )  # fmt: skip
            facts_of = {page.key: self.state.card_facts.get(page.key) for page in org.pages}
            by_page = {(f.platform, f.page_id): sc.facts_map(f) for f in facts_of.values() if f}
            if connected is not None:
                by_page[(sc.ANY_PLATFORM, "")] = {"connection": float(connected)}
            for one in (card, *pages):
                rows.append(
                    (
                        *head, one.platform, one.page_id, one.total, one.colour, one.points,
                        one.maximum, list(one.not_evaluable),
                        by_page.get((one.platform, one.page_id), {}),
                    )
                )  # fmt: skip

    # --- events ----------------------------------------------------------------------------

    def registered(self, event: OrganisationsRegistered) -> None:
        rows = self.out.rows["organisations"]
        at = event.observed_at
        for org in event.organisations:
            self.state.put_org(org, event.region)
            rows.append(
                (
                    org.org_id, org.name, org.level, org.founder, org.municipality, org.sphere,
                    org.exempt, event.region, [p.platform.value for p in org.pages],
                    [p.native_id for p in org.pages], event.registry_version, at,
                )
            )  # fmt: skip
            self._use(org, org.org_id)
            self._presence(org, at)
            self.state.set_connected(org.org_id, org.gospubliki)
            self._card_changed(org, at)

    def _page(self, event: PageEvent):
        key = event.page_ref.key
        return key, self.state.pages.get(key), self.state.org_for(event.page_ref.org_id, key)

    def _set_liveness(
        self,
        key: str,
        previous: PageState | None,
        org: Organisation | None,
        new: PageState,
        at: datetime,
        sweep_id: str,
    ) -> None:
        self.state.put_page(key, new)
        was = counts_as_present(previous.liveness) if previous else True
        if org is not None and was != counts_as_present(new.liveness):
            self._presence(org, at, sweep_id)

    def _evidence_results(
        self,
        page: PageState,
        in_profile: tuple[tuple[str, str], ...] | None,
        in_posts: tuple[tuple[str, str], ...] | None,
    ) -> list[r.RuleResult]:
        """BANNED_PLATFORM_LINKS, FOREIGN_MESSENGER_SERVICE from both sources' latest evidence."""
        profile_found = dict(in_profile) if in_profile is not None else None
        posts_found = dict(in_posts) if in_posts is not None else None
        out = []
        for rule in r.EVIDENCE_RULES:
            result = r.combine_evidence(
                self.profile,
                rule,
                profile_found.get(rule, "") if profile_found is not None else None,
                posts_found.get(rule, "") if posts_found is not None else None,
            )
            if result is not None:
                out.append(result)
        return out

    def snapshot(self, event: PageSnapshot) -> None:
        key, previous, org = self._page(event)
        at = event.observed_at
        platform = event.platform.value
        org_id = org.org_id if org else event.page_ref.org_id
        self._use(org, org_id)
        facts = r.profile_facts(event)
        self.out.rows["page_snapshots"].append(
            (
                at, event.sweep_id, event.event_id, platform, event.page_ref.native_id,
                event.page_id, org_id, event.screen_name, event.name, event.description,
                event.site, list(event.links), list(event.phones), list(event.emails),
                event.address, event.members, event.is_closed, event.is_government_organization,
                event.verified, event.wall, event.has_photo, event.has_cover,
            )
        )  # fmt: skip
        self.out.rows["pages"].append(
            (
                platform, event.page_ref.native_id, event.page_id, org_id, "live", "", r.LIVE,
                event.name, event.screen_name, event.members, event.wall, event.is_closed,
                facts.description_len, facts.phone is not None, event.is_government_organization,
                event.verified, at, event.sweep_id,
            )
        )  # fmt: skip
        results = r.evaluate_profile(event, self.profile, org.name if org else "", facts)
        current = previous is None or previous.observed_at is None or at >= previous.observed_at
        evidence = tuple((e.rule, e.found) for e in r.profile_evidence(event, self.profile))
        base = previous or PageState(org_id, event.page_id, r.UNKNOWN)
        new = replace(
            base, org_id=org_id, page_id=event.page_id, liveness=r.LIVE, name=event.name,
            observed_at=at, members=event.members, profile_evidence=evidence,
        )  # fmt: skip
        if current:
            results.extend(self._evidence_results(new, evidence, base.posts_evidence))
        self._record(
            org, org_id, platform, event.page_id, results, at, event.sweep_id, transitions=current
        )
        if current and previous is not None and previous.page_id not in ("", event.page_id):
            self._resolve_under(org_id, platform, previous.page_id, results, at)
        if current:
            self._set_liveness(key, previous, org, new, at, event.sweep_id)
            design = r.design_percent(
                [(x.rule, x.status) for x in results],
                self.profile.rules.design_score_low.weights
                if self.profile.rules.design_score_low is not None
                else None,
            )
            self._page_scores(org, org_id, platform, event.page_id, at, design=design)
            old = self.state.card_facts.get(key)
            if event.is_closed:
                # A page closed to the public has no card (see ``scorecard``).
                self._drop_card(org, key, at)
                return
            self._card_facts(
                org, key, at,
                sc.PageFacts(
                    platform, event.page_id, event.is_government_organization, event.has_photo,
                    None if "description" in event.unknown else facts.description_len,
                    event.has_cover, r.widget_count(event), old.posts if old else None,
                    event.members,
                ),
            )  # fmt: skip

    def posts(self, event: PostsObserved) -> None:
        key, previous, org = self._page(event)
        at, sweep = event.observed_at, event.sweep_id
        platform = event.platform.value
        page_id = event.page_id
        org_id = org.org_id if org else event.page_ref.org_id
        self._use(org, org_id)
        posts = event.posts
        posted = r.posted_ms(posts)
        if posts:
            self.out.rows["post_observations"].extend(
                len(posts),
                (
                    Same(epoch_ms(at)), Same(sweep), Same(platform), Same(page_id), Same(org_id),
                    [p.post_id for p in posts], posted,
                    *zip(*map(_POST_FLAGS, posts), strict=True),
                    [len(p.text) for p in posts],
                ),
            )  # fmt: skip
        level = org.level if org else ""
        results = r.evaluate_activity(event, self.profile, at, posted, level)
        last = previous.posts_observed_at if previous else None
        current = last is None or at >= last
        base = previous or PageState(org_id, page_id, r.UNKNOWN)
        evidence = tuple((e.rule, e.found) for e in r.posts_evidence(event, self.profile))
        new = replace(
            base, page_id=base.page_id or page_id, posts_observed_at=at, posts_evidence=evidence
        )
        engagement = rank = None
        if current:
            results.extend(self._evidence_results(new, base.profile_evidence, evidence))
            rate = r.engagement_rate(event, base.members)
            cohort = (platform, level, org.sphere if org else "", self.state.region.get(org_id, ""))
            size = 0
            if rate is not None:
                self.state.set_engagement(key, cohort, rate)
                rank, size = self.state.cohort_rank(cohort, rate)
                engagement = rank
            shown = r.shown_note(event) if rate is not None else ""
            results.extend(r.evaluate_engagement(rate, rank, size, self.profile, platform, shown))
            results.extend(self._copies(org, org_id, platform, event, at))
        self._record(org, org_id, platform, page_id, results, at, sweep, transitions=current)
        if current:
            self.state.put_page(key, new)
            self._page_scores(
                org, org_id, platform, page_id, at,
                frequency=r.frequency_score(event, posted, at, self.profile, level, results),
                engagement=engagement,
                er=self.state.engagement[key][1] if key in self.state.engagement else None,
            )  # fmt: skip
            self._card_posts(org, key, event, posted, base.members, at)

    def _copies(
        self, org: Any, org_id: str, platform: str, event: PostsObserved, at: datetime
    ) -> list[r.RuleResult]:
        """COPIED_CONTENT for an organisation with pages on several platforms: this page's posts
        against the latest ones of its other pages (kept, bounded, in the state)."""
        if self.profile.rule(r.COPIED_CONTENT) is None or org is None:
            return []
        if len({p.platform for p in org.pages}) < 2:
            return []
        kept = copies.kept((p.posted_at, p.text) for p in event.posts)
        self.state.set_post_texts(org_id, platform, kept)
        posts = copies.unkept(self.state.post_texts[org_id])
        return r.evaluate_copied_content(copies.originality(posts, platform, at), self.profile)

    def comments(self, event: CommentsObserved) -> None:
        key, previous, org = self._page(event)
        at, sweep = event.observed_at, event.sweep_id
        platform = event.platform.value
        page_id = event.page_id
        org_id = org.org_id if org else event.page_ref.org_id
        self._use(org, org_id)
        rows = self.out.rows["comments"]
        at_ms = epoch_ms(at)
        for c in event.comments:
            rows.append(
                (
                    at_ms, sweep, platform, page_id, org_id, c.post_id, c.comment_id, c.from_id,
                    c.author_kind, c.reply_to or "", epoch_ms(c.posted_at), len(c.text),
                )
            )  # fmt: skip
        tz = self.profile.calendar.timezone(self.state.region.get(org_id, ""))
        calendar = _calendar(self.profile)
        results = r.evaluate_comments(event, self.profile, at, calendar, tz)
        last = previous.comments_observed_at if previous else None
        current = last is None or at >= last
        self._record(org, org_id, platform, page_id, results, at, sweep, transitions=current)
        if current:
            base = previous or PageState(org_id, page_id, r.UNKNOWN)
            self.state.put_page(key, replace(base, comments_observed_at=at))
            response = r.response_score(event, self.profile, at, calendar, tz)
            self._page_scores(org, org_id, platform, page_id, at, response=response)

    def unavailable(self, event: PageUnavailable) -> None:
        key, previous, org = self._page(event)
        at = event.observed_at
        platform = event.platform.value
        org_id = org.org_id if org else event.page_ref.org_id
        self._use(org, org_id)
        # PageUnavailable carries no numeric id: use the one a snapshot told us, if any.
        page_id = previous.page_id if previous and previous.page_id else event.page_ref.native_id
        reason = event.reason
        if reason in PAGE_GONE:
            status, liveness = "gone", r.GONE
        elif reason == Unavailability.PRIVATE:
            status, liveness = "unavailable", r.LIVE
        else:  # an API error says nothing about the page
            status, liveness = "unavailable", previous.liveness if previous else r.UNKNOWN
        name = previous.name if previous else ""
        self.out.rows["pages"].append(
            (
                platform, event.page_ref.native_id, page_id, org_id, status, reason.value,
                liveness, name, "", None, None, 0, 0, False, None, False, at, event.sweep_id,
            )
        )  # fmt: skip
        current = previous is None or previous.observed_at is None or at >= previous.observed_at
        if reason == Unavailability.API_ERROR:
            return
        exempt = org.exempt if org is not None else False
        results = r.evaluate_unavailable(event.platform, reason, self.profile, exempt)
        # The page's own verdicts open and resolve violations; the others (not evaluable) do so
        # only for a page that is gone. "Not connected" is a verdict of its own, not "gone".
        own_verdicts = (r.PAGE_NOT_PUBLIC, r.PAGE_NOT_CONNECTED)
        public = [x for x in results if x.rule in own_verdicts]
        others = [x for x in results if x.rule not in own_verdicts]
        self._record(org, org_id, platform, page_id, public, at, event.sweep_id,
                     transitions=current)  # fmt: skip
        self._record(
            org, org_id, platform, page_id, others, at, event.sweep_id,
            transitions=current and liveness == r.GONE, resolve_open=True,
        )  # fmt: skip
        if current:
            base = previous or PageState(org_id, page_id, liveness)
            new = replace(
                base, org_id=org_id, page_id=page_id, liveness=liveness, name=name,
                observed_at=at,
            )  # fmt: skip
            self._set_liveness(key, previous, org, new, at, event.sweep_id)
            if liveness == r.GONE or reason == Unavailability.PRIVATE:
                # Gone, or closed to the public: no card for the page (see ``scorecard``).
                self._drop_card(org, key, at)


def org_scores(scores: tuple) -> dict[str, float]:
    """An organisation's components 0..100, rounded: the mean over its pages that have one.

    ``scores`` is the state's flat tuple: (platform, page_id, component, value, platform, ...).
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for i in range(2, len(scores), 4):
        component, value = scores[i], scores[i + 1]
        if component in _FRACTIONS:
            value *= 100
        if component in sums:
            sums[component] += value
            counts[component] += 1
        else:
            sums[component] = value
            counts[component] = 1
    out = {}
    for component in SCORE_COMPONENTS:  # one order, so equal scores compare and hash equal
        if component in sums:
            mean = sums[component] / counts[component]
            out[component] = round(100.0 if mean > 100 else 0.0 if mean < 0 else mean, 1)
    return out


_CALENDARS: dict[tuple, WorkCalendar] = {}


def _calendar(profile: Profile) -> WorkCalendar:
    config = profile.calendar
    key = (config.office_start, config.office_end, config.country)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = _CALENDARS[key] = WorkCalendar(*key)
    return calendar


def process_batch(
    state: EvaluatorState,
    events: Iterable[Event],
    profile: Profile | ProfileBook,
    now: datetime,
    *,
    keep_verdicts: bool = False,
) -> BatchOutput:
    """Apply the events in order; return the rows to store and the alerts to publish.

    ``profile`` is one profile for every organisation or a book that assigns them.
    """
    book = profile if isinstance(profile, ProfileBook) else ProfileBook(profile)
    step = _Step(state, book, now)
    if keep_verdicts:
        step.out.verdicts = []
    kinds = step.out.kinds
    for event in events:
        kinds[event.NAME] += 1
        if isinstance(event, PostsObserved):
            step.posts(event)
        elif isinstance(event, PageSnapshot):
            step.snapshot(event)
        elif isinstance(event, PageUnavailable):
            step.unavailable(event)
        elif isinstance(event, OrganisationsRegistered):
            step.registered(event)
        elif isinstance(event, CommentsObserved):
            step.comments(event)
    step.publish_scores()
    step.write_scorecards()
    return step.out
