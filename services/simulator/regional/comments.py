"""Comments under a page's posts, the page's answers, and how they are judged.

Citizens ask under the page's own posts and the page answers by its planted reply kind (prompt,
slow, never); the judging helpers (:meth:`CommentParts.first_replies` and those after it) are the
ground truth's own reading of the reply rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from services.simulator.regional.model import Comment, Post, VkGroup
from services.simulator.regional.planting import _SALT_COMMENTS, _SALT_REPLY_KIND, unit
from services.simulator.regional.rules import (
    _COMMENT_CLEARANCES,
    _COMMUNITY_COMMENT_RATE,
    _COMMUNITY_IDS,
    _LONG_THREAD_RATE,
    _LONG_THREAD_REPLIES,
    _REPLY_KINDS,
    DAY_S,
    REPLY_RATE_DAYS,
    REPLY_SLA_HOURS,
    REPLY_WARNING_SHARE,
    REPLY_WINDOW_DAYS,
)
from services.simulator.texts import COMMENT_TEXTS, REPLY_TEXTS, mention_name


class CommentParts:
    """The comments part of :class:`~services.simulator.regional.state.Region`."""

    def reply_kind(self, group: VkGroup) -> str:
        """How the page answers citizens: ``prompt`` (hours), ``slow`` (days) or ``never``."""
        u = unit(self.bits(group, _SALT_REPLY_KIND))
        return "prompt" if u < 0.65 else "slow" if u < 0.85 else "never"

    def comments_open(self, group: VkGroup) -> bool:
        return group.comments_open and group.wall != 0

    def comments(self, group: VkGroup, post: Post, now_ts: float | None = None) -> list[Comment]:
        """Comments on a post visible at ``now_ts``, oldest first: citizens and the page's replies.

        Replies sit in the thread of the citizen comment they answer (``thread`` is its id) and
        come from the page itself, ``from_id = -group_id``.
        """
        now_ts = self.now_ts if now_ts is None else now_ts
        return [c for c in self._all_comments(group, post) if c.date <= now_ts]

    def _all_comments(self, group: VkGroup, post: Post) -> list[Comment]:
        """Every comment the post will have, dated. Under the page's own posts: citizens' questions
        and the page's answers, given in the citizen's thread or at the top level naming the
        citizen (``[id…|Имя], …``, with or without ``reply_to_user``), as real pages do; now and
        then a long thread where other citizens join in before the page answers (more replies
        than a first read shows), and a comment by another community. Under a citizen's post:
        citizens talking to each other."""
        if not self.comments_open(group):
            return []
        b = self.bits(group, _SALT_COMMENTS, post.id)
        u = unit(b)
        if u < 0.72:  # most posts get no comment: decided by one hash, nothing else computed
            return []
        citizens = 1 if u < 0.86 else 2 if u < 0.93 else 3 if u < 0.97 else 4 + b % 3
        if post.from_id != -group.id:
            return self._citizen_talk(group, post, citizens)
        answered, lo, hi = _REPLY_KINDS[self.reply_kind(group)]
        # (date, author, thread draft index, text, reply_to_user, mention)
        drafts: list[tuple[int, int, int, int, int, int]] = []
        for n in range(citizens):
            b1 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 1)
            b2 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 2)
            delay = min(-math.log(1.0 - unit(b1)) * 8 * 3600, 10 * DAY_S)
            date = self._clear_of_sla(post.date + 300 + int(delay))
            author = 1_000_000 + b2 % 800_000_000
            top = len(drafts)
            drafts.append((date, author, -1, (b2 >> 32) & 0xFF, 0, 0))
            if unit(b1, 16) < answered:
                b3 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 32 + n)
                answer_at = date + int((lo + (hi - lo) * unit(b1, 32)) * 3600)
                style = b3 >> 48
                if unit(b3, 32) < _LONG_THREAD_RATE:
                    # Neighbours join the thread first; the page answers them all in the thread.
                    style = 0
                    for k in range(_LONG_THREAD_REPLIES):
                        joined = self._clear_of_sla(date + (k + 1) * 120)
                        if joined < answer_at - 60:
                            neighbour = 1_000_000 + (b3 + 7919 * (k + 1)) % 800_000_000
                            drafts.append((joined, neighbour, top, k, author, author))
                drafts.append(self._answer(group, answer_at, author, top, b2 >> 40, style))
                if unit(b1, 48) < 0.2:
                    date = self._clear_of_sla(answer_at + int((0.2 + 29.8 * unit(b2, 48)) * 3600))
                    drafts.append((date, author, top, (b2 >> 56) & 0xFF, -group.id, 0))
                    date += int((lo + (hi - lo) * unit(b3)) * 3600)
                    drafts.append(self._answer(group, date, author, top, b3 >> 16, b3 >> 52))
        if unit(b, 48) < _COMMUNITY_COMMENT_RATE:
            # Another community (a fund, a school) writes under the page's post: no request.
            community = -(_COMMUNITY_IDS + b % 10_000_000)
            date = self._clear_of_sla(post.date + 600 + int(unit(b, 32) * DAY_S))
            drafts.append((date, community, -1, (b >> 24) & 0xFF, 0, 0))
        return self._numbered(post, drafts)

    def _answer(
        self, group: VkGroup, date: int, author: int, top: int, text: int, style: int
    ) -> tuple[int, int, int, int, int, int]:
        """The page's answer to ``author``: in the thread (most), or at the top level naming the
        citizen, with ``reply_to_user`` or without it."""
        u = (style & 0xF) / 16
        if u < 0.6:
            return (date, -group.id, top, text & 0xFF, author, 0)
        return (date, -group.id, -1, text & 0xFF, author if u < 0.8 else 0, author)

    def _citizen_talk(self, group: VkGroup, post: Post, citizens: int) -> list[Comment]:
        """Citizens under a citizen's post: questions to the author, replies between them."""
        drafts: list[tuple[int, int, int, int, int, int]] = []
        for n in range(citizens):
            b1 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 1)
            b2 = self.bits(group, _SALT_COMMENTS, post.id * 64 + 2 * n + 2)
            date = self._clear_of_sla(post.date + 300 + int(unit(b1) * 2 * DAY_S))
            author = 1_000_000 + b2 % 800_000_000
            top = len(drafts)
            drafts.append((date, author, -1, (b2 >> 32) & 0xFF, 0, 0))
            if unit(b1, 16) < 0.5:
                date = self._clear_of_sla(date + int((0.5 + 12 * unit(b1, 32)) * 3600))
                drafts.append((date, post.from_id, top, (b2 >> 40) & 0xFF, author, author))
        return self._numbered(post, drafts)

    @staticmethod
    def _numbered(post: Post, drafts: list[tuple[int, int, int, int, int, int]]) -> list[Comment]:
        order = sorted(range(len(drafts)), key=lambda i: (drafts[i][0], i))
        ids = {i: post.id * 1000 + n + 1 for n, i in enumerate(order)}
        comments = []
        for i in order:
            date, author, top, text, to_user, mention = drafts[i]
            comments.append(
                Comment(
                    id=ids[i],
                    post_id=post.id,
                    from_id=author,
                    date=date,
                    thread=ids[top] if top >= 0 else 0,
                    reply_to_user=to_user,
                    text=text,
                    mention=mention,
                )
            )
        return comments

    def _clear_of_sla(self, date: int) -> int:
        """A citizen comment's date, moved a little later if its age at the epoch is near the
        reply SLA or the window's edge (later keeps it after the post and the reply it follows)."""
        for threshold, margin in _COMMENT_CLEARANCES:
            if threshold - margin < self.epoch_ts - date < threshold + margin:
                date = self.epoch_ts - (threshold - margin) + 60
        return date

    def first_replies(
        self, group: VkGroup, posts: Sequence[Post], now_ts: float
    ) -> list[tuple[Comment, int | None]]:
        """Each citizen request on ``posts`` visible at ``now_ts`` with the date of the page's
        first answer to it (None while unanswered).

        A request is a person's comment on one of the page's own posts (another community's
        comment is not, nor citizens talking under a citizen's post). The page answers it with a
        comment written no earlier, in its thread or naming its author (``reply_to_user`` or
        ``[id…|Имя]``, in a thread or at the top level); a citizen's follow-up in a thread the
        page answered before waits for its own answer.
        """
        out: list[tuple[Comment, int | None]] = []
        for post in posts:
            if post.from_id != -group.id:
                continue
            comments = self.comments(group, post, now_ts)
            page = [c for c in comments if c.from_id == -group.id]
            for c in comments:
                if c.from_id < 0:
                    continue
                root = c.thread or c.id
                replies = [
                    p.date
                    for p in page
                    if p.date >= c.date
                    and (
                        (p.thread and p.thread == root) or c.from_id in (p.mention, p.reply_to_user)
                    )
                ]
                out.append((c, min(replies) if replies else None))
        return out

    @staticmethod
    def unanswered_comments(
        replies: Sequence[tuple[Comment, int | None]],
        now_ts: float,
        hours: float = REPLY_SLA_HOURS,
        window_days: float = REPLY_WINDOW_DAYS,
    ) -> list[tuple[Comment, float]]:
        """Citizen comments of the window (from :meth:`first_replies`) that waited for the
        page's first reply longer than ``hours`` or are still waiting, with the hours waited."""
        since = now_ts - window_days * DAY_S
        late = []
        for c, replied in replies:
            if c.date < since:
                continue
            waited = max(0.0, ((now_ts if replied is None else replied) - c.date) / 3600)
            if waited > hours:
                late.append((c, waited))
        return late

    @staticmethod
    def comments_near_deadline(
        replies: Sequence[tuple[Comment, int | None]],
        now_ts: float,
        hours: float = REPLY_SLA_HOURS,
        share: float = REPLY_WARNING_SHARE,
        window_days: float = REPLY_WINDOW_DAYS,
    ) -> list[Comment]:
        """Citizen comments of the window still waiting for the page's first reply after
        ``share`` of ``hours`` but not past them: UNANSWERED_COMMENT_SOON's warning band."""
        since = now_ts - window_days * DAY_S
        return [
            c
            for c, replied in replies
            if replied is None
            and c.date >= since
            and share * hours <= (now_ts - c.date) / 3600 <= hours
        ]

    @staticmethod
    def reply_rate(
        replies: Sequence[tuple[Comment, int | None]],
        now_ts: float,
        days: float = REPLY_RATE_DAYS,
    ) -> float | None:
        """Share of the citizen comments answered within ``days``, among those answered or older
        than that (None when there is none to judge)."""
        within = days * DAY_S
        judged = answered = 0
        for c, replied in replies:
            if replied is not None or now_ts - c.date >= within:
                judged += 1
                answered += replied is not None and replied - c.date <= within
        return answered / judged if judged else None

    def comment_text(self, comment: Comment) -> str:
        """The text as VK gives it; a comment naming a citizen starts ``[id…|Имя], `` as the
        site writes it (``mention_name`` gives the name)."""
        texts = REPLY_TEXTS if comment.from_id < 0 else COMMENT_TEXTS
        text = texts[comment.text % len(texts)]
        if comment.mention:
            return f"[id{comment.mention}|{mention_name(comment.mention)}], {text}"
        return text
