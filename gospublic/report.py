"""Read the compliance picture out of ClickHouse and render it: summary, HTML report, truth check.

This is a reader of the store, like a dashboard: it runs after the evaluator has stopped (chDB) or
beside it (a ClickHouse server), and only issues parameterised SELECTs.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect

from gospublic import display
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


def _text(value: str) -> str:
    """Text from the register or a platform, safe in HTML and as a person reads it: escaped, and
    without the control and direction characters that reorder a line (``display.clean``)."""
    return html.escape(display.clean(value))


def _link(url: str, text: str) -> str:
    url = display.clean(url)
    if urlsplit(url).scheme not in ("http", "https"):
        return text
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html_report(path: Path, findings: Findings, agreement: dict[str, dict[str, int]]) -> None:
    e = _text
    by_org = Counter((v.org_name, v.municipality) for v in findings.violations).most_common(25)
    details = [
        [
            e(v.municipality),
            e(v.org_name),
            _link(v.page_url, e(v.page_id)) if v.page_url else "—",
            e(v.rule),
            f'<span class="sev {e(v.severity)}">{e(v.severity)}</span>',
            e(v.summary),
        ]
        for v in findings.violations
    ]
    agreement_rows = [
        [e(rule), str(r["truth"]), str(r["found"]), str(r["missing"]), str(r["extra"]),
         "OK" if r["missing"] == r["extra"] == 0 else "<b>MISMATCH</b>"]
        for rule, r in sorted(agreement.items())
    ]  # fmt: skip
    document = f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>GosPublic Monitor — отчёт</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0 2rem; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
.sev {{ padding: 0 .4rem; border-radius: .3rem; }}
.critical {{ background: #b71c1c; color: #fff; }} .high {{ background: #ef6c00; color: #fff; }}
.medium {{ background: #fdd835; }} .low {{ background: #c5e1a5; }}
</style></head><body>
<h1>Соблюдение требований к госпабликам</h1>
<p>Организаций: <b>{findings.organisations}</b> · страниц: <b>{findings.pages}</b> ·
открытых нарушений: <b>{findings.open_total}</b></p>
<h2>По правилам</h2>
{_table(["Правило", "Нарушений"], [[e(r), str(n)] for r, n in findings.by_rule])}
<h2>По важности</h2>
{_table(["Важность", "Нарушений"], [[e(s), str(n)] for s, n in findings.by_severity])}
<h2>По муниципалитетам</h2>
{_table(["Муниципалитет", "Нарушений"], [[e(m), str(n)] for m, n in findings.by_municipality])}
<h2>Организации с наибольшим числом нарушений</h2>
{_table(["Организация", "Муниципалитет", "Нарушений"], [[e(o), e(m), str(n)] for (o, m), n in by_org])}
<h2>Сверка с эталоном симулятора</h2>
{_table(["Правило", "Эталон", "Найдено", "Пропущено", "Лишних", "Итог"], agreement_rows)}
<h2>Все открытые нарушения</h2>
{_table(["Муниципалитет", "Организация", "Страница", "Правило", "Важность", "Что исправить"], details)}
</body></html>
"""
    path.write_text(document, encoding="utf-8")
