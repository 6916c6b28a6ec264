"""Sweeps over time: comments read only where the count changed, cursors in NATS KV carrying the
state between sweeps and instances, and the simulated world moving between sweeps (new posts and
replies, deleted posts, pages deleted or closed). Real nats-server, the simulator over HTTP,
collectors through ``serve()``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.registry import store_registry
from gospublic.settings import Settings
from services.collector import main as collector
from services.collector.cursors import Cursor, cursor_key
from services.collector.scheduler import (
    PollPolicy,
    due_pages,
    load_cursors,
    plan_tasks,
    schedule_sweep,
)
from services.simulator.region import Region, generate_region, vk_ref_from_link
from services.simulator.server import VkSimServer
from services.simulator.vk_api import VkSimulator

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DAY = 86_400


@pytest.fixture
def region() -> Region:
    # Function scope: the tests move its clock.
    return generate_region("voronezh", seed=11, now=NOW, size=120)


def refs(region: Region) -> list[c.PageRef]:
    return [
        c.PageRef(platform=c.Platform.VK, native_id=vk_ref_from_link(o.vk), org_id=o.ogrn)
        for o in region.organisations
        if o.vk
    ]


def settings_for(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={
            "vk_api_url": url,
            "vk_tokens": [SecretStr("comments-token-1"), SecretStr("comments-token-2")],
            "vk_requests_per_second": 50.0,
            "vk_retry_backoff_s": 0.05,
        }
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    run = asyncio.create_task(
        collector.serve(settings.nats_url, settings, argparse.Namespace(platform="vk"), stop)
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(run, 30)


@asynccontextmanager
async def jetstream(settings: Settings) -> AsyncIterator[JetStreamContext]:
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    try:
        yield js
    finally:
        await nc.close()


def registered(region: Region) -> list[c.Organisation]:
    """The register of the region's VK pages, one organisation a page."""
    return [
        c.Organisation(
            org_id=ref.org_id,
            name="x",
            level="municipal",
            founder="x",
            municipality="x",
            sphere="education",
            pages=(ref,),
        )
        for ref in refs(region)
    ]


async def sweep(
    js: JetStreamContext, region: Region, sweep_id: str, *, again: bool = False
) -> None:
    """Publish the sweep's tasks and wait for them; ``again``: without message ids, as a
    redelivery would bring them (the scheduler's ids would be dropped as duplicates).
    """
    tasks = plan_tasks(registered(region), c.Platform.VK, sweep_id, 50, NOW)
    subject = c.task_subject("vk")
    if again:
        for task in tasks:
            await js.publish(subject, task.to_bytes())
    else:
        messages = [bus.event_message(subject, t, sweep_id, n) for n, t in enumerate(tasks)]
        await bus.publish_all(js, messages)
    deadline = asyncio.get_running_loop().time() + 60
    while (await js.stream_info(c.TASKS_STREAM)).state.messages:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def comments_events(js: JetStreamContext, sweep_id: str) -> list[c.CommentsObserved]:
    return await sweep_events(js, sweep_id, "comments_observed")


async def sweep_events(js: JetStreamContext, sweep_id: str, kind: str = "*") -> list[c.Event]:
    sub = await js.pull_subscribe(
        c.event_filter("vk", kind),
        stream=None,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    events = []
    try:
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.3)
            except TimeoutError:
                break
            events.extend(c.decode(m.data) for m in msgs)
    finally:
        await sub.unsubscribe()
    return [e for e in events if getattr(e, "sweep_id", None) == sweep_id]


def expected_counts(region: Region) -> dict[tuple[int, int], int]:
    """(group id, post id) → visible comments, for the page's own posts among the 20 newest of
    every readable wall (comments under a citizen's post are not requests and are not read)."""
    return {
        (g.id, p.id): len(region.comments(g, p))
        for g in region.groups.values()
        if g.live and g.wall != 0 and not g.is_closed
        for p in region.posts(g)[:20]
        if p.from_id == -g.id
    }


