"""Which comments are citizens' requests, and the page's first answer to each
(``first_answers``): what every comment rule reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from gospublic.contracts import Comment, CommentsObserved
from gospublic.rulebook import counted

from ..profiles import Profile


@dataclass(frozen=True, slots=True)
class Answer:
    comment: Comment
    replied_at: datetime | None  # the page's first answer to the comment
    # No answer in sight, but the data lacks part of the comment's post (a thread not loaded,
    # top-level comments not read): an answer may be there, so the comment is not evaluable.
    unseen: bool = False


def _thread_of(comment: Comment) -> str:
    """The thread a comment sits in: its root's id (a reply that names no thread: the comment it
    replies to, as version 1 events had it); a top-level comment's own id."""
    return comment.thread_id or comment.reply_to or comment.comment_id


def is_request(
    comment: Comment, citizen_posts: Iterable[str] = (), communities: bool = False
) -> bool:
    """A citizen's request to the page: a person's comment (another community's only when the
    profile says so) on a post of the page, not on a citizen's post, where citizens talk to each
    other."""
    if comment.author_kind != "citizen" or comment.post_id in citizen_posts:
        return False
    return communities or not comment.from_id.startswith("-")


def first_answers(
    comments: Sequence[Comment],
    *,
    citizen_posts: Iterable[str] = (),
    partial_threads: Iterable[str] = (),
    partial_posts: Iterable[str] = (),
    unknown_posts: Iterable[str] = (),
    communities: bool = False,
) -> list[Answer]:
    """Each citizen request (``is_request``) with the page's first answer to it.

    A page comment on the same post, written no earlier, answers a request when it replies to it,
    sits in its thread (replies to the same top-level comment, or to the request itself), or
    names its author (``[id123|Иван], …`` or ``reply_to_user``), in a thread or at the top level:
    one such answer answers all the author's earlier comments on the post.
    """
    citizen_posts, partial_posts = frozenset(citizen_posts), frozenset(partial_posts)
    partial_threads = frozenset(partial_threads)
    page: dict[str, list[Comment]] = {}
    for c in comments:
        if c.author_kind == "page":
            page.setdefault(c.post_id, []).append(c)
    # A post is partly unread when its top level is, or one of its threads: an answer naming
    # the citizen may sit in any of them. A post of unknown author may be a citizen's, where
    # nothing is a request: only a visible answer settles it.
    unread = set(partial_posts) | set(unknown_posts)
    for c in comments:
        if c.comment_id in partial_threads or (c.thread_id and c.thread_id in partial_threads):
            unread.add(c.post_id)
    out = []
    for c in comments:
        if not is_request(c, citizen_posts, communities):
            continue
        thread = _thread_of(c)
        replies = [
            p.posted_at
            for p in page.get(c.post_id, ())
            if p.posted_at >= c.posted_at
            and (
                p.reply_to == c.comment_id
                or ((p.thread_id or p.reply_to) is not None and _thread_of(p) == thread)
                or c.from_id in p.addressees
            )
        ]
        if replies:
            out.append(Answer(c, min(replies)))
        else:
            out.append(Answer(c, None, unseen=c.post_id in unread))
    return out


def event_answers(event: CommentsObserved, profile: Profile) -> list[Answer]:
    """``first_answers`` of an event, with the profile's idea of a request."""
    return first_answers(
        event.comments,
        citizen_posts=event.citizen_posts,
        partial_threads=event.partial_threads,
        partial_posts=event.partial_posts,
        unknown_posts=event.unknown_posts,
        communities=profile.comments.community_comments_are_requests,
    )


# Shared by the comment rules and the deadline warning, which both count requests in words.
def _comments_word(n: int) -> str:
    return counted(n, "комментарий", "комментария", "комментариев")
