"""Whole sweeps of the VK collector against the simulator enforcing VK's limits.

Real nats-server, the simulator over HTTP with its rate limit (3 requests/s per token) and daily
quotas on, collectors run through ``serve()``. What is proven is read from the outside: the
simulator's counters and request log, and the events on the EVENTS stream.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector import main as collector
from services.collector.scheduler import plan_tasks
from services.collector.vk_client import fingerprint
from services.simulator.region import Region, generate_region, vk_ref_from_link
from services.simulator.server import VkSimServer
from services.simulator.vk_api import VkLimits, VkSimulator

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DURABLE = c.COLLECTOR_DURABLE.format(platform="vk")


@pytest.fixture(scope="module")
def voronezh() -> Region:
    return generate_region("voronezh", seed=42, now=NOW)


@pytest.fixture(scope="module")
def small() -> Region:
    return generate_region("voronezh", seed=7, now=NOW, size=160)


def tokens(n: int, prefix: str = "tok") -> list[str]:
    return [f"{prefix}-{i:02d}-secret" for i in range(n)]


def collector_settings(settings: Settings, url: str, secrets: list[str], **extra) -> Settings:
    return settings.model_copy(
        update={
            "vk_api_url": url,
            "vk_tokens": [SecretStr(t) for t in secrets],
            "vk_retry_backoff_s": 0.05,
            "collect_retry_delay_s": 0.2,
            "collect_comments": False,
            **extra,
        }
    )


@asynccontextmanager
async def serving(settings: Settings, instances: int = 1) -> AsyncIterator[None]:
    """``instances`` collectors sharing the durable, as separate ``serve()`` calls."""
    stop = asyncio.Event()
    runs = [
        asyncio.create_task(
            collector.serve(settings.nats_url, settings, argparse.Namespace(platform="vk"), stop)
        )
        for _ in range(instances)
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*runs), 30)


@asynccontextmanager
async def jetstream(settings: Settings) -> AsyncIterator[JetStreamContext]:
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    try:
        yield js
    finally:
        await nc.close()


def organisations(region: Region) -> list[c.Organisation]:
    return [
        c.Organisation(
            org_id=org.ogrn,
            name=org.name,
            level=org.level,
            founder=org.founder,
            municipality=org.municipality,
            sphere=org.sphere,
            pages=(
                (
                    c.PageRef(
                        platform=c.Platform.VK, native_id=vk_ref_from_link(org.vk), org_id=org.ogrn
                    ),
                )
                if org.vk
                else ()
            ),
        )
        for org in region.organisations
    ]


async def sweep(js: JetStreamContext, region: Region, sweep_id: str, per_task: int = 500) -> int:
    tasks = plan_tasks(organisations(region), c.Platform.VK, sweep_id, per_task, NOW)
    subject = c.task_subject("vk")
    await bus.publish_all(
        js, [bus.event_message(subject, t, sweep_id, n) for n, t in enumerate(tasks)]
    )
    return sum(len(t.pages) for t in tasks)


async def wait_done(js: JetStreamContext, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        info = await js.stream_info(c.TASKS_STREAM)
        if info.state.messages == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"sweep not done: {await bus.consumer_pending(js, c.TASKS_STREAM, DURABLE)}"
    )


async def read_events(
    js: JetStreamContext, subject: str = c.event_filter("vk", ">")
) -> list[c.PageEvent]:
    sub = await js.pull_subscribe(
        subject,
        stream=None,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    events = []
    try:
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=0.3)
            except TimeoutError:
                break
            events.extend(c.decode(m.data) for m in msgs)
    finally:
        await sub.unsubscribe()
    return events


def live_pages(region: Region) -> int:
    return sum(1 for g in region.groups.values() if g.live)


def outcomes(events: list[c.PageEvent]) -> Counter[str]:
    return Counter(
        e.reason.value if isinstance(e, c.PageUnavailable) else type(e).__name__ for e in events
    )


def every_page_once(region: Region, events: list[c.PageEvent]) -> None:
    """Each page of the register has exactly one snapshot or unavailable event."""
    firsts = Counter(
        e.page_ref.native_id for e in events if isinstance(e, c.PageSnapshot | c.PageUnavailable)
    )
    refs = [vk_ref_from_link(o.vk) for o in region.organisations if o.vk]
    assert sorted(firsts) == sorted(refs)
    assert set(firsts.values()) == {1}


# --- Rate limit and quotas ---------------------------------------------------------------------


async def test_a_voronezh_sweep_within_vk_limits_has_no_violation(
    settings: Settings, voronezh: Region
) -> None:
    sim = VkSimulator(voronezh, limits=VkLimits())
    with VkSimServer(sim) as server:
        # Comments too: every commented post is new to the cursors, so the sweep is busy.
        s = collector_settings(
            settings, server.url, tokens(10), vk_requests_per_second=3.0, collect_comments=True
        )
        async with jetstream(s) as js, serving(s):
            pages = await sweep(js, voronezh, "vrn-1")
            await wait_done(js, 120)
            events = await read_events(js)
    stats = sim.stats()
    assert pages == 1327
    assert stats["calls_by_method"]["wall.getComments"] > 1000
    assert (stats["rate_limited"], stats["quota_exceeded"], stats["errors"].get("6")) == (
        0,
        0,
        None,
    )
    assert outcomes(events)["PostsObserved"] == live_pages(voronezh)
    assert outcomes(events)["api_error"] == 0
    every_page_once(voronezh, events)
    # Every request of every token was admitted: the simulator counted each on arrival, as VK
    # does, against a sliding one-second window.
    assert stats["requests"] == sum(stats["requests_by_method"].values()) > 40


async def test_error_6_slows_the_token_down_instead_of_failing_pages(
    settings: Settings, small: Region
) -> None:
    sim = VkSimulator(small, limits=VkLimits())
    before = (
        REGISTRY.get_sample_value(
            "gospublic_collector_api_requests_total",
            {"platform": "vk", "method": "execute", "result": "6"},
        )
        or 0
    )
    with VkSimServer(sim) as server:
        # The collector believes it may send 30 requests a second on one token: VK says no.
        s = collector_settings(settings, server.url, tokens(1), vk_requests_per_second=30.0)
        async with jetstream(s) as js, serving(s):
            await sweep(js, small, "six-1")
            await wait_done(js, 60)
            events = await read_events(js)
    assert sim.stats()["rate_limited"] > 0
    assert outcomes(events)["PostsObserved"] == live_pages(small)
    assert outcomes(events)["api_error"] == 0
    after = REGISTRY.get_sample_value(
        "gospublic_collector_api_requests_total",
        {"platform": "vk", "method": "execute", "result": "6"},
    )
    assert after is not None and after > before


async def test_error_29_parks_a_token_and_the_others_finish_the_sweep(
    settings: Settings, small: Region
) -> None:
    # The collector does not know the quota: it learns it from error 29. One token has spent
    # almost all of today's wall.get calls elsewhere already.
    sim = VkSimulator(small, limits=VkLimits(requests_per_second=1000, daily={"wall.get": 100}))
    secrets = tokens(3, "quota")
    gid = next(g.id for g in small.groups.values() if g.live)
    for _ in range(95):
        sim.handle("wall.get", {"access_token": secrets[0], "v": "5.199", "owner_id": str(-gid)})
    sim.reset_log()
    with VkSimServer(sim) as server:
        s = collector_settings(
            settings, server.url, secrets, vk_daily_quota={}, vk_requests_per_second=50.0
        )
        async with jetstream(s) as js, serving(s):
            await sweep(js, small, "q-1")
            await wait_done(js, 60)
            events = await read_events(js)
    assert sim.stats()["quota_exceeded"] > 0
    assert outcomes(events)["PostsObserved"] == live_pages(small)
    assert outcomes(events)["api_error"] == 0
    calls = sim.call_entries("wall.get")
    refused = {e["token"] for e in calls if e["error_code"] == 29}
    assert refused == {secrets[0]}
    for token in refused:
        mine = [e for e in calls if e["token"] == token]
        first = next(n for n, e in enumerate(mine) if e["error_code"] == 29)
        # Parked: after its first 29 the token is not asked for wall.get again today (the
        # sub-calls of that same execute still ran, and were refused too).
        later = [e for e in mine[first:] if e["error_code"] != 29]
        assert later == []
        labels = {"platform": "vk", "token": fingerprint(token), "method": "wall.get"}
        assert REGISTRY.get_sample_value("gospublic_collector_quota_remaining", labels) == 0


async def test_all_tokens_out_of_quota_keep_the_task_for_later(
    settings: Settings, small: Region
) -> None:
    sim = VkSimulator(small, limits=VkLimits(daily={"wall.get": 30}))
    with VkSimServer(sim) as server:
        s = collector_settings(
            settings,
            server.url,
            tokens(2, "dry"),
            vk_requests_per_second=50.0,
            collect_retry_delay_s=30.0,
        )
        retries = REGISTRY.get_sample_value("gospublic_collector_tasks_total", {"result": "retry"})
        async with jetstream(s) as js, serving(s):
            await sweep(js, small, "dry-1")
            deadline = asyncio.get_running_loop().time() + 30
            while (
                REGISTRY.get_sample_value("gospublic_collector_tasks_total", {"result": "retry"})
                or 0
            ) == (retries or 0):
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            events = await read_events(js)
            info = await js.stream_info(c.TASKS_STREAM)
    # The task waits (naked with a delay up to the quota reset); no page was declared failed.
    assert info.state.messages == 1
    assert not [e for e in events if isinstance(e, c.PageUnavailable) and e.error_code == 29]
    assert outcomes(events)["api_error"] == 0


# --- Two instances ----------------------------------------------------------------------------


async def test_two_instances_collect_every_page_exactly_once(
    settings: Settings, voronezh: Region
) -> None:
    sim = VkSimulator(voronezh)
    with VkSimServer(sim) as server:
        s = collector_settings(settings, server.url, tokens(4, "pair"), vk_requests_per_second=50.0)
        async with jetstream(s) as js, serving(s, instances=2):
            pages = await sweep(js, voronezh, "two-1", per_task=100)
            await wait_done(js, 90)
            events = await read_events(js)
    every_page_once(voronezh, events)
    # The request log proves it from VK's side: one wall.get per live page, one getById per id.
    owners = Counter(e["params"]["owner_id"] for e in sim.call_entries("wall.get"))
    assert len(owners) == live_pages(voronezh) and set(owners.values()) == {1}
    ids = Counter(
        ref
        for e in sim.call_entries("groups.getById")
        for ref in e["params"]["group_ids"].split(",")
    )
    assert sum(ids.values()) == pages and set(ids.values()) == {1}
    tokens_used = {e["token"] for e in sim.log_entries()}
    assert len(tokens_used) == 4


async def test_an_instance_stopped_mid_sweep_leaves_the_rest_to_the_other(
    settings: Settings, voronezh: Region
) -> None:
    sim = VkSimulator(voronezh)
    with VkSimServer(sim) as server:
        s = collector_settings(
            settings, server.url, tokens(2, "relay"), vk_requests_per_second=50.0
        )
        async with jetstream(s) as js, AsyncExitStack() as stack:
            first_stop = asyncio.Event()
            first = asyncio.create_task(
                collector.serve(s.nats_url, s, argparse.Namespace(platform="vk"), first_stop)
            )
            await sweep(js, voronezh, "relay-1", per_task=100)
            while sim.request_count("execute") < 3:
                await asyncio.sleep(0.01)
            first_stop.set()  # finishes its current task, then leaves
            assert await asyncio.wait_for(first, 30) == 0
            await stack.enter_async_context(serving(s))
            await wait_done(js, 90)
            events = await read_events(js)
    every_page_once(voronezh, events)
    owners = Counter(e["params"]["owner_id"] for e in sim.call_entries("wall.get"))
    assert set(owners.values()) == {1}


# --- Errors of one page or one call -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (15, c.Unavailability.PRIVATE),  # access denied: the wall or the group closed
        (18, c.Unavailability.DELETED),  # deleted between groups.getById and wall.get
        (30, c.Unavailability.PRIVATE),  # private profile
        (100, c.Unavailability.NOT_FOUND),  # the id names no page any more
        (203, c.Unavailability.PRIVATE),  # access to the group denied
    ],
)
async def test_a_wall_error_becomes_that_pages_unavailable_event(
    settings: Settings, small: Region, code: int, reason: c.Unavailability
) -> None:
    sim = VkSimulator(small)
    victim = next(g for g in small.groups.values() if g.live)
    sim.fail_calls("wall.get", -victim.id, code)
    with VkSimServer(sim) as server:
        s = collector_settings(settings, server.url, tokens(2), vk_requests_per_second=50.0)
        async with jetstream(s) as js, serving(s):
            await sweep(js, small, f"wall-{code}")
            await wait_done(js)
            events = await read_events(js)
    mine = [e for e in events if e.page_ref.native_id in (str(victim.id), victim.screen_name)]
    assert sorted(type(e).__name__ for e in mine) == ["PageSnapshot", "PageUnavailable"]
    (down,) = (e for e in mine if isinstance(e, c.PageUnavailable))
    assert (down.reason, down.error_code) == (reason, code)
    assert down.detail.startswith(f"wall.get: VK error {code}: ")
    assert outcomes(events)["PostsObserved"] == live_pages(small) - 1


async def test_error_13_splits_the_execute_until_every_wall_is_read(
    settings: Settings, small: Region
) -> None:
    sim = VkSimulator(small)
    sim.fail_next("error", 2, 13, method="execute")
    with VkSimServer(sim) as server:
        s = collector_settings(settings, server.url, tokens(1), vk_requests_per_second=50.0)
        async with jetstream(s) as js, serving(s):
            await sweep(js, small, "split-1")
            await wait_done(js)
            events = await read_events(js)
    assert outcomes(events)["PostsObserved"] == live_pages(small)
    assert outcomes(events)["api_error"] == 0
    executes = [e for e in sim.log_entries() if e["method"] == "execute"]
    assert [e["error_code"] for e in executes[:2]] == [13, 13]
    sizes = [e["params"]["code"].count("API.") for e in executes[2:]]
    assert min(sizes) < 25 and sum(sizes) == live_pages(small)
