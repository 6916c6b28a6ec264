"""Every ClickHouse panel of the provisioned dashboards runs on chDB against a demo sweep's store.

The panel SQL goes through the same two steps as in Grafana: the ClickHouse plugin's frontend
replaces ``$__conditionalAll(...)`` and the template variables (multi-values as ``'a','b'``), then
its backend expands the time macros (``$__timeFilter(col)`` → ``col >= toDateTime(<from>) AND col
<= toDateTime(<to>)``, ``$__timeInterval``, ``$__interval_s``, ...). Variables take their values from
their own queries, run the same way, the way a user would see them in the dropdown.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gospublic.apps import report
from gospublic.apps.demo import Demo
from gospublic.rulebook import CRITERION_TITLES, RULEBOOK
from services.evaluator.schema import open_violations_sql

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
CLICKHOUSE_UID = "gospublic-clickhouse"
ALL = "$__all"
MAX_DATA_POINTS = 1000

# The columns each ClickHouse panel must return, in order, and whether a demo sweep with planted
# violations must make it non-empty. A new panel must be added here.
# fmt: off
EXPECTED: dict[tuple[str, str], tuple[tuple[str, ...], bool]] = {
    ("gospublic-region", "Организаций в реестре"): (("organisations",), True),
    ("gospublic-region", "Соответствие, %"): (("compliance_pct",), True),
    ("gospublic-region", "Открытых нарушений"): (("open_violations", "critical"), True),
    ("gospublic-region", "Организаций с нарушениями"): (("organisations_failing",), True),
    ("gospublic-region", "Открытые нарушения во времени"): (("time", "open_violations"), True),
    ("gospublic-region", "Соответствие во времени, %"): (("time", "compliance_pct"), True),
    ("gospublic-region", "По муниципалитетам"): (
        ("municipality", "checks", "compliance_pct", "open_violations", "critical"),
        True,
    ),
    ("gospublic-region", "По правилам"): (
        ("rule", "checks", "compliance_pct", "open_violations", "critical"),
        True,
    ),
    ("gospublic-region", "Страницы по площадкам"): (
        ("platform", "pages", "live", "not_connected", "gone", "unavailable"),
        True,
    ),
    ("gospublic-region", "Светофор"): (
        ("org_id", "organisation", "municipality", *CRITERION_TITLES, "total", "out_of", "colour"),
        True,
    ),
    ("gospublic-region", "Светофор во времени"): (("time", "green", "yellow", "red"), True),
    ("gospublic-org", "Светофор: итог"): (("total", "out_of", "colour", "scored_at"), True),
    ("gospublic-org", "Светофор организации"): (
        ("criterion_title", "points", "weight", "note"),
        True,
    ),
    ("gospublic-region", "По учредителям"): (
        ("founder", "checks", "compliance_pct", "open_violations", "critical"),
        True,
    ),
    ("gospublic-region", "По сферам"): (
        ("sphere", "checks", "compliance_pct", "open_violations", "critical"),
        True,
    ),
    ("gospublic-region", "Худшие организации"): (
        (
            "org_id",
            "organisation",
            "municipality",
            "founder",
            "open_violations",
            "critical",
            "high",
            "medium",
            "rules",
            "oldest_opened_at",
        ),
        True,
    ),
    ("gospublic-region", "Открытые нарушения"): (
        (
            "opened_at",
            "municipality",
            "org_id",
            "organisation",
            "rule",
            "severity",
            "page_url",
            "summary",
        ),
        True,
    ),
    ("gospublic-org", "Организация"): (
        (
            "name",
            "org_id",
            "level",
            "founder",
            "municipality",
            "sphere",
            "exempt",
            "registered_pages",
            "registry_version",
            "registered_at",
        ),
        True,
    ),
    ("gospublic-org", "Открытых нарушений"): (("open_violations",), True),
    ("gospublic-org", "Состояние правил"): (
        (
            "platform",
            "page_id",
            "rule",
            "status",
            "severity",
            "value",
            "threshold",
            "last_checked",
        ),
        True,
    ),
    ("gospublic-org", "Страницы"): (
        (
            "platform",
            "page_id",
            "url",
            "name",
            "status",
            "reason",
            "members",
            "wall",
            "description_len",
            "has_phone",
            "verified",
            "observed_at",
        ),
        True,
    ),
    ("gospublic-org", "Собственные публикации"): (("time", "page_id", "posts"), True),
    ("gospublic-org", "Частота публикаций"): (
        (
            "page_id",
            "own_posts",
            "reposts",
            "own_posts_per_week",
            "last_own_post",
            "days_since",
        ),
        True,
    ),
    ("gospublic-org", "Ответы на комментарии"): (
        (
            "platform",
            "page_id",
            "citizen_comments",
            "answered_pct",
            "within_sla_pct",
            "median_reply_hours",
            "max_reply_hours",
            "page_sla_hours",
            "unanswered",
        ),
        True,
    ),
    ("gospublic-org", "История нарушений"): (
        (
            "changed_at",
            "state",
            "rule",
            "severity",
            "platform",
            "page_id",
            "opened_at",
            "resolved_at",
            "summary",
        ),
        True,
    ),
    ("gospublic-feedback", "Комментарии жителей"): (
        ("citizen_comments", "unanswered", "overdue"), True,
    ),
    ("gospublic-feedback", "Отвечено в срок, %"): (("within_sla_pct", "answered_pct"), True),
    ("gospublic-feedback", "Медиана ответа"): (("median_reply_hours", "sla_hours"), True),
    ("gospublic-feedback", "Время ответа и срок"): (("reply_time", "within_sla", "late"), True),
    ("gospublic-feedback", "Ответы в срок во времени, %"): (
        ("time", "within_sla_pct", "answered_pct"), True,
    ),
    ("gospublic-feedback", "Отклик по муниципалитетам"): (
        (
            "municipality",
            "citizen_comments",
            "answered_pct",
            "within_sla_pct",
            "unanswered",
            "median_reply_hours",
        ),
        True,
    ),
    ("gospublic-feedback", "Отклик по учредителям"): (
        (
            "founder",
            "citizen_comments",
            "answered_pct",
            "within_sla_pct",
            "unanswered",
            "median_reply_hours",
        ),
        True,
    ),
    ("gospublic-feedback", "Комментарии без ответа"): (
        (
            "org_id",
            "organisation",
            "municipality",
            "page_url",
            "post_url",
            "post_id",
            "posted_at",
            "age_hours",
            "sla_due",
            "overdue",
        ),
        True,
    ),
    ("gospublic-feedback", "Оценка «Отклик» во времени"): (("time", "response_score"), True),
}
# fmt: on


# --- the expander ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """A variable's current value: the chosen values, and whether that choice is "All"."""

    values: tuple[str, ...]
    is_all: bool = False


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval_s: int


