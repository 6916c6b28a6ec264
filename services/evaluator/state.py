"""What the evaluator remembers between events: organisations, page liveness, open violations.

It is rebuilt from ClickHouse at start (see ``store.load_state``), so a restart neither forgets an
open violation nor opens it again. Changes made while a batch is processed are journalled: if the
batch cannot be stored or its alerts cannot be published, ``rollback`` undoes them and the
redelivered messages produce the same transitions again.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from sys import intern
from typing import Any

from gospublic.contracts import AlertLabels, Organisation, Platform, built

from .rules import GONE, UNKNOWN

# (org_id, platform, page_id, rule): at most one open violation per slot; its severity is part of
# the violation's identity, so a change of severity closes one violation and opens another.
Slot = tuple[str, str, str, str]
# (platform, level, sphere, region): the pages an engagement rate is compared with.
Cohort = tuple[str, str, str, str]
INFO = "info"
# Severities that are not violations of the norm: they do not lower an organisation's score.
# "warning" (UNANSWERED_COMMENT_SOON) says a deadline is near, not that it was missed.
NOT_VIOLATIONS = frozenset({INFO, "warning"})

_MISSING = object()
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PageState:
    org_id: str
    page_id: str
    liveness: str  # LIVE | GONE | UNKNOWN
    name: str = ""
    observed_at: datetime | None = None  # last observation that said something about liveness
    posts_observed_at: datetime | None = None
    members: int | None = None
    # What the last profile / posts showed for the two-source rules: ((rule, found), ...), or None
    # when that source has not been seen since the start (a verdict then waits for it).
    profile_evidence: tuple[tuple[str, str], ...] | None = None
    posts_evidence: tuple[tuple[str, str], ...] | None = None
    comments_observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenViolation:
    """An open violation as the state keeps it: compact, since a first national sweep opens
    hundreds of thousands (its labels as a plain tuple, in ``AlertLabels`` field order)."""

    violation_id: str
    severity: str
    label_values: tuple[str, ...]
    opened_at: datetime

    @classmethod
    def of(
        cls, violation_id: str, severity: str, labels: AlertLabels, opened_at: datetime
    ) -> OpenViolation:
        return cls(violation_id, severity, tuple(getattr(labels, f) for f in _LABEL_FIELDS),
                   opened_at)  # fmt: skip

    @property
    def labels(self) -> AlertLabels:
        return built(AlertLabels, **dict(zip(_LABEL_FIELDS, self.label_values, strict=True)))


_LABEL_FIELDS = tuple(AlertLabels.model_fields)


@dataclass(frozen=True, slots=True)
class PageRecord:
    """A register page as the state keeps it: ``PageRef``'s fields without a pydantic instance."""

    platform: Platform
    native_id: str
    org_id: str

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.native_id}"


@dataclass(frozen=True, slots=True)
class OrgRecord:
    """An organisation as the state keeps it, read like an ``Organisation``.

    A national register holds some 175,000 organisations: as validated pydantic models (a dict and
    a field set per organisation and per page) they cost about 2 kB each, as slotted records with
    the repeated texts (level, sphere, founder, municipality) shared about a third of that.
    """

    org_id: str
    name: str
    level: str
    founder: str
    municipality: str
    sphere: str
    exempt: bool
    pages: tuple[PageRecord, ...]

    @classmethod
    def of(cls, org: Organisation | OrgRecord) -> OrgRecord:
        if isinstance(org, OrgRecord):
            return org
        org_id = org.org_id
        return cls(
            org_id,
            org.name,
            intern(org.level),
            intern(org.founder),
            intern(org.municipality),
            intern(org.sphere),
            org.exempt,
            tuple(
                PageRecord(p.platform, p.native_id, org_id if p.org_id == org_id else p.org_id)
                for p in org.pages
            ),
        )

    def page(self, platform: Platform) -> PageRecord | None:
        return next((p for p in self.pages if p.platform == platform), None)


