"""The t.me/s preview as ``gospublic.platforms.tg`` reads it: the channel's name and links."""

from __future__ import annotations

from datetime import UTC, datetime

from gospublic import contracts as c
from gospublic.platforms import tg

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REF = c.PageRef(platform=c.Platform.TG, native_id="topwar_official", org_id="0000000000000")

PAGE = """<div class="tgme_channel_info"><div class="tgme_channel_info_header">
<div class="tgme_channel_info_header_title"><span>Военное обозрение</span></div>
<div class="tgme_channel_info_header_username"><a href="https://t.me/topwar_official">@topwar_official</a></div>
</div><div class="tgme_channel_info_description">Официальный канал сайта
<a href="http://topwar.ru/" target="_blank">topwar.ru</a>. Чат: <a href="https://t.me/chat">@chat</a>
</div></div>
<div class="tgme_widget_message" data-post="topwar_official/12">
<div class="tgme_widget_message_text">Новость</div>
<time datetime="2026-03-02T08:45:00+00:00">08:45</time></div>"""


def test_a_link_written_shorter_than_its_url_is_kept() -> None:
    preview = tg.parse_preview(PAGE)
    assert "topwar.ru" in preview.description and "http://" not in preview.description
    snapshot, _posts = tg.preview_events(REF, "s", preview, 20, NOW)
    assert isinstance(snapshot, c.PageSnapshot)
    assert "http://topwar.ru/" in snapshot.links


def test_the_channel_is_named_by_the_page() -> None:
    assert tg.parse_preview(PAGE).channel == "topwar_official"
    without_header = PAGE.replace("tgme_channel_info_header_username", "x")
    assert tg.parse_preview(without_header).channel == "topwar_official"  # from data-post


def _photo(inner: str) -> str:
    return PAGE.replace(
        '<div class="tgme_channel_info_header">',
        '<div class="tgme_channel_info_header"><i class="tgme_page_photo_image bgcolor4" '
        f'data-content="Во">{inner}</i>',
    )


def test_the_channels_photo_or_its_initials() -> None:
    with_photo = tg.parse_preview(_photo('<img src="https://cdn4.telegram-cdn.org/file/x.jpg">'))
    assert with_photo.has_photo is True
    initials_only = tg.parse_preview(_photo(""))
    assert initials_only.has_photo is False
    assert tg.parse_preview(PAGE).has_photo is None  # no photo element: unknown
    snapshot, _ = tg.preview_events(REF, "s", initials_only, 20, NOW)
    assert snapshot.has_photo is False
