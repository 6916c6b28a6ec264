"""Cross-platform copies: the same organisation's posts that appear on several of its pages.

Many new channels are formal copies of the body's Telegram or VK page. Per organisation this
measures, for every ordered pair of platforms, the share of one platform's posts whose text
(normalised) appeared earlier on the other, and the lag between them; and it tells a channel with
no original content over the last four weeks (rule COPIED_CONTENT).

Pure functions on plain values and an injected clock: the evaluator hands them the posts it keeps
per organisation (bounded: the latest posts of each page).
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Texts shorter than this once normalised ("Доброе утро!", a lone link) say nothing about where
# a post came from: they are neither copies nor originals.
MIN_TEXT = 20
WINDOW = timedelta(days=28)

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"\[(?:id|club|public)[0-9]+\|([^\]]*)\]")  # VK's [club1|Name] → Name
# A word: a run of word characters other than "_" (punctuation, emoji and "_" separate words).
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """The words of a post in lower case, without links, markup, emoji or punctuation: the same
    announcement posted on VK, Telegram and MAX reads the same.

    Each post of every sweep passes here, so the patterns run only where they can match: a
    mention needs "[", a link "://" or "www." (no other character lowers to "w").
    """
    if "[" in text:
        text = _MENTION.sub(r"\1", text)
    low = text.lower()
    if "://" in text or "www." in low:
        low = _URL.sub(" ", text).lower()
    return " ".join(_WORD.findall(low.replace("ё", "е")))


def text_key(text: str) -> int | None:
    """A post's normalised text as a 64-bit number (the same in every process), or None for a
    text too short to tell: what the evaluator keeps instead of the text."""
    normal = normalise(text)
    if len(normal) < MIN_TEXT:
        return None
    return int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class PlatformPost:
    platform: str
    posted_at: datetime
    text: str

    @property
    def key(self) -> int | None:
        return text_key(self.text)


@dataclass(frozen=True, slots=True)
class KeyedPost:
    """A post as the evaluator keeps it: its platform, time and ``text_key``."""

    platform: str
    posted_at: datetime
    key: int | None


@dataclass(frozen=True, slots=True)
class CopyShare:
    """How much of ``target``'s posts appeared first on ``source``."""

    source: str
    target: str
    posts: int  # target's posts with a text long enough to tell
    copied: int  # of them, posted on source first (or at the same time)
    median_lag_s: float | None  # target's time minus source's, over the copies

    @property
    def share(self) -> float:
        return self.copied / self.posts if self.posts else 0.0


def _first_seen(posts: Iterable[PlatformPost | KeyedPost]) -> dict[int, dict[str, datetime]]:
    """Normalised text (its key) → platform → when it was first posted there."""
    seen: dict[int, dict[str, datetime]] = {}
    for post in posts:
        key = post.key
        if key is None:
            continue
        at = seen.setdefault(key, {})
        if post.platform not in at or post.posted_at < at[post.platform]:
            at[post.platform] = post.posted_at
    return seen