async def waiting_posts(js: JetStreamContext, region: Region) -> set[tuple[int, int]]:
    """(group id, post id) of the posts where the cursors saw a citizen's comment waiting."""
    kv = await js.key_value(c.CURSORS_BUCKET)
    found = set()
    for ref in refs(region):
        group = region.resolve(ref.native_id)
        if group is None:  # a link to no page: never read, no cursor
            continue
        try:
            entry = await kv.get(cursor_key(ref))
        except KeyNotFoundError:
            continue
        found |= {(group.id, int(post)) for post in Cursor.from_bytes(entry.value).waiting}
    return found


def requested(sim: VkSimulator) -> Counter[tuple[int, int]]:
    """(group id, post id) of every top-level wall.getComments call (thread reads excluded)."""
    return Counter(
        (-int(e["params"]["owner_id"]), int(e["params"]["post_id"]))
        for e in sim.call_entries("wall.getComments")
        if "comment_id" not in e["params"] and "offset" not in e["params"]
    )


async def test_comments_are_read_only_where_the_count_changed(
    settings: Settings, region: Region
) -> None:
    sim = VkSimulator(region)
    with VkSimServer(sim) as server:
        s = settings_for(settings, server.url)
        async with jetstream(s) as js, serving(s):
            # 1. First sweep: every post with comments is new to the cursors.
            first = expected_counts(region)
            await sweep(js, region, "c-1")
            assert requested(sim) == Counter(k for k, n in first.items() if n > 0)
            events = await comments_events(js, "c-1")
            by_page = {e.page_id: e for e in events}
            for (gid, post_id), n in first.items():
                if n:
                    got = [x for x in by_page[str(gid)].comments if x.post_id == str(post_id)]
                    assert len(got) == n
            replies = [x for e in events for x in e.comments if x.author_kind == "page"]
            assert replies and all(x.from_id == f"-{x_page}" for x_page, x in _owners(events))
            # In the citizen's thread, or at the top level naming the citizen (as real pages do).
            assert all(x.reply_to or x.addressees for x in replies)
            assert any(x.reply_to is None and x.addressees for x in replies)
            assert all(not e.partial_threads and not e.partial_posts for e in events)
            kv = await js.key_value(c.CURSORS_BUCKET)
            gid, post_id = next(k for k, n in first.items() if n)
            ref = next(r for r in refs(region) if region.resolve(r.native_id).id == gid)
            cursor = Cursor.from_bytes((await kv.get(cursor_key(ref))).value)
            assert cursor.sweep == "c-1" and cursor.comments[str(post_id)] == first[(gid, post_id)]

            # 2. Same clock, next sweep: no count changed; only the posts holding a citizen's
            # comment seen waiting for the page are read again (its deadline passes with time).
            waiting = await waiting_posts(js, region)
            assert waiting, "the region plants citizens' comments the pages have not answered"
            sim.reset_log()
            await sweep(js, region, "c-2")
            assert set(requested(sim)) == waiting and set(requested(sim).values()) == {1}
            reread = {(int(e.page_id), int(x.post_id)) for e in await comments_events(js, "c-2")
                      for x in e.comments}  # fmt: skip
            assert reread <= waiting

            # 3. Two days on: citizens wrote, pages answered, new posts came.
            region.advance(2 * DAY)
            sim.reset_log()
            second = expected_counts(region)
            waiting = await waiting_posts(js, region)
            await sweep(js, region, "c-3")
            changed = {k for k, n in second.items() if n and first.get(k, 0) != n}
            still_there = {k for k in waiting if second.get(k, 0) > 0}
            assert changed and set(requested(sim)) == changed | still_there
            assert set(requested(sim).values()) == {1}
            fetched = REGISTRY.get_sample_value(
                "gospublic_collector_comment_posts_total", {"platform": "vk"}
            )
            assert fetched is not None and fetched >= len(changed)


