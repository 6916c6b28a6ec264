"""The VK collector service end to end: real nats-server, real VK simulator over HTTP, ``serve()``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.runtime import free_port
from gospublic.settings import Settings
from services.collector import main as collector
from services.simulator.region import Region, generate_region, vk_ref_from_link
from services.simulator.server import VkSimServer
from services.simulator.vk_api import VkSimulator

pytestmark = pytest.mark.integration

DURABLE = c.COLLECTOR_DURABLE.format(platform="vk")


def collector_settings(settings: Settings, api_url: str, tokens: list[str], **extra) -> Settings:
    return settings.model_copy(
        update={
            "vk_api_url": api_url,
            "vk_tokens": [SecretStr(t) for t in tokens],
            "vk_requests_per_second": 50.0,
            "vk_retry_backoff_s": 0.02,
            "collect_retry_delay_s": 0.2,
            "max_deliver": 3,
            "collect_comments": False,  # comments: test_collector_vk_comments.py
            **extra,
        }
    )


@asynccontextmanager
async def running_collector(settings: Settings) -> AsyncIterator[asyncio.Task[int]]:
    stop = asyncio.Event()
    args = argparse.Namespace(platform="vk")
    task = asyncio.create_task(collector.serve(settings.nats_url, settings, args, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@asynccontextmanager
async def jetstream(settings: Settings) -> AsyncIterator[JetStreamContext]:
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    try:
        yield js
    finally:
        await nc.close()


def make_task(refs: list[c.PageRef], sweep_id: str = "sweep-1") -> c.CollectTask:
    return c.CollectTask.create(
        observed_at=datetime.now(UTC), sweep_id=sweep_id, platform=c.Platform.VK, pages=tuple(refs)
    )


async def publish_task(js: JetStreamContext, task: c.CollectTask) -> None:
    await js.publish(c.task_subject("vk"), task.to_bytes())


async def wait_tasks_done(js: JetStreamContext, timeout: float = 20.0) -> None:
    """Every task acked: the work-queue stream is empty."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        info = await js.stream_info(c.TASKS_STREAM)
        if info.state.messages == 0:
            return
        await asyncio.sleep(0.05)
    pending = await bus.consumer_pending(js, c.TASKS_STREAM, DURABLE)
    raise AssertionError(f"tasks not done after {timeout} s: (pending, unacked) = {pending}")


async def read_all(js: JetStreamContext, subject: str) -> list[bytes]:
    sub = await js.pull_subscribe(
        subject,
        stream=None,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    data: list[bytes] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.3)
            except TimeoutError:
                break
            data.extend(m.data for m in msgs)
    finally:
        await sub.unsubscribe()
    return data


async def read_events(js: JetStreamContext) -> list[c.PageEvent]:
    return [c.decode(d) for d in await read_all(js, c.event_filter("vk", ">"))]


async def read_dead_letters(js: JetStreamContext) -> list[dict]:
    return [json.loads(d) for d in await read_all(js, "deadletter.>")]


def ref(native_id: str, org_id: str = "1023601234567") -> c.PageRef:
    return c.PageRef(platform=c.Platform.VK, native_id=native_id, org_id=org_id)


# --- without a VK endpoint ---------------------------------------------------------------------


async def test_no_tokens_exits_with_a_clear_error(settings: Settings, caplog) -> None:
    s = collector_settings(settings, "http://127.0.0.1:9/method", [])
    code = await collector.serve(s.nats_url, s, argparse.Namespace(platform="vk"), asyncio.Event())
    assert code == 2
    assert "GOSPUBLIC_VK_TOKENS" in caplog.text


async def test_network_down_retries_then_dead_letters(settings: Settings) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/method"
    s = collector_settings(settings, dead_url, ["secret-token-1"], max_deliver=2)
    async with jetstream(s) as js, running_collector(s):
        await publish_task(js, make_task([ref("1")]))
        await wait_tasks_done(js)
        (letter,) = await read_dead_letters(js)
        assert await read_events(js) == []
    assert letter["source"] == "collector.vk"
    # The shared error of every platform's client (services.collector.tokens.Transient).
    assert letter["reason"].startswith("after 2 attempts: Transient: network error")
    assert "secret-token-1" not in json.dumps(letter)
    assert c.decode(letter["payload"].encode()).schema_ == c.CollectTask.schema_id()


