"""`gospublic check`: saved VK responses in, every rule's verdict out, offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gospublic.apps import check
from gospublic.apps.cli import build_parser
from gospublic.settings import Settings
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
        ("{not json", "не JSON"),
        ('{"error": {"error_code": 5, "error_msg": "User authorization failed"}}', "ошибка 5"),
        ('{"response": {"groups": "x"}}', "не похож на ответ API ВКонтакте"),
    ],
)
def test_bad_input(tmp_path, capsys, content: str, message: str) -> None:
    (tmp_path / "g.json").write_text(content)
    args = build_parser().parse_args(["check", "--group", str(tmp_path / "g.json")])
    assert check.run(Settings(_env_file=None), args) == 2
    assert message in capsys.readouterr().err


def run_files(tmp_path, capsys, *argv: str, **files) -> tuple[int, str, str]:
    """Run ``check`` with the given files (JSON-able data, or text written as it is)."""
    args = ["check"]
    for option, data in files.items():
        name = f"{option}.{'html' if isinstance(data, str) else 'json'}"
        path = tmp_path / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        args += [f"--{option}", str(path)]
    code = check.run(Settings(_env_file=None), build_parser().parse_args([*args, *argv]))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verdicts_of(out: str) -> dict[str, dict]:
    return {v["rule"]: v for v in json.loads(out)["verdicts"]}


AS_JSON = ("--now", NOW.isoformat(), "--format", "json")
WALL_ERROR = {"error": {"error_code": 15, "error_msg": "Access denied: group is blocked"}}


# --- what a user really has: gone pages, other pages' files, other platforms' files ---------


@pytest.mark.parametrize("gone", ["banned", "deleted"])
@pytest.mark.parametrize("code", [15, 18, 30])
def test_a_gone_group_with_the_walls_error_answer_is_not_public(
    tmp_path, capsys, gone: str, code: int
) -> None:
    g = {"id": GID, "name": "DELETED", "deactivated": gone}
    error = {"error": {"error_code": code, "error_msg": "Access denied"}}
    status, out, err = run_files(
        tmp_path, capsys, *AS_JSON, group={"response": {"groups": [g]}}, wall=error,
        comments=error,
    )  # fmt: skip
    assert status == 1, err
    verdicts = verdicts_of(out)
    assert verdicts["PAGE_NOT_PUBLIC"]["status"] == "fail"
    assert verdicts["PAGE_NOT_PUBLIC"]["severity"] == "critical"
    assert verdicts["STALE"]["status"] == "not_evaluable"


def test_the_table_says_a_gone_page_is_gone_in_russian(tmp_path, capsys) -> None:
    g = {"id": GID, "name": "DELETED", "deactivated": "banned"}
    status, out, _ = run_files(
        tmp_path, capsys, "--now", "2026-03-02T12:00", group=[g], wall=WALL_ERROR
    )
    assert status == 1
    assert out.startswith(f"Страница: ВКонтакте, club{GID} — недоступна: заблокирована")
    assert "НАРУШЕНИЕ · критично · Страница удалена, заблокирована или закрыта" in out


def test_a_live_groups_wall_error_leaves_the_wall_rules_not_evaluable(tmp_path, capsys) -> None:
    g = group(is_closed=1)
    status, out, _err = run_files(
        tmp_path, capsys, *AS_JSON, group=[g], wall=WALL_ERROR
    )  # fmt: skip
    verdicts = verdicts_of(out)
    assert status == 1  # the closed page itself
    assert verdicts["PAGE_NOT_PUBLIC"]["status"] == "fail"
    for rule in ("STALE", "LOW_FREQUENCY", "REPOST_HEAVY"):
        assert verdicts[rule]["status"] == "not_evaluable", rule
        assert "ошибка 15" in verdicts[rule]["summary"]
    assert any("ошибка 15" in note for note in json.loads(out)["notes"])


def test_a_wall_of_another_page_is_refused_naming_both(tmp_path, capsys) -> None:
    w = wall(3)
    for item in w["response"]["items"]:
        item["owner_id"] = item["from_id"] = -555
    status, out, err = run_files(tmp_path, capsys, *AS_JSON, group=[group()], wall=w)
    assert status == 2 and out == ""
    assert "другой страницы" in err and "club555" in err and f"club{GID}" in err


def test_a_wall_written_by_another_community_is_refused_without_owner_ids(tmp_path, capsys) -> None:
    w = wall(3)
    for item in w["response"]["items"]:
        del item["owner_id"]
        item["from_id"] = -777
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, group=[group()], wall=w)
    assert status == 2 and "club777" in err and f"club{GID}" in err


def test_citizens_posts_on_an_open_wall_are_the_pages_wall(tmp_path, capsys) -> None:
    w = wall(4)
    w["response"]["items"][1]["from_id"] = 4242  # a citizen's post, owner_id still the page
    status, out, err = run_files(tmp_path, capsys, *AS_JSON, group=[group()], wall=w)
    assert status in (0, 1) and err == ""
    assert verdicts_of(out)["STALE"]["status"] == "pass"


def test_comments_of_another_page_are_refused(tmp_path, capsys) -> None:
    foreign = comments(answered=True)
    foreign["response"]["items"][0]["owner_id"] = -555
    status, _, err = run_files(
        tmp_path, capsys, *AS_JSON, group=[group()], wall=wall(), comments=foreign
    )
    assert status == 2 and "club555" in err and f"club{GID}" in err


def test_a_comment_by_another_community_is_not_another_pages_file(tmp_path, capsys) -> None:
    data = comments(answered=False)
    data["response"]["items"][0]["owner_id"] = -GID
    data["response"]["items"][0]["from_id"] = -220870455  # another community comments here
    status, out, err = run_files(
        tmp_path, capsys, *AS_JSON, group=[group()], wall=wall(), comments=data
    )
    assert status in (0, 1) and err == ""
    assert "UNANSWERED_COMMENT" in verdicts_of(out)


@pytest.mark.parametrize(
    ("page", "hint"),
    [
        ('<!DOCTYPE html><html><body class="tgme_widget"><div class="tgme_channel_info">'
         "</div></body></html>", "--platform tg"),
        ("<html><head><title>Школа</title></head><body>vk.com</body></html>", "HTML"),
        ('<html><body>vk.com/school1 <a href="https://t.me/school1">Telegram</a></body></html>',
         "groups.getById"),
    ],
)  # fmt: skip
def test_a_saved_web_page_given_for_vk_gets_a_one_line_hint(
    tmp_path, capsys, page: str, hint: str
) -> None:
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, group=page)
    assert status == 2 and hint in err
    assert len(err.strip().splitlines()) == 1


def test_an_ok_answer_given_for_vk_names_the_platform(tmp_path, capsys) -> None:
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, group=[ok_group()])
    assert status == 2 and "--platform ok" in err and "Одноклассников" in err


# --- --now and --fields -------------------------------------------------------------------------


def test_now_without_a_zone_is_moscow_time(tmp_path, capsys) -> None:
    _status, out, _ = run_files(
        tmp_path, capsys, "--now", "2026-03-02T12:00", "--format", "json", group=[group()]
    )
    assert json.loads(out)["checked_at"] == "2026-03-02T12:00:00+03:00"
    help_text = build_parser()._subparsers._group_actions[0].choices["check"].format_help()
    assert "Moscow" in help_text


def test_a_wrong_now_is_refused_in_russian(tmp_path, capsys) -> None:
    status, _, err = run_files(tmp_path, capsys, "--now", "вчера", group=[group()])
    assert status == 2 and "ISO 8601" in err


def _bare_group() -> dict:
    """A group object of an answer that asked for no contact fields: the keys are absent."""
    g = group(description="Официальная страница школы: наша цель — образование детей района.")
    for key in ("site", "addresses", "contacts"):
        g.pop(key, None)
    return g


def test_absent_fields_are_unknown_without_fields(tmp_path, capsys) -> None:
    _, out, _ = run_files(tmp_path, capsys, *AS_JSON, group=[_bare_group()], wall=wall())
    verdicts = verdicts_of(out)
    for rule in ("ADDRESS_MISSING", "WEBSITE_LINK_MISSING"):
        assert verdicts[rule]["status"] == "not_evaluable", rule


def test_requested_absent_fields_are_empty_with_fields(tmp_path, capsys) -> None:
    _, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, "--fields", "description,contacts,addresses,site,links",
        group=[_bare_group()], wall=wall(),
    )  # fmt: skip
    verdicts = verdicts_of(out)
    for rule in ("ADDRESS_MISSING", "WEBSITE_LINK_MISSING", "CONTACT_PHONE_MISSING"):
        assert verdicts[rule]["status"] == "fail", rule


def test_fields_is_for_vk_only(tmp_path, capsys) -> None:
    status, _, err = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "ok", "--fields", "description",
        group=[ok_group()],
    )  # fmt: skip
    assert status == 2 and "--fields" in err


# --- Odnoklassniki ----------------------------------------------------------------------------

OK_GID = "54321000000001"


def ok_group(**kw) -> dict:
    return {
        "uid": OK_GID, "name": "МБОУ СОШ № 1 г. Лиски", "shortname": "school1liski",
        "description": "Официальная группа школы. Наша цель — образование. "
        "Телефон: +7 (47391) 4-12-34, почта school1@liski-edu.ru",
        "members_count": 300, "private": False, "homepage_url": "https://school1.ru",
        "status": "ACTIVE", **kw,
    }  # fmt: skip


def ok_topics(n: int = 12, author: str = f"group:{OK_GID}") -> dict:
    now_ms = int(NOW.timestamp() * 1000)
    return {
        "media_topics": [
            {
                "id": str(9000 + i), "created_ms": now_ms - 86_400_000 * (1 + 2 * i),
                "author_ref": author, "media": [{"type": "text", "text": f"Новость {i}"}],
                "discussion_summary": {"comments_count": 1 if i == 0 else 0},
                "like_summary": {"count": 4}, "reshare_summary": {"count": 0},
            }
            for i in range(n)
        ],
        "has_more": True,
    }  # fmt: skip


def ok_comments(answered: bool) -> dict:
    items = [{"id": "c1", "author_id": "77", "author_type": "USER",
              "date": "2026-02-27 10:00:00", "text": "Когда родительское собрание?"}]  # fmt: skip
    if answered:
        items.append({"id": "c2", "author_id": OK_GID, "author_type": "GROUP",
                      "date": "2026-02-27 15:00:00", "text": "В четверг в 18:00.",
                      "reply_to_comment_id": "c1"})  # fmt: skip
    return {"9000": {"comments": items, "has_more": False}}


def test_ok_check_from_saved_answers(tmp_path, capsys) -> None:
    status, out, err = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "ok", group=[ok_group()], wall=ok_topics(),
        comments=ok_comments(answered=False),
    )  # fmt: skip
    assert err == ""
    document = json.loads(out)
    verdicts = verdicts_of(out)
    assert document["platform"] == "ok"
    assert {v["page_id"] for v in verdicts.values() if v["platform"] == "ok"} == {OK_GID}
    assert verdicts["DESCRIPTION_MISSING"]["status"] == "pass"
    assert verdicts["STALE"]["status"] == "pass"
    assert verdicts["NOT_VERIFIED"]["status"] == "not_evaluable"  # a VK-only mark
    assert verdicts["UNANSWERED_COMMENT"]["status"] == "fail"
    assert status == 1


def test_ok_answered_comment_passes(tmp_path, capsys) -> None:
    _, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "ok", group=[ok_group()], wall=ok_topics(),
        comments=ok_comments(answered=True),
    )  # fmt: skip
    assert verdicts_of(out)["UNANSWERED_COMMENT"]["status"] == "pass"


def test_ok_blocked_group_is_not_public(tmp_path, capsys) -> None:
    status, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "ok", group=[ok_group(status="BLOCKED")],
        wall={"error_code": 10, "error_msg": "PERMISSION_DENIED"},
    )  # fmt: skip
    assert status == 1
    assert verdicts_of(out)["PAGE_NOT_PUBLIC"]["status"] == "fail"


def test_ok_topics_of_another_group_are_refused(tmp_path, capsys) -> None:
    status, _, err = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "ok", group=[ok_group()],
        wall=ok_topics(author="group:11111111"),
    )  # fmt: skip
    assert status == 2 and "11111111" in err and OK_GID in err


# --- Telegram ------------------------------------------------------------------------------------


def tg_page(name: str = "school1_liski", days: tuple[int, ...] = (1, 3, 5, 8)) -> str:
    messages = "\n".join(
        f'<div class="tgme_widget_message" data-post="{name}/{100 + i}">'
        f'<div class="tgme_widget_message_text">Новость {i}</div>'
        f'<span class="tgme_widget_message_views">1.2K</span>'
        f'<time datetime="{(NOW - timedelta(days=d)).isoformat()}">x</time></div>'
        for i, d in enumerate(sorted(days, reverse=True))
    )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body class="tgme_widget"><section class="tgme_channel_history">{messages}</section>
<div class="tgme_channel_info"><div class="tgme_channel_info_header">
<div class="tgme_channel_info_header_title"><span>МБОУ СОШ № 1 г. Лиски</span></div>
<div class="tgme_channel_info_header_username"><a href="https://t.me/{name}">@{name}</a></div>
</div><div class="tgme_channel_info_description">Новости школы. Телефон +7 (47391) 4-12-34</div>
<div class="tgme_channel_info_counters"><span class="counter_value">1.5K</span></div></div>
</body></html>"""