def _macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Top-level comma-separated arguments of the call whose ``(`` is at ``open_paren``."""
    depth, start, args = 0, open_paren + 1, []
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise AssertionError(f"unbalanced parentheses after position {open_paren}")


def _conditional_all(sql: str, variables: dict[str, Selection]) -> str:
    """``$__conditionalAll(cond, $var)``: ``1=1`` when ``$var`` is All or empty, else ``cond``."""
    macro = "$__conditionalAll("
    while (at := sql.rfind(macro)) != -1:
        args, end = _macro_args(sql, at + len(macro) - 1)
        assert len(args) == 2, f"$__conditionalAll takes 2 arguments: {args}"
        name = re.search(r"\$\{?(\w+)", args[1])
        assert name, f"no variable in {args[1]!r}"
        chosen = variables[name[1]]
        phrase = "1=1" if chosen.is_all or not chosen.values else args[0]
        sql = sql[:at] + phrase + sql[end:]
    return sql


def _format(selection: Selection, fmt: str | None) -> str:
    values = selection.values
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    assert fmt is None, f"unsupported variable format {fmt}"
    # The plugin's own formatter: a multi-value as 'a','b', a single value as it is.
    if len(values) == 1 and not selection.is_all:
        return values[0]
    return "'" + "','".join(values) + "'"


def _variables(sql: str, variables: dict[str, Selection]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["braced"] or match["plain"]
        if name.startswith("__"):
            return match[0]  # a macro, expanded by the backend
        assert name in variables, f"unknown dashboard variable ${name}"
        return _format(variables[name], match["fmt"])

    return re.sub(r"\$\{(?P<braced>\w+)(?::(?P<fmt>\w+))?\}|\$(?P<plain>\w+)", replace, sql)


def _macros(sql: str, span: TimeRange) -> str:
    start, end = int(span.start.timestamp()), int(span.end.timestamp())
    start_ms, end_ms = int(span.start.timestamp() * 1000), int(span.end.timestamp() * 1000)

    def with_column(name: str, render) -> None:
        nonlocal sql
        macro = f"$__{name}("
        while (at := sql.find(macro)) != -1:
            args, stop = _macro_args(sql, at + len(macro) - 1)
            sql = sql[:at] + render(*[a.strip() for a in args]) + sql[stop:]

    with_column(
        "timeFilter_ms",
        lambda c: (
            f"{c} >= fromUnixTimestamp64Milli({start_ms}) AND "
            f"{c} <= fromUnixTimestamp64Milli({end_ms})"
        ),
    )
    with_column("timeFilter", lambda c: f"{c} >= toDateTime({start}) AND {c} <= toDateTime({end})")
    with_column(
        "dateFilter",
        lambda c: (
            f"{c} >= toDate('{span.start:%Y-%m-%d}') AND {c} <= toDate('{span.end:%Y-%m-%d}')"
        ),
    )
    with_column(
        "timeInterval",
        lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {span.interval_s} second)",
    )
    for name, value in (
        ("fromTime_ms", f"fromUnixTimestamp64Milli({start_ms})"),
        ("toTime_ms", f"fromUnixTimestamp64Milli({end_ms})"),
        ("fromTime", f"toDateTime({start})"),
        ("toTime", f"toDateTime({end})"),
        ("interval_s", str(span.interval_s)),
    ):
        sql = re.sub(rf"\$__{name}\b", value, sql)
    leftover = re.search(r"\$__\w+", sql)
    assert leftover is None, f"unexpanded macro {leftover[0]}"
    return sql


def expand(sql: str, variables: dict[str, Selection], span: TimeRange) -> str:
    """The panel SQL as ClickHouse receives it: frontend interpolation, then backend macros."""
    return _macros(_variables(_conditional_all(sql, variables), variables), span)


def _duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    match = re.fullmatch(r"(\d+)([smhdw])", text)
    assert match, f"unsupported duration {text!r}"
    return timedelta(seconds=int(match[1]) * units[match[2]])


def time_range(dashboard: dict, panel: dict | None, now: datetime) -> TimeRange:
    """The dashboard's default range ending now; the interval as Grafana derives it."""
    start_text = dashboard["time"]["from"]
    assert dashboard["time"]["to"] == "now" and start_text.startswith("now-")
    start = now - _duration(start_text.removeprefix("now-"))
    auto = math.ceil((now - start).total_seconds() / MAX_DATA_POINTS)
    minimum = _duration(panel["interval"]).total_seconds() if panel and panel.get("interval") else 1
    return TimeRange(start, now, int(max(auto, minimum, 1)))


# --- fixtures -------------------------------------------------------------------------------


def load_dashboards() -> dict[str, dict]:
    boards = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        boards[board["uid"]] = board
    return boards


def clickhouse_panels(board: dict) -> Iterator[dict]:
    for panel in board["panels"]:
        if panel.get("datasource", {}).get("uid") == CLICKHOUSE_UID:
            yield panel


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import clickhouse_connect

    out = tmp_path_factory.mktemp("dashboards-demo")
    demo = Demo(out, size=200, seed=42, collectors=1, smtp_port=None, say=lambda _: None)
    result = demo.run()
    assert result.findings.open_total > 0, "the demo sweep planted no violations"
    client = clickhouse_connect.get_client(
        dsn=f"chdb://{result.out_dir / 'clickhouse'}", database="gospublic"
    )
    try:
        yield client
    finally:
        client.close()


def run(client: Any, sql: str) -> tuple[list[str], list[tuple]]:
    # The evaluator's one open-violations query names its database as a parameter.
    parameters = {"db": "gospublic"} if "{db:Identifier}" in sql else None
    result = client.query(sql, parameters=parameters)
    return list(result.column_names), [tuple(r) for r in result.result_rows]


def resolve_variables(
    client: Any, board: dict, now: datetime, overrides: dict[str, Selection] | None = None
) -> dict[str, Selection]:
    """Each variable in order: its query's values, then All or the first one (or the override)."""
    variables: dict[str, Selection] = {}
    span = time_range(board, None, now)
    for var in board["templating"]["list"]:
        assert var["type"] == "query" and var["datasource"]["uid"] == CLICKHOUSE_UID
        columns, rows = run(client, expand(var["query"], variables, span))
        assert 1 <= len(columns) <= 2, f"${var['name']}: a variable query returns value[, text]"
        values = tuple(str(r[0]) for r in rows)
        assert values, f"${var['name']} has no values on the demo data"
        if overrides and var["name"] in overrides:
            chosen = overrides[var["name"]]
            assert set(chosen.values) <= set(values), f"${var['name']}: {chosen} not offered"
            variables[var["name"]] = chosen
        elif var.get("includeAll") and var.get("current", {}).get("value") in ([ALL], ALL):
            variables[var["name"]] = Selection(values, is_all=True)
        else:
            variables[var["name"]] = Selection(values[:1])
    return variables


def check_panels(client: Any, board: dict, variables: dict[str, Selection], now: datetime) -> None:
    failures = []
    for panel in clickhouse_panels(board):
        key = (board["uid"], panel["title"])
        assert key in EXPECTED, f"{key} has no expectation in this test"
        columns_expected, non_empty = EXPECTED[key]
        for target in panel["targets"]:
            sql = expand(target["rawSql"], variables, time_range(board, panel, now))
            try:
                columns, rows = run(client, sql)
            except Exception as exc:
                failures.append(f"{key}: {type(exc).__name__}: {str(exc)[:600]}\n{sql}")
                continue
            if tuple(columns) != columns_expected:
                failures.append(f"{key}: columns {columns}, expected {list(columns_expected)}")
            if non_empty and not rows:
                failures.append(f"{key}: no rows\n{sql}")
            if target["format"] == 0:  # time series: the first column is the time
                assert columns[0] == "time", key
                assert all(isinstance(r[0], datetime) for r in rows), key
    assert not failures, "\n\n".join(failures)


# --- tests ----------------------------------------------------------------------------------


def test_expander_follows_the_plugin() -> None:
    span = TimeRange(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), interval_s=3600
    )
    variables = {
        "m": Selection(("Лиски", "O'Brien"), is_all=False),
        "s": Selection(("a", "b"), is_all=True),
        "org": Selection(("123",)),
    }
    sql = (
        "SELECT $__timeInterval(t) AS time FROM x WHERE $__timeFilter(t) AND "
        "$__conditionalAll(m IN (${m:singlequote}), $m) AND $__conditionalAll(s IN ($s), $s) "
        "AND org = '$org' AND z IN ($m) AND y < $__toTime AND w = $__interval_s"
    )
    assert expand(sql, variables, span) == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 3600 second) AS time FROM x WHERE "
        "t >= toDateTime(1767225600) AND t <= toDateTime(1767312000) AND "
        "m IN ('Лиски','O\\'Brien') AND 1=1 AND org = '123' AND z IN ('Лиски','O'Brien') "
        "AND y < toDateTime(1767312000) AND w = 3600"
    )


