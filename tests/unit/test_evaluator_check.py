"""`gospublic check`: saved VK responses in, every rule's verdict out, offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gospublic.cli import build_parser
from gospublic.settings import Settings
from services.evaluator import check
from services.evaluator.profiles import load_profile

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GID = 210000123


def group(**kw) -> dict:
    return {
        "id": GID, "name": "МБОУ СОШ № 1 г. Лиски", "screen_name": "school1", "is_closed": 0,
        "description": "Официальная страница школы. Наша цель — образование. "
        "Телефон: +7 (47391) 4-12-34, почта school1@liski-edu.ru",
        "site": "https://school1.ru", "members_count": 1200, "wall": 1, "verified": 0,
        "is_government_organization": 1, "has_photo": 1, "cover": {"enabled": 1},
        "addresses": {"is_enabled": True, "main_address": {"id": 1, "address": "ул. Мира, 1"}},
        **kw,
    }  # fmt: skip


def wall(n: int = 15, days_apart: float = 1.5, start: float = 1) -> dict:
    now = int(NOW.timestamp())
    items = [
        {
            "id": 100 + i, "owner_id": -GID, "from_id": -GID,
            "date": int(now - 86400 * (start + days_apart * i)), "text": f"Новость {i}",
            "comments": {"count": 0, "can_post": 1}, "likes": {"count": 3},
            "reposts": {"count": 0}, "views": {"count": 50},
        }
        for i in range(n)
    ]  # fmt: skip
    return {"response": {"count": n, "items": items}}


def comments(answered: bool) -> dict:
    now = int(NOW.timestamp())
    thread = []
    if answered:
        thread = [{"id": 2, "post_id": 100, "from_id": -GID, "date": now - 3600 * 40,
                   "text": "Ответ", "parents_stack": [1]}]  # fmt: skip
    return {
        "response": {
            "count": 1, "current_level_count": 1,
            "items": [{"id": 1, "post_id": 100, "from_id": 77, "date": now - 3600 * 48,
                       "text": "Вопрос", "thread": {"count": len(thread), "items": thread}}],
        }
    }  # fmt: skip


def write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def run_check(tmp_path, capsys, *extra: str, g=None, w=None, c=None) -> tuple[int, dict]:
    argv = [
        "check",
        "--group",
        str(write(tmp_path, "g.json", {"response": {"groups": [g or group()]}})),
    ]
    if w is not None:
        argv += ["--wall", str(write(tmp_path, "w.json", w))]
    if c is not None:
        argv += ["--comments", str(write(tmp_path, "c.json", c))]
    argv += ["--now", NOW.isoformat(), "--format", "json", *extra]
    args = build_parser().parse_args(argv)
    code = check.run(Settings(_env_file=None), args)
    out = capsys.readouterr().out
    return code, {v["rule"]: v for v in json.loads(out)["verdicts"]}


def test_every_enabled_rule_gets_a_verdict(tmp_path, capsys) -> None:
    code, verdicts = run_check(
        tmp_path, capsys, "--org-name", "Средняя общеобразовательная школа № 1 г. Лиски",
        w=wall(), c=comments(answered=True),
    )  # fmt: skip
    assert set(verdicts) == set(load_profile("dialog-default").enabled_rules)
    for v in verdicts.values():
        assert {"status", "value", "threshold", "severity", "basis", "summary"} <= set(v)
        assert v["basis"]
    assert verdicts["DESCRIPTION_MISSING"]["status"] == "pass"
    assert verdicts["STALE"]["status"] == "pass"
    assert verdicts["NAME_MISMATCH"]["status"] == "pass"
    assert verdicts["UNANSWERED_COMMENT"]["status"] == "pass"
    assert verdicts["LOW_ENGAGEMENT"]["status"] == "not_evaluable"  # a cohort of one
    assert code == 0


def test_missing_inputs_make_rules_not_evaluable_never_pass(tmp_path, capsys) -> None:
    _, verdicts = run_check(tmp_path, capsys)
    for rule in ("STALE", "UNANSWERED_COMMENT", "LOW_REPLY_RATE", "NAME_MISMATCH"):
        assert verdicts[rule]["status"] == "not_evaluable", rule
    assert "--comments" in verdicts["UNANSWERED_COMMENT"]["summary"]


def test_failures_set_the_exit_code(tmp_path, capsys) -> None:
    g = group(description="Школа", wall=0, is_government_organization=0)
    code, verdicts = run_check(
        tmp_path, capsys, "--profile", "foundation", g=g, w=wall(2, 40, start=35)
    )
    assert code == 1
    assert verdicts["DESCRIPTION_MISSING"]["status"] == "fail"
    assert verdicts["WALL_CLOSED"]["status"] == "fail"
    assert verdicts["STALE"]["severity"] == "high"
    assert set(verdicts) == set(load_profile("foundation").enabled_rules)


def test_unanswered_comment_from_raw_comments(tmp_path, capsys) -> None:
    _, verdicts = run_check(tmp_path, capsys, w=wall(), c=comments(answered=False))
    assert verdicts["UNANSWERED_COMMENT"]["status"] == "fail"


def test_deleted_group(tmp_path, capsys) -> None:
    g = {"id": GID, "name": "DELETED", "deactivated": "deleted"}
    code, verdicts = run_check(tmp_path, capsys, g=g)
    assert verdicts["PAGE_NOT_PUBLIC"]["status"] == "fail"
    assert verdicts["PAGE_NOT_PUBLIC"]["severity"] == "critical"
    assert verdicts["DESCRIPTION_MISSING"]["status"] == "not_evaluable"
    assert code == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"error": {"error_code": 5, "error_msg": "User authorization failed"}}', "error"),
        ('{"response": {"groups": "x"}}', "does not look like VK"),
    ],
)
def test_bad_input(tmp_path, capsys, content: str, message: str) -> None:
    (tmp_path / "g.json").write_text(content)
    args = build_parser().parse_args(["check", "--group", str(tmp_path / "g.json")])
    assert check.run(Settings(_env_file=None), args) == 2
    assert message in capsys.readouterr().err


def test_table_format(tmp_path, capsys) -> None:
    args = build_parser().parse_args(
        ["check", "--group", str(write(tmp_path, "g.json", [group(description="")])),
         "--wall", str(write(tmp_path, "w.json", wall())), "--now", NOW.isoformat()]
    )  # fmt: skip
    assert check.run(Settings(_env_file=None), args) == 1
    out = capsys.readouterr().out
    assert "DESCRIPTION_MISSING" in out and "FAIL" in out and "basis" in out
