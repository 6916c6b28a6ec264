"""The report shows the pages of every platform, MAX's not-connected channels among them."""

from __future__ import annotations

import re
from pathlib import Path

from gospublic.apps.report import Findings, write_html_report


def rows_of(html: str, heading: str) -> list[list[str]]:
    section = html.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    return [
        re.findall(r"<td>(.*?)</td>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", section)
        if "<td>" in row
    ]


def test_pages_per_platform_with_connected_and_not_connected(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    platforms = (("vk", 1327, 1233, 0, 94), ("max", 40, 31, 9, 0))
    write_html_report(path, Findings(2, 1367, [], None, platforms), {})
    rows = rows_of(path.read_text(encoding="utf-8"), "Страницы по площадкам")
    assert rows == [
        ["ВКонтакте", "1327", "1233", "0", "94"],
        ["MAX", "40", "31", "9", "0"],
    ]


def test_no_section_without_pages(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html_report(path, Findings(0, 0, []), {})
    assert "Страницы по площадкам" not in path.read_text(encoding="utf-8")