def _owners(events: list[c.CommentsObserved]):
    return [(e.page_id, x) for e in events for x in e.comments if x.author_kind == "page"]


async def test_a_new_instance_continues_from_the_cursors(
    settings: Settings, region: Region
) -> None:
    sim = VkSimulator(region)
    with VkSimServer(sim) as server:
        s = settings_for(settings, server.url)
        async with jetstream(s) as js:
            async with serving(s):
                await sweep(js, region, "n-1")
            region.advance(3 * DAY)
            first = {k for k, n in expected_counts(region).items() if n}
            sim.reset_log()
            # Another instance (same durable, same bucket) picks up the next sweep.
            async with serving(s):
                await sweep(js, region, "n-2")
            assert set(requested(sim)) < first  # only the changed ones


async def test_a_task_delivered_again_skips_the_pages_it_already_did(
    settings: Settings, region: Region
) -> None:
    sim = VkSimulator(region)
    resumed_before = REGISTRY.get_sample_value(
        "gospublic_collector_pages_total", {"platform": "vk", "outcome": "resumed"}
    )
    with VkSimServer(sim) as server:
        s = settings_for(settings, server.url)
        async with jetstream(s) as js, serving(s):
            await sweep(js, region, "r-1")
            requests = sim.request_count()
            # The same sweep's tasks again (an unacknowledged delivery, a scheduler retry).
            await sweep(js, region, "r-1", again=True)
            assert sim.request_count() == requests
    resumed = REGISTRY.get_sample_value(
        "gospublic_collector_pages_total", {"platform": "vk", "outcome": "resumed"}
    )
    assert resumed - (resumed_before or 0) == len(refs(region))


async def test_error_212_closes_a_posts_comments_until_its_count_changes(
    settings: Settings, region: Region
) -> None:
    sim = VkSimulator(region)
    counts = expected_counts(region)
    gid = next(g for (g, _), n in counts.items() if n)
    sim.fail_calls("wall.getComments", -gid, 212)
    with VkSimServer(sim) as server:
        s = settings_for(settings, server.url)
        async with jetstream(s) as js, serving(s):
            await sweep(js, region, "d-1")
            events = await comments_events(js, "d-1")
            assert str(gid) not in {e.page_id for e in events}
            sim.reset_log()
            await sweep(js, region, "d-2")
            # Not asked again: the cursor holds the count seen with the comments closed.
            assert all(g != gid for g, _ in requested(sim))


async def test_the_world_moves_between_sweeps(settings: Settings) -> None:
    # Seed 4 at this size: within ten days two pages are closed and one is deleted.
    region = generate_region("voronezh", seed=4, now=NOW, size=80)
    step = 10 * DAY
    due = {
        g.id: fate[0]
        for g in region.groups.values()
        if g.live and (fate := region.fate(g)) is not None and fate[1] <= region.now_ts + step
    }
    assert sorted(due.values()) == ["closed", "closed", "deleted"]
    sim = VkSimulator(region)
    with VkSimServer(sim) as server:
        s = settings_for(settings, server.url)
        async with jetstream(s) as js, serving(s):
            await sweep(js, region, "w-1")
            before = _walls(await sweep_events(js, "w-1", "posts_observed"))
            assert set(due) <= set(before)

            region.advance(step)
            await sweep(js, region, "w-2")
            events = await sweep_events(js, "w-2")

    after = _walls([e for e in events if isinstance(e, c.PostsObserved)])
    down = {
        getattr(region.resolve(e.page_ref.native_id), "id", None): e
        for e in events
        if isinstance(e, c.PageUnavailable)
    }
    snapshots = {int(e.page_id): e for e in events if isinstance(e, c.PageSnapshot)}
    for gid, kind in due.items():
        if kind == "deleted":
            assert down[gid].reason == c.Unavailability.DELETED and gid not in snapshots
        else:  # the profile is still shown, the wall is not
            assert snapshots[gid].is_closed == 1
            assert down[gid].reason == c.Unavailability.PRIVATE and down[gid].error_code == 30
    # Every readable wall is what the simulator shows now: new posts on top, deleted ones gone.
    for gid, posts in after.items():
        assert posts == [p.id for p in region.posts(region.groups[gid])[:20]]
    assert set(after) == set(before) - set(due)
    new = {(g, p) for g, posts in after.items() for p in posts if p > max(before[g], default=0)}
    # Gone from the wall, not just pushed below the 20 newest: deleted by the page.
    gone = {
        (g, p)
        for g, posts in before.items()
        if g in after
        for p in posts
        if p not in {q.id for q in region.posts(region.groups[g])}
    }
    assert new and gone
    # Citizens wrote and pages answered after the first sweep, the replies from the page itself.
    comments = [x for e in events if isinstance(e, c.CommentsObserved) for x in e.comments]
    late = [x for x in comments if x.posted_at > NOW]
    assert {x.author_kind for x in late} == {"citizen", "page"}
    assert all(x.from_id.startswith("-") for x in late if x.author_kind == "page")
    # The ground truth follows: the deleted page is gone, the closed ones are not public.
    truth = {(row["page_id"], row["rule"]): row["severity"] for row in region.ground_truth()}
    for gid, kind in due.items():
        org = region.org_of(region.groups[gid])
        page_id = vk_ref_from_link(org.vk) if kind == "deleted" else str(gid)
        assert truth[(page_id, "PAGE_NOT_PUBLIC")] == ("critical" if kind == "deleted" else "high")


