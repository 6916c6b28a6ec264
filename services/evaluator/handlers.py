"""One batch step: decoded events in, rows for each table and violation transitions out.

No I/O. Rows are plain tuples in the column order of ``TABLE_COLUMNS`` (the hot path handles a
hundred thousand post observations a second, so nothing goes through pydantic again). The state is
changed in place; the caller wraps the call in ``state.begin()`` and commits or rolls back once it
knows whether the rows were stored and the alerts published.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gospublic.contracts import (
    PAGE_GONE,
    AlertLabels,
    CommentsObserved,
    Event,
    Organisation,
    OrganisationsRegistered,
    PageSnapshot,
    PageUnavailable,
    Platform,
    PostsObserved,
    Unavailability,
    ViolationOpened,
    ViolationResolved,
    message_id,
)

from . import rules as r
from .profiles import Profile
from .state import EvaluatorState, OpenViolation, PageState, Slot, counts_as_present

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
    "check_results": (
        "checked_at", "sweep_id", "profile", "org_id", "platform", "page_id", "rule", "status",
        "severity", "value", "threshold",
    ),
    "violations": (
        "violation_id", "state", "org_id", "org_name", "founder", "municipality", "sphere",
        "level", "platform", "page_id", "page_url", "rule", "severity", "summary", "basis",
        "value", "threshold", "opened_at", "resolved_at", "changed_at",
    ),
}  # fmt: skip

# The order in which a flush writes: the violation log last, right before the alerts go out.
TABLE_ORDER = tuple(TABLE_COLUMNS)

HANDLED_EVENTS = (
    OrganisationsRegistered,
    PageSnapshot,
    PostsObserved,
    PageUnavailable,
    CommentsObserved,
)

ANY_PLATFORM = "any"


def page_url(platform: str, page_id: str) -> str:
    if not page_id:
        return ""
    if platform == Platform.VK:
        return f"https://vk.com/club{page_id}" if page_id.isdigit() else f"https://vk.com/{page_id}"
    if platform == Platform.OK:
        return f"https://ok.ru/group/{page_id}"
    if platform == Platform.TG:
        return f"https://t.me/{page_id}"
    return ""


def violation_id(org_id: str, platform: str, page_id: str, rule: str, severity: str) -> str:
    return message_id(org_id, platform, page_id, rule, severity)


@dataclass
class BatchOutput:
    rows: dict[str, list[tuple]] = field(default_factory=lambda: {t: [] for t in TABLE_COLUMNS})
    alerts: list[ViolationOpened | ViolationResolved] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def opened(self) -> int:
        return sum(1 for a in self.alerts if isinstance(a, ViolationOpened))

    @property
    def resolved(self) -> int:
        return sum(1 for a in self.alerts if isinstance(a, ViolationResolved))


class _Step:
    """Processes one batch against the state; collects rows and alerts."""

    def __init__(self, state: EvaluatorState, profile: Profile, now: datetime) -> None:
        self.state = state
        self.profile = profile
        self.now = now
        self.out = BatchOutput()
        self._check = self.out.rows["check_results"].append

    # --- transitions -----------------------------------------------------------------------

    def _labels(self, org: Organisation | None, slot: Slot, severity: str) -> AlertLabels:
        org_id, platform, page_id, rule = slot
        return AlertLabels(
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
            severity=severity,
        )

    def _open(self, org: Organisation | None, slot: Slot, result: r.RuleResult, at: datetime):
        labels = self._labels(org, slot, result.severity)
        vid = violation_id(*slot[:3], slot[3], result.severity)
        event = ViolationOpened.create(
            event_id=message_id("ViolationOpened", vid, at.isoformat()),
            observed_at=at,
            violation_id=vid,
            labels=labels,
            summary=result.summary,
            basis=result.basis,
            value=result.value[:500],
            threshold=result.threshold[:500],
            opened_at=at,
        )
        self.state.open_violation(
            slot, OpenViolation(vid, result.severity, labels, at, result.summary)
        )
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
        event = ViolationResolved.create(
            event_id=message_id("ViolationResolved", current.violation_id, at.isoformat()),
            observed_at=at,
            violation_id=current.violation_id,
            labels=labels,
            summary=summary,
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
        for result in results:
            self._check(
                (
                    at, sweep_id, profile, org_id, platform, page_id, result.rule, result.status,
                    result.severity, result.value, result.threshold,
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

    def _presence(self, org: Organisation, at: datetime, sweep_id: str = "") -> None:
        results = r.evaluate_presence(org, self.state.page_status(org), self.profile)
        self._record(org, org.org_id, ANY_PLATFORM, "", results, at, sweep_id)

    # --- events ----------------------------------------------------------------------------

    def registered(self, event: OrganisationsRegistered) -> None:
        rows = self.out.rows["organisations"]
        at = event.observed_at
        for org in event.organisations:
            self.state.put_org(org)
            rows.append(
                (
                    org.org_id, org.name, org.level, org.founder, org.municipality, org.sphere,
                    org.exempt, event.region, [p.platform.value for p in org.pages],
                    [p.native_id for p in org.pages], event.registry_version, at,
                )
            )  # fmt: skip
            self._presence(org, at)

    def _page(self, event: PageSnapshot | PostsObserved | PageUnavailable):
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

    def snapshot(self, event: PageSnapshot) -> None:
        key, previous, org = self._page(event)
        at = event.observed_at
        platform = event.platform.value
        org_id = org.org_id if org else event.page_ref.org_id
        phone = r.find_phone((event.description, *event.phones))
        description = event.description
        self.out.rows["page_snapshots"].append(
            (
                at, event.sweep_id, event.event_id, platform, event.page_ref.native_id,
                event.page_id, org_id, event.screen_name, event.name, description, event.site,
                list(event.links), list(event.phones), list(event.emails), event.address,
                event.members, event.is_closed, event.is_government_organization, event.verified,
                event.wall, event.has_photo, event.has_cover,
            )
        )  # fmt: skip
        self.out.rows["pages"].append(
            (
                platform, event.page_ref.native_id, event.page_id, org_id, "live", "", r.LIVE,
                event.name, event.screen_name, event.members, event.wall, event.is_closed,
                len(description.strip()), phone is not None, event.is_government_organization,
                event.verified, at, event.sweep_id,
            )
        )  # fmt: skip
        results = r.evaluate_profile(event, self.profile)
        current = previous is None or previous.observed_at is None or at >= previous.observed_at
        self._record(
            org, org_id, platform, event.page_id, results, at, event.sweep_id, transitions=current
        )
        if current:
            new = PageState(
                org_id=org_id,
                page_id=event.page_id,
                liveness=r.LIVE,
                name=event.name,
                observed_at=at,
                posts_observed_at=previous.posts_observed_at if previous else None,
            )
            self._set_liveness(key, previous, org, new, at, event.sweep_id)

    def posts(self, event: PostsObserved) -> None:
        key, previous, org = self._page(event)
        at, sweep = event.observed_at, event.sweep_id
        platform = event.platform.value
        page_id = event.page_id
        org_id = org.org_id if org else event.page_ref.org_id
        append = self.out.rows["post_observations"].append
        for p in event.posts:
            append(
                (
                    at, sweep, platform, page_id, org_id, p.post_id, p.posted_at, p.is_own,
                    p.is_repost, p.is_pinned, p.comments_open, p.comments_count, p.likes,
                    p.reposts, p.views, len(p.text),
                )
            )  # fmt: skip
        results = r.evaluate_activity(event, self.profile, at)
        last = previous.posts_observed_at if previous else None
        current = last is None or at >= last
        self._record(org, org_id, platform, page_id, results, at, sweep, transitions=current)
        if current:
            if previous is None:
                new = PageState(org_id, page_id, r.UNKNOWN, posts_observed_at=at)
            else:
                new = PageState(
                    previous.org_id,
                    previous.page_id or page_id,
                    previous.liveness,
                    previous.name,
                    previous.observed_at,
                    at,
                )
            self.state.put_page(key, new)

    def unavailable(self, event: PageUnavailable) -> None:
        key, previous, org = self._page(event)
        at = event.observed_at
        platform = event.platform.value
        org_id = org.org_id if org else event.page_ref.org_id
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
        results = r.evaluate_unavailable(event.platform, reason, self.profile)
        self._record(
            org, org_id, platform, page_id, results, at, event.sweep_id,
            transitions=current and liveness == r.GONE, resolve_open=True,
        )  # fmt: skip
        if current:
            new = PageState(
                org_id=org_id,
                page_id=page_id,
                liveness=liveness,
                name=name,
                observed_at=at,
                posts_observed_at=previous.posts_observed_at if previous else None,
            )
            self._set_liveness(key, previous, org, new, at, event.sweep_id)


def process_batch(
    state: EvaluatorState, events: Iterable[Event], profile: Profile, now: datetime
) -> BatchOutput:
    """Apply the events in order; return the rows to store and the alerts to publish."""
    step = _Step(state, profile, now)
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
        # CommentsObserved: counted; its rules and table come later.
    return step.out
