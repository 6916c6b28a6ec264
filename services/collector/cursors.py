"""Per-page cursors in NATS KV: where the last sweep left a page.

A cursor records the sweep that last collected the page, the newest post id seen, the comment
count of each recent post, when the page was last read, when it was last seen active and its
posting habit (for the scheduler's adaptive polling, see ``scheduler.due_pages``). The collector
reads the cursors of a task's pages before it starts and writes them after the task's events are
acknowledged, so that

- comments are fetched only for posts whose count changed since the last sweep;
- a task delivered again (its collector stopped or crashed before the ack) skips the pages it
  already collected in this sweep, whichever instance picks it up.

Reads take one batched direct get per task (``multi_last``, nats-server 2.11+), with a fallback to
one get per key; writes are pipelined publishes to the bucket's subjects. Both have deadlines.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from gospublic import bus, pushmarks
from gospublic import contracts as c

log = logging.getLogger("gospublic.collector.cursors")

STREAM = f"KV_{c.CURSORS_BUCKET}"


@dataclass
class Cursor:
    sweep: str = ""  # the sweep that last collected the page
    last_post: int = 0  # the newest post id seen
    comments: dict[str, int] = field(default_factory=dict)  # post id → comment count seen
    read_at: int = 0  # unix time the page was last read to an answer (0: never)
    active_at: int = 0  # unix time of its newest post or comment activity seen (0: none)
    # Post id → unix time of the oldest citizen comment there with no page comment after it, for
    # the scheduler's priority to ageing comment threads (``note_waiting``).
    waiting: dict[str, int] = field(default_factory=dict)
    # The page's posting habit, from its own posts (not reposts, not pinned) a read returned
    # (``note_habit``): the newest one's unix time and the median gap between them in seconds
    # (0: unknown: none or one such post, or a cursor older than the habit), and whether the
    # page's newest post takes no comments.
    posted_at: int = 0
    post_gap: int = 0
    comments_closed: bool = False

    @property
    def waiting_since(self) -> int:
        """Unix time of the oldest citizen comment seen waiting for the page (0: none)."""
        return min(self.waiting.values(), default=0)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "sweep": self.sweep,
                "last_post": self.last_post,
                "comments": self.comments,
                "read_at": self.read_at,
                "active_at": self.active_at,
                **({"waiting": self.waiting} if self.waiting else {}),
                **({"posted_at": self.posted_at} if self.posted_at else {}),
                **({"post_gap": self.post_gap} if self.post_gap else {}),
                **({"comments_closed": True} if self.comments_closed else {}),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Cursor:
        """A cursor from KV; anything unreadable counts as no cursor (the page is read afresh)."""
        try:
            raw = json.loads(data)
            comments = raw.get("comments") or {}
            return cls(
                sweep=str(raw.get("sweep") or ""),
                last_post=int(raw.get("last_post") or 0),
                comments={str(k): int(v) for k, v in comments.items()},
                read_at=int(raw.get("read_at") or 0),
                active_at=int(raw.get("active_at") or 0),
                waiting={str(k): int(v) for k, v in (raw.get("waiting") or {}).items()},
                posted_at=int(raw.get("posted_at") or 0),
                post_gap=int(raw.get("post_gap") or 0),
                comments_closed=bool(raw.get("comments_closed")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


def cursor_key(ref: c.PageRef) -> str:
    """KV key of a page: ``vk.club123``; characters a key may not hold become ``=XX`` (the same
    key marks a page the platform pushed news about)."""
    return pushmarks.page_key(ref)


def changed_posts(counts: Mapping[str, int], cursor: Cursor | None) -> list[str]:
    """Posts whose comment count differs from the cursor's and is not zero (nothing to read)."""
    seen = cursor.comments if cursor is not None else {}
    return [post for post, n in counts.items() if n > 0 and seen.get(post, 0) != n]


def posts_to_read(counts: Mapping[str, int], cursor: Cursor | None) -> list[str]:
    """Posts whose comments a read fetches: those whose count changed, and those where a citizen's
    comment was seen waiting for the page's answer.

    A waiting comment turns into a violation (its deadline passes) or a warning (a share of it)
    with time alone, while the count stays the same: without a re-read no event would carry it
    past either moment, and nothing would judge it again (found by ``bench/freshness.py``).
    """
    wanted = changed_posts(counts, cursor)
    if cursor is not None and cursor.waiting:
        chosen = set(wanted)
        wanted += [p for p in cursor.waiting if counts.get(p, 0) > 0 and p not in chosen]
    return wanted


# Posts whose dates make a page's posting habit: enough for a median that one odd gap (a holiday,
# a burst on one day) does not move, few enough to be recent.
HABIT_POSTS = 10