def test_tg_check_from_a_saved_preview(tmp_path, capsys) -> None:
    _status, out, err = run_files(tmp_path, capsys, *AS_JSON, "--platform", "tg", group=tg_page())
    assert err == ""
    verdicts = verdicts_of(out)
    assert {v["page_id"] for v in verdicts.values() if v["platform"] == "tg"} == {"school1_liski"}
    assert verdicts["STALE"]["status"] == "pass"
    for rule in ("UNANSWERED_COMMENT", "WALL_CLOSED", "NOT_VERIFIED"):
        assert verdicts[rule]["status"] == "not_evaluable", rule


def test_tg_stale_channel_fails(tmp_path, capsys) -> None:
    status, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "tg", group=tg_page(days=(40, 45))
    )
    assert status == 1 and verdicts_of(out)["STALE"]["status"] == "fail"


@pytest.mark.parametrize(
    ("argv", "files", "message"),
    [
        ((), {"group": "<html><body>Школа</body></html>"}, "t.me/s/"),
        ((), {"group": "<html>tgme_</html>", "wall": {"items": []}}, "только --group"),
        ((), {"group": '{"response": {"groups": []}}'}, "это JSON (ответ API)"),
    ],
)
def test_tg_refusals(tmp_path, capsys, argv, files, message: str) -> None:
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, "--platform", "tg", *argv, **files)
    assert status == 2 and message in err