class EvaluatorState:
    def __init__(self) -> None:
        self.orgs: dict[str, OrgRecord] = {}
        self.org_by_page: dict[str, str] = {}  # page key (vk:club1) → org_id
        self.pages: dict[str, PageState] = {}  # page key → state
        self.open: dict[Slot, OpenViolation] = {}
        self.open_by_org: dict[str, int] = {}  # open violations above "info", per organisation
        self.region: dict[str, str] = {}  # org_id → region code of its register
        # Engagement rate per page and its cohort (level, sphere, region); the sorted rates per
        # cohort are derived from it and rebuilt after a rollback.
        self.engagement: dict[str, tuple[Cohort, float]] = {}
        self._cohorts: dict[Cohort, list[float]] | None = {}
        # Per organisation: the latest score of each (platform, page, component) as one flat tuple
        # (platform, page_id, component, value, platform, ...), and a hash of the rounded scores
        # last published (a ScoresUpdated goes out only when they change). Flat and hashed because
        # a national register has 175,000 organisations: about 320 bytes each instead of 870
        # (tracemalloc, one page per organisation).
        # The scores are restored from the store, the hashes are not: after a restart each
        # organisation's first scores go out again (a crash may have come before they went out).
        self.scores: dict[str, tuple] = {}
        self.published_scores: dict[str, int] = {}
        # The scorecard: each page's facts (page key → scorecard.PageFacts), restored from the
        # stored cards, and a hash of each organisation's cards last written (not restored: after
        # a restart each organisation's cards are written once more).
        self.card_facts: dict[str, Any] = {}
        # The register's «Госпаблики» column per organisation (absent: not filled in), restored
        # from the stored organisation cards.
        self.connected: dict[str, bool] = {}
        self.written_cards: dict[str, int] = {}
        # Cross-platform copies: per organisation with pages on several platforms, the latest
        # posts of each page as (posted ms, text key) pairs (``copies.kept``), bounded per page.
        self.post_texts: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {}
        self.last_change = datetime(1970, 1, 1, tzinfo=UTC)
        # One instance of values many pages hold (see ``_share``); never changed, never undone.
        self._common: dict[tuple, tuple] = {}
        self._journals: list[list[tuple[Any, Any, Any]]] = []
        self._journal: list[tuple[Any, Any, Any]] | None = None  # the newest of ``_journals``

    # --- transactions ----------------------------------------------------------------------

    def begin(self) -> None:
        """Open a transaction; one already open stays open beneath it.

        Two are open while a batch is stored and the next one is evaluated: the older is
        committed first (``commit``), the newer rolled back first (``rollback``).
        """
        self._journal = []
        self._journals.append(self._journal)

    def commit(self) -> None:
        """Keep the changes of the oldest open transaction."""
        if self._journals:
            self._journals.pop(0)
        self._journal = self._journals[-1] if self._journals else None

    def rollback(self) -> None:
        """Undo the newest open transaction."""
        journal = self._journals.pop() if self._journals else []
        self._journal = self._journals[-1] if self._journals else None
        if any(target is self.engagement for target, _, _ in journal):
            self._cohorts = None
        for target, key, old in reversed(journal):
            if target is self:
                setattr(self, key, old)
            elif old is _MISSING:
                target.pop(key, None)
            else:
                target[key] = old

    @property
    def open_transactions(self) -> int:
        return len(self._journals)

    def _set(self, target: dict, key: Any, value: Any) -> None:
        if self._journal is not None:
            self._journal.append((target, key, target.get(key, _MISSING)))
        target[key] = value

    def _delete(self, target: dict, key: Any) -> None:
        if key not in target:
            return
        if self._journal is not None:
            self._journal.append((target, key, target[key]))
        del target[key]

    # --- changes ---------------------------------------------------------------------------

    def put_org(self, org: Organisation | OrgRecord, region: str | None = None) -> None:
        org = OrgRecord.of(org)
        if region is not None and self.region.get(org.org_id) != region:
            self._set(self.region, org.org_id, region)
        old = self.orgs.get(org.org_id)
        if old is not None:
            for page in old.pages:
                if self.org_by_page.get(page.key) == org.org_id:
                    self._delete(self.org_by_page, page.key)
        self._set(self.orgs, org.org_id, org)
        for page in org.pages:
            self._set(self.org_by_page, page.key, org.org_id)

    def put_page(self, key: str, page: PageState) -> None:
        self._share(page)
        self._set(self.pages, key, page)

    def _share(self, page: PageState) -> None:
        """Let a page's state reuse equal values the state already holds.

        Most pages show no evidence and bear their organisation's name: one copy of each such
        value instead of one per page saves some 90 MB on a national register. The page state was
        just built by the caller and is not yet shared, and the values are equal, so replacing
        them in place changes nothing a reader can see.
        """
        for name in ("profile_evidence", "posts_evidence"):
            evidence = getattr(page, name)
            # Only evidence of nothing found: a finding is specific to its page.
            if evidence and not any(found for _, found in evidence):
                common = self._common.setdefault(evidence, evidence)
                if common is not evidence:
                    object.__setattr__(page, name, common)
        org = self.orgs.get(page.org_id)
        if org is not None and page.name == org.name and page.name is not org.name:
            object.__setattr__(page, "name", org.name)

    def open_violation(self, slot: Slot, violation: OpenViolation) -> None:
        self._set(self.open, slot, violation)
        if violation.severity not in NOT_VIOLATIONS:
            org_id = slot[0]
            self._set(self.open_by_org, org_id, self.open_by_org.get(org_id, 0) + 1)

    def close_violation(self, slot: Slot) -> None:
        current = self.open.get(slot)
        self._delete(self.open, slot)
        if current is not None and current.severity not in NOT_VIOLATIONS:
            org_id = slot[0]
            self._set(self.open_by_org, org_id, max(0, self.open_by_org.get(org_id, 0) - 1))

    def set_score(self, org_id: str, platform: str, page_id: str, component: str, value: float):
        old = self.scores.get(org_id, ())
        for i in range(0, len(old), 4):
            if old[i + 2] == component and old[i + 1] == page_id and old[i] == platform:
                if old[i + 3] == value:
                    return
                new = (*old[: i + 3], value, *old[i + 4 :])
                break
        else:
            new = (*old, platform, page_id, component, value)
        self._set(self.scores, org_id, new)

    def set_published_scores(self, org_id: str, digest: int) -> None:
        self._set(self.published_scores, org_id, digest)

    def set_post_texts(self, org_id: str, platform: str, kept: tuple[tuple[int, int], ...]) -> None:
        """The page's latest post texts for the copy comparison (a new mapping, so a rollback
        restores the old one)."""
        self._set(self.post_texts, org_id, {**self.post_texts.get(org_id, {}), platform: kept})

    def set_card_facts(self, key: str, facts: Any) -> None:
        if self.card_facts.get(key) != facts:
            self._set(self.card_facts, key, facts)

    def set_connected(self, org_id: str, connected: bool | None) -> None:
        if connected is None:
            self._delete(self.connected, org_id)
        elif self.connected.get(org_id) is not connected:
            self._set(self.connected, org_id, connected)

    def drop_card_facts(self, key: str) -> None:
        self._delete(self.card_facts, key)

    def set_written_cards(self, org_id: str, digest: int) -> None:
        self._set(self.written_cards, org_id, digest)

    def set_engagement(self, key: str, cohort: Cohort, rate: float) -> None:
        """Record a page's engagement rate in its cohort (replacing the previous one)."""
        old = self.engagement.get(key)
        if old == (cohort, rate):
            return
        cohort = self._common.setdefault(cohort, cohort)  # a few cohorts, one tuple each
        self._set(self.engagement, key, (cohort, rate))
        cohorts = self._cohorts
        if cohorts is None:
            return
        if old is not None:
            rates = cohorts.get(old[0])
            if rates:
                i = bisect_left(rates, old[1])
                if i < len(rates) and rates[i] == old[1]:
                    del rates[i]
        insort(cohorts.setdefault(cohort, []), rate)

    def drop_engagement(self, key: str) -> None:
        old = self.engagement.get(key)
        if old is None:
            return
        self._delete(self.engagement, key)
        rates = self._cohorts.get(old[0]) if self._cohorts is not None else None
        if rates:
            i = bisect_left(rates, old[1])
            if i < len(rates) and rates[i] == old[1]:
                del rates[i]

    def cohort_rank(self, cohort: Cohort, rate: float) -> tuple[float, int]:
        """(share of the cohort's pages with a lower rate, cohort size)."""
        if self._cohorts is None:
            rebuilt: dict[Cohort, list[float]] = {}
            for c, r in self.engagement.values():
                rebuilt.setdefault(c, []).append(r)
            for rates in rebuilt.values():
                rates.sort()
            self._cohorts = rebuilt
        rates = self._cohorts.get(cohort, [])
        if not rates:
            return 0.0, 0
        return bisect_left(rates, rate) / len(rates), len(rates)

    def tick(self, now: datetime) -> datetime:
        """A strictly increasing change time, so the log orders transitions made in one instant."""
        changed = max(now, self.last_change + _TICK)
        if self._journal is not None:
            self._journal.append((self, "last_change", self.last_change))
        self.last_change = changed
        return changed

    # --- reads -----------------------------------------------------------------------------

    def org_for(self, org_id: str, page_key: str) -> OrgRecord | None:
        org = self.orgs.get(org_id)
        if org is None:
            other = self.org_by_page.get(page_key)
            org = self.orgs.get(other) if other else None
        return org

    def page_status(self, org: Organisation | OrgRecord) -> dict[str, str]:
        """Page key → live/gone/unknown for the presence rule."""
        status = {}
        for page in org.pages:
            state = self.pages.get(page.key)
            status[page.key] = state.liveness if state is not None else UNKNOWN
        return status


def counts_as_present(liveness: str) -> bool:
    """Presence needs evidence against a page: only GONE counts as absent."""
    return liveness != GONE
