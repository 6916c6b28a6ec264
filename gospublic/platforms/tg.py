"""Pure reading of a Telegram channel's public preview ``t.me/s/<channel>`` (shared: the collector
and ``gospublic check``).

No API: the preview is HTML, read with the standard library's parser. It gives the channel's title,
description and subscriber count and its latest messages with their times and view counts, which
Telegram rounds ("1.2K" is read as 1200). A channel that does not exist still answers 200, with a
generic page and no channel in it: that is ``PageUnavailable(not_found)``. Forwarded messages are
reposts. Comments are not on the preview.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

from gospublic import contracts as c

_COUNT = re.compile(r"^\s*([0-9.,]{1,20})\s*([KMkм]?)")
_VOID = frozenset({"br", "img", "meta", "link", "input", "hr", "source", "wbr"})
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9_]{4,64}$")


def count_value(text: str) -> int | None:
    """Telegram's rounded counters: "950" → 950, "1.2K" → 1200, "3M" → 3000000."""
    m = _COUNT.match(text.replace("\xa0", " "))
    if m is None:
        return None
    try:
        number = float(m.group(1).replace(",", "."))
    except ValueError:  # "..", "1.2.3": not a counter
        return None
    scale = {"K": 1_000, "k": 1_000, "M": 1_000_000, "м": 1_000_000}.get(m.group(2), 1)
    value = number * scale
    # Beyond any real audience (and beyond a float's exact range): not a counter either.
    return round(value) if value < 10**12 else None


@dataclass
class Message:
    post_id: str = ""
    when: str = ""
    text: list[str] = field(default_factory=list)
    views: str = ""
    forwarded: bool = False
    links: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """What a ``t.me/s/<channel>`` page says."""

    is_channel: bool = False
    title: str = ""
    description: str = ""
    subscribers: int | None = None
    messages: list[Message] = field(default_factory=list)
    # Links of the description: t.me shows a written URL as a link whose text may be shorter
    # ("topwar.ru" for http://topwar.ru/), so the text alone loses it.
    description_links: list[str] = field(default_factory=list)
    # The channel's photo: t.me puts an <img> in ``tgme_page_photo_image``, or only the title's
    # initials when the channel has none. None: the page has no photo element at all.
    has_photo: bool | None = None
    # The channel's name as the page names it (its messages' ``data-post="<name>/<id>"``, or the
    # ``@name`` under the title): what a saved page is a preview of.
    channel: str = ""


