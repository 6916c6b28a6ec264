"""Read the compliance picture out of ClickHouse and render it: summary, HTML report, truth check.

This is a reader of the store, like a dashboard: it runs after the evaluator has stopped (chDB) or
beside it (a ClickHouse server), and only issues parameterised SELECTs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect

from gospublic import display, rulebook, templating
from gospublic.platforms.descriptor import descriptors
from gospublic.rulebook import CRITERION_TITLES
from gospublic.settings import Settings
from services.evaluator.schema import open_violations_sql

from .scorecard_export import COLOUR_TITLES

# The open violations, read as the evaluator reads them back at start (the one query).
OPEN_VIOLATIONS_SQL = open_violations_sql(
    ("org_id", "org_name", "municipality", "founder", "platform", "page_id", "page_url", "rule",
     "severity", "summary"),
    order_by="municipality, org_name, rule",
)  # fmt: skip

# ReplacingMergeTree tables: FINAL collapses the versions of one key that are not merged yet.
COUNT_SQL = "SELECT count() FROM {db:Identifier}.{table:Identifier} FINAL"
# Each page's latest state, counted per platform: read, not connected to the monitoring (a MAX
# channel the bot cannot see), gone (deleted, banned, not found), otherwise unavailable.
PLATFORM_PAGES_SQL = """
SELECT platform, count(),
       countIf(status = 'live'), countIf(reason = 'not_connected'), countIf(status = 'gone')
FROM (
    SELECT platform, native_id, argMax(status, observed_at) AS status,
           argMax(reason, observed_at) AS reason
    FROM {db:Identifier}.pages
    GROUP BY platform, native_id
)
GROUP BY platform
"""

SEVERITY_ORDER = ("critical", "high", "medium", "low", "warning", "info")

# Each organisation's card (platform 'any') as of a moment: its latest row before it (a card is
# written only when it changes, so an older row still holds).
SCORECARDS_SQL = """
SELECT org_id, c.1, c.2, c.3, c.4, c.5, c.6
FROM (
    SELECT org_id,
           argMax((org_name, municipality, total, colour, points, maximum), scored_at) AS c
    FROM {db:Identifier}.scorecards
    WHERE platform = 'any' AND scored_at < {until:DateTime64(3)}
    GROUP BY org_id
)
ORDER BY org_id
"""
# When the two latest sweeps began. The cards before the latest one began are the previous
# sweep's; with a single sweep there is no previous one (the cards written before it come from the
# register alone, not from a sweep, as do the checks without a sweep id).
LATEST_SWEEPS_SQL = """
SELECT sweep_id, min(checked_at) AS started FROM {db:Identifier}.check_results
WHERE sweep_id != ''
GROUP BY sweep_id ORDER BY started DESC LIMIT 2
"""
# The colours in the order a reader ranks them, and how the pictures paint them.
COLOURS = ("green", "yellow", "red")
COLOUR_PAINT = {"green": "#43a047", "yellow": "#fbc02d", "red": "#e53935"}
WORST_SHOWN = 15


@dataclass(frozen=True)
class Card:
    """An organisation's scorecard: points per criterion out of the criterion's weight."""

    org_id: str
    org_name: str
    municipality: str
    total: float
    colour: str
    points: dict[str, float]
    maximum: dict[str, float]

    @property
    def out_of(self) -> float:
        return sum(self.maximum.values())

    @property
    def share(self) -> float:
        return self.total / self.out_of if self.out_of else 0.0

    @property
    def missing(self) -> list[tuple[str, float]]:
        """The criteria that lost points, with the points lost, in the table's order."""
        order = [c for c in CRITERION_TITLES if c in self.maximum]
        order += sorted(set(self.maximum) - set(CRITERION_TITLES))
        lost = [(c, self.maximum[c] - self.points.get(c, 0.0)) for c in order]
        return [(c, points) for c, points in lost if points > 0]


