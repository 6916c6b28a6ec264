"""The report's scorecard: the traffic light per municipality, the worst organisations with what
they lack, the change since the previous sweep, Russian rule titles; nothing a browser fetches."""

from __future__ import annotations

import re
from pathlib import Path

from report_sample import WEIGHTS, sample_findings

from gospublic import rulebook
from gospublic.apps.report import (
    BAR_W,
    Card,
    Findings,
    Scorecards,
    Violation,
    municipality_bars,
    trend,
    worst_organisations,
    write_html_report,
)

FULL = dict(WEIGHTS)


def card(org_id: str, municipality: str, lost: dict[str, float], name: str = "") -> Card:
    points = {c: w - lost.get(c, 0.0) for c, w in FULL.items()}
    total = sum(points.values())
    colour = "green" if total >= 76 else "yellow" if total >= 47.5 else "red"
    return Card(org_id, name or f"Школа {org_id}", municipality, total, colour, points, FULL)


def test_each_municipality_bar_splits_its_organisations_by_colour() -> None:
    cards = [
        card("1", "Лиски", {}),
        card("2", "Лиски", {"activity": 30}),
        card("3", "Лиски", {"activity": 30, "cover": 10, "connection": 10}),
        card("4", "Бобров", {}),
    ]
    bars = municipality_bars(cards)
    # The municipality with the larger share of red comes first.
    assert [row["name"] for row in bars["rows"]] == ["Лиски", "Бобров"]
    liski = bars["rows"][0]
    assert [s["count"] for s in liski["segments"]] == [1, 1, 1] and liski["total"] == 3
    assert sum(s["width"] for s in liski["segments"]) == BAR_W
    assert liski["segments"][1]["x"] == liski["segments"][0]["x"] + liski["segments"][0]["width"]
    assert [s["title"] for s in bars["rows"][1]["segments"]] == ["зелёный: 1"]


def test_the_worst_organisations_come_first_with_the_criteria_they_lost() -> None:
    cards = [card("1", "Лиски", {}), card("2", "Лиски", {"activity": 30, "widgets": 5})]
    worst = worst_organisations(cards)
    assert [w["org_name"] for w in worst] == ["Школа 2", "Школа 1"]
    assert worst[0]["total"] == "60" and worst[0]["out_of"] == "95"
    assert worst[0]["missing"] == ["Виджеты Госуслуг (−5)", "Активность (−30)"]
    assert worst[0]["colour"] == "жёлтый" and worst[1]["missing"] == []


def test_the_trend_compares_the_colours_and_totals_with_the_previous_sweep() -> None:
    before = [card("1", "Лиски", {"activity": 30}), card("2", "Лиски", {})]
    now = [card("1", "Лиски", {}), card("2", "Лиски", {}), card("3", "Бобров", {"cover": 10})]
    shown = trend(Scorecards(now, before))
    counts = {g["title"]: [b["count"] for b in g["bars"]] for g in shown["groups"]}
    assert counts == {"зелёный": [1, 3], "жёлтый": [1, 0], "красный": [0, 0]}
    assert shown["mean_before"] == "80" and shown["mean_now"] == "91,7"
    assert [(m["org_name"], m["before"], m["now"], m["delta"]) for m in shown["moved"]] == [
        ("Школа 1", "65", "95", "+30")
    ]
    alone = trend(Scorecards(now, []))
    assert alone["has_before"] is False
    assert [[b["when"] for b in g["bars"]] for g in alone["groups"]] == [["сейчас"]] * 3


def test_the_report_draws_the_scorecard_inline_with_russian_titles(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    findings = sample_findings()
    write_html_report(path, findings, {"LOW_FREQUENCY": {"truth": 1, "found": 1, "missing": 0, "extra": 0}})  # fmt: skip
    report = path.read_text(encoding="utf-8")
    assert report.count("<svg") >= 2 + 15  # bars, trend, a bar per worst organisation
    assert "Организации с наименьшим баллом" in report and "Изменение с прошлого обхода" in report
    # Opens offline: no script, stylesheet, font or picture is fetched.
    assert not re.search(r"<script|<link|<img|@import|url\(", report)
    # Rule titles, never the ids, in the tables a person reads.
    for rule in {v.rule for v in findings.violations} | {"LOW_FREQUENCY"}:
        assert rulebook.title(rule) in report
        assert f"<td>{rule}</td>" not in report


def test_a_hostile_name_in_the_scorecard_stays_text(tmp_path: Path) -> None:
    hostile = '<script>alert(1)</script>"\u202e'
    cards = [card("1", hostile, {"activity": 30, "cover": 10, "connection": 10}, name=hostile)]
    path = tmp_path / "report.html"
    write_html_report(path, Findings(1, 1, [], Scorecards(cards, cards)), {})
    report = path.read_text(encoding="utf-8")
    assert "<script>" not in report and "\u202e" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in report


def test_without_a_scorecard_the_report_says_nothing_of_it(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    violation = Violation("1", "Школа", "Лиски", "", "vk", "1", "", "STALE", "low", "")
    write_html_report(path, Findings(1, 1, [violation]), {})
    report = path.read_text(encoding="utf-8")
    assert "Светофор" not in report and "<svg" not in report
    assert rulebook.title("STALE") in report and rulebook.severity_title("low") in report