def test_every_clickhouse_panel_is_expected() -> None:
    found = {
        (b["uid"], p["title"]) for b in load_dashboards().values() for p in clickhouse_panels(b)
    }
    assert found == set(EXPECTED)


def test_region_overview_panels_run_with_all_selected(store: Any) -> None:
    board = load_dashboards()["gospublic-region"]
    now = datetime.now(UTC)
    check_panels(store, board, resolve_variables(store, board, now), now)


def test_region_overview_panels_run_with_one_municipality(store: Any) -> None:
    board = load_dashboards()["gospublic-region"]
    now = datetime.now(UTC)
    open_rows = open_violations_sql(("municipality",), order_by="municipality")
    _, rows = run(
        store,
        f"SELECT municipality FROM ({open_rows}) GROUP BY municipality ORDER BY count() DESC LIMIT 1",
    )
    chosen = {"municipality": Selection((rows[0][0],))}
    check_panels(store, board, resolve_variables(store, board, now, chosen), now)


def test_organisation_card_panels_run_for_an_organisation_with_violations(store: Any) -> None:
    board = load_dashboards()["gospublic-org"]
    now = datetime.now(UTC)
    # An organisation the demo planted a page-level violation on, with own posts to count and
    # citizen comments to answer.
    _, rows = run(
        store,
        "SELECT v.org_id, any(o.municipality) FROM ("
        + open_violations_sql(("org_id", "page_id"), order_by="org_id")
        + ") AS v "
        "INNER JOIN (SELECT org_id, municipality FROM organisations FINAL) AS o USING org_id "
        "WHERE v.page_id != '' AND v.org_id IN "
        "(SELECT org_id FROM post_observations WHERE is_own AND NOT is_repost) "
        "AND v.org_id IN (SELECT org_id FROM comments WHERE author_kind = 'citizen' "
        "AND posted_at >= now() - INTERVAL 60 DAY) "
        "GROUP BY v.org_id ORDER BY count() DESC, v.org_id LIMIT 1",
    )
    assert rows, "the demo planted no page violation on an organisation that posts and is asked"
    org_id, municipality = rows[0]
    chosen = {"municipality": Selection((municipality,)), "org_id": Selection((org_id,))}
    variables = resolve_variables(store, board, now, chosen)
    assert variables["page"].is_all and variables["page"].values
    check_panels(store, board, variables, now)