@dataclass(frozen=True)
class Scorecards:
    """The cards now and as of the start of the latest sweep (empty: no earlier sweep)."""

    now: list[Card]
    before: list[Card]


@dataclass(frozen=True)
class Violation:
    org_id: str
    org_name: str
    municipality: str
    founder: str
    platform: str
    page_id: str
    page_url: str
    rule: str
    severity: str
    summary: str

    @property
    def identity(self) -> tuple[str, str, str, str, str]:
        return (self.org_id, self.platform, self.page_id, self.rule, self.severity)


@dataclass(frozen=True)
class Findings:
    organisations: int
    pages: int
    violations: list[Violation]
    scorecards: Scorecards | None = None  # None: the store holds no scorecard
    # Per platform (descriptors' order): (platform, pages, read, not connected, gone).
    platforms: tuple[tuple[str, int, int, int, int], ...] = ()

    @property
    def open_total(self) -> int:
        return len(self.violations)

    @property
    def by_rule(self) -> list[tuple[str, int]]:
        return Counter(v.rule for v in self.violations).most_common()

    @property
    def by_municipality(self) -> list[tuple[str, int]]:
        return Counter(v.municipality for v in self.violations).most_common()

    @property
    def by_severity(self) -> list[tuple[str, int]]:
        counts = Counter(v.severity for v in self.violations)
        return [(s, counts[s]) for s in SEVERITY_ORDER if counts[s]]


def open_client(settings: Settings):
    return clickhouse_connect.get_client(**settings.clickhouse_client_args())


def _cards(client, db: str, until: datetime) -> list[Card]:
    result = client.query(SCORECARDS_SQL, parameters={"db": db, "until": until})
    return [
        Card(org_id, name, municipality, float(total), colour, dict(points), dict(maximum))
        for org_id, name, municipality, total, colour, points, maximum in result.result_rows
    ]


def load_scorecards(client, db: str) -> Scorecards | None:
    """The cards now and before the latest sweep began (none without an earlier sweep); None
    when no card was written yet."""
    now = _cards(client, db, datetime.now(UTC) + timedelta(days=1))
    if not now:
        return None
    sweeps = client.query(LATEST_SWEEPS_SQL, parameters={"db": db}).result_rows
    before = _cards(client, db, sweeps[0][1]) if len(sweeps) == 2 else []
    return Scorecards(now, before)


def load_findings(settings: Settings) -> Findings:
    client = open_client(settings)
    try:
        db = settings.clickhouse_database
        rows = client.query(OPEN_VIOLATIONS_SQL, parameters={"db": db}).result_rows
        organisations, pages = (
            client.query(COUNT_SQL, parameters={"db": db, "table": table}).result_rows[0][0]
            for table in ("organisations", "pages")
        )
        scorecards = load_scorecards(client, db)
        per_platform = {
            row[0]: tuple(int(n) for n in row[1:])
            for row in client.query(PLATFORM_PAGES_SQL, parameters={"db": db}).result_rows
        }
    finally:
        client.close()
    platforms = tuple((d.id, *per_platform[d.id]) for d in descriptors() if d.id in per_platform)
    return Findings(organisations, pages, [Violation(*row) for row in rows], scorecards, platforms)


