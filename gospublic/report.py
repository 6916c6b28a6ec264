"""Read the compliance picture out of ClickHouse and render it: summary, HTML report, truth check.

This is a reader of the store, like a dashboard: it runs after the evaluator has stopped (chDB) or
beside it (a ClickHouse server), and only issues parameterised SELECTs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect

from gospublic import display, templating
from gospublic.settings import Settings

# The latest transition per violation decides whether it is open.
OPEN_VIOLATIONS_SQL = """
SELECT org_id, org_name, municipality, founder, platform, page_id, page_url, rule, severity, summary
FROM (
    SELECT violation_id,
           argMax(state, changed_at) AS last_state,
           any(org_id) AS org_id, any(org_name) AS org_name, any(municipality) AS municipality,
           any(founder) AS founder, any(platform) AS platform, any(page_id) AS page_id,
           any(page_url) AS page_url, any(rule) AS rule, any(severity) AS severity,
           argMax(summary, changed_at) AS summary
    FROM {db:Identifier}.violations
    GROUP BY violation_id
)
WHERE last_state = 'open'
ORDER BY municipality, org_name, rule
"""

# ReplacingMergeTree tables: FINAL collapses the versions of one key that are not merged yet.
COUNT_SQL = "SELECT count() FROM {db:Identifier}.{table:Identifier} FINAL"

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


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


def load_findings(settings: Settings) -> Findings:
    client = open_client(settings)
    try:
        db = settings.clickhouse_database
        rows = client.query(OPEN_VIOLATIONS_SQL, parameters={"db": db}).result_rows
        organisations, pages = (
            client.query(COUNT_SQL, parameters={"db": db, "table": table}).result_rows[0][0]
            for table in ("organisations", "pages")
        )
    finally:
        client.close()
    return Findings(organisations, pages, [Violation(*row) for row in rows])


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


def write_html_report(path: Path, findings: Findings, agreement: dict[str, dict[str, int]]) -> None:
    """The report from ``templates/report.html``: every value is escaped there, and the text from
    the register or a platform is cleaned (``display.clean``) as a person reads it."""
    by_org = Counter((v.org_name, v.municipality) for v in findings.violations).most_common(25)
    document = templating.render(
        __package__,
        "report.html",
        organisations=findings.organisations,
        pages=findings.pages,
        open_total=findings.open_total,
        by_rule=[(rule, str(n)) for rule, n in findings.by_rule],
        by_severity=[(severity, str(n)) for severity, n in findings.by_severity],
        by_municipality=[(municipality, str(n)) for municipality, n in findings.by_municipality],
        by_org=[(org, municipality, str(n)) for (org, municipality), n in by_org],
        agreement=sorted(agreement.items()),
        violations=findings.violations,
        links=[_web_link(v.page_url) for v in findings.violations],
    )
    path.write_text(document, encoding="utf-8")
