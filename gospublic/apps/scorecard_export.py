"""``gospublic scorecard``: the regional centre's weekly table out of ClickHouse, as XLSX or CSV.

One row per organisation of the region (ОГРН, name, municipality, founder, sphere), one column
per criterion of the scorecard, then the total and its colour, and the criteria that could not be
evaluated. A week's table holds each organisation's latest card written before that week ended
(an unchanged card is not written again, so an earlier one still holds). A reader of the store like
the report: it runs when the evaluator has stopped (the embedded chDB) or beside a ClickHouse
server, and only issues parameterised SELECTs.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gospublic import display
from gospublic.rulebook import CRITERION_TITLES
from gospublic.settings import Settings

COLOUR_TITLES = {"green": "зелёный", "yellow": "жёлтый", "red": "красный"}
# Fills as the centres' tables show them (ARGB).
COLOUR_FILLS = {"green": "FFC6EFCE", "yellow": "FFFFEB9C", "red": "FFFFC7CE"}
ORG_HEADERS = ("ОГРН", "Организация", "Муниципалитет", "Учредитель", "Сфера")
TAIL_HEADERS = ("Итого", "Цвет", "Не оценено")

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MOSCOW = timedelta(hours=3)

# Per organisation of the region: its latest card (platform 'any') before the bound. The latest
# time per organisation first (a small aggregate), then those rows: argMax over whole rows with
# their maps took 5.7 s and 580 MB more on a national register.
_LATEST = """
FROM {db:Identifier}.scorecards
WHERE region = {region:String} AND platform = 'any'
  AND (org_id, scored_at) IN (
      SELECT org_id, max(scored_at) FROM {db:Identifier}.scorecards
      WHERE region = {region:String} AND platform = 'any' AND scored_at < {until:DateTime64(3)}
      GROUP BY org_id)
"""
# The criteria of those cards with the weights they carry.
CRITERIA_SQL = (
    "SELECT criterion, groupUniqArray(maximum[criterion]) FROM (SELECT maximum"
    + _LATEST
    + ") ARRAY JOIN mapKeys(maximum) AS criterion GROUP BY criterion"
)
# The rows, in the order of the table; points and weights as arrays in the order of {criteria}
# (NULL where a card lacks the criterion). Small blocks keep the embedded engine's memory down.
SCORECARD_SQL = (
    "SELECT org_id, org_name, municipality, founder, sphere, version, total, colour,"
    " arrayMap(k -> if(mapContains(maximum, k), toNullable(points[k]), NULL),"
    " {criteria:Array(String)}),"
    " arrayMap(k -> if(mapContains(maximum, k), toNullable(maximum[k]), NULL),"
    " {criteria:Array(String)}),"
    " not_evaluable" + _LATEST + " ORDER BY municipality, org_name, org_id LIMIT 1 BY org_id"
    " SETTINGS max_block_size = 8192"
)


@dataclass(frozen=True, slots=True)
class ScorecardRow:
    ogrn: str
    name: str
    municipality: str
    founder: str
    sphere: str
    version: int
    total: float
    colour: str
    points: dict[str, float]
    maximum: dict[str, float]
    not_evaluable: tuple[str, ...]


def week_end(week: str) -> datetime:
    """The end of an ISO week ``YYYY-Www`` on Moscow time, as a UTC moment."""
    match = _WEEK.match(week)
    if not match:
        raise ValueError(f"--week {week!r}: expected YYYY-Www, e.g. 2026-W49")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise ValueError(f"--week {week!r}: {exc}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) - MOSCOW
    return start + timedelta(days=7)


# Each organisation's latest total (the demo compares them with the simulator's).
TOTALS_SQL = (
    "SELECT org_id, argMax(total, scored_at) FROM {db:Identifier}.scorecards"
    " WHERE region = {region:String} AND platform = 'any' GROUP BY org_id"
)


def latest_totals(settings: Settings, region: str) -> dict[str, float]:
    """ОГРН → the total of the organisation's latest card."""
    from gospublic.apps.report import open_client

    client = open_client(settings)
    try:
        result = client.query(
            TOTALS_SQL, parameters={"db": settings.clickhouse_database, "region": region}
        )
    finally:
        client.close()
    return {org_id: float(total) for org_id, total in result.result_rows}


