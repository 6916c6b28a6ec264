"""The Odnoklassniki and Telegram collectors against the simulator over HTTP, through ``serve()``.

Both produce the VK collector's contracts; the planted states (OK groups deleted, blocked or
closed, Telegram channels that do not exist) come back as the matching ``PageUnavailable``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.registry import parse_page_link
from gospublic.settings import Settings
from services.collector import main as collector
from services.collector.scheduler import plan_tasks
from services.simulator.ok_api import OkSimulator
from services.simulator.other_pages import ok_group, ok_private, tg_channel
from services.simulator.region import Region, generate_region
from services.simulator.server import VkSimServer
from services.simulator.tg_web import TgSimulator
from services.simulator.vk_api import VkSimulator

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
APP_KEY, APP_SECRET = "CBATESTKEY", "test-app-secret"


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=5, now=NOW, size=400)


@pytest.fixture
def server(region: Region):
    ok = OkSimulator(region, APP_KEY, APP_SECRET, tokens={"ok-token-1"})
    with VkSimServer(VkSimulator(region), ok=ok, tg=TgSimulator(region)) as srv:
        yield srv


def ok_settings(settings: Settings, server: VkSimServer, secret: str = APP_SECRET) -> Settings:
    return settings.model_copy(
        update={
            "ok_api_url": server.ok_url,
            "ok_application_key": APP_KEY,
            "ok_application_secret_key": SecretStr(secret),
            "ok_tokens": [SecretStr("ok-token-1")],
            "ok_requests_per_second": 200.0,
            "tg_base_url": server.tg_url,
            "tg_requests_per_second": 200.0,
        }
    )


@asynccontextmanager
async def serving(settings: Settings, platform: str) -> AsyncIterator[asyncio.Task[int]]:
    stop = asyncio.Event()
    run = asyncio.create_task(
        collector.serve(settings.nats_url, settings, argparse.Namespace(platform=platform), stop)
    )
    try:
        yield run
    finally:
        stop.set()
        await asyncio.wait_for(run, 30)


async def sweep(settings: Settings, region: Region, platform: str) -> list[c.PageEvent]:
    column = {"ok": "ok", "tg": "telegram"}[platform]
    pages = [
        c.PageRef(
            platform=c.Platform(platform),
            native_id=parse_page_link(c.Platform(platform), getattr(o, column)),
            org_id=o.ogrn,
        )
        for o in region.organisations
        if getattr(o, column)
    ]
    organisations = [
        c.Organisation(
            org_id=p.org_id,
            name="x",
            level="municipal",
            founder="x",
            municipality="x",
            sphere="culture",
            pages=(p,),
        )
        for p in pages
    ]
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    try:
        await bus.ensure_topology(js, settings)
        async with serving(settings, platform):
            tasks = plan_tasks(organisations, c.Platform(platform), f"{platform}-1", 50, NOW)
            subject = c.task_subject(platform)
            await bus.publish_all(
                js, [bus.event_message(subject, t, "s", n) for n, t in enumerate(tasks)]
            )
            deadline = asyncio.get_running_loop().time() + 60
            while (await js.stream_info(c.TASKS_STREAM)).state.messages:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        return await read_events(js, c.event_filter(platform, ">"))
    finally:
        await nc.close()


async def read_events(js: JetStreamContext, subject: str) -> list[c.PageEvent]:
    sub = await js.pull_subscribe(
        subject,
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
    return events


def kinds(events: list[c.PageEvent]) -> Counter[str]:
    return Counter(
        e.reason.value if isinstance(e, c.PageUnavailable) else type(e).__name__ for e in events
    )


async def test_ok_sweep(settings: Settings, region: Region, server: VkSimServer) -> None:
    events = await sweep(ok_settings(settings, server), region, "ok")
    groups = [(o, ok_group(region, o.ok_id)) for o in region.organisations if o.ok]
    expected: Counter[str] = Counter()
    for _, g in groups:
        if g.deactivated == "deleted":
            expected["not_found"] += 1
        elif g.deactivated:
            expected["banned"] += 1
        elif ok_private(region, g):
            expected["PageSnapshot"] += 1
            expected["private"] += 1
        else:
            expected["PageSnapshot"] += 1
            expected["PostsObserved"] += 1
    got = kinds(events)
    assert {k: got[k] for k in expected} == dict(expected)
    assert expected["not_found"] and expected["banned"] and expected["PostsObserved"] > 50
    # Comments: the group's own replies are from the page.
    comments = [x for e in events if isinstance(e, c.CommentsObserved) for x in e.comments]
    assert comments and {x.author_kind for x in comments} == {"citizen", "page"}
    page_replies = [x for x in comments if x.author_kind == "page"]
    assert all(x.reply_to and x.from_id.startswith("-") for x in page_replies)
    # Posts: own topics by the group, reposts marked.
    posts = [p for e in events if isinstance(e, c.PostsObserved) for p in e.posts]
    assert any(p.is_own for p in posts) and any(p.is_repost for p in posts)
    assert all(e.platform == c.Platform.OK for e in events)
    # Links by short name were resolved through url.getInfo to the group's id.
    named = [
        e
        for e in events
        if isinstance(e, c.PageSnapshot | c.PostsObserved) and not e.page_ref.native_id.isdigit()
    ]
    assert len({e.page_ref.native_id for e in named}) > 20
    for e in named:
        assert e.page_id == str(region.org_by_ok_name(e.page_ref.native_id).ok_id)
    assert server.ok.requests["url.getInfo"] == sum(
        1 for o in region.organisations if o.ok and "/group/" not in o.ok
    )


async def test_ok_with_a_wrong_secret_stops_and_keeps_the_task(
    settings: Settings, region: Region, server: VkSimServer
) -> None:
    s = ok_settings(settings, server, secret="not-the-secret")
    nc = await bus.connect(s.nats_url, s, "test")
    js = nc.jetstream()
    try:
        await bus.ensure_topology(js, s)
        async with serving(s, "ok") as run:
            ref = c.PageRef(platform=c.Platform.OK, native_id="70000000000001", org_id="1")
            task = c.CollectTask.create(
                observed_at=NOW, sweep_id="bad", platform=c.Platform.OK, pages=(ref,)
            )
            await js.publish(c.task_subject("ok"), task.to_bytes())
            assert await asyncio.wait_for(asyncio.shield(run), 20) == 1
        assert (await js.stream_info(c.TASKS_STREAM)).state.messages == 1
    finally:
        await nc.close()
    assert server.ok.errors[104] >= 1


async def test_tg_sweep(settings: Settings, region: Region, server: VkSimServer) -> None:
    events = await sweep(ok_settings(settings, server), region, "tg")
    names = [o.telegram.rsplit("/", 1)[1] for o in region.organisations if o.telegram]
    missing = [n for n in names if tg_channel(region, n) is None]
    got = kinds(events)
    assert got["not_found"] == len(missing) > 0
    assert got["PageSnapshot"] == got["PostsObserved"] == len(names) - len(missing)
    snapshots = {e.page_id: e for e in events if isinstance(e, c.PageSnapshot)}
    name = next(n for n in names if n not in missing)
    channel = tg_channel(region, name)
    assert snapshots[name].name == channel.name
    assert abs(snapshots[name].members - channel.members) <= channel.members * 0.05 + 1
    posts = next(e for e in events if isinstance(e, c.PostsObserved) and e.page_id == name)
    wall = sorted(region.posts(channel), key=lambda p: p.id)[-20:]
    assert [p.post_id for p in posts.posts] == [str(p.id) for p in reversed(wall)]
    assert [p.is_repost for p in posts.posts] == [p.repost for p in reversed(wall)]
    assert all(p.views is not None for p in posts.posts)