def test_citizen_feedback_panels_run_with_all_selected(store: Any) -> None:
    board = load_dashboards()["gospublic-feedback"]
    now = datetime.now(UTC)
    _, rows = run(
        store,
        "SELECT countIf(author_kind = 'citizen'), countIf(author_kind = 'page') FROM comments",
    )
    assert rows[0][0] > 0 and rows[0][1] > 0, "the demo sweep collected no comments and replies"
    check_panels(store, board, resolve_variables(store, board, now), now)


def test_citizen_feedback_panels_run_for_a_founder_with_unanswered_comments(store: Any) -> None:
    board = load_dashboards()["gospublic-feedback"]
    now = datetime.now(UTC)
    # The founder whose organisations' pages have the most recent citizen comments on posts the
    # page never commented on: certainly unanswered.
    _, rows = run(
        store,
        "SELECT o.founder FROM comments AS c "
        "INNER JOIN (SELECT org_id, founder FROM organisations FINAL) AS o USING org_id "
        "WHERE c.author_kind = 'citizen' AND c.posted_at >= now() - INTERVAL 7 DAY "
        "AND (c.platform, c.page_id, c.post_id) NOT IN "
        "(SELECT platform, page_id, post_id FROM comments WHERE author_kind = 'page') "
        "GROUP BY o.founder ORDER BY count() DESC, o.founder LIMIT 1",
    )
    assert rows, "no recent unanswered citizen comments in the demo sweep"
    chosen = {"founder": Selection((rows[0][0],))}
    check_panels(store, board, resolve_variables(store, board, now, chosen), now)


