"""The weekly digest's content: its schedule, and per subscriber the organisations, their alerts,
scores and changes, built from what the notifier holds (rendering is :mod:`.digest`'s).

A subscriber is an e-mail address of a route with ``digest: true`` (the default); their alerts are
the ones any of their routes matches, less what inhibit rules and silences mute. Their organisations
are those with such alerts and those whose scores a route covers: every matcher of the route on an
organisation label (org_id, org_name, founder, municipality, sphere, level) matches; matchers on
the other labels (rule, severity, platform, page) do not narrow the scores. Building is pure and
runs on a snapshot; the schedule is a weekday and a local time in a time zone (Monday 09:00
Europe/Moscow by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gospublic.contracts import (
    OrgLabels,
    OrgScorecard,
    ScoresUpdated,
    Severity,
    ViolationOpened,
    ViolationResolved,
)
from gospublic.platforms.descriptor import descriptors
from gospublic.settings import Settings

from . import email as mail
from .pipeline import labels_of
from .subscriptions import Route, Subscriptions

PERIOD = timedelta(days=7)
TOP_FIXES = 5
ORG_FIXES = 3
ORG_LABELS = frozenset(OrgLabels.model_fields)
SEVERITIES = tuple(s.value for s in Severity)
# The key of the scorecard's total among an organisation's baseline scores.
SCORECARD = "scorecard"
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


# --- schedule --------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (install the tzdata package?)") from None


def latest_slot(now: datetime, weekday: int, time_text: str, tz_name: str) -> datetime:
    """The most recent scheduled digest time at or before ``now`` (in UTC)."""
    tz = zone(tz_name)
    hour, minute = (int(part) for part in time_text.split(":"))
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    if datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz) > local:
        day -= PERIOD
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)


def slot_of(now: datetime, settings: Settings) -> datetime:
    return latest_slot(now, settings.digest_weekday, settings.digest_time, settings.digest_timezone)


# --- building --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgRow:
    org_id: str
    org_name: str
    municipality: str
    open: dict[str, int] = field(default_factory=dict)  # severity → open violations
    opened: int = 0
    resolved: int = 0
    scores: dict[str, float] = field(default_factory=dict)  # component → 0..100
    # The scores as of the previous weekly digest; None when there was none for the organisation.
    previous: dict[str, float] | None = None
    fixes: tuple[str, ...] = ()  # the organisation's open rules, most severe first
    scorecard: OrgScorecard | None = None  # its scorecard card, when the profile has one

    def scorecard_change(self) -> float | None:
        """The change of the scorecard's total since the previous digest (None: nothing to
        compare with, or the weights' total changed in between)."""
        if self.scorecard is None or self.previous is None or SCORECARD not in self.previous:
            return None
        return round(self.scorecard.total - self.previous[SCORECARD], 1)

    def change(self, component: str) -> float | None:
        """The change of a score since the previous digest (None: nothing to compare with)."""
        if self.previous is None or component not in self.previous:
            return None
        if component not in self.scores:
            return None
        return round(self.scores[component] - self.previous[component], 1)

    @property
    def total(self) -> int:
        return sum(self.open.values())

    def sort_key(self) -> tuple:
        by_severity = tuple(-self.open.get(s, 0) for s in SEVERITIES)
        return (*by_severity, -self.opened, self.org_name, self.org_id)


@dataclass(frozen=True)
class Fix:
    rule: str
    severity: str  # the most severe open violation of this rule
    violations: int
    organisations: int


@dataclass(frozen=True)
class Digest:
    address: str
    routes: tuple[str, ...]
    start: datetime
    end: datetime
    organisations: tuple[OrgRow, ...]
    opened: tuple[ViolationOpened | ViolationResolved, ...]
    resolved: tuple[ViolationResolved, ...]
    fixes: tuple[Fix, ...]
    # Per platform (the descriptors' order): (platform, open violations, channels not connected).
    platforms: tuple[tuple[str, int, int], ...] = ()

    @property
    def open_by_severity(self) -> dict[str, int]:
        totals = dict.fromkeys(SEVERITIES, 0)
        for row in self.organisations:
            for severity, count in row.open.items():
                totals[severity] = totals.get(severity, 0) + count
        return totals

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity.values())


def subscribers(subscriptions: Subscriptions) -> dict[str, list[Route]]:
    """E-mail address → the routes (with ``digest`` on) that send to it."""
    found: dict[str, list[Route]] = {}
    for route in subscriptions.routes:
        if not route.digest:
            continue
        for receiver in route.receivers:
            if receiver.kind == "email":
                found.setdefault(receiver.address, []).append(route)
    return found


def _within(value: datetime, start: datetime, end: datetime) -> bool:
    return start <= value < end


def covers_organisation(route: Route, labels: Mapping[str, str]) -> bool:
    """Whether the route's matchers on organisation labels all match (see the module text)."""
    return all(m.matches(labels) for m in route.matchers if m.label in ORG_LABELS)