# --- the table, in Russian ------------------------------------------------------------------------


def test_table_speaks_russian(tmp_path, capsys) -> None:
    g = group(description="Школа")
    status, out, _ = run_files(
        tmp_path, capsys, "--now", NOW.isoformat(), group=[g], wall=wall(2, 10, start=2)
    )
    assert status == 1
    assert "НАРУШЕНИЕ · высокая · Нет описания страницы [DESCRIPTION_MISSING]" in out
    assert "выполнено · " in out and "не проверяется · " in out
    assert "не реже 3 собственных постов в неделю в среднем за 4 недели" in out
    assert "описание не короче 50 символов" in out
    assert "Что сделать: Заполните описание" in out
    assert "по московскому времени" in out and "02.03.2026 12:00" in out
    assert "FAIL" not in out and "not_evaluable" not in out
    # The legal basis is whole: every word of it is in the table, wrapped, not cut.
    basis = check.r.RULES["DESCRIPTION_MISSING"].basis
    flat = " ".join(out.split())
    assert basis in flat
    assert max(len(line) for line in out.splitlines()) <= check.WRAP + 40


def test_table_in_english_on_request(tmp_path, capsys) -> None:
    status, out, _ = run_files(
        tmp_path, capsys, "--now", NOW.isoformat(), "--lang", "en", group=[group(description="")]
    )
    assert status == 1
    assert "DESCRIPTION_MISSING" in out and "FAIL" in out and "basis:" in out


