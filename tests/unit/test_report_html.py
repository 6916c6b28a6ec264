"""The HTML report's template: register and platform text is escaped and cleaned everywhere."""

from __future__ import annotations

from pathlib import Path

from gospublic.apps.report import Findings, Violation, write_html_report

HOSTILE = "<script>alert(1)</script>\u202eexe.cod\u202c \u2067עברית\u2069\u200f"
SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt;exe.cod עברית"


def test_the_report_template_escapes_and_cleans_a_hostile_name(tmp_path: Path) -> None:
    hostile = Violation(
        "1", HOSTILE, HOSTILE, HOSTILE, "vk", HOSTILE, "https://vk.com/club1", HOSTILE, "high",
        HOSTILE,
    )  # fmt: skip
    path = tmp_path / "report.html"
    agreement = {HOSTILE: {"truth": 1, "found": 0, "missing": 1, "extra": 0}}
    write_html_report(path, Findings(1, 1, [hostile]), agreement)
    report = path.read_text(encoding="utf-8")
    assert "<script>" not in report
    # Organisation, municipality, page, rule, summary; the counts by rule, municipality and
    # organisation; the agreement table.
    assert report.count(SHOWN) == 10
    assert f'<a href="https://vk.com/club1">{SHOWN}</a>' in report
    assert "<b>MISMATCH</b>" in report
    for char in "\u202e\u202c\u2067\u2069\u200f":
        assert char not in report, repr(char)


def test_only_web_addresses_become_links(tmp_path: Path) -> None:
    pages = [("p1", "javascript:alert(1)"), ("p2", "https://ok.ru/group/2"), ("p3", "")]
    findings = Findings(
        1, 3, [Violation("1", "Школа", "Лиски", "", "vk", p, url, "STALE", "low", "") for p, url in pages]
    )  # fmt: skip
    path = tmp_path / "report.html"
    write_html_report(path, findings, {})
    report = path.read_text(encoding="utf-8")
    assert "javascript:" not in report and "<td>p1</td>" in report
    assert '<a href="https://ok.ru/group/2">p2</a>' in report and "<td>—</td>" in report