def _parameters(database: str, region: str, until: datetime, **more) -> dict:
    return {"db": database, "region": region, "until": until.astimezone(UTC), **more}


def read_criteria(client, database: str, region: str, until: datetime) -> dict[str, set[float]]:
    """Criterion → the weights the region's cards give it, in the table's order."""
    result = client.query(CRITERIA_SQL, parameters=_parameters(database, region, until))
    found = {criterion: set(weights) for criterion, weights in result.result_rows}
    order = [c for c in CRITERION_TITLES if c in found] + sorted(set(found) - set(CRITERION_TITLES))
    return {c: found[c] for c in order}


def stream_rows(
    client, database: str, region: str, until: datetime, criteria: Sequence[str]
) -> Iterator[ScorecardRow]:
    """The region's table, row by row as the store sends it (a national one is not held)."""
    parameters = _parameters(database, region, until, criteria=list(criteria))
    with client.query_row_block_stream(SCORECARD_SQL, parameters=parameters) as stream:
        for block in stream:
            for (
                ogrn, name, municipality, founder, sphere, version, total, colour, points,
                maximum, unknown,
            ) in block:  # fmt: skip
                yield ScorecardRow(
                    ogrn, name, municipality, founder, sphere, int(version), float(total),
                    colour,
                    {c: p for c, p in zip(criteria, points, strict=True) if p is not None},
                    {c: w for c, w in zip(criteria, maximum, strict=True) if w is not None},
                    tuple(unknown),
                )  # fmt: skip


def read_rows(client, database: str, region: str, until: datetime) -> list[ScorecardRow]:
    """The region's whole table from an open clickhouse-connect client."""
    criteria = read_criteria(client, database, region, until)
    return list(stream_rows(client, database, region, until, list(criteria)))


def headers(criteria: dict[str, set[float]]) -> list[str]:
    """Russian column titles; a criterion with one weight across the table shows it."""

    def title(criterion: str) -> str:
        weights = criteria[criterion]
        suffix = f" (макс. {_number(next(iter(weights)))})" if len(weights) == 1 else ""
        return CRITERION_TITLES.get(criterion, criterion) + suffix

    tail = list(TAIL_HEADERS)
    if all(len(weights) == 1 for weights in criteria.values()):
        tail[0] += f" (из {_number(round(sum(next(iter(w)) for w in criteria.values()), 1))})"
    return [*ORG_HEADERS, *(title(c) for c in criteria), *tail]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _values(row: ScorecardRow, criteria: Sequence[str]) -> list:
    return [
        row.ogrn,
        display.clean(row.name),
        display.clean(row.municipality),
        display.clean(row.founder),
        display.clean(row.sphere),
        *(_number(row.points[c]) if c in row.points else None for c in criteria),
        _number(row.total),
        COLOUR_TITLES.get(row.colour, row.colour),
        # None, not "": an empty cell is left out of the sheet.
        ", ".join(CRITERION_TITLES.get(c, c) for c in row.not_evaluable) or None,
    ]


def write_csv(path: Path, rows: Iterable[ScorecardRow], criteria: dict[str, set[float]]) -> int:
    """The table as CSV; the number of rows written."""
    written = 0
    # UTF-8 with a BOM and ";" so that a spreadsheet opened by double click reads Cyrillic and
    # splits the columns on a Russian locale.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(headers(criteria))
        for row in rows:
            writer.writerow(_values(row, criteria))
            written += 1
    return written