def build(
    subscriptions: Subscriptions,
    open_alerts: Iterable[ViolationOpened],
    resolutions: Iterable[ViolationResolved],
    start: datetime,
    end: datetime,
    muted: frozenset[str] = frozenset(),
    scores: Iterable[ScoresUpdated] = (),
    baseline: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Digest]:
    """One digest per subscriber; ``muted`` holds the violation ids inhibited or silenced now.

    ``scores`` holds each organisation's latest scores, ``baseline`` (org_id → scores) the scores
    as of the previous weekly digest.
    """
    scored = [(e, {k: str(v) for k, v in e.labels.model_dump().items()}) for e in scores]
    baseline = baseline or {}
    firing = [(e, labels_of(e)) for e in open_alerts if e.violation_id not in muted]
    firing_ids = {e.violation_id: e for e, _ in firing}
    fixed = []
    for event in resolutions:
        if event.violation_id in muted:
            continue
        if not (_within(event.resolved_at, start, end) or _within(event.opened_at, start, end)):
            continue
        again = firing_ids.get(event.violation_id)
        if again is not None and again.opened_at >= event.resolved_at:
            continue  # reopened since: it is listed as open, not as fixed
        fixed.append((event, labels_of(event)))

    digests = []
    for address, routes in sorted(subscribers(subscriptions).items()):

        def theirs(labels: Mapping[str, str], routes: list[Route] = routes) -> bool:
            return any(route.matches(labels) for route in routes)

        mine_open = [(e, labels) for e, labels in firing if theirs(labels)]
        mine_fixed = [(e, labels) for e, labels in fixed if theirs(labels)]
        mine_scores = [
            e for e, labels in scored if any(covers_organisation(r, labels) for r in routes)
        ]
        digests.append(
            _digest(address, routes, start, end, mine_open, mine_fixed, mine_scores, baseline)
        )
    return digests


def _digest(
    address, routes, start, end, mine_open, mine_fixed, mine_scores=(), baseline=None
) -> Digest:
    rows: dict[str, dict] = {}
    baseline = baseline or {}

    def row(event) -> dict:
        labels = event.labels
        entry = rows.setdefault(
            labels.org_id,
            {"open": {}, "opened": 0, "resolved": 0, "labels": labels, "rules": {}},
        )
        return entry

    opened: dict[str, ViolationOpened | ViolationResolved] = {}
    fixes: dict[str, dict] = {}
    for event, _ in mine_open:
        entry = row(event)
        severity = event.labels.severity.value
        entry["open"][severity] = entry["open"].get(severity, 0) + 1
        rank = _RANK.get(severity, 99)
        entry["rules"][event.labels.rule] = min(rank, entry["rules"].get(event.labels.rule, 99))
        if _within(event.opened_at, start, end):
            opened[event.violation_id] = event
        fix = fixes.setdefault(event.labels.rule, {"severity": severity, "n": 0, "orgs": set()})
        fix["n"] += 1
        fix["orgs"].add(event.labels.org_id)
        if _RANK.get(severity, 99) < _RANK.get(fix["severity"], 99):
            fix["severity"] = severity
    resolved = []
    for event, _ in mine_fixed:
        entry = row(event)
        if _within(event.opened_at, start, end):
            opened.setdefault(event.violation_id, event)
        if _within(event.resolved_at, start, end):
            resolved.append(event)
            entry["resolved"] += 1
    for event in opened.values():
        row(event)["opened"] += 1
    latest: dict[str, ScoresUpdated] = {}
    for event in mine_scores:
        held = latest.get(event.labels.org_id)
        if held is None or held.scored_at <= event.scored_at:
            latest[event.labels.org_id] = event
    for event in latest.values():
        row(event)["scores"] = event.scores
        row(event)["scorecard"] = event.scorecard

    organisations = sorted(
        (
            OrgRow(
                org_id=org_id,
                org_name=entry["labels"].org_name,
                municipality=entry["labels"].municipality,
                open=entry["open"],
                opened=entry["opened"],
                resolved=entry["resolved"],
                scores=dict(entry.get("scores", {})),
                scorecard=entry.get("scorecard"),
                previous=dict(baseline[org_id]) if org_id in baseline else None,
                fixes=tuple(
                    sorted(entry["rules"], key=lambda rule: (entry["rules"][rule], rule))[
                        :ORG_FIXES
                    ]
                ),
            )
            for org_id, entry in rows.items()
        ),
        key=OrgRow.sort_key,
    )
    top = sorted(
        (Fix(rule, f["severity"], f["n"], len(f["orgs"])) for rule, f in fixes.items()),
        key=lambda f: (_RANK.get(f.severity, 99), -f.violations, f.rule),
    )[:TOP_FIXES]
    return Digest(
        address=address,
        routes=tuple(route.name for route in routes),
        start=start,
        end=end,
        organisations=tuple(organisations),
        opened=tuple(mail.by_severity(opened.values())),
        resolved=tuple(mail.by_severity(resolved)),
        fixes=tuple(top),
        platforms=_per_platform(event for event, _ in mine_open),
    )


def _per_platform(open_events: Iterable[ViolationOpened]) -> tuple[tuple[str, int, int], ...]:
    """Open violations per platform and the channels «не подключены к мониторингу» (open
    PAGE_NOT_CONNECTED), for the platforms with any (organisation-level ones have none)."""
    violations: dict[str, int] = {}
    not_connected: dict[str, set[str]] = {}
    for event in open_events:
        platform = event.labels.platform
        violations[platform] = violations.get(platform, 0) + 1
        if event.labels.rule == "PAGE_NOT_CONNECTED":
            not_connected.setdefault(platform, set()).add(event.labels.page_id)
    return tuple(
        (d.id, violations[d.id], len(not_connected.get(d.id, ())))
        for d in descriptors()
        if d.id in violations
    )


def baseline_of(event: ScoresUpdated) -> dict[str, float]:
    """What the next digest compares an organisation with: its scores and scorecard total."""
    scores = dict(event.scores)
    if event.scorecard is not None:
        scores[SCORECARD] = event.scorecard.total
    return scores
