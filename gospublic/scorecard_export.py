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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gospublic import display
from gospublic.settings import Settings

# Column order and the Russian titles a centre's table uses.
CRITERION_TITLES = {
    "connection": "Подключение к «Госпабликам»",
    "gov_mark": "Госметка",
    "avatar": "Оформление: аватар",
    "description": "Оформление: описание",
    "cover": "Оформление: обложка",
    "widgets": "Виджеты Госуслуг",
    "activity": "Активность",
    "reach_week": "Охват за неделю",
    "reach_post": "Средний охват публикации",
}
COLOUR_TITLES = {"green": "зелёный", "yellow": "жёлтый", "red": "красный"}
# Fills as the centres' tables show them (ARGB).
COLOUR_FILLS = {"green": "FFC6EFCE", "yellow": "FFFFEB9C", "red": "FFFFC7CE"}
ORG_HEADERS = ("ОГРН", "Организация", "Муниципалитет", "Учредитель", "Сфера")
TAIL_HEADERS = ("Итого", "Из", "Цвет", "Не оценено", "Версия весов")

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MOSCOW = timedelta(hours=3)

# Per organisation of the region: its latest card (platform 'any') before the bound.
SCORECARD_SQL = """
SELECT org_id, c.1, c.2, c.3, c.4, c.5, c.6, c.7, c.8, c.9, c.10
FROM (
    SELECT org_id,
           argMax((org_name, municipality, founder, sphere, version, total, colour, points,
                   maximum, not_evaluable), scored_at) AS c
    FROM {db:Identifier}.scorecards
    WHERE region = {region:String} AND platform = 'any' AND scored_at < {until:DateTime64(3)}
    GROUP BY org_id
)
ORDER BY c.2, c.1, org_id
"""


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


def read_rows(client, database: str, region: str, until: datetime) -> list[ScorecardRow]:
    """The region's table from an open clickhouse-connect client."""
    result = client.query(
        SCORECARD_SQL,
        parameters={"db": database, "region": region, "until": until.astimezone(UTC)},
    )
    return [
        ScorecardRow(
            ogrn, name, municipality, founder, sphere, int(version), float(total), colour,
            dict(points), dict(maximum), tuple(unknown),
        )
        for ogrn, name, municipality, founder, sphere, version, total, colour, points, maximum,
        unknown in result.result_rows
    ]  # fmt: skip


def criteria_of(rows: Iterable[ScorecardRow]) -> list[str]:
    """The criteria any row has, in the table's order (a profile may leave some out)."""
    seen: set[str] = set()
    for row in rows:
        seen.update(row.maximum)
    known = [c for c in CRITERION_TITLES if c in seen]
    return known + sorted(seen - set(CRITERION_TITLES))


def headers(criteria: Sequence[str], rows: Sequence[ScorecardRow]) -> list[str]:
    def title(criterion: str) -> str:
        weights = {row.maximum.get(criterion) for row in rows} - {None}
        suffix = f" (макс. {_number(weights.pop())})" if len(weights) == 1 else ""
        return CRITERION_TITLES.get(criterion, criterion) + suffix

    return [*ORG_HEADERS, *(title(c) for c in criteria), *TAIL_HEADERS]


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
        _number(sum(row.maximum.values())),
        COLOUR_TITLES.get(row.colour, row.colour),
        ", ".join(CRITERION_TITLES.get(c, c) for c in row.not_evaluable),
        row.version,
    ]


def write_csv(path: Path, rows: Sequence[ScorecardRow]) -> None:
    criteria = criteria_of(rows)
    # UTF-8 with a BOM and ";" so that a spreadsheet opened by double click reads Cyrillic and
    # splits the columns on a Russian locale.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(headers(criteria, rows))
        for row in rows:
            writer.writerow(_values(row, criteria))


def write_xlsx(path: Path, rows: Sequence[ScorecardRow], title: str = "Светофор") -> None:
    """The table with its colours: the total and the colour cells filled with the card's colour,
    each criterion cell green when full, red when 0, yellow between; a frozen header and filters."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    criteria = criteria_of(rows)
    names = headers(criteria, rows)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "B2"
    widths = [16, 48, 28, 36, 16, *([14] * len(criteria)), 9, 6, 11, 40, 9]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(names))}{len(rows) + 1}"
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
    colour_at = total_at + 2
    # One styled cell object per (column, colour) is enough: write-only cells are serialised as
    # they are appended, so a cell can be refilled for the next row.
    for row in rows:
        values = _values(row, criteria)
        line: list = values[:first]
        for c, value in zip(criteria, values[first:total_at], strict=True):
            cell = WriteOnlyCell(sheet, value=value)
            weight = row.maximum.get(c)
            if value is not None and weight:
                cell.fill = fills["green" if value >= weight else "red" if value <= 0 else "yellow"]
            line.append(cell)
        fill = fills.get(row.colour)
        for i in range(total_at, len(values)):
            if fill is not None and i in (total_at, colour_at):
                cell = WriteOnlyCell(sheet, value=values[i])
                cell.fill = fill
                line.append(cell)
            else:
                line.append(values[i])
        sheet.append(line)
    workbook.save(path)


def write(path: Path, rows: Sequence[ScorecardRow]) -> None:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        write_xlsx(path, rows)
    elif suffix == ".csv":
        write_csv(path, rows)
    else:
        raise ValueError(f"--out {path}: expected a .xlsx or .csv file")


def export(settings: Settings, region: str, week: str | None, out: Path) -> int:
    """Read the region's table and write it; the number of organisations written."""
    from gospublic.report import open_client

    until = week_end(week) if week else datetime(9999, 1, 1, tzinfo=UTC)
    if out.suffix.lower() not in (".xlsx", ".csv"):
        raise ValueError(f"--out {out}: expected a .xlsx or .csv file")
    client = open_client(settings)
    try:
        rows = read_rows(client, settings.clickhouse_database, region, until)
    finally:
        client.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    write(out, rows)
    return len(rows)


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