# --- comments whose answer the saved files may not hold ----------------------------------------


def test_an_unloaded_thread_is_not_an_unanswered_question(tmp_path, capsys) -> None:
    data = comments(answered=False)
    data["response"]["items"][0]["thread"] = {"count": 2, "items": [], "can_post": True}
    _, out, _ = run_files(tmp_path, capsys, *AS_JSON, group=[group()], wall=wall(), comments=data)
    document = json.loads(out)
    assert verdicts_of(out)["UNANSWERED_COMMENT"]["status"] != "fail"
    assert any("загружена не целиком" in note for note in document["notes"])


def test_citizens_talking_under_a_citizens_post_are_not_requests(tmp_path, capsys) -> None:
    w = wall()
    w["response"]["items"][0]["from_id"] = 4242  # post 100 is a citizen's post on the open wall
    _, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, group=[group()], wall=w, comments=comments(answered=False)
    )
    assert verdicts_of(out)["UNANSWERED_COMMENT"]["status"] != "fail"


def test_a_missing_file_is_named_in_russian(tmp_path, capsys) -> None:
    args = build_parser().parse_args(["check", "--group", str(tmp_path / "nope.json")])
    assert check.run(Settings(_env_file=None), args) == 2
    assert "нет такого файла" in capsys.readouterr().err