def write_xlsx(
    path: Path,
    rows: Iterable[ScorecardRow],
    criteria: dict[str, set[float]],
    title: str = "Светофор",
    about: dict[str, str] | None = None,
) -> int:
    """The table with its colours: the total and the colour cells filled with the card's colour,
    each criterion cell green when full, red when 0, yellow between (by conditional formatting
    on its column, see below); a frozen header and filters.
    Written as the rows come (openpyxl's write-only sheet); the number of rows written. A second
    sheet, «Сведения», tells what the table is: ``about`` and the weights versions of its rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    names = headers(criteria)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "B2"
    widths = [16, 48, 28, 36, 16, *([14] * len(criteria)), 11, 11, 40]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    header = []
    for name in names:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font, cell.alignment = bold, wrap
        header.append(cell)
    sheet.append(header)
    fills = {k: PatternFill("solid", start_color=v, end_color=v) for k, v in COLOUR_FILLS.items()}
    first = len(ORG_HEADERS)
    total_at = first + len(criteria)
    colour_at = total_at + 1

    def styled(fill: PatternFill) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet)
        cell.fill = fill
        return cell

    # A write-only sheet serialises each row as it is appended, so one styled cell per colour is
    # filled with the next row's value (styling a new cell per value took most of the time).
    # The criterion cells are plain values coloured by a rule per column: a styled cell costs
    # openpyxl a third more per cell, and a national table has 1.6 million of them.
    total_cells = {k: styled(f) for k, f in fills.items()}
    colour_cells = {k: styled(f) for k, f in fills.items()}
    written = 0
    versions: set[int] = set()
    for row in rows:
        versions.add(row.version)
        values = _values(row, criteria)
        if row.colour in fills:
            for at, cells in ((total_at, total_cells), (colour_at, colour_cells)):
                cells[row.colour].value = values[at]
                values[at] = cells[row.colour]
        sheet.append(values)
        written += 1
    # The filter's range is written after the rows, so it can cover them once they are counted.
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(names))}{written + 1}"
    for i, weights in enumerate(criteria.values()):
        if len(weights) != 1 or not written:
            continue  # weights of several versions: no one threshold for the column
        weight = _number(next(iter(weights)))
        column = get_column_letter(first + i + 1)
        cells = f"{column}2:{column}{written + 1}"
        # The first rule that holds wins: full marks green, none red, anything between yellow.
        for operator, formula, colour in (
            ("greaterThanOrEqual", [str(weight)], "green"),
            ("lessThanOrEqual", ["0"], "red"),
            ("greaterThan", ["0"], "yellow"),
        ):
            rule = CellIsRule(operator=operator, formula=formula, fill=fills[colour])
            rule.stopIfTrue = True
            sheet.conditional_formatting.add(cells, rule)
    notes = workbook.create_sheet("Сведения")
    notes.column_dimensions["A"].width = 28
    notes.column_dimensions["B"].width = 60
    for key, value in {
        **(about or {}),
        "Организаций": str(written),
        "Версия весов": ", ".join(str(v) for v in sorted(versions)),
        "Цвет": "зелёный: не ниже 80 % максимума, жёлтый: не ниже 50 %, красный: ниже "
        "(пороги профиля по умолчанию)",
        "Не оценено": "критерий, который данные не показали: 0 баллов",
    }.items():
        notes.append([key, value])
    workbook.save(path)
    return written


def export(settings: Settings, region: str, week: str | None, out: Path) -> int:
    """Read the region's table and write it; the number of organisations written."""
    from gospublic.apps.report import open_client

    until = week_end(week) if week else datetime(9999, 1, 1, tzinfo=UTC)
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ValueError(f"--out {out}: expected a .xlsx or .csv file")
    client = open_client(settings)
    try:
        database = settings.clickhouse_database
        criteria = read_criteria(client, database, region, until)
        if not criteria:
            return 0
        rows = stream_rows(client, database, region, until, list(criteria))
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".xlsx":
            about = {"Регион": region, "Неделя": week or "последние оценки"}
            return write_xlsx(out, rows, criteria, about=about)
        return write_csv(out, rows, criteria)
    finally:
        client.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", required=True, help="the register's region key")
    parser.add_argument(
        "--week", default=None, help="ISO week YYYY-Www (Moscow time); default: the latest cards"
    )
    parser.add_argument("--out", type=Path, required=True, help="FILE.xlsx or FILE.csv")
    parser.epilog = (
        "Reads GOSPUBLIC_CLICKHOUSE_URL (default: the embedded chDB under the state directory,\n"
        "which only one process may open: stop the evaluator first, or use a ClickHouse server)."
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        written = export(settings, args.region, args.week, args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not written:
        print(
            f"нет оценок для региона {args.region!r}"
            + (f" до конца недели {args.week}" if args.week else ""),
            file=sys.stderr,
        )
        return 1
    print(f"{args.out}: {written} организаций")
    return 0
