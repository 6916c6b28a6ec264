"""One rule catalogue on the dashboards too: the dashboards' SQL names rules and scorecard
criteria through ``transform(x, [ids], [titles], x)`` whose pairs are exactly the rulebook's
(``gospublic.rulebook``) and the scorecard's (``CRITERION_TITLES``), and every panel that shows a
rule shows it so. A rule added to the rulebook fails this test until
``python -m gospublic.dashboard_titles`` has rewritten the dashboards."""

from __future__ import annotations

import json

from gospublic.apps.scorecard_export import COLOUR_TITLES
from gospublic.dashboard_titles import DASHBOARDS, mappings, refresh, rule_titles
from gospublic.rulebook import CRITERION_TITLES

RULES = rule_titles()


def _panels() -> list[tuple[str, dict]]:
    return [
        (path.name, panel)
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]
    ]


def _sql(panel: dict) -> str:
    return "\n".join(t.get("rawSql", "") for t in panel.get("targets", []))


def _mappings(panel: dict) -> list[dict[str, str]]:
    return mappings(_sql(panel))


def test_the_dashboards_are_up_to_date_with_the_catalogue() -> None:
    stale = [f"{name} «{panel['title']}»" for name, panel in _panels()
             if refresh(_sql(panel)) != _sql(panel)]  # fmt: skip
    assert not stale, f"run: python -m gospublic.dashboard_titles ({stale})"


def test_the_rulebook_titles_are_distinct() -> None:
    # The dashboards group by the title: two rules with one title would be counted as one.
    assert len(set(RULES.values())) == len(RULES)


def test_every_title_mapping_in_the_dashboards_is_the_catalogues() -> None:
    found = 0
    for name, panel in _panels():
        for values in _mappings(panel):
            assert values in (RULES, CRITERION_TITLES), (
                f"{name} «{panel['title']}»: a transform() whose titles differ from the rulebook "
                f"or the scorecard criteria: {sorted(set(values.items()) ^ set(RULES.items()))[:6]}"
                " — run: python -m gospublic.dashboard_titles"
            )
            found += 1
    assert found >= 6


def test_every_panel_that_shows_rules_shows_their_titles() -> None:
    showing = 0
    for name, panel in _panels():
        shown = {
            o["matcher"]["options"]
            for o in panel.get("fieldConfig", {}).get("overrides", [])
            for p in o["properties"]
            if p["id"] == "displayName" and p["value"] in ("Правило", "Правила")
        }
        if not shown:
            continue
        showing += 1
        assert RULES in _mappings(panel), f"{name} «{panel['title']}»"
    assert showing >= 5


def test_the_scorecard_panels_use_the_criteria_and_colour_titles() -> None:
    panels = {panel["title"]: panel for _, panel in _panels()}
    table = panels["Светофор"]["fieldConfig"]["overrides"]
    names = {o["matcher"]["options"]: o["properties"][0]["value"] for o in table}
    assert {c: names[c] for c in CRITERION_TITLES} == CRITERION_TITLES
    colour = next(o for o in table if o["matcher"]["options"] == "colour")
    (mapping,) = [p["value"][0]["options"] for p in colour["properties"] if p["id"] == "mappings"]
    assert {c: m["text"] for c, m in mapping.items()} == COLOUR_TITLES
    assert {"type": "color-background"} in [p["value"] for p in colour["properties"]]
    card = panels["Светофор организации"]
    assert CRITERION_TITLES in _mappings(card)