def test_the_scorecard_panels_show_the_demo_cards_and_titles(store: Any) -> None:
    """The traffic-light table holds every organisation's latest card, rules and criteria are
    shown by their Russian titles, and the report reads the same cards."""
    board = load_dashboards()["gospublic-region"]
    now = datetime.now(UTC)
    variables = resolve_variables(store, board, now)
    panels = {p["title"]: p for p in clickhouse_panels(board)}
    span = time_range(board, None, now)

    def rows_of(title: str) -> list[tuple]:
        return run(store, expand(panels[title]["targets"][0]["rawSql"], variables, span))[1]

    _, cards = run(store, "SELECT uniqExact(org_id) FROM scorecards WHERE platform = 'any'")
    table = rows_of("Светофор")
    assert len(table) == cards[0][0] > 0
    assert {row[-1] for row in table} <= {"green", "yellow", "red"}
    shown_rules = {row[0] for row in rows_of("По правилам")}
    assert shown_rules and not shown_rules & set(RULEBOOK), "rule ids shown instead of titles"
    assert shown_rules <= {entry.title for entry in RULEBOOK.values()}
    trend = rows_of("Светофор во времени")
    assert sum(trend[-1][1:]) == len(table)  # every organisation has a colour at the end

    scorecards = report.load_scorecards(store, "gospublic")
    assert scorecards is not None
    assert {c.org_id: c.total for c in scorecards.now} == {row[0]: row[-3] for row in table}
    assert scorecards.before == []  # one sweep: nothing to compare with yet