class _PreviewParser(HTMLParser):
    """Collects text by the classes t.me marks its elements with."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.preview = Preview()
        self._stack: list[str] = []  # the class of each open element
        self._capture: str | None = None
        self._capture_depth = 0
        self._buffer: list[str] = []
        self._message: Message | None = None
        self._photo_depth = 0  # the depth of an open ``tgme_page_photo_image``, 0 if none

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag not in _VOID:
            self._stack.append(" ".join(classes))
        if tag == "br" and self._capture:
            self._buffer.append("\n")
        if "tgme_channel_info" in classes:
            self.preview.is_channel = True
        if "tgme_page_photo_image" in classes and tag not in _VOID:
            self._photo_depth = len(self._stack)
            if self.preview.has_photo is None:
                self.preview.has_photo = False
        if tag == "img" and self._photo_depth and a.get("src"):
            self.preview.has_photo = True
        if "tgme_widget_message" in classes and a.get("data-post"):
            channel, _, post_id = str(a["data-post"]).rpartition("/")
            self._message = Message(post_id=post_id)
            self.preview.messages.append(self._message)
            if channel and not self.preview.channel:
                self.preview.channel = channel
        if self._message is not None:
            if "tgme_widget_message_forwarded_from" in classes:
                self._message.forwarded = True
            if tag == "time" and a.get("datetime"):
                self._message.when = str(a["datetime"])
            if tag == "a" and self._capture == "text" and a.get("href"):
                self._message.links.append(str(a["href"]))
        if tag == "a" and self._capture == "description" and a.get("href"):
            self.preview.description_links.append(str(a["href"]))
        for cls, name in (
            ("tgme_channel_info_header_title", "title"),
            ("tgme_channel_info_description", "description"),
            ("tgme_channel_info_header_username", "username"),
            ("counter_value", "counter"),
            ("tgme_widget_message_text", "text"),
            ("tgme_widget_message_views", "views"),
        ):
            if cls in classes and tag not in ("br",):
                self._capture, self._capture_depth, self._buffer = name, len(self._stack), []

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if self._photo_depth and len(self._stack) == self._photo_depth:
            self._photo_depth = 0
        if self._capture and len(self._stack) == self._capture_depth:
            self._finish("".join(self._buffer))
            self._capture = None
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._buffer.append(data)

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # The standard library raises AssertionError at a marked section it does not know
        # ("<![x"), which would lose the whole page; HTML reads one as a bogus comment that ends
        # at the next ">".
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1

    def _finish(self, text: str) -> None:
        text = text.strip()
        p = self.preview
        if self._capture == "title" and not p.title:
            p.title = text
        elif self._capture == "description":
            p.description = text
        elif self._capture == "username" and text.startswith("@"):
            p.channel = text[1:]  # the header names the channel itself: it wins over a message
        elif self._capture == "counter" and p.subscribers is None:
            p.subscribers = count_value(text)
        elif self._capture == "text" and self._message is not None:
            self._message.text.append(text)
        elif self._capture == "views" and self._message is not None:
            self._message.views = text


def parse_preview(html: str) -> Preview:
    parser = _PreviewParser()
    parser.feed(html)
    parser.close()
    return parser.preview


def preview_events(
    ref: c.PageRef, sweep_id: str, preview: Preview, count: int, at: datetime
) -> list[c.PageEvent]:
    """The snapshot and posts a parsed preview shows, or why it cannot be read."""
    name = ref.native_id
    if not preview.is_channel:
        detail = f"t.me/s/{name} shows no channel (the name is free or not a channel)"
        return [
            c.PageUnavailable.create(
                observed_at=at, platform=ref.platform, page_ref=ref, sweep_id=sweep_id,
                reason=c.Unavailability.NOT_FOUND, detail=detail[:2000],
            )
        ]  # fmt: skip
    snapshot = c.PageSnapshot.create(
        observed_at=at,
        platform=ref.platform,
        page_ref=ref,
        sweep_id=sweep_id,
        page_id=name,
        screen_name=name,
        name=preview.title[:2000] or name,
        description=preview.description[:100_000],
        links=tuple(
            dict.fromkeys(
                link[:2000]
                for link in (
                    *preview.description_links,
                    *re.findall(r"https?://\S+", preview.description),
                )
                if link.startswith(("http://", "https://"))
            )
        )[:50],
        members=preview.subscribers,
        has_photo=preview.has_photo,
    )
    posts = []
    for message in reversed(preview.messages[-count:]):  # newest first, as on the other platforms
        try:
            posted_at = datetime.fromisoformat(message.when)
            # A time without its zone cannot be placed; t.me always writes one.
            if posted_at.utcoffset() is None:
                continue
            posted_at = posted_at.astimezone(UTC)
        except (ValueError, OverflowError):
            continue
        if (
            not (message.post_id.isascii() and message.post_id.isdigit())
            or len(message.post_id) > 30
        ):
            continue
        posts.append(
            c.Post(
                post_id=message.post_id,
                posted_at=posted_at,
                is_own=not message.forwarded,
                is_repost=message.forwarded,
                comments_open=False,
                views=count_value(message.views) if message.views else None,
                text="\n".join(message.text)[:100_000],
                links=tuple(dict.fromkeys(link[:2000] for link in message.links))[:50],
            )
        )
    observed = c.PostsObserved.create(
        observed_at=at,
        platform=ref.platform,
        page_ref=ref,
        sweep_id=sweep_id,
        page_id=name,
        posts=tuple(posts),
    )
    return [snapshot, observed]


# --- descriptor ----------------------------------------------------------------------------------

from gospublic.platforms.descriptor import Descriptor  # noqa: E402

_NO_COMMENTS = "Превью канала Telegram (t.me/s) не показывает комментарии"


def _id_from_path(path: str, text: str) -> str:
    path = path.removeprefix("s/")
    if not CHANNEL_NAME.match(path):
        raise ValueError(
            "not a Telegram channel name (4 to 64 latin letters, digits or '_', as the "
            f"collector reads them): {text!r:.80}"
        )
    return path


def page_url(name: str) -> str:
    return f"https://t.me/{name}"


DESCRIPTOR = Descriptor(
    platform=c.Platform.TG,
    name_ru="Telegram",
    name_in="в Telegram",
    display="TG",
    column="telegram",
    hosts=frozenset({"t.me", "telegram.me", "www.t.me"}),
    api_hosts=frozenset({"t.me", "telegram.me"}),
    id_from_path=_id_from_path,
    page_url=page_url,
    legal=False,
    collector="services.collector.tg_collect",
    simulator="services.simulator.tg_web:TgSimulator",
    not_exposed={
        "NOT_VERIFIED": "Отметка «Госорганизация» есть только во ВКонтакте.",
        "ADDRESS_MISSING": "У канала Telegram нет поля адреса.",
        "COVER_MISSING": "У канала Telegram нет обложки.",
        "WALL_CLOSED": "У канала Telegram нет стены: жители пишут в привязанный чат.",
        "COMMENTS_CLOSED_POSTS": f"{_NO_COMMENTS}, открыты ли они.",
        "LOW_ENGAGEMENT": "Превью канала Telegram показывает только просмотры, без реакций: "
        "вовлечённость не посчитать.",
        "UNANSWERED_COMMENT": f"{_NO_COMMENTS}: ответы не проверить.",
        "SLOW_RESPONSE_MEDIAN": f"{_NO_COMMENTS}: время ответа не измерить.",
        "LOW_REPLY_RATE": f"{_NO_COMMENTS}: долю ответов не посчитать.",
    },
    reported_with_posts=("UNANSWERED_COMMENT", "SLOW_RESPONSE_MEDIAN", "LOW_REPLY_RATE"),
    bare_prefix="@",
    order=2,
)
