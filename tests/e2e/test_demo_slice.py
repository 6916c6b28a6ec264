"""The whole slice as processes: simulator → collectors → NATS → evaluator → chDB → notifier → SMTP.

Asserts on what landed in ClickHouse and what the SMTP server received, never on logs.
"""

import email
import json
from email import policy
from pathlib import Path

import pytest

from gospublic.apps.demo import Demo, planted_rules
from gospublic.apps.report import open_client
from gospublic.settings import Settings

pytestmark = pytest.mark.e2e

SIZE = 240


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = Demo(out, size=SIZE, seed=7, collectors=2, smtp_port=None, say=lines.append).run()
    return result


def _mails(mail_dir: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(mail_dir.glob("*.eml"))
    ]


def test_findings_equal_the_planted_ground_truth(demo_result):
    """With the default profile, rule by rule, every rule the ground truth covers."""
    truth = json.loads(demo_result.ground_truth_path.read_text(encoding="utf-8"))
    planted = planted_rules(truth)
    assert set(planted) >= {
        "PAGE_MISSING_ANY",
        "DESCRIPTION_MISSING",
        "CONTACT_PHONE_MISSING",
        "STALE",
        "WALL_CLOSED",
        "LOW_FREQUENCY",
        "UNANSWERED_COMMENT",
        "LOW_REPLY_RATE",
        "PAGE_NOT_CONNECTED (MAX)",
        "STALE (MAX)",
        "COPIED_CONTENT (MAX)",
    }
    assert sorted(demo_result.agreement) == planted
    for rule in planted:
        row = demo_result.agreement[rule]
        assert row["truth"] > 0, f"the simulator planted no {rule}"
        assert (row["missing"], row["extra"]) == (0, 0), (rule, row)
    assert demo_result.dead_letters == 0


def test_clickhouse_holds_every_table_of_the_sweep(demo_result):
    settings = Settings(clickhouse_url=f"chdb://{demo_result.out_dir / 'clickhouse'}")
    client = open_client(settings)
    try:
        counts = {
            table: client.query(f"SELECT count() FROM gospublic.{table}").result_rows[0][0]
            for table in (
                "organisations",
                "page_snapshots",
                "post_observations",
                "check_results",
                "violations",
            )
        }
        applied = client.query("SELECT count() FROM gospublic.schema_migrations").result_rows[0][0]
        profiles, rules = client.query(
            "SELECT groupUniqArray(profile), uniqExact(rule) FROM gospublic.check_results"
        ).result_rows[0]
    finally:
        client.close()
    assert counts["organisations"] >= SIZE
    assert all(n > 0 for n in counts.values()), counts
    assert applied >= 1
    # The demo runs the default profile: the whole catalogue, not only the planted rules.
    assert list(profiles) == ["dialog-default"]
    assert rules > 20
    assert demo_result.findings.organisations == SIZE


def test_alert_mails_reach_their_subscribers(demo_result):
    mails = _mails(demo_result.mail_dir)
    assert mails, "no e-mail was delivered"
    to_cur = [m for m in mails if "cur@cur36.example.ru" in m["To"]]
    assert to_cur, "the regional centre got nothing"
    for message in mails:
        assert message.is_multipart()
        assert {part.get_content_type() for part in message.iter_parts()} >= {
            "text/plain",
            "text/html",
        }
        assert message["Message-ID"]
    # Every open critical violation is named in some mail to the regional centre.
    cur_text = "\n".join(m.get_body(("plain",)).get_content() for m in to_cur)
    critical = {v.org_name for v in demo_result.findings.violations if v.severity == "critical"}
    assert critical
    missing = {name for name in critical if name not in cur_text}
    assert not missing, sorted(missing)[:5]


def test_every_scorecard_total_equals_the_planted_one_and_the_xlsx_is_the_table(demo_result):
    from openpyxl import load_workbook

    cards = demo_result.scorecards
    assert cards.truth == SIZE and cards.agrees, cards.differ
    sheet = load_workbook(demo_result.scorecard_path).active
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["ОГРН", "Организация", "Муниципалитет", "Учредитель", "Сфера"]
    assert header[-3:] == ["Итого (из 95)", "Цвет", "Не оценено"]
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref.endswith(str(SIZE + 1))
    total, colour = header.index("Итого (из 95)"), header.index("Цвет")
    fills = {"зелёный": "FFC6EFCE", "жёлтый": "FFFFEB9C", "красный": "FFFFC7CE"}
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == SIZE
    for row in rows:
        assert (
            row[total].fill.fgColor.rgb == fills[row[colour].value] == row[colour].fill.fgColor.rgb
        )
    assert {row[colour].value for row in rows} == set(fills)
