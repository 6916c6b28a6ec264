"""Telegram's public channel preview, ``t.me/s/<channel>``, rendered from the simulated region.

The page carries the channel's title, description and subscriber count and its latest messages
(oldest first, as t.me shows them), each with its time and a *rounded* view count ("1.2K").
``?before=<id>`` pages back. A channel that does not exist still answers 200, with t.me's generic
"contact" page instead of a channel.
"""

from __future__ import annotations

import html
import threading
from collections import Counter
from datetime import UTC, datetime

from services.simulator.other_pages import tg_channel
from services.simulator.region import Region, VkGroup, bits, unit

PAGE_SIZE = 20
HTML_TYPE = "text/html; charset=utf-8"


def rounded(n: int) -> str:
    """Telegram's counters: 950, 1.2K, 15K, 1.3M."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        value, suffix = n / 1000, "K"
    else:
        value, suffix = n / 1_000_000, "M"
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return text.removesuffix(".0") + suffix


class TgSimulator:
    def __init__(self, region: Region) -> None:
        self.region = region
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def stats(self) -> dict:
        with self._lock:
            return {"requests": sum(self.requests.values()), "by_result": dict(self.requests)}

    def page(self, name: str, before: int | None = None) -> tuple[int, bytes]:
        channel = tg_channel(self.region, name)
        with self._lock:
            self.requests["channel" if channel else "missing"] += 1
        if channel is None:
            return 200, _missing(name).encode()
        return 200, self._channel(channel, name, before).encode()

    def _channel(self, group: VkGroup, name: str, before: int | None) -> str:
        region = self.region
        posts = sorted(region.posts(group), key=lambda p: p.id)  # t.me shows oldest first
        if before is not None:
            posts = [p for p in posts if p.id < before]
        shown = posts[-PAGE_SIZE:]
        title = html.escape(group.name)
        description = html.escape(region.description(group)).replace("\n", "<br/>")
        messages = "\n".join(self._message(group, name, p) for p in shown)
        more = (
            f'<a class="tme_messages_more js-messages_more" data-before="{shown[0].id}" '
            f'href="/s/{name}?before={shown[0].id}"></a>'
            if shown and shown[0].id != posts[0].id
            else ""
        )
        return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{title} – Telegram</title>
    <meta property="og:title" content="{title}">
    <meta property="og:description" content="{description}">
  </head>
  <body class="widget_frame_base tgme_widget body_widget_post emoji_image nodark">
    <header class="tgme_header search_collapsed">
      <div class="tgme_header_info">
        <div class="tgme_header_title"><span dir="auto">{title}</span></div>
        <div class="tgme_header_counter">{rounded(group.members)} subscribers</div>
      </div>
    </header>
    <main class="tgme_main">
      <section class="tgme_channel_history js-message_history">
        {more}
{messages}
      </section>
    </main>
    <div class="tgme_channel_info">
      <div class="tgme_channel_info_header">
        <div class="tgme_channel_info_header_title"><span dir="auto">{title}</span></div>
        <div class="tgme_channel_info_header_username"><a href="https://t.me/{name}">@{name}</a></div>
      </div>
      <div class="tgme_channel_info_description">{description}</div>
      <div class="tgme_channel_info_counters">
        <div class="tgme_channel_info_counter"><span class="counter_value">{rounded(group.members)}</span> <span class="counter_type">subscribers</span></div>
      </div>
    </div>
  </body>
</html>
"""

    def _message(self, group: VkGroup, name: str, post) -> str:
        region = self.region
        b = bits(region.seed, group.id, 0x7E1, post.id)
        age_days = max(0.0, (region.now_ts - post.date) / 86_400)
        views = int(group.members * (0.3 + 1.2 * unit(b)) * min(1.0, 0.3 + age_days))
        when = datetime.fromtimestamp(post.date, UTC)
        text = html.escape(region.post_text(group, post)).replace("\n", "<br/>")
        forwarded = (
            '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
            '<a class="tgme_widget_message_forwarded_from_name" href="https://t.me/gosuslugi">'
            '<span dir="auto">Госуслуги</span></a></div>'
            if post.repost
            else ""
        )
        return f"""        <div class="tgme_widget_message_wrap js-widget_message_wrap">
          <div class="tgme_widget_message text_not_supported_wrap js-widget_message" data-post="{name}/{post.id}" data-view="{b % 10**12}">
            {forwarded}
            <div class="tgme_widget_message_text js-message_text" dir="auto">{text}</div>
            <div class="tgme_widget_message_footer compact js-message_footer">
              <div class="tgme_widget_message_info short js-message_info">
                <span class="tgme_widget_message_views">{rounded(views)}</span><span class="copyonly"> views</span>
                <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/{name}/{post.id}"><time datetime="{when.isoformat()}" class="time">{when:%H:%M}</time></a></span>
              </div>
            </div>
          </div>
        </div>"""


def _missing(name: str) -> str:
    safe = html.escape(name)
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Telegram: Contact @{safe}</title>
    <meta property="og:title" content="Telegram: Contact @{safe}">
  </head>
  <body class="no_transition">
    <div class="tgme_page_wrap">
      <div class="tgme_page">
        <div class="tgme_page_title"><span dir="auto">Telegram</span></div>
        <div class="tgme_page_description">If you have <strong>Telegram</strong>, you can contact <a class="tgme_username_link" href="tg://resolve?domain={safe}">@{safe}</a> right away.</div>
      </div>
    </div>
  </body>
</html>
"""