def compare_with_truth(
    findings: Findings, truth: list[dict], rules: Iterable[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per rule: how many the truth has, how many were found, and the set differences.

    ``rules``: the rules the truth covers (the simulator plants only some; the profile checks
    more); by default every rule either side names.
    """
    expected = {(t["org_id"], t["platform"], t["page_id"], t["rule"], t["severity"]) for t in truth}
    found = {v.identity for v in findings.violations}
    if rules is None:
        rules = sorted({k[3] for k in expected | found})
    else:
        rules = sorted(set(rules))
        found = {k for k in found if k[3] in rules}
    return {
        rule: {
            "truth": sum(1 for k in expected if k[3] == rule),
            "found": sum(1 for k in found if k[3] == rule),
            "missing": sum(1 for k in expected - found if k[3] == rule),
            "extra": sum(1 for k in found - expected if k[3] == rule),
        }
        for rule in rules
    }


def _web_link(url: str) -> str | None:
    """The page's address as a link, when it is a plain http(s) one (cleaned as displayed)."""
    url = display.clean(url)
    return url if urlsplit(url).scheme in ("http", "https") else None


# --- the scorecard's pictures: geometry computed here, the template only draws it ------------

BAR_LABEL_W = 310  # the municipality's name left of its bar
BAR_W = 460
BAR_H = 22
BAR_GAP = 8


def _points(x: float) -> str:
    return rulebook.number(round(x, 1))


def colour_counts(cards: Iterable[Card]) -> dict[str, int]:
    counts = Counter(card.colour for card in cards)
    return {colour: counts[colour] for colour in COLOURS}


def municipality_bars(cards: list[Card]) -> dict:
    """A bar per municipality, its organisations split green/yellow/red as shares of the bar."""
    by_place: dict[str, list[Card]] = {}
    for card in cards:
        by_place.setdefault(card.municipality, []).append(card)
    rows = []
    ordered = sorted(by_place.items(), key=lambda item: (-_red_share(item[1]), item[0]))
    for index, (place, place_cards) in enumerate(ordered):
        counts = colour_counts(place_cards)
        # Edges from the running count, so the segments meet and fill the bar exactly.
        seen, segments = 0, []
        for colour in COLOURS:
            if not counts[colour]:
                continue
            start = BAR_LABEL_W + round(BAR_W * seen / len(place_cards))
            seen += counts[colour]
            width = BAR_LABEL_W + round(BAR_W * seen / len(place_cards)) - start
            segments.append(
                {
                    "x": start,
                    "width": width,
                    "count": counts[colour],
                    "paint": COLOUR_PAINT[colour],
                    "ink": "#222" if colour == "yellow" else "#fff",  # readable on the paint
                    "title": f"{COLOUR_TITLES[colour]}: {counts[colour]}",
                    "label": width >= 18,
                }
            )
        rows.append(
            {"name": place, "y": index * (BAR_H + BAR_GAP), "total": len(place_cards),
             "segments": segments}
        )  # fmt: skip
    return {
        "rows": rows,
        "label_w": BAR_LABEL_W,
        "bar_w": BAR_W,
        "bar_h": BAR_H,
        "width": BAR_LABEL_W + BAR_W + 90,
        "height": max(len(rows) * (BAR_H + BAR_GAP), BAR_H) + 24,
    }


def _red_share(cards: list[Card]) -> float:
    return sum(card.colour == "red" for card in cards) / len(cards)


def worst_organisations(cards: list[Card], limit: int = WORST_SHOWN) -> list[dict]:
    """The lowest totals (as a share of their maximum) with the criteria that lost points."""
    worst = sorted(cards, key=lambda card: (card.share, card.org_name, card.org_id))[:limit]
    return [
        {
            "org_name": card.org_name,
            "municipality": card.municipality,
            "total": _points(card.total),
            "out_of": _points(card.out_of),
            "bar": round(160 * card.share, 1),
            "paint": COLOUR_PAINT.get(card.colour, "#9e9e9e"),
            "colour": COLOUR_TITLES.get(card.colour, card.colour),
            "missing": [
                f"{CRITERION_TITLES.get(criterion, criterion)} (−{_points(points)})"
                for criterion, points in card.missing
            ],
        }
        for card in worst
    ]


TREND_H = 140


def trend(scorecards: Scorecards) -> dict:
    """The colours' counts and the mean total now beside the previous sweep's, and who moved."""
    now, before = colour_counts(scorecards.now), colour_counts(scorecards.before)
    tallest = max([*now.values(), *before.values(), 1])
    groups = []
    for index, colour in enumerate(COLOURS):
        pair = []
        for offset, (when, counts, opacity) in enumerate(
            (("предыдущий обход", before, 0.45), ("сейчас", now, 1.0))
        ):
            if counts is before and not scorecards.before:
                continue  # no previous sweep: nothing to draw beside now
            height = round(TREND_H * counts[colour] / tallest, 1)
            pair.append(
                {"x": 40 + index * 130 + offset * 48, "y": 20 + TREND_H - height,
                 "height": height, "count": counts[colour], "opacity": opacity, "when": when}
            )  # fmt: skip
        groups.append(
            {"title": COLOUR_TITLES[colour], "paint": COLOUR_PAINT[colour], "bars": pair,
             "x": 40 + index * 130 + 46}
        )  # fmt: skip
    previous = {card.org_id: card for card in scorecards.before}
    moved = [
        (card.total - previous[card.org_id].total, card)
        for card in scorecards.now
        if card.org_id in previous and card.total != previous[card.org_id].total
    ]
    moved.sort(key=lambda item: (-abs(item[0]), item[1].org_name))
    return {
        "groups": groups,
        "base": 20 + TREND_H,
        "has_before": bool(scorecards.before),
        "mean_now": _points(_mean(scorecards.now)),
        "mean_before": _points(_mean(scorecards.before)) if scorecards.before else "",
        "moved": [
            {
                "org_name": card.org_name,
                "municipality": card.municipality,
                "before": _points(card.total - delta),
                "now": _points(card.total),
                "delta": ("+" if delta > 0 else "−") + _points(abs(delta)),
                "up": delta > 0,
                "colour_before": COLOUR_TITLES.get(previous[card.org_id].colour, ""),
                "colour_now": COLOUR_TITLES.get(card.colour, card.colour),
            }
            for delta, card in moved[:WORST_SHOWN]
        ],
    }


def _mean(cards: list[Card]) -> float:
    return sum(card.total for card in cards) / len(cards) if cards else 0.0


def scorecard_view(scorecards: Scorecards | None) -> dict | None:
    if scorecards is None:
        return None
    counts = colour_counts(scorecards.now)
    return {
        "organisations": len(scorecards.now),
        "counts": [(COLOUR_TITLES[c], counts[c], COLOUR_PAINT[c]) for c in COLOURS],
        "municipalities": municipality_bars(scorecards.now),
        "worst": worst_organisations(scorecards.now),
        "trend": trend(scorecards),
    }


def write_html_report(path: Path, findings: Findings, agreement: dict[str, dict[str, int]]) -> None:
    """The report from ``templates/report.html``: every value is escaped there, and the text from
    the register or a platform is cleaned (``display.clean``) as a person reads it."""
    by_org = Counter((v.org_name, v.municipality) for v in findings.violations).most_common(25)
    document = templating.render(
        __package__,
        "report.html",
        organisations=findings.organisations,
        pages=findings.pages,
        platforms=[
            (rulebook.PLATFORM_TITLES.get(p, p), *(str(n) for n in counts))
            for p, *counts in findings.platforms
        ],
        open_total=findings.open_total,
        by_rule=[(rulebook.title(rule), str(n)) for rule, n in findings.by_rule],
        by_severity=[(rulebook.severity_title(s), str(n)) for s, n in findings.by_severity],
        by_municipality=[(municipality, str(n)) for municipality, n in findings.by_municipality],
        by_org=[(org, municipality, str(n)) for (org, municipality), n in by_org],
        agreement=[(rulebook.title(rule), r) for rule, r in sorted(agreement.items())],
        violations=findings.violations,
        links=[_web_link(v.page_url) for v in findings.violations],
        rule_titles={v.rule: rulebook.title(v.rule) for v in findings.violations},
        severity_titles=rulebook.SEVERITY_TITLES,
        scorecard=scorecard_view(findings.scorecards),
    )
    path.write_text(document, encoding="utf-8")
