"""One collection task for Telegram: the public preview ``t.me/s/<channel>`` of every page.

No API and no credentials: the preview is HTML, read with the standard library's parser. It gives
the channel's title, description and subscriber count and its latest messages with their times and
view counts, which Telegram rounds ("1.2K" is read as 1200). A channel that does not exist still
answers 200, with a generic page and no channel in it: that is ``PageUnavailable(not_found)``.
Forwarded messages are reposts. Comments are not on the preview.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import httpx

from gospublic import contracts as c
from gospublic.httpclient import RedirectRefused, platform_client

# The preview's reading lives with the platform: ``gospublic check`` reads saved pages with it.
from gospublic.platforms.tg import CHANNEL_NAME as _NAME
from gospublic.platforms.tg import Message as Message
from gospublic.platforms.tg import Preview as Preview
from gospublic.platforms.tg import count_value as count_value
from gospublic.platforms.tg import parse_preview as parse_preview
from gospublic.platforms.tg import preview_events as preview_events
from gospublic.settings import Settings
from services.collector.cursors import Cursor
from services.collector.outcomes import Collected, done_this_sweep, page_down
from services.collector.vk_client import (
    API_REQUESTS,
    RATE_LIMIT_WAIT,
    TokenPool,
    VkGarbage,
    VkTransient,
)

log = logging.getLogger("gospublic.collector.tg")

PLATFORM = "tg"
MAX_PAGE_BYTES = 2 * 1024 * 1024


class TgClient:
    """GETs previews politely: the pool paces requests as for an API (one "token", no secret)."""

    def __init__(self, base_url: str, requests_per_second: float = 1.0, timeout: float = 20.0):
        from pydantic import SecretStr

        self.base_url = base_url.rstrip("/")
        self.pool = TokenPool([SecretStr("t.me")], requests_per_second, platform=PLATFORM)
        # t.me answers /s/<name> with a redirect to /<name> when there is no preview: followed,
        # but only on t.me (or the configured URL's own origin).
        self.http = platform_client(
            PLATFORM,
            self.base_url,
            timeout=timeout,
            headers={"User-Agent": "gospublic-monitor/0.1", "Accept-Language": "ru"},
        )

    @property
    def tokens_alive(self) -> int:
        return 1

    async def aclose(self) -> None:
        await self.http.aclose()

    async def preview(self, name: str) -> tuple[int, str, str]:
        """(status, content type, text) of ``/s/<name>``; ``VkTransient`` on network trouble."""
        token, slot, waited = await self.pool.acquire({"preview": 1})
        if waited:
            RATE_LIMIT_WAIT.inc(waited)
        try:
            response = await self.http.get(f"{self.base_url}/s/{name}")
            body = (await response.aread())[:MAX_PAGE_BYTES]
        except (RedirectRefused, httpx.TooManyRedirects) as exc:
            API_REQUESTS.labels(PLATFORM, "preview", "redirect_refused").inc()
            raise VkGarbage(f"t.me/s/{name}: {exc}") from None
        except httpx.TransportError as exc:
            API_REQUESTS.labels(PLATFORM, "preview", "network").inc()
            raise VkTransient(
                f"network error reading t.me/s/{name}: {type(exc).__name__}"
            ) from None
        finally:
            self.pool.finish(slot)
        API_REQUESTS.labels(PLATFORM, "preview", str(response.status_code)).inc()
        if response.status_code == 429:
            self.pool.slow_down(token, 30.0)
            raise VkTransient("t.me answered 429 Too Many Requests", retry_after=30.0)
        return (
            response.status_code,
            response.headers.get("content-type", ""),
            body.decode("utf-8", errors="replace"),
        )


async def collect(
    client: TgClient,
    task: c.CollectTask,
    posts_per_page: int,
    cursors: Mapping[str, Cursor],
    *,
    comments: bool = True,
) -> Collected:
    refs = list(task.pages)
    keys, resumed = done_this_sweep(refs, cursors, task.sweep_id)
    todo = [i for i in range(len(refs)) if i not in resumed]
    pages = await asyncio.gather(*(_page(client, refs[i], task, posts_per_page) for i in todo))
    events: list[c.PageEvent] = []
    new_cursors: dict[str, Cursor] = {}
    for i, page_events in zip(todo, pages, strict=True):
        events.extend(page_events)
        old = cursors.get(keys[i]) or Cursor()
        last = old.last_post
        for event in page_events:
            if isinstance(event, c.PostsObserved) and event.posts:
                last = max(last, *(int(p.post_id) for p in event.posts))
        new_cursors[keys[i]] = Cursor(task.sweep_id, last, {})
    return Collected(events, new_cursors, resumed, 0)


async def _page(
    client: TgClient, ref: c.PageRef, task: c.CollectTask, count: int
) -> list[c.PageEvent]:
    name = ref.native_id
    if not _NAME.match(name):
        return [
            page_down(ref, task, c.Unavailability.NOT_FOUND, f"not a channel name: {name!r:.40}")
        ]
    try:
        status, ctype, text = await client.preview(name)
    except VkGarbage as exc:  # a redirect off t.me, refused
        return [page_down(ref, task, c.Unavailability.API_ERROR, exc.reason)]
    if status != 200 or "html" not in ctype.lower():
        return [
            page_down(
                ref, task, c.Unavailability.API_ERROR, f"t.me/s/{name}: HTTP {status} {ctype}"
            )
        ]
    return preview_events(ref, task.sweep_id, parse_preview(text), count, c.utcnow())


# --- entry point (named by gospublic.platforms.tg.DESCRIPTOR) ------------------------------------


def make_client(settings: Settings) -> TgClient:
    """The Telegram preview reader the settings describe (no credentials)."""
    return TgClient(settings.tg_base_url, settings.tg_requests_per_second, settings.vk_timeout_s)
