"""Reading Telegram's channel preview and signing OK requests, without servers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from services.collector.ok_client import sign
from services.collector.tg_collect import count_value, parse_preview
from services.simulator.ok_api import signature
from services.simulator.region import generate_region
from services.simulator.tg_web import TgSimulator, rounded

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "value"),
    [("950", 950), ("1.2K", 1200), ("15K", 15000), ("1.3M", 1_300_000), ("2,5K", 2500), ("", None)],
)
def test_rounded_counters(text: str, value: int | None) -> None:
    assert count_value(text) == value


@pytest.mark.parametrize("n", [0, 999, 1000, 1249, 15_400, 999_999, 1_250_000])
def test_the_simulators_rounding_reads_back_within_five_percent(n: int) -> None:
    assert abs(count_value(rounded(n)) - n) <= max(1, n * 0.05)


def test_a_channel_preview_parses() -> None:
    region = generate_region("voronezh", seed=42, now=NOW, size=200)
    tg = TgSimulator(region)
    name = next(
        o.telegram.rsplit("/", 1)[1]
        for o in region.organisations
        if o.telegram and b"tgme_channel_info" in tg.page(o.telegram.rsplit("/", 1)[1])[1]
    )
    preview = parse_preview(tg.page(name)[1].decode())
    assert preview.is_channel and preview.title and preview.subscribers
    assert preview.description.startswith(preview.title[:10]) or preview.description
    assert 0 < len(preview.messages) <= 20
    ids = [int(m.post_id) for m in preview.messages]
    assert ids == sorted(ids)  # oldest first on the page
    first = preview.messages[0]
    assert datetime.fromisoformat(first.when).tzinfo is not None
    assert count_value(first.views) is not None and first.text


def test_a_missing_channel_page_has_no_channel() -> None:
    html = """<html><head><title>Telegram: Contact @nobody_here</title></head><body>
    <div class="tgme_page"><div class="tgme_page_title"><span dir="auto">Telegram</span></div>
    </div></body></html>"""
    preview = parse_preview(html)
    assert not preview.is_channel and preview.messages == []


def test_forwarded_messages_line_breaks_and_links() -> None:
    html = """<div class="tgme_channel_info"><div class="tgme_channel_info_header_title">
    <span>Школа №1</span></div></div>
    <div class="tgme_widget_message" data-post="school1/7">
      <div class="tgme_widget_message_forwarded_from">Forwarded from <a href="x">Минпрос</a></div>
      <div class="tgme_widget_message_text">Строка<br/>вторая <a href="https://example.ru/a">ссылка</a></div>
      <span class="tgme_widget_message_views">3.4K</span>
      <time datetime="2025-05-30T10:00:00+00:00">10:00</time>
    </div>"""
    preview = parse_preview(html)
    (message,) = preview.messages
    assert preview.title == "Школа №1"
    assert message.forwarded and message.post_id == "7" and message.views == "3.4K"
    assert message.text == ["Строка\nвторая ссылка"]
    assert message.links == ["https://example.ru/a"]


def test_ok_signature_matches_the_documented_scheme() -> None:
    params = {"application_key": "CBA", "method": "group.getInfo", "uids": "1,2", "format": "json"}
    secret = hashlib.md5(b"tokensecret").hexdigest()
    expected = hashlib.md5(
        ("application_key=CBAformat=jsonmethod=group.getInfouids=1,2" + secret).encode()
    ).hexdigest()
    assert sign(params, "token", "secret") == expected
    assert signature({**params, "access_token": "token"}, "token", "secret") == expected