def test_files_given_to_the_wrong_option_are_named(tmp_path, capsys) -> None:
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, group=wall(), wall=[group()])
    assert status == 2 and "это ответ wall.get, а нужен groups.getById" in err and "--wall" in err
    status, _, err = run_files(
        tmp_path, capsys, *AS_JSON, group=[group()], wall=comments(answered=True)
    )
    assert status == 2 and "это ответ wall.getComments, а нужен wall.get" in err
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, group=[group()], comments=wall())
    assert status == 2 and "передайте в --wall" in err


# --- answers shaped by the simulators (written apart from these tests) --------------------------


def test_check_reads_the_ok_simulators_answers(tmp_path, capsys) -> None:
    from services.simulator.ok_api import OkSimulator, signature
    from services.simulator.other_pages import ok_group as sim_group
    from services.simulator.other_pages import ok_private
    from services.simulator.region import generate_region

    region = generate_region("voronezh", seed=42, now=NOW, size=300)
    sim = OkSimulator(region, "KEY", "SECRET")

    def answer(**params: str):
        params = {"application_key": "KEY", "format": "json", **params}
        params["sig"] = signature(params, "token", "SECRET")
        return sim.handle({**params, "access_token": "token"})

    groups = [g for org in region.organisations if org.ok and (g := sim_group(region, org.ok_id))]
    live = [g for g in groups if not g.deactivated and not ok_private(region, g)][:3]
    private = next(g for g in groups if not g.deactivated and ok_private(region, g))
    for g, expected in [*((g, None) for g in live), (private, "fail")]:
        gid = str(g.id)
        topics = answer(method="mediatopic.getTopics", gid=gid, count="20")
        threads = {
            t["id"]: answer(method="discussions.getComments", discussionId=t["id"])
            for t in topics.get("media_topics", [])[:5]
        }
        status, out, err = run_files(
            tmp_path, capsys, *AS_JSON, "--platform", "ok",
            group=answer(method="group.getInfo", uids=gid), wall=topics, comments=threads,
        )  # fmt: skip
        assert status in (0, 1), err
        verdicts = verdicts_of(out)
        assert {v["page_id"] for v in verdicts.values() if v["platform"] == "ok"} == {gid}
        if expected:
            assert verdicts["PAGE_NOT_PUBLIC"]["status"] == expected
        elif topics["media_topics"]:
            assert verdicts["STALE"]["status"] in ("pass", "fail")
    # A deleted group is not in the answer at all: nothing to check, said so.
    deleted = next(g for g in groups if g.deactivated == "deleted")
    status, _, err = run_files(
        tmp_path, capsys, *AS_JSON, "--platform", "ok",
        group=answer(method="group.getInfo", uids=str(deleted.id)),
    )  # fmt: skip
    assert status == 2 and "не найдена или удалена" in err