def _still_posts(wall: list, owner_id: int, now_ts: float, policy: PollPolicy) -> bool:
    if max((p.date for p in wall), default=0) >= now_ts - policy.active_within_s:
        return True
    own = sorted(
        (p.date for p in wall if p.from_id == owner_id and not p.repost and not p.pinned),
        reverse=True,
    )[:10]
    gaps = sorted(newer - older for newer, older in itertools.pairwise(own))
    if not gaps or not gaps[len(gaps) // 2]:
        return False
    within = min(policy.habit_max_s, policy.habit_gaps * gaps[len(gaps) // 2])
    return now_ts - own[0] <= max(policy.active_within_s, within)


def _walls(events: list[c.PostsObserved]) -> dict[int, list[int]]:
    return {int(e.page_id): [int(p.post_id) for p in e.posts] for e in events}


async def test_after_a_sweep_only_the_active_pages_are_due(settings: Settings) -> None:
    # Dated at the real present: the collector stamps its reads with the real clock.
    now = c.utcnow()
    region = generate_region("voronezh", seed=11, now=now, size=120)
    pages = refs(region)
    sim = VkSimulator(region)
    with VkSimServer(sim) as server:
        s = settings_for(settings, server.url)
        async with jetstream(s) as js:
            async with serving(s):
                await sweep(js, region, "a-1")
            cursors = await load_cursors(js, pages)
            await store_registry(js, "adaptive", registered(region))
            _, _, scheduled = await schedule_sweep(js, s, "adaptive", sweep_id="a-2")
            _, _, full = await schedule_sweep(js, s, "adaptive", sweep_id="a-3", full=True)

    # Every page was read to an answer; due again are the pages that still post, told from the
    # simulator's walls: a post of any kind within two days, or the newest own post within six
    # of the page's usual gaps between its own posts (two to twelve days).
    assert all(cursors[cursor_key(p)].read_at >= int(now.timestamp()) for p in pages)
    policy = PollPolicy()
    plan = due_pages(pages, cursors, c.utcnow().timestamp(), policy)
    expected = []
    for page in pages:
        group = region.resolve(page.native_id)
        if group is None or not group.live or group.wall == 0 or group.is_closed:
            continue
        if _still_posts(region.posts(group)[:20], -group.id, now.timestamp(), policy):
            expected.append(page)
    assert plan.due == expected and 0 < len(expected) < len(pages)
    assert scheduled == len(expected) and full == len(pages)