async def test_invalid_task_is_dead_lettered(settings: Settings) -> None:
    s = collector_settings(settings, "http://127.0.0.1:9/method", ["t"])
    async with jetstream(s) as js, running_collector(s):
        await js.publish(c.task_subject("vk"), b'{"schema": "CollectTask/9"}')
        await wait_tasks_done(js)
        (letter,) = await read_dead_letters(js)
    assert "unsupported version" in letter["reason"]


# --- against the VK simulator ------------------------------------------------------------------

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=42, now=NOW, size=60)


@pytest.fixture
def vk_sim(region: Region) -> Iterator[VkSimServer]:
    server = VkSimServer(VkSimulator(region, tokens=GOOD_TOKENS)).start()
    try:
        yield server
    finally:
        server.stop()


GOOD_TOKENS = {"good-token-0001", "good-token-0002"}


def region_refs(region: Region) -> list[c.PageRef]:
    return [ref(vk_ref_from_link(org.vk), org.org_id) for org in region.organisations if org.vk]


def expected_outcomes(region: Region, refs: list[c.PageRef]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for page in refs:
        group = region.resolve(page.native_id)
        outcomes["not_found" if group is None else group.deactivated or "live"] += 1
    return outcomes


def outcomes_of(events: list[c.PageEvent]) -> Counter[str]:
    return Counter(
        e.reason.value if isinstance(e, c.PageUnavailable) else type(e).__name__ for e in events
    )


async def run_tasks(
    settings: Settings, tasks: list[c.CollectTask], before_each=None
) -> list[c.PageEvent]:
    async with jetstream(settings) as js, running_collector(settings):
        for task in tasks:
            if before_each is not None:
                before_each()
            await publish_task(js, task)
            await wait_tasks_done(js)
        return await read_events(js)


async def test_sweep_publishes_one_batch_per_page(
    settings: Settings, region: Region, vk_sim: VkSimServer
) -> None:
    refs = region_refs(region)
    expected = expected_outcomes(region, refs)
    assert expected["live"] > 20 and expected["deleted"] and expected["banned"]
    assert expected["not_found"]
    s = collector_settings(settings, vk_sim.url, sorted(GOOD_TOKENS))
    ok_before = REGISTRY.get_sample_value("gospublic_collector_tasks_total", {"result": "ok"}) or 0
    tasks = [make_task(refs[:30]), make_task(refs[30:])]
    # The second copy of the first task is what a scheduler retry looks like: JetStream drops
    # its events as duplicates.
    events = await run_tasks(s, [*tasks, tasks[0]])

    assert outcomes_of(events) == {
        "PageSnapshot": expected["live"],
        "PostsObserved": expected["live"],
        "deleted": expected["deleted"],
        "banned": expected["banned"],
        "not_found": expected["not_found"],
    }
    ok_after = REGISTRY.get_sample_value("gospublic_collector_tasks_total", {"result": "ok"})
    assert ok_after == ok_before + 3

    by_page = {(type(e).__name__, e.page_ref.native_id): e for e in events}
    for page in refs:
        group = region.resolve(page.native_id)
        if group is None or group.deactivated:
            continue
        snapshot = by_page[("PageSnapshot", page.native_id)]
        assert snapshot.page_id == str(group.id) and snapshot.page_ref == page
        assert snapshot.wall == group.wall
        assert snapshot.description == region.description(group)
        posts = by_page[("PostsObserved", page.native_id)]
        wall = region.posts(group) if group.wall != 0 else []
        assert [p.post_id for p in posts.posts] == [str(p.id) for p in wall[:20]]
        assert [p.is_own for p in posts.posts] == [
            p.from_id == -group.id and not p.repost for p in wall[:20]
        ]
        assert posts.observed_at >= snapshot.observed_at


@pytest.mark.parametrize(
    ("kind", "code", "detail"),
    [
        ("html", None, "groups.getById: HTML instead of JSON (HTTP 502"),
        ("truncated", None, "groups.getById: truncated JSON"),
        ("error", 100, "groups.getById: VK error 100: One of the parameters"),
    ],
)
async def test_a_garbage_answer_makes_its_pages_unavailable(
    settings: Settings,
    region: Region,
    vk_sim: VkSimServer,
    kind: str,
    code: int | None,
    detail: str,
) -> None:
    refs = region_refs(region)[:10]
    s = collector_settings(settings, vk_sim.url, sorted(GOOD_TOKENS))
    vk_sim.simulator.fail_next(kind, 1, code)
    events = await run_tasks(s, [make_task(refs)])
    assert len(events) == len(refs)
    for event in events:
        assert isinstance(event, c.PageUnavailable)
        assert event.reason == c.Unavailability.API_ERROR
        assert event.error_code == code
        assert event.detail.startswith(detail), event.detail


async def test_error_6_and_10_are_retried_and_the_sweep_completes(
    settings: Settings, region: Region, vk_sim: VkSimServer
) -> None:
    refs = region_refs(region)
    s = collector_settings(settings, vk_sim.url, sorted(GOOD_TOKENS))
    sim = vk_sim.simulator
    tasks = [make_task(refs[:30], "sweep-a"), make_task(refs[30:], "sweep-b")]
    faults = iter([("error", 3, 6), ("error", 2, 10)])
    events = await run_tasks(s, tasks, before_each=lambda: sim.fail_next(*next(faults)))
    expected = expected_outcomes(region, refs)
    assert outcomes_of(events)["PostsObserved"] == expected["live"]
    assert outcomes_of(events)["api_error"] == 0
    codes = Counter(entry["error_code"] for entry in sim.request_log)
    assert (codes[6], codes[10]) == (3, 2)


async def test_invalid_token_is_dropped_and_never_logged(
    settings: Settings, region: Region, vk_sim: VkSimServer, caplog
) -> None:
    refs = region_refs(region)
    bad = "revoked-token-4242"
    s = collector_settings(settings, vk_sim.url, [bad, "good-token-0001"])
    events = await run_tasks(s, [make_task(refs)])
    assert outcomes_of(events)["PostsObserved"] == expected_outcomes(region, refs)["live"]
    assert vk_sim.simulator.request_count(token=bad) == 1
    assert [r.token_index for r in caplog.records if hasattr(r, "token_index")] == [0]
    assert all(bad not in repr(r.__dict__) for r in caplog.records)


async def test_quota_error_parks_the_token_and_another_takes_over(
    settings: Settings, region: Region, vk_sim: VkSimServer
) -> None:
    refs = region_refs(region)
    s = collector_settings(settings, vk_sim.url, sorted(GOOD_TOKENS))
    sim = vk_sim.simulator
    sim.fail_next("error", 1, 29)
    events = await run_tasks(
        s, [make_task(refs[:20], "sweep-q1"), make_task(refs[20:], "sweep-q2")]
    )
    assert outcomes_of(events)["PostsObserved"] == expected_outcomes(region, refs)["live"]
    parked = next(e["token"] for e in sim.request_log if e["error_code"] == 29)
    later = [
        e for e in sim.request_log if e["method"] == "groups.getById" and e["error_code"] is None
    ]
    assert later and all(e["token"] != parked for e in later)


async def test_no_valid_token_left_stops_the_collector_and_keeps_the_task(
    settings: Settings, region: Region, vk_sim: VkSimServer
) -> None:
    s = collector_settings(settings, vk_sim.url, ["revoked-1", "revoked-2"])
    async with jetstream(s) as js:
        stop = asyncio.Event()
        serving = asyncio.create_task(
            collector.serve(s.nats_url, s, argparse.Namespace(platform="vk"), stop)
        )
        await publish_task(js, make_task(region_refs(region)[:5]))
        assert await asyncio.wait_for(serving, 15) == 1
        info = await js.stream_info(c.TASKS_STREAM)
        assert info.state.messages == 1  # not acked: another instance can take it
        assert await read_events(js) == []


async def test_stop_finishes_the_current_task_first(
    settings: Settings, region: Region, vk_sim: VkSimServer
) -> None:
    refs = region_refs(region)
    # Slow enough (3 requests at 4/s) that the stop arrives while the task is being collected.
    s = collector_settings(settings, vk_sim.url, ["good-token-0001"], vk_requests_per_second=4.0)
    sim = vk_sim.simulator
    async with jetstream(s) as js:
        stop = asyncio.Event()
        serving = asyncio.create_task(
            collector.serve(s.nats_url, s, argparse.Namespace(platform="vk"), stop)
        )
        await publish_task(js, make_task(refs))
        while sim.request_count() == 0:
            await asyncio.sleep(0.01)
        stop.set()
        assert await asyncio.wait_for(serving, 15) == 0
        assert sim.request_count("execute") == 2
        assert (await js.stream_info(c.TASKS_STREAM)).state.messages == 0
        events = await read_events(js)
    assert outcomes_of(events)["PostsObserved"] == expected_outcomes(region, refs)["live"]
