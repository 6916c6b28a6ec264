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

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from gospublic.contracts import (
    PAGE_GONE,
    CommentsObserved,
    Event,
    Organisation,
    OrganisationsRegistered,
    PageEvent,
    PageSnapshot,
    PageUnavailable,
    PostsObserved,
    Unavailability,
)

from . import rules as r
from . import scorecard as sc
from .assignment import ProfileBook
from .content import ContentEvents
from .profiles import Profile
from .rows import BatchOutput, Columns, Same
from .schema import TABLE_COLUMNS, TABLE_ORDER
from .scoring import Scoring, org_scores
from .state import EvaluatorState, PageState, counts_as_present
from .verdicts import ANY_PLATFORM, Verdicts, epoch_ms, page_url, violation_id

# Re-exported: the flush, the check and the tests import these from here.
__all__ = [
    "ANY_PLATFORM", "HANDLED_EVENTS", "TABLE_COLUMNS", "TABLE_ORDER", "BatchOutput", "Columns",
    "Same", "epoch_ms", "org_scores", "page_url", "process_batch", "violation_id",
]  # fmt: skip

HANDLED_EVENTS = (
    OrganisationsRegistered,
    PageSnapshot,
    PostsObserved,
    PageUnavailable,
    CommentsObserved,
)


class Step(ContentEvents, Scoring, Verdicts):
    """Processes one batch against the state; collects rows and alerts. The verdicts, the scores
    and the content events are its parts (``Verdicts``, ``Scoring``, ``ContentEvents``); the
    registry and page events, and the profile in use, are here."""

    def __init__(self, state: EvaluatorState, profiles: ProfileBook, now: datetime) -> None:
        self.state = state
        self.profiles = profiles
        # The profile of the organisation whose event is being applied (see ``_use``).
        self.profile = profiles.default
        self.now = now
        self._rule_counts: dict[str, int] = {}
        self._rule_count = self._count_rules(self.profile)
        self.out = BatchOutput()
        self._checks = self.out.rows["check_results"]
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
    step = Step(state, book, now)
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
