"""The rule and criterion titles inside the dashboards' SQL, kept equal to the one catalogue.

Grafana's dashboards are static JSON whose SQL reads rule ids from ClickHouse; they show the
rulebook's Russian titles through ``transform(rule, [ids], [titles], rule)`` (and the scorecard's
criteria the same way). ``python -m gospublic.dashboard_titles`` rewrites those lists from
:mod:`gospublic.rulebook` and ``rulebook.CRITERION_TITLES``; a test fails while a dashboard
lags behind them (a rule added, a title changed).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from gospublic.rulebook import CRITERION_TITLES, RULEBOOK

DASHBOARDS = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"
_STRING = r"'(?:[^'\\]|\\.)*'"
TRANSFORM = re.compile(
    rf"transform\(([\w.]+), \[((?:{_STRING}(?:, )?)*)\],\s*\[((?:{_STRING}(?:, )?)*)\], \1\)"
)


def rule_titles() -> dict[str, str]:
    return {rule: entry.title for rule, entry in RULEBOOK.items()}


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def strings(listed: str) -> list[str]:
    """The values of a ClickHouse array literal of strings."""
    return [re.sub(r"\\(.)", r"\1", s[1:-1]) for s in re.findall(_STRING, listed)]


def transform(expr: str, titles: dict[str, str]) -> str:
    """``transform(expr, [ids], [titles], expr)``: the title of an id, the id when it has none."""
    ids = ", ".join(_quoted(key) for key in titles)
    names = ", ".join(_quoted(title) for title in titles.values())
    return f"transform({expr}, [{ids}],\n    [{names}], {expr})"


def mappings(sql: str) -> list[dict[str, str]]:
    """Each transform() of ``sql`` as id → title."""
    return [dict(zip(strings(m[2]), strings(m[3]), strict=True)) for m in TRANSFORM.finditer(sql)]


def refresh(sql: str) -> str:
    """``sql`` with every rule or criterion transform() rewritten from the catalogues."""
    rules, criteria = rule_titles(), CRITERION_TITLES

    def current(match: re.Match[str]) -> str:
        ids = set(strings(match[2]))
        catalogue = criteria if ids and ids <= set(criteria) else rules
        return transform(match[1], catalogue)

    return TRANSFORM.sub(current, sql)


def refresh_dashboards(directory: Path = DASHBOARDS) -> list[Path]:
    """Rewrite the dashboards whose titles lag behind; the paths changed."""
    changed = []
    for path in sorted(directory.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        board = json.loads(text)
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    target["rawSql"] = refresh(target["rawSql"])
        new = json.dumps(board, indent=2, ensure_ascii=False) + "\n"
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for changed_path in refresh_dashboards():
        print(f"updated {changed_path.name}", file=sys.stderr)
