"""The report reads the scorecards from ClickHouse (chDB): each organisation's latest card now and
its latest card before the latest sweep began, whichever sweep wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gospublic.apps.report import load_scorecards
from gospublic.settings import Settings
from services.evaluator.store import ClickHouseStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # the previous sweep
T1 = T0 + timedelta(days=7)  # the latest sweep
WEIGHTS = {"activity": 30.0, "cover": 10.0}
COLUMNS = ["scored_at", "week", "profile", "version", "region", "org_id", "org_name", "level",
           "founder", "municipality", "sphere", "platform", "page_id", "total", "colour", "points",
           "maximum", "not_evaluable", "facts"]  # fmt: skip


def card(at: datetime, org_id: str, points: dict[str, float], platform: str = "any") -> list:
    total = sum(points.values())
    colour = "green" if total >= 32 else "yellow" if total >= 20 else "red"
    return [at, "2026-W48", "dialog-default", 1, "36", org_id, f"Школа {org_id}", "municipal",
            "Отдел образования", "Лиски", "education", platform, "", total, colour, points,
            WEIGHTS, [], {}]  # fmt: skip


async def test_the_cards_now_and_before_the_latest_sweep(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path / "state", log_format="text")
    store = await ClickHouseStore.open(settings)
    try:
        await store.migrate()
        rows = [
            card(T0, "1", {"activity": 0.0, "cover": 10.0}),
            card(T1 + timedelta(minutes=5), "1", {"activity": 30.0, "cover": 10.0}),  # improved
            card(T0 - timedelta(days=30), "2", {"activity": 30.0, "cover": 0.0}),  # unchanged
            card(T1 + timedelta(minutes=6), "3", {"activity": 0.0, "cover": 0.0}),  # new
            card(T1 + timedelta(minutes=7), "1", {"activity": 0.0, "cover": 0.0}, "vk"),  # a page
        ]
        store.client.insert(f"{settings.clickhouse_database}.scorecards", rows, COLUMNS)
        checks = [[at, sweep, "dialog-default", "1", "vk", "1", "STALE", "pass", "low", "", ""]
                  for at, sweep in ((T0, "s0"), (T1, "s1"), (T1 + timedelta(minutes=9), "s1"))]  # fmt: skip
        store.client.insert(
            f"{settings.clickhouse_database}.check_results", checks,
            ["checked_at", "sweep_id", "profile", "org_id", "platform", "page_id", "rule",
             "status", "severity", "value", "threshold"],
        )  # fmt: skip
        scorecards = load_scorecards(store.client, settings.clickhouse_database)
    finally:
        await store.close()
    assert scorecards is not None
    now = {c.org_id: (c.total, c.colour, c.points) for c in scorecards.now}
    assert now == {
        "1": (40.0, "green", {"activity": 30.0, "cover": 10.0}),
        "2": (30.0, "yellow", {"activity": 30.0, "cover": 0.0}),
        "3": (0.0, "red", {"activity": 0.0, "cover": 0.0}),
    }
    before = {c.org_id: c.total for c in scorecards.before}
    assert before == {"1": 10.0, "2": 30.0}
    assert scorecards.now[0].maximum == WEIGHTS and scorecards.now[0].org_name == "Школа 1"


async def test_a_single_sweep_has_no_previous_one(tmp_path: Path) -> None:
    """Cards written before the first sweep come from the register alone: not a sweep to compare."""
    settings = Settings(_env_file=None, state_dir=tmp_path / "state", log_format="text")
    store = await ClickHouseStore.open(settings)
    try:
        await store.migrate()
        rows = [card(T1 - timedelta(minutes=1), "1", {"activity": 0.0, "cover": 0.0}),
                card(T1 + timedelta(minutes=5), "1", {"activity": 30.0, "cover": 10.0})]  # fmt: skip
        store.client.insert(f"{settings.clickhouse_database}.scorecards", rows, COLUMNS)
        store.client.insert(
            f"{settings.clickhouse_database}.check_results",
            [[T1 - timedelta(minutes=2), "", "dialog-default", "1", "any", "", "PAGE_MISSING_ANY",
              "pass", "high", "", ""],  # the register's checks: no sweep
             [T1, "s1", "dialog-default", "1", "vk", "1", "STALE", "pass", "low", "", ""]],
            ["checked_at", "sweep_id", "profile", "org_id", "platform", "page_id", "rule",
             "status", "severity", "value", "threshold"],
        )  # fmt: skip
        scorecards = load_scorecards(store.client, settings.clickhouse_database)
    finally:
        await store.close()
    assert scorecards is not None and scorecards.before == []
    assert [(c.org_id, c.total) for c in scorecards.now] == [("1", 40.0)]


async def test_no_scorecard_yet(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path / "state", log_format="text")
    store = await ClickHouseStore.open(settings)
    try:
        await store.migrate()
        assert load_scorecards(store.client, settings.clickhouse_database) is None
    finally:
        await store.close()
