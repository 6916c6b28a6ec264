"""The scorecard after a sweep: computed by the batch step, stored in chDB with its weights version
(insert deduplicated by token), read back by a restarted evaluator, exported as XLSX and CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from gospublic.apps import scorecard_export as export
from gospublic.contracts import (
    Organisation,
    OrganisationsRegistered,
    PageRef,
    PageSnapshot,
    Platform,
    Post,
    PostsObserved,
    Widget,
)
from gospublic.settings import Settings
from services.evaluator.handlers import TABLE_COLUMNS, process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState
from services.evaluator.store import ClickHouseStore

PROFILE = load_profile("dialog-default")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday: week 2026-W49
DESCRIPTION = "Официальная страница школы. Новости, расписание, приём граждан. Телефон: +7 473 255"
GREEN_ORG, YELLOW_ORG, BARE_ORG = "1023601000001", "1023601000002", "1023601000003"


def _org(org_id: str, gospubliki: bool | None, *pages: str) -> Organisation:
    return Organisation(
        org_id=org_id,
        name=f"Школа {org_id[-1]}",
        level="municipal",
        founder="Отдел образования",
        municipality="Лискинский район",
        sphere="education",
        gospubliki=gospubliki,
        pages=tuple(PageRef(platform=Platform.VK, native_id=p, org_id=org_id) for p in pages),
    )


def _widget(kind: str) -> Widget:
    return Widget(kind=kind, url=f"https://pos.gosuslugi.ru/{kind}")


def _snapshot(org_id: str, club: str, *, widgets, cover: bool, gov: bool) -> PageSnapshot:
    return PageSnapshot.create(
        observed_at=NOW,
        platform=Platform.VK,
        page_ref=PageRef(platform=Platform.VK, native_id=f"club{club}", org_id=org_id),
        sweep_id="s1",
        page_id=club,
        name="Школа",
        description=DESCRIPTION,
        members=1000,
        is_government_organization=gov,
        has_photo=True,
        has_cover=cover,
        widgets=widgets,
        wall=1,
    )


def _posts(org_id: str, club: str, days_ago: list[float], views: int | None) -> PostsObserved:
    posts = tuple(
        Post(
            post_id=str(i),
            posted_at=NOW - timedelta(days=d),
            from_id=f"-{club}",
            is_own=True,
            is_repost=False,
            views=views,
        )
        for i, d in enumerate(days_ago)
    )
    return PostsObserved.create(
        observed_at=NOW,
        platform=Platform.VK,
        page_ref=PageRef(platform=Platform.VK, native_id=f"club{club}", org_id=org_id),
        sweep_id="s1",
        page_id=club,
        total_count=len(posts),
        posts=posts,
    )


def _events():
    return [
        OrganisationsRegistered.create(
            observed_at=NOW - timedelta(hours=1),
            registry_version="v1",
            region="36",
            chunk=0,
            chunks=1,
            organisations=(
                _org(GREEN_ORG, True, "club1"),
                _org(YELLOW_ORG, False, "club2"),
                _org(BARE_ORG, None),
            ),
        ),
        _snapshot(
            GREEN_ORG, "1", widgets=(_widget("problem"), _widget("opinion")), cover=True, gov=True
        ),
        _posts(GREEN_ORG, "1", [1, 2, 3, 20], views=300),
        # One widget, no cover, 1 own post a week, views hidden.
        _snapshot(YELLOW_ORG, "2", widgets=(_widget("problem"),), cover=False, gov=True),
        _posts(YELLOW_ORG, "2", [2, 9], views=None),
    ]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path / "state", log_format="text")


async def test_cards_are_stored_once_restored_and_exported(settings: Settings, tmp_path: Path):
    state = EvaluatorState()
    out = process_batch(state, _events(), PROFILE, NOW)
    rows = out.rows["scorecards"]
    # Three organisation cards and two page cards.
    assert len(rows) == 5
    by_key = {(row[5], row[11]): dict(zip(TABLE_COLUMNS["scorecards"], row, strict=True))
              for row in rows}  # fmt: skip
    green = by_key[(GREEN_ORG, "any")]
    assert (green["total"], green["colour"], green["version"]) == (95.0, "green", 1)
    assert green["week"] == "2026-W49" and green["not_evaluable"] == []
    yellow = by_key[(YELLOW_ORG, "any")]
    # 10 (Госметка) + 5 + 5 (avatar, description) + 5 (one widget) + 10 (1 of 3 posts of 30)
    assert yellow["points"]["activity"] == 10.0
    assert yellow["total"] == 35.0 and yellow["colour"] == "red"
    assert yellow["not_evaluable"] == ["reach_week", "reach_post"]
    bare = by_key[(BARE_ORG, "any")]
    assert bare["total"] == 0.0 and bare["not_evaluable"] == ["connection"]

    store = await ClickHouseStore.open(settings)
    try:
        await store.migrate()
        for _ in range(2):  # a retried insert of the same batch is dropped
            await store.insert_tables(
                [(t, out.rows[t], TABLE_COLUMNS[t], f"evaluator-test-{t}") for t in TABLE_COLUMNS],
                {},
            )
        stored = await store.query("SELECT count(), uniqExact(version) FROM {db}.scorecards")
        assert stored == [(5, 1)]
        # A second sweep with nothing changed writes nothing.
        again = process_batch(state, _events()[1:], PROFILE, NOW + timedelta(minutes=5))
        assert len(again.rows["scorecards"]) == 0
        restarted = await store.load_state()
    finally:
        await store.close()
    assert restarted.card_facts == state.card_facts
    assert restarted.connected == {GREEN_ORG: True, YELLOW_ORG: False}

    xlsx = tmp_path / "scorecard.xlsx"
    assert export.export(settings, "36", "2026-W49", xlsx) == 3
    assert export.export(settings, "36", "2026-W48", tmp_path / "before.csv") == 0
    sheet = load_workbook(xlsx).active
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["ОГРН", "Организация", "Муниципалитет", "Учредитель", "Сфера"]
    assert "Активность (макс. 30)" in header and "Подключение к «Госпабликам» (макс. 10)" in header
    assert header[-3:] == ["Итого (из 95)", "Цвет", "Не оценено"]
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}4"
    lines = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    total, colour = header.index("Итого (из 95)"), header.index("Цвет")
    for ogrn, (points, word, fill) in {
        GREEN_ORG: (95, "зелёный", "FFC6EFCE"),
        YELLOW_ORG: (35, "красный", "FFFFC7CE"),
        BARE_ORG: (0, "красный", "FFFFC7CE"),
    }.items():
        line = lines[ogrn]
        assert line[total].value == points and line[colour].value == word
        assert line[total].fill.fgColor.rgb == fill == line[colour].fill.fgColor.rgb
    about = dict(load_workbook(xlsx)["Сведения"].iter_rows(values_only=True))
    assert about["Регион"] == "36" and about["Неделя"] == "2026-W49"
    assert about["Версия весов"] == "1" and about["Организаций"] == "3"
    widgets = header.index("Виджеты Госуслуг (макс. 10)")
    assert lines[YELLOW_ORG][widgets].value == 5
    # Each criterion column is coloured by its rules: full green, 0 red, between yellow.
    column = lines[YELLOW_ORG][widgets].column_letter
    rules = {
        str(cells.sqref): [(r.operator, r.formula, r.dxf.fill.fgColor.rgb) for r in found]
        for cells, found in sheet.conditional_formatting._cf_rules.items()
    }
    assert rules[f"{column}2:{column}4"] == [
        ("greaterThanOrEqual", ["10"], "FFC6EFCE"),
        ("lessThanOrEqual", ["0"], "FFFFC7CE"),
        ("greaterThan", ["0"], "FFFFEB9C"),
    ]
    assert len(rules) == 9  # one per criterion
    assert lines[YELLOW_ORG][header.index("Не оценено")].value == (
        "Охват за неделю, Средний охват публикации"
    )

    out_csv = tmp_path / "scorecard.csv"
    assert export.export(settings, "36", None, out_csv) == 3
    with out_csv.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f, delimiter=";"))
    assert table[0] == header and len(table) == 4


def test_a_bad_week_is_refused() -> None:
    with pytest.raises(ValueError, match="YYYY-Www"):
        export.week_end("2026-49")
    assert export.week_end("2026-W49") == datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def test_a_page_closed_or_gone_has_no_card() -> None:
    state = EvaluatorState()
    process_batch(state, _events(), PROFILE, NOW)
    closed = _snapshot(GREEN_ORG, "1", widgets=(), cover=True, gov=True).model_copy(
        update={"is_closed": 1, "observed_at": NOW + timedelta(hours=1)}
    )
    out = process_batch(state, [closed], PROFILE, NOW + timedelta(hours=1))
    cards = {(row[5], row[11]): row for row in out.rows["scorecards"]}
    # Only the organisation's card is written: the register's connection, nothing else.
    assert list(cards) == [(GREEN_ORG, "any")]
    assert cards[(GREEN_ORG, "any")][13] == 10.0
    assert "vk:club1" not in state.card_facts


def test_scores_updated_carries_the_card_and_a_card_change_alone_publishes() -> None:
    state = EvaluatorState()
    out = process_batch(state, _events(), PROFILE, NOW)
    published = {e.labels.org_id: e.scorecard for e in out.scores}
    # The organisation without a page has its compliance score, and its card: connection only.
    assert set(published) == {GREEN_ORG, YELLOW_ORG, BARE_ORG}
    assert published[BARE_ORG].total == 0.0
    card = published[GREEN_ORG]
    assert (card.total, card.out_of, card.colour, card.version) == (95.0, 95.0, "green", 1)
    # The register says the green organisation is no longer connected: only its card changes.
    later = NOW + timedelta(hours=1)
    again = OrganisationsRegistered.create(
        observed_at=later, registry_version="v2", region="36", chunk=0, chunks=1,
        organisations=(_org(GREEN_ORG, False, "club1"),),
    )  # fmt: skip
    out = process_batch(state, [again], PROFILE, later)
    assert [(e.labels.org_id, e.scorecard.total) for e in out.scores] == [(GREEN_ORG, 85.0)]