def copy_shares(posts: Sequence[PlatformPost | KeyedPost]) -> list[CopyShare]:
    """For every ordered pair of the organisation's platforms with posts: the share of the
    target's posts that appeared on the source first, and the median lag."""
    seen = _first_seen(posts)
    platforms = sorted({p.platform for p in posts})
    out = []
    for target in platforms:
        texts = [times for times in seen.values() if target in times]
        for source in platforms:
            if source == target:
                continue
            lags = [
                (times[target] - times[source]).total_seconds()
                for times in texts
                if source in times and times[source] <= times[target]
            ]
            out.append(
                CopyShare(
                    source=source,
                    target=target,
                    posts=len(texts),
                    copied=len(lags),
                    median_lag_s=statistics.median(lags) if lags else None,
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class Originality:
    """A page's posts over the window: how many, and how many appeared nowhere else before."""

    platform: str
    posts: int  # posts in the window with a text long enough to tell
    original: int
    copied_from: tuple[str, ...]  # the platforms its copies came from

    @property
    def no_original_content(self) -> bool:
        """Posts, all of them copies: a mirror of another page. An empty page is not one (STALE
        tells that), nor a page whose posts are too short to tell."""
        return self.posts > 0 and self.original == 0


def originality(
    posts: Sequence[PlatformPost | KeyedPost],
    platform: str,
    now: datetime,
    window: timedelta = WINDOW,
) -> Originality:
    """The platform's posts of the last ``window`` against the organisation's other pages (all
    their posts given, also older ones: a copy may repost an old announcement)."""
    seen = _first_seen(posts)
    since = now - window
    recent = {
        key for key, times in seen.items() if platform in times and since <= times[platform] <= now
    }
    sources: set[str] = set()
    original = 0
    for key in recent:
        times = seen[key]
        earlier = [p for p, at in times.items() if p != platform and at <= times[platform]]
        if earlier:
            sources.update(earlier)
        else:
            original += 1
    return Originality(platform, len(recent), original, tuple(sorted(sources)))


def by_platform(posts: Mapping[str, Iterable[tuple[datetime, str]]]) -> list[PlatformPost]:
    """``{platform: [(posted_at, text), …]}`` as a flat list."""
    return [PlatformPost(p, at, text) for p, items in posts.items() for at, text in items]


# --- what the evaluator keeps per organisation --------------------------------------------------

# The latest posts of each page kept for the comparison: a page posting daily shows four weeks in
# 28; a quieter one all of them. Bounded so a national register's state stays small (a tuple of
# (ms, key) pairs per page of an organisation with pages on several platforms).
KEPT_POSTS = 28


def kept(posts: Iterable[tuple[datetime, str]]) -> tuple[tuple[int, int], ...]:
    """The newest ``KEPT_POSTS`` posts as (posted_at ms, text key), texts too short left out."""
    keyed = []
    for posted_at, text in posts:
        key = text_key(text)
        if key is not None:
            keyed.append((int(posted_at.timestamp() * 1000), key))
    keyed.sort(reverse=True)
    return tuple(keyed[:KEPT_POSTS])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def kept_originality(
    platform_posts: Mapping[str, tuple[tuple[int, int], ...]],
    platform: str,
    now: datetime,
    window: timedelta = WINDOW,
) -> Originality:
    """``originality(unkept(platform_posts), platform, now, window)``, read off the kept
    (ms, key) pairs without making a datetime and a ``KeyedPost`` of each: every posts event of
    an organisation with several platforms runs this over all its pages' kept posts.

    A kept time is whole milliseconds, so comparing it with ``now`` in microseconds is exact.
    """
    first: dict[int, dict[str, int]] = {}
    for page_platform, items in platform_posts.items():
        for ms, key in items:
            at = first.get(key)
            if at is None:
                first[key] = {page_platform: ms}
            elif page_platform not in at or ms < at[page_platform]:
                at[page_platform] = ms
    now_us = (now - _EPOCH) // _MICROSECOND
    since_us = now_us - window // _MICROSECOND
    sources: set[str] = set()
    posts = original = 0
    for times in first.values():
        own = times.get(platform)
        if own is None or not since_us <= own * 1000 <= now_us:
            continue
        posts += 1
        earlier = [p for p, ms in times.items() if p != platform and ms <= own]
        if earlier:
            sources.update(earlier)
        else:
            original += 1
    return Originality(platform, posts, original, tuple(sorted(sources)))


def unkept(platform_posts: Mapping[str, tuple[tuple[int, int], ...]]) -> list[KeyedPost]:
    """The kept posts of an organisation's pages as ``KeyedPost`` values."""
    return [
        KeyedPost(platform, datetime.fromtimestamp(ms / 1000, UTC), key)
        for platform, items in platform_posts.items()
        for ms, key in items
    ]