def test_check_reads_the_telegram_simulators_pages(tmp_path, capsys) -> None:
    from services.simulator.region import generate_region
    from services.simulator.tg_web import TgSimulator

    region = generate_region("voronezh", seed=42, now=NOW, size=300)
    sim = TgSimulator(region)
    names = [o.telegram.rsplit("/", 1)[1] for o in region.organisations if o.telegram]
    shown = [n for n in names if b"tgme_channel_info" in sim.page(n)[1]][:3]
    assert shown
    for name in shown:
        status, out, err = run_files(
            tmp_path, capsys, *AS_JSON, "--platform", "tg", group=sim.page(name)[1].decode()
        )
        assert status in (0, 1), err
        verdicts = verdicts_of(out)
        assert {v["page_id"] for v in verdicts.values() if v["platform"] == "tg"} == {name}
        if b'class="tgme_widget_message' in sim.page(name)[1]:
            assert verdicts["STALE"]["status"] in ("pass", "fail")


def test_visitors_recent_posts_show_a_wall_open_when_wall_was_not_asked(tmp_path, capsys) -> None:
    g = group()
    del g["wall"]
    w = wall(4)
    w["response"]["items"][1]["from_id"] = 4242  # a citizen posted on the wall two days ago
    _, out, _ = run_files(tmp_path, capsys, *AS_JSON, group=[g], wall=w)
    assert verdicts_of(out)["WALL_CLOSED"]["status"] == "pass"
    _, out, _ = run_files(tmp_path, capsys, *AS_JSON, group=[g], wall=wall(4))
    assert verdicts_of(out)["WALL_CLOSED"]["status"] == "not_evaluable"  # only the page's posts


def test_comments_under_a_post_the_wall_does_not_show_are_noted(tmp_path, capsys) -> None:
    data = comments(answered=False)
    for item in data["response"]["items"]:
        item["post_id"] = 847
    _, out, _ = run_files(tmp_path, capsys, *AS_JSON, group=[group()], wall=wall(), comments=data)
    assert any("к записям 847, которых нет в --wall" in n for n in json.loads(out)["notes"])
    assert verdicts_of(out)["UNANSWERED_COMMENT"]["status"] != "fail"


def test_without_a_wall_no_commented_post_is_known_to_be_the_pages(tmp_path, capsys) -> None:
    _, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, group=[group()], comments=comments(answered=False)
    )
    assert verdicts_of(out)["UNANSWERED_COMMENT"]["status"] != "fail"
    assert any("стена (--wall) не передана" in n for n in json.loads(out)["notes"])
    _, out, _ = run_files(
        tmp_path, capsys, *AS_JSON, group=[group()], wall=wall(), comments=comments(False)
    )
    assert verdicts_of(out)["UNANSWERED_COMMENT"]["status"] == "fail"  # post 100 is the page's


def test_another_ok_groups_comment_is_a_community_not_a_citizen() -> None:
    from gospublic.platforms import ok

    item = {"id": "c9", "author_id": "777", "author_type": "GROUP", "date": "2026-02-27 10:00:00"}
    comment = ok.comment_from(item, OK_GID, "9000")
    assert comment.from_id == "-777" and comment.author_kind == "citizen"
    own = ok.comment_from({**item, "author_id": OK_GID}, OK_GID, "9000")
    assert own.from_id == f"-{OK_GID}" and own.author_kind == "page"


def test_a_web_page_given_for_ok_names_the_ok_methods(tmp_path, capsys) -> None:
    page = "<!-- saved from url=(0023)https://ok.ru/group/1 --><html><body></body></html>"
    status, _, err = run_files(tmp_path, capsys, *AS_JSON, "--platform", "ok", group=page)
    assert status == 2 and "group.getInfo" in err and len(err.strip().splitlines()) == 1


def test_the_table_shows_no_direction_overrides_from_the_page(tmp_path, capsys) -> None:
    g = group(name="Школа \u202egnp.exe\x07", description="Школа\u202e")
    for lang in ("ru", "en"):
        _, out, _ = run_files(tmp_path, capsys, "--now", NOW.isoformat(), "--lang", lang, group=[g])
        assert "\u202e" not in out and "\x07" not in out
        assert "gnp.exe" in out or lang == "en"