def posting_habit(posts: Iterable[c.Post]) -> tuple[int, int, bool] | None:
    """(the newest own post's unix time, the median gap in seconds between the newest own posts,
    whether the newest post takes no comments) of the posts one read returned; None: no post.

    Own posts only, as STALE and LOW_FREQUENCY count them: not reposts, not a pinned one (old
    whatever the habit), not citizens' posts on an open wall. 0 for what they do not show."""
    shown = sorted((p for p in posts if not p.is_pinned), key=lambda p: p.posted_at, reverse=True)
    if not shown:
        return None
    own = [int(p.posted_at.timestamp()) for p in shown if p.is_own and not p.is_repost]
    times = own[:HABIT_POSTS]
    gaps = sorted(newer - older for newer, older in itertools.pairwise(times))
    gap = gaps[len(gaps) // 2] if gaps else 0
    return (times[0] if times else 0), gap, not shown[0].comments_open


def note_habit(cursor: Cursor, old: Cursor | None, events: Iterable[c.PageEvent]) -> None:
    """The page's posting habit from the posts this read returned (:func:`posting_habit`), for
    the scheduler's target interval; a read without posts keeps what the last one saw."""
    posts = next((e for e in events if isinstance(e, c.PostsObserved)), None)
    habit = posting_habit(posts.posts) if posts is not None else None
    if habit is None and old is not None:
        habit = old.posted_at, old.post_gap, old.comments_closed
    if habit is not None:
        cursor.posted_at, cursor.post_gap, cursor.comments_closed = habit


def note_waiting(cursor: Cursor, old: Cursor | None, events: Iterable[c.PageEvent]) -> None:
    """Which of the page's posts hold a citizen comment still waiting for the page, and since when;
    and the page's posting habit (:func:`note_habit`), both noted after every read.

    Posts whose comments this read fetched are judged afresh; the others keep what the last read
    saw while they stay on the wall. Only a scheduling hint, not a verdict: a page comment later on
    the same post counts as the answer (the evaluator's ``first_answers`` decides the rules).
    """
    events = list(events)
    note_habit(cursor, old, events)
    waiting = dict(old.waiting) if old is not None else {}
    for event in events:
        if isinstance(event, c.PostsObserved):
            on_wall = {p.post_id for p in event.posts}
            waiting = {post: t for post, t in waiting.items() if post in on_wall}
    for event in events:
        if not isinstance(event, c.CommentsObserved):
            continue
        fetched: dict[str, list[c.Comment]] = {}
        for comment in event.comments:
            fetched.setdefault(comment.post_id, []).append(comment)
        for post, comments in fetched.items():
            waiting.pop(post, None)
            if post in event.citizen_posts:
                continue
            last_answer = max(
                (x.posted_at for x in comments if x.author_kind == "page"), default=None
            )
            open_ = [
                x.posted_at
                for x in comments
                if x.author_kind == "citizen" and (last_answer is None or x.posted_at > last_answer)
            ]
            if open_:
                waiting[post] = int(min(open_).timestamp())
    cursor.waiting = waiting


class CursorStore:
    """The ``cursors`` bucket, read and written in bulk."""

    def __init__(self, js: JetStreamContext, timeout: float = 5.0) -> None:
        self.js = js
        self.timeout = timeout
        self._batch = True
        self._batch_answered = False  # a batched get has been answered on this server

    async def start(self) -> CursorStore:
        """Allow direct gets on the bucket's stream (needed for batched reads; idempotent)."""
        info = await self.js.stream_info(STREAM)
        if not info.config.allow_direct:
            info.config.allow_direct = True
            await self.js.update_stream(info.config)
        return self

    async def load(self, keys: Iterable[str]) -> dict[str, Cursor]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        if self._batch:
            try:
                return await self._load_batch(keys)
            except _BatchUnsupported as exc:
                log.warning("batched KV reads unavailable; reading cursors one by one: %s", exc)
                self._batch = False
        return await self._load_each(keys)

    async def _load_batch(self, keys: list[str]) -> dict[str, Cursor]:
        nc = self.js._nc  # the direct-get API streams replies to one inbox; nats-py has no wrapper
        inbox = nc.new_inbox()
        queue: asyncio.Queue = asyncio.Queue()
        sub = await nc.subscribe(inbox, cb=queue.put)
        found: dict[str, Cursor] = {}
        prefix = f"$KV.{c.CURSORS_BUCKET}."
        try:
            request = {"multi_last": [prefix + k for k in keys], "batch": len(keys) + 1}
            await nc.publish(
                f"$JS.API.DIRECT.GET.{STREAM}", json.dumps(request).encode(), reply=inbox
            )
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), self.timeout)
                except TimeoutError:
                    if self._batch_answered:
                        # The server answers these: this one was lost (a restart, a broken
                        # connection). Reading key by key for good would only slow every task.
                        raise bus.NetworkTimeout(
                            f"cursors: no answer to a batched direct get in {self.timeout:g} s"
                        ) from None
                    raise _BatchUnsupported("no answer to a batched direct get") from None
                self._batch_answered = True
                headers = msg.headers or {}
                status = headers.get("Status")
                if status == "204":  # end of batch
                    break
                if status == "404":  # none of the keys exists yet
                    break
                if status:
                    raise _BatchUnsupported(f"status {status} {headers.get('Description', '')}")
                subject = headers.get("Nats-Subject", "")
                if headers.get("KV-Operation") in ("DEL", "PURGE") or not msg.data:
                    continue
                found[subject.removeprefix(prefix)] = Cursor.from_bytes(msg.data)
        finally:
            await sub.unsubscribe()
        return found

    async def _load_each(self, keys: list[str]) -> dict[str, Cursor]:
        kv = await self.js.key_value(c.CURSORS_BUCKET)

        async def one(key: str) -> tuple[str, Cursor | None]:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                return key, None
            # A timeout is raised, not read as "no cursor": that would make the page look never
            # read (its comments read again, its resumption in the sweep lost).
            return key, Cursor.from_bytes(entry.value or b"")

        pairs = await asyncio.gather(*(one(k) for k in keys))
        return {k: v for k, v in pairs if v is not None}

    async def save(self, cursors: Mapping[str, Cursor]) -> None:
        """Write the cursors, pipelined; KV is last-write-wins, so no message ids.

        Through ``bus.publish_all``, whose acknowledgements have a deadline: nats-py's
        ``publish_async`` futures are never resolved when the connection is replaced before the
        acks come (a nats-server restart), and a save in flight then held the task for ever.
        """
        prefix = f"$KV.{c.CURSORS_BUCKET}."
        await bus.publish_all(
            self.js,
            [bus.Outgoing(prefix + key, cursor.to_bytes(), "") for key, cursor in cursors.items()],
        )


class _BatchUnsupported(Exception):
    pass
