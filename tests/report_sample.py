"""A demo-sized report's data (a region of 60 organisations in 6 municipalities, two sweeps),
made reproducibly from a seed, for the report's tests and its look in a browser."""

from __future__ import annotations

import random

from gospublic.apps.report import Card, Findings, Scorecards, Violation

MUNICIPALITIES = ("Лискинский район", "Бобровский район", "г. Воронеж", "Россошанский район",
                  "Семилукский район", "Павловский район")  # fmt: skip
WEIGHTS = {"connection": 10.0, "gov_mark": 10.0, "avatar": 5.0, "description": 5.0, "cover": 10.0,
           "widgets": 10.0, "activity": 30.0, "reach_week": 10.0, "reach_post": 5.0}  # fmt: skip
RULES = ("LOW_FREQUENCY", "STALE", "DESCRIPTION_MISSING", "WIDGETS_MISSING", "UNANSWERED_COMMENT")


def colour_of(total: float, out_of: float) -> str:
    share = total / out_of
    return "green" if share >= 0.8 else "yellow" if share >= 0.5 else "red"


def card(rng: random.Random, index: int, municipality: str) -> Card:
    points = {c: w if rng.random() < 0.65 else 0.0 for c, w in WEIGHTS.items()}
    total = sum(points.values())
    name = f"МБОУ «Школа № {index + 1}»"
    return Card(str(1000000000000 + index), name, municipality, total,
                colour_of(total, sum(WEIGHTS.values())), points, dict(WEIGHTS))  # fmt: skip


def sample_findings(seed: int = 19) -> Findings:
    rng = random.Random(seed)
    before = [card(rng, i, MUNICIPALITIES[i % len(MUNICIPALITIES)]) for i in range(60)]
    now = []
    for old in before:
        if rng.random() < 0.3:  # a third of them changed something since the last sweep
            now.append(card(rng, int(old.org_id) - 1000000000000, old.municipality))
        else:
            now.append(old)
    violations = [
        Violation(
            c.org_id,
            c.org_name,
            c.municipality,
            "Отдел образования",
            "vk",
            str(100 + n),
            f"https://vk.com/club{100 + n}",
            rng.choice(RULES),
            rng.choice(("high", "medium", "low")),
            "нет записей 30 дней",
        )
        for n, c in enumerate(now)
        if c.colour != "green"
    ]
    return Findings(60, 60, violations, Scorecards(now, before))
