"""``gospublic scorecard``'s arguments and the table's headers, without a store."""

from __future__ import annotations

import pytest

from gospublic.apps import scorecard_export as export
from gospublic.apps.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "table.txt"], "expected a .xlsx or .csv file"),
        (["--week", "2026-49", "--out", "table.xlsx"], "expected YYYY-Www"),
        (["--week", "2026-W54", "--out", "table.xlsx"], "--week '2026-W54'"),
    ],
)
def test_bad_arguments_are_refused_before_the_store_is_opened(argv, message, capsys, tmp_path):
    code = main(["scorecard", "--region", "36", *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_headers_show_one_weight_per_criterion_and_the_maximum():
    criteria = {"connection": {10.0}, "activity": {30.0}, "reach_post": {5.0, 10.0}}
    assert export.headers(criteria) == [
        "ОГРН", "Организация", "Муниципалитет", "Учредитель", "Сфера",
        "Подключение к «Госпабликам» (макс. 10)", "Активность (макс. 30)",
        # Two versions weigh it differently: no single maximum to show, nor a total's.
        "Средний охват публикации", "Итого", "Цвет", "Не оценено",
    ]  # fmt: skip
    assert export.headers({"avatar": {5.0}, "cover": {10.0}})[-3] == "Итого (из 15)"
