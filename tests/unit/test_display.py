"""What a person reads: no reordering characters in text, no credentials in URLs, logs or errors."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import pytest

from gospublic import display
from gospublic.apps.demo import DemoResult, print_summary
from gospublic.apps.report import Findings, Violation, write_html_report
from gospublic.observability import Redactor, TextFormatter

# Each of them reorders or hides what a reader sees; none may reach an output.
HOSTILE = ["\u202e", "\u202a", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f",
           "\u061c", "\x00", "\x1b", "\x7f", "\x85", "\ufeff"]  # fmt: skip
NAME = "Школа №1\u202e\u2066 txt.exe\x00\u061c\u200f\x1b[31m"


def test_clean_takes_every_reordering_and_control_character_out():
    cleaned = display.clean(NAME)
    assert cleaned == "Школа №1 txt.exe[31m"
    for char in HOSTILE:
        assert char not in display.clean(f"a{char}b"), repr(char)
    assert display.clean("👩\u200d💻") == "👩\u200d💻"  # ZWJ joins emoji; it stays
    assert display.clean("a" * 10, limit=5) == "aaaa…"


def violation(**fields: str) -> Violation:
    values = dict(
        org_id="1", org_name=NAME, municipality="Лиски\u2067", founder="Отдел\u202e",
        platform="vk", page_id="club1\u200e", page_url="https://vk.com/club1", rule="STALE",
        severity="high", summary="нет записей\u2069 90 дней\x00",
    )  # fmt: skip
    return Violation(**{**values, **fields})


def test_the_html_report_shows_register_names_without_reordering_characters(tmp_path: Path):
    findings = Findings(1, 2, [violation(), violation(page_id="x", page_url="javascript:alert(1)")])
    path = tmp_path / "report.html"
    write_html_report(path, findings, {"STALE": {"truth": 1, "found": 2, "missing": 0, "extra": 1}})
    report = path.read_text(encoding="utf-8")
    assert "Школа №1 txt.exe" in report and "Лиски" in report
    for char in HOSTILE:
        assert char not in report, repr(char)
    assert "javascript:" not in report  # only http(s) links become links
    assert '<a href="https://vk.com/club1">club1</a>' in report


def test_the_demo_summary_prints_names_without_reordering_characters(tmp_path: Path):
    findings = Findings(1, 1, [violation()])
    result = DemoResult(
        out_dir=tmp_path, report_path=tmp_path / "r.html", mail_dir=tmp_path, ground_truth_path=tmp_path,
        findings=findings, agreement={}, mails=0, dead_letters=0, seconds=1.0,
    )  # fmt: skip
    lines: list[str] = []
    print_summary(result, lines.append)
    printed = "\n".join(lines)
    assert "Лиски" in printed
    for char in HOSTILE:
        assert char not in printed, repr(char)


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("nats://gospublic:s3cret-pass@127.0.0.1:4222", "nats://gospublic:***@127.0.0.1:4222"),
        ("nats://a:p1@n1:4222,nats://b:p2@n2:4222", "nats://a:***@n1:4222,nats://b:***@n2:4222"),
        ("nats://s3cret-token@nats:4222", "nats://***@nats:4222"),
        ("https://default:ch-pass@clickhouse:8443", "https://default:***@clickhouse:8443"),
        ("https://api.vk.com/method/wall.get?access_token=vk1.a.b&v=5.199",
         "https://api.vk.com/method/wall.get?access_token=***&v=5.199"),
        ("http://grafana:3000/api?auth=xyz&token=abc", "http://grafana:3000/api?auth=***&token=***"),
        ("http://localhost:3000/d/gospublic-org?var-org_id=1", "http://localhost:3000/d/gospublic-org?var-org_id=1"),
        ("chdb:///srv/state/clickhouse", "chdb:///srv/state/clickhouse"),
    ],
)  # fmt: skip
def test_a_url_is_shown_without_its_password_or_token(shown: str, expected: str):
    assert display.url(shown) == expected


def test_the_log_redactor_masks_derived_credentials_it_was_never_told():
    """httpx turns http://hook:pass@host into "Authorization: Basic <base64>"; an error page may
    echo it, and a URL with userinfo may be logged: neither value was configured as a secret."""
    basic = base64.b64encode(b"hookuser:hook-pass-8c1e").decode()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter("test", Redactor(["configured-secret"])))
    logger = logging.getLogger("test.display.redactor")
    logger.addHandler(handler)
    try:
        logger.warning(
            "receiver said: 502 for POST /hook (Authorization: Basic %s) from %s; also %s",
            basic, "http://hookuser:hook-pass-8c1e@127.0.0.1:9/hook", "configured-secret",
            extra={"headers": {"authorization": f"Bearer glsa_{basic}"}},
        )  # fmt: skip
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    for leaked in (basic, "hook-pass-8c1e", "configured-secret", "glsa_"):
        assert leaked not in line, line
    assert "Basic ***" in line and "http://hookuser:***@127.0.0.1:9/hook" in line
