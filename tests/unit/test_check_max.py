"""``gospublic check --platform max``: a MAX channel from saved bot API answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gospublic.apps import check
from gospublic.apps.cli import build_parser
from gospublic.platforms.descriptor import platform_ids
from gospublic.settings import Settings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHAT = {
    "chat_id": -72000000000004,
    "type": "channel",
    "status": "active",
    "title": "Министерство образования",
    "icon": {"url": "https://i.max.ru/a.webp"},
    "last_event_time": 1772400000000,
    "participants_count": 1532,
    "is_public": True,
    "link": "https://max.ru/minobr_gos",
    "description": "Новости ведомства. Сайт: https://minobr.example.ru/",
    "messages_count": 240,
}
MESSAGES = {
    "messages": [
        {
            "sender": None,
            "recipient": {"chat_id": -72000000000004, "chat_type": "channel"},
            "timestamp": int(NOW.timestamp() * 1000) - 3_600_000,
            "body": {"mid": "mid.abc", "seq": 7, "text": "Приём документов"},
            "stat": {"views": 321},
        }
    ]
}


def run(tmp_path, capsys, chat, messages=None) -> tuple[int, dict]:
    group = tmp_path / "chat.json"
    group.write_text(json.dumps(chat, ensure_ascii=False), encoding="utf-8")
    argv = ["check", "--platform", "max", "--group", str(group)]
    if messages is not None:
        wall = tmp_path / "messages.json"
        wall.write_text(json.dumps(messages, ensure_ascii=False), encoding="utf-8")
        argv += ["--wall", str(wall)]
    argv += ["--now", NOW.isoformat(), "--format", "json", "--profile", "bashkortostan-2025"]
    code = check.run(Settings(_env_file=None), build_parser().parse_args(argv))
    out = capsys.readouterr().out
    return code, {v["rule"]: v for v in json.loads(out)["verdicts"]}


def test_the_platform_choices_are_the_descriptors(tmp_path) -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["check"].format_help()
    assert "{" + ",".join(platform_ids()) + "}" in help_text.replace("\n", "").replace(" ", "")


def test_a_connected_channel_is_checked_on_what_max_shows(tmp_path, capsys) -> None:
    _, verdicts = run(tmp_path, capsys, CHAT, MESSAGES)
    assert verdicts["PAGE_NOT_CONNECTED"]["status"] == "pass"
    assert verdicts["STALE"]["status"] == "pass"
    assert verdicts["AVATAR_MISSING"]["status"] == "pass"
    assert verdicts["COVER_MISSING"]["status"] == "not_evaluable"
    assert "MAX" in verdicts["COVER_MISSING"]["summary"]


def test_a_channel_that_removed_the_bot_is_not_connected(tmp_path, capsys) -> None:
    _, verdicts = run(tmp_path, capsys, {**CHAT, "status": "removed"})
    assert verdicts["PAGE_NOT_CONNECTED"]["status"] == "fail"
    assert verdicts["PAGE_NOT_PUBLIC"]["status"] == "not_evaluable"
