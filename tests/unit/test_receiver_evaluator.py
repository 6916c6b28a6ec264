"""A push must not make any verdict worse: the evaluator meets a pushed one-item event between two
polled sweeps of the same page.

Two evaluator states see the same polled sweeps; one of them also sees, between the sweeps, what
the receiver publishes for a new post and a new citizen comment (built by the receiver's own
mapping from the push samples). The pushed events may not open a violation, nor resolve one that
the next sweep opens again (a flap, and two notifications), and after the next sweep both states
hold the same open violations.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gospublic import contracts as c
from services.evaluator.handlers import process_batch
from services.evaluator.profiles import load_profile
from services.evaluator.state import EvaluatorState
from services.receiver import payloads as p

PUSH = Path(__file__).resolve().parents[1] / "fixtures" / "push"
PROFILE = load_profile("dialog-default")
GROUP = 123456
ORG_ID = "1023600000001"
REF = c.PageRef(platform=c.Platform.VK, native_id=str(GROUP), org_id=ORG_ID)
ORG = c.Organisation(
    org_id=ORG_ID, name="Администрация района", level="municipal", founder="Администрация",
    municipality="Район", sphere="administration", pages=(REF,),
)  # fmt: skip
# The push samples' times: the post at 2025-12-06 19:00 UTC, the comment an hour later.
PUSHED_AT = datetime(2025, 12, 6, 20, 5, tzinfo=UTC)
T0 = PUSHED_AT - timedelta(hours=6)  # the sweep before the pushes
T1 = PUSHED_AT + timedelta(hours=6)  # the sweep after


def registered() -> c.OrganisationsRegistered:
    return c.OrganisationsRegistered.create(
        observed_at=T0 - timedelta(days=1), registry_version="v1", region="test", chunk=0,
        chunks=1, organisations=(ORG,),
    )  # fmt: skip


def snapshot(at: datetime) -> c.PageSnapshot:
    return c.PageSnapshot.create(
        observed_at=at, platform=c.Platform.VK, page_ref=REF, sweep_id=f"sweep-{at:%d%H}",
        page_id=str(GROUP), name="Администрация района",
        description="Официальная страница администрации района. Новости, приём граждан, "
        "обращения. Телефон приёмной: +7 (47391) 4-12-34.",
        members=5000, wall=1, verified=True, has_photo=True, has_cover=True,
        is_government_organization=True,
    )  # fmt: skip


def wall_post(n: int, at: datetime) -> c.Post:
    return c.Post(
        post_id=str(n), posted_at=at, from_id=f"-{GROUP}", is_own=True, is_repost=False,
        comments_count=2, likes=60, reposts=6, views=2500, text=f"Новость администрации {n}",
    )  # fmt: skip


def polled_posts(at: datetime, extra: tuple[c.Post, ...] = ()) -> c.PostsObserved:
    posts = tuple(wall_post(400 + i, at - timedelta(days=i, hours=3)) for i in range(20))
    return c.PostsObserved.create(
        observed_at=at, platform=c.Platform.VK, page_ref=REF, sweep_id=f"sweep-{at:%d%H}",
        page_id=str(GROUP), total_count=300, posts=extra + posts,
    )  # fmt: skip


def polled_comments(at: datetime) -> c.CommentsObserved:
    asked = at - timedelta(days=3)
    comments = (
        c.Comment(comment_id="10", post_id="401", from_id="77", author_kind="citizen",
                  posted_at=asked, text="Когда починят дорогу?"),
        # Left unanswered for days: a violation the pushes must not resolve.
        c.Comment(comment_id="11", post_id="402", from_id="78", author_kind="citizen",
                  posted_at=asked, text="Почему не вывозят мусор?"),
        c.Comment(comment_id="12", post_id="401", from_id=f"-{GROUP}", author_kind="page",
                  reply_to="10", thread_id="10", posted_at=asked + timedelta(hours=2),
                  text="Ремонт запланирован на май."),
    )  # fmt: skip
    return c.CommentsObserved.create(
        observed_at=at, platform=c.Platform.VK, page_ref=REF, sweep_id=f"sweep-{at:%d%H}",
        page_id=str(GROUP), comments=comments,
    )  # fmt: skip


def pushed() -> list[c.PageEvent]:
    events = []
    for name in ("vk_wall_post_new.json", "vk_wall_reply_new.json"):
        note = p.VkNotification.read(json.loads((PUSH / name).read_text()))
        events.extend(p.vk_events(note, REF, PUSHED_AT))
    return events


def sweep(at: datetime, extra: tuple[c.Post, ...] = ()) -> list[c.Event]:
    return [snapshot(at), polled_posts(at, extra), polled_comments(at)]


def opened(out) -> list[str]:
    return sorted(a.labels.rule for a in out.alerts if isinstance(a, c.ViolationOpened))


def resolved(out) -> list[str]:
    return sorted(a.labels.rule for a in out.alerts if isinstance(a, c.ViolationResolved))


def test_pushed_events_make_no_verdict_worse() -> None:
    with_push, without = EvaluatorState(), EvaluatorState()
    for state in (with_push, without):
        process_batch(state, [registered(), *sweep(T0)], PROFILE, T0)
    baseline = set(without.open)
    assert baseline, "the scene should hold an open violation for the pushes to disturb"

    out = process_batch(with_push, pushed(), PROFILE, PUSHED_AT)
    assert opened(out) == [], "a push opened a violation"
    assert resolved(out) == [], "a push resolved a violation the next sweep opens again"
    assert set(with_push.open) <= baseline

    new_post = c.Post(
        post_id="501", posted_at=datetime(2025, 12, 6, 19, 0, tzinfo=UTC), from_id=f"-{GROUP}",
        is_own=True, is_repost=False, likes=20, views=900,
    )  # fmt: skip
    for state in (with_push, without):
        process_batch(state, sweep(T1, (new_post,)), PROFILE, T1)
    assert set(with_push.open) == set(without.open)


def test_the_scene_is_quiet_without_pushes() -> None:
    """The comparison above is meaningful: two sweeps alone hold their violations steady."""
    state = EvaluatorState()
    process_batch(state, [registered(), *sweep(T0)], PROFILE, T0)
    first = set(state.open)
    out = process_batch(state, sweep(T1), PROFILE, T1)
    assert resolved(out) == [] and set(state.open) >= first
