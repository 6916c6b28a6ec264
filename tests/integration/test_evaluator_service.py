"""The evaluator against a real nats-server and chDB: store, alert, dead-letter, restart."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from gospublic import bus
from gospublic import contracts as c
from gospublic.runtime import free_port
from gospublic.settings import Settings
from services.evaluator import content
from services.evaluator.main import serve
from services.evaluator.schema import OPEN_VIOLATION_COLUMNS, TABLES, open_violations_sql
from services.evaluator.state import EvaluatorState
from services.evaluator.store import ClickHouseStore

pytestmark = pytest.mark.integration

ORG_A, ORG_B, ORG_C, ORG_D = (f"102360100000{i}" for i in range(1, 5))
REGION = "36"  # the register's region: its events go to its partition
PARTITION = c.region_partition(REGION)
SHORT = "Школа. Тел. +7 (473) 255-12-34"


def org(org_id: str, *pages: str, exempt: bool = False) -> c.Organisation:
    return c.Organisation(
        org_id=org_id,
        name=f"Организация {org_id[-1]}",
        level="municipal",
        founder="Отдел образования",
        municipality="Лискинский район",
        sphere="education",
        exempt=exempt,
        pages=tuple(c.PageRef(platform=c.Platform.VK, native_id=p, org_id=org_id) for p in pages),
    )


def page_ref(org_id: str, native_id: str) -> c.PageRef:
    return c.PageRef(platform=c.Platform.VK, native_id=native_id, org_id=org_id)


def sweep_events(sweep: str, *, stale_days: float) -> list[bus.Outgoing]:
    now = c.utcnow()
    a = page_ref(ORG_A, "club100")
    events = [
        (
            "snapshot",
            a,
            c.PageSnapshot.create(
                observed_at=now, platform="vk", page_ref=a, sweep_id=sweep, page_id="100",
                name="Школа", description=SHORT, wall=1, members=120,
            ),
        ),
        (
            "posts",
            a,
            c.PostsObserved.create(
                observed_at=now, platform="vk", page_ref=a, sweep_id=sweep, page_id="100",
                posts=tuple(
                    c.Post(
                        post_id=str(i), posted_at=now - timedelta(days=stale_days + i),
                        is_own=True, is_repost=False, likes=i,
                    )
                    for i in range(5)
                ),
            ),
        ),
        (
            "unavailable",
            page_ref(ORG_B, "club200"),
            c.PageUnavailable.create(
                observed_at=now, platform="vk", page_ref=page_ref(ORG_B, "club200"),
                sweep_id=sweep, reason="deleted", error_code=15,
            ),
        ),
    ]  # fmt: skip
    return [
        bus.event_message(c.event_subject("vk", kind, PARTITION), event, ref.key, kind, sweep)
        for kind, ref, event in events
    ]


def unstorable(monkeypatch: pytest.MonkeyPatch) -> bus.Outgoing:
    """A valid event whose row ClickHouse refuses: the contract bounds every counter to Int64, so
    the row of this one post is given a count no integer column can hold on its way to the store."""
    ref = page_ref("1023601000009", "club900")
    event = c.PostsObserved.create(
        observed_at=c.utcnow(), platform="vk", page_ref=ref, sweep_id="s1", page_id="900",
        posts=(c.Post(post_id="unstorable", posted_at=c.utcnow(), is_own=True, is_repost=False),),
    )  # fmt: skip
    flags = content._POST_FLAGS  # is_own … likes (index 5) … views, in the table's order

    def with_overflowing_likes(post):
        values = flags(post)
        return (*values[:5], 2**70, *values[6:]) if post.post_id == "unstorable" else values

    monkeypatch.setattr(content, "_POST_FLAGS", with_overflowing_likes)
    return bus.event_message(
        c.event_subject("vk", "posts", PARTITION), event, ref.key, "posts", "s1"
    )


def register() -> bus.Outgoing:
    event = c.OrganisationsRegistered.create(
        observed_at=c.utcnow(),
        registry_version="2026-03",
        region="36",
        chunk=0,
        chunks=1,
        organisations=(
            org(ORG_A, "club100"),
            org(ORG_B, "club200"),
            org(ORG_C),
            org(ORG_D, exempt=True),
        ),
    )
    return bus.event_message(c.registry_subject(REGION), event, "2026-03", 0)


@dataclass
class Driven:
    """An ``Evaluator`` driven by the test itself: messages fetched from its own pull consumer."""

    js: Any
    sub: Any
    store: ClickHouseStore
    evaluator: Any


@contextlib.asynccontextmanager
async def driven_evaluator(settings: Settings, profile: Any) -> AsyncIterator[Driven]:
    from services.evaluator.main import Evaluator

    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    sub = await js.pull_subscribe("events.>", durable="test-evaluator", stream=c.EVENTS_STREAM)
    store = await ClickHouseStore.open(settings)
    try:
        yield Driven(js, sub, store, Evaluator(settings, profile, store, EvaluatorState(), js))
    finally:
        await store.close()
        await nc.close()


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def stream_messages(js, stream: str) -> list[dict]:
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        out.append(json.loads(msg.data))
    return out


async def violation_messages(js) -> list[dict]:
    """The ALERTS stream without the scores it also carries."""
    if not await stream_count(js, c.ALERTS_STREAM):
        return []
    return [
        item
        for m in await stream_messages(js, c.ALERTS_STREAM)
        for item in (m["items"] if m["schema"].startswith("AlertBatch/") else [m])
        if item["schema"].startswith(("ViolationOpened/", "ViolationResolved/"))
    ]


async def _violations(js, n: int) -> bool:
    return len(await violation_messages(js)) >= n


async def drained(js) -> bool:
    return await bus.consumer_pending(js, c.EVENTS_STREAM, c.EVALUATOR_DURABLE) == (0, 0)


async def stream_count(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def test_evaluator_stores_alerts_dead_letters_and_survives_restart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    settings = settings.model_copy(update={"http_port": free_port()})
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    args = argparse.Namespace(profile="foundation", profiles_dir=None)

    stop = asyncio.Event()
    service = asyncio.create_task(serve(settings.nats_url, settings, args, stop))
    try:
        unknown_version = json.loads(sweep_events("s0", stale_days=1)[0].payload)
        unknown_version["schema"] = "PageSnapshot/99"  # newer than this build reads
        await bus.publish_all(
            js,
            [
                register(),
                unstorable(monkeypatch),
                *sweep_events("s1", stale_days=40),
                bus.Outgoing(
                    c.event_subject("vk", "snapshot", PARTITION), b"{not json", "broken-1"
                ),
                bus.Outgoing(
                    c.event_subject("vk", "snapshot", PARTITION),
                    json.dumps(unknown_version).encode(),
                    "v99-1",
                ),
            ],
        )
        # Opened: A description (high), A stale (high), B gone → presence, C no pages → presence.
        await wait_for(lambda: _violations(js, 4), "four alerts")
        await wait_for(lambda: _has(js, c.DEADLETTER_STREAM, 3), "three dead letters")
        await wait_for(lambda: drained(js), "the evaluator to ack everything")

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}") as http:
            assert (await http.get("/readyz")).status_code == 200
            metrics = (await http.get("/metrics")).text
        assert 'gospublic_evaluator_events_total{kind="PageSnapshot"}' in metrics
        assert "gospublic_evaluator_dead_letters_total" in metrics
        assert 'gospublic_evaluator_rows_written_total{table="post_observations"}' in metrics
    finally:
        stop.set()
        assert await asyncio.wait_for(service, 30) == 0

    dead = await stream_messages(js, c.DEADLETTER_STREAM)
    reasons = sorted(d["reason"] for d in dead)
    assert reasons[0].startswith("cannot be evaluated or stored: DataError")
    assert "likes" in reasons[0]
    assert reasons[1].startswith("not JSON")
    assert "unsupported version 'PageSnapshot/99'" in reasons[2]
    assert all(d["source"] == "evaluator" for d in dead)

    alerts = await violation_messages(js)
    opened = {(a["labels"]["org_id"], a["labels"]["rule"], a["labels"]["severity"]) for a in alerts}
    assert opened == {
        (ORG_A, "DESCRIPTION_MISSING", "high"),
        (ORG_A, "STALE", "high"),
        (ORG_B, "PAGE_MISSING_ANY", "critical"),
        (ORG_C, "PAGE_MISSING_ANY", "critical"),
    }
    subjects = set()
    scores = []
    info = await js.stream_info(c.ALERTS_STREAM)
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(c.ALERTS_STREAM, seq)
        batch = c.decode(msg.data)
        # A flush's alerts and scores travel together; each alert keeps its routing subject.
        assert msg.subject == c.ALERT_BATCH_SUBJECT and isinstance(batch, c.AlertBatch)
        for event in batch.items:
            if isinstance(event, c.ScoresUpdated):
                scores.append(event)
            else:
                subjects.add(c.alert_subject(event.labels.severity.value, event.labels.rule))
    assert subjects == {c.alert_subject(a[2], a[1]) for a in opened}
    # The scores of every registered organisation, A's with its page's components.
    assert {s.labels.org_id for s in scores} >= {ORG_A, ORG_B, ORG_C}
    latest_a = [s for s in scores if s.labels.org_id == ORG_A][-1]
    assert {"design", "compliance"} <= set(latest_a.scores)

    store = await ClickHouseStore.open(settings)
    try:
        rows = await table_rows(store)
        assert rows["organisations"] == 4
        assert rows["page_snapshots"] == 1
        assert rows["post_observations"] == 5
        assert rows["pages"] == 2
        assert rows["violations"] == 4
        assert rows["check_results"] >= 9
        open_now = await open_violations(store)
        by_rule = Counter((v["rule"], v["severity"]) for v in open_now)
        assert by_rule[("PAGE_MISSING_ANY", "critical")] == 2
        assert Counter(v["municipality"] for v in open_now).most_common() == [
            ("Лискинский район", 4)
        ]
        assert len(open_now) == 4
        assert await store.query("SELECT count() FROM {db}.organisations FINAL") == [(4,)]
        gone = "SELECT count() FROM {db}.pages FINAL WHERE liveness = 'gone'"
        assert await store.query(gone) == [(1,)]
        statuses = await store.query(
            "SELECT status, count() FROM {db}.check_results WHERE org_id = {org:String}"
            " GROUP BY status ORDER BY status",
            {"org": ORG_A},
        )
        assert dict(statuses)["fail"] == 2
    finally:
        await store.close()

    # Restart: the same defects again must not re-alert; a fixed one resolves exactly once.
    stop = asyncio.Event()
    service = asyncio.create_task(serve(settings.nats_url, settings, args, stop))
    try:
        await bus.publish_all(js, sweep_events("s2", stale_days=40))
        await bus.publish_all(js, [register()])
        await wait_for(lambda: drained(js), "the second sweep")
        await asyncio.sleep(0.5)
        assert len(await violation_messages(js)) == 4

        await bus.publish_all(js, sweep_events("s3", stale_days=1))
        await wait_for(lambda: _violations(js, 5), "the resolution")
        await wait_for(lambda: drained(js), "the third sweep")
    finally:
        stop.set()
        assert await asyncio.wait_for(service, 30) == 0

    alerts = await violation_messages(js)
    kinds = Counter((a["schema"].split("/")[0], a["violation_id"]) for a in alerts)
    assert all(n == 1 for n in kinds.values()), kinds
    resolved = [a for a in alerts if a["schema"].startswith("ViolationResolved")]
    assert [(a["labels"]["rule"], a["labels"]["severity"]) for a in resolved] == [("STALE", "high")]

    store = await ClickHouseStore.open(settings)
    try:
        open_now = await open_violations(store)
        assert {(v["org_id"], v["rule"]) for v in open_now} == {
            (ORG_A, "DESCRIPTION_MISSING"),
            (ORG_B, "PAGE_MISSING_ANY"),
            (ORG_C, "PAGE_MISSING_ANY"),
        }
        assert (await table_rows(store))["violations"] == 5
    finally:
        await store.close()
    await nc.close()


async def table_rows(store: ClickHouseStore) -> dict[str, int]:
    """Stored rows per table (before merges: a replaced row still counts)."""
    counts = {}
    for table in TABLES:
        counts[table] = (await store.query(f"SELECT count() FROM {{db}}.{table}"))[0][0]
    return counts


async def open_violations(store: ClickHouseStore) -> list[dict]:
    """The open violations as the state loader and the report read them."""
    rows = await store.query(open_violations_sql(), {"db": store.database})
    return [dict(zip(OPEN_VIOLATION_COLUMNS, row, strict=True)) for row in rows]


async def _has(js, stream: str, n: int) -> bool:
    return await stream_count(js, stream) >= n


async def test_storage_away_holds_the_batch_until_it_can_be_stored(settings: Settings) -> None:
    """A real ClickHouse failure (tables not there yet) neither acks nor dead-letters: the batch
    waits in place, not ready, and is stored once the tables exist."""
    from services.evaluator.profiles import load_profile

    settings = settings.model_copy(update={"max_deliver": 2})
    async with driven_evaluator(settings, load_profile("foundation")) as d:
        js, sub, store, evaluator = d.js, d.sub, d.store, d.evaluator
        await bus.publish_all(js, sweep_events("s1", stale_days=40))
        messages = await sub.fetch(3, timeout=10)
        assert len(messages) == 3
        await evaluator.receive(messages)
        token, batch = evaluator.next_batch()
        flushing = asyncio.create_task(evaluator.flush(batch, token=token))

        def failures() -> float:
            return REGISTRY.get_sample_value("gospublic_evaluator_flush_failures_total") or 0.0

        async def retried_twice() -> bool:
            return failures() >= failures_before + 2

        failures_before = failures()
        await wait_for(retried_twice, "two failed attempts", timeout=20)
        assert not flushing.done()
        assert not evaluator.storing  # /readyz says not ready
        assert await stream_count(js, c.DEADLETTER_STREAM) == 0
        assert await bus.consumer_pending(js, c.EVENTS_STREAM, "test-evaluator") == (0, 3)

        await store.migrate()
        await asyncio.wait_for(flushing, timeout=30)
        assert evaluator.storing
        assert (await table_rows(store))["post_observations"] == 5
        assert await stream_count(js, c.DEADLETTER_STREAM) == 0

        async def all_acked() -> bool:  # an ack is a message of its own: it may still be on its way
            return await bus.consumer_pending(js, c.EVENTS_STREAM, "test-evaluator") == (0, 0)

        await wait_for(all_acked, "the acks", timeout=10)


async def test_a_batch_evaluated_ahead_is_undone_with_a_failed_store_and_used_after(
    settings: Settings,
) -> None:
    """The next full batch is evaluated while one is stored. While storing fails it is undone
    each time (the state as if it had not been seen); once storing works both batches are stored,
    and rows, violations and state equal one evaluation of all events in order."""
    from services.evaluator.handlers import process_batch
    from services.evaluator.profiles import load_profile

    def ahead(outcome: str) -> float:
        sample = "gospublic_evaluator_batches_evaluated_ahead_total"
        return REGISTRY.get_sample_value(sample, {"outcome": outcome}) or 0.0

    settings = settings.model_copy(update={"batch_max_messages": 3})
    profile = load_profile("foundation")
    async with driven_evaluator(settings, profile) as d:
        js, sub, store, evaluator = d.js, d.sub, d.store, d.evaluator
        used, undone = ahead("used"), ahead("undone")
        await bus.publish_all(js, sweep_events("s1", stale_days=40))
        await bus.publish_all(js, sweep_events("s2", stale_days=0))
        messages = await sub.fetch(6, timeout=10)
        assert len(messages) == 6
        events = [c.decode(m.data) for m in messages]
        receiving = asyncio.create_task(evaluator.receive(messages))  # waits at a full buffer
        await wait_for(_async(lambda: len(evaluator.buffer) == 3), "the first batch")
        token, first = evaluator.next_batch()
        async with evaluator.buffer.space:
            evaluator.buffer.space.notify_all()
        await wait_for(_async(lambda: len(evaluator.buffer) == 3), "the second batch")
        flushing = asyncio.create_task(evaluator.flush(first, token=token))
        await wait_for(_async(lambda: ahead("undone") >= undone + 2), "two undone evaluations")
        assert evaluator.state.open_transactions == 0
        assert len(evaluator.buffer) == 3 and not flushing.done()

        await store.migrate()
        await asyncio.wait_for(flushing, timeout=30)
        assert ahead("used") == used and evaluator.flusher.ahead is not None
        await asyncio.wait_for(evaluator.flush(evaluator.flusher.ahead.batch), timeout=30)
        assert ahead("used") == used + 1 and evaluator.state.open_transactions == 0
        await receiving

        expected_state = EvaluatorState()
        expected = process_batch(expected_state, events[:3], profile, c.utcnow())
        expected_second = process_batch(expected_state, events[3:], profile, c.utcnow())
        assert set(evaluator.state.open) == set(expected_state.open)
        assert evaluator.state.pages == expected_state.pages
        rows = await table_rows(store)
        assert rows["post_observations"] == 10
        stored = len(expected.rows["violations"]) + len(expected_second.rows["violations"])
        assert rows["violations"] == stored
        assert expected_second.resolved >= 1  # the second sweep resolved the stale page
        assert await stream_count(js, c.DEADLETTER_STREAM) == 0


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def test_a_restarted_evaluator_averages_scores_over_pages_it_has_not_seen_again(
    settings: Settings,
) -> None:
    """Page scores come back from ClickHouse: after a restart an organisation's ScoresUpdated
    still averages all its pages, not only the one seen since."""
    from services.evaluator.handlers import TABLE_COLUMNS, TABLE_ORDER, process_batch
    from services.evaluator.profiles import load_profile

    profile = load_profile("dialog-default")
    now = c.utcnow()
    vk, ok = page_ref(ORG_A, "club100"), c.PageRef(platform="ok", native_id="500", org_id=ORG_A)
    organisation = org(ORG_A, "club100").model_copy(update={"pages": (vk, ok)})

    def posts(ref: c.PageRef, count: int, at) -> c.PostsObserved:
        return c.PostsObserved.create(
            observed_at=at, platform=ref.platform, page_ref=ref, sweep_id="s", page_id="1",
            posts=tuple(
                c.Post(post_id=str(i), posted_at=at - timedelta(hours=8 * i + 1), is_own=True,
                       is_repost=False, likes=3)
                for i in range(count)
            ),
        )  # fmt: skip

    registered = c.OrganisationsRegistered.create(
        observed_at=now, registry_version="1", region="36", chunk=0, chunks=1,
        organisations=(organisation,),
    )  # fmt: skip
    state = EvaluatorState()
    first = process_batch(state, [registered, posts(vk, 10, now), posts(ok, 1, now)], profile, now)
    store = await ClickHouseStore.open(settings)
    try:
        await store.migrate()
        await store.insert_tables(
            [(t, first.rows[t], TABLE_COLUMNS[t], None) for t in TABLE_ORDER], {}
        )
        restored = await store.load_state()
    finally:
        await store.close()
    entries = lambda s: {tuple(s[i : i + 4]) for i in range(0, len(s), 4)}  # noqa: E731
    assert entries(restored.scores[ORG_A]) == entries(state.scores[ORG_A])

    later = now + timedelta(hours=1)
    again = [posts(vk, 2, later)]  # only the VK page is read after the restart
    without_restart = process_batch(state, again, profile, later)
    after_restart = process_batch(restored, again, profile, later)
    [expected] = without_restart.scores
    [got] = after_restart.scores
    assert got.scores == expected.scores
    assert "frequency" in got.scores


async def test_the_last_messages_are_taken_without_waiting_for_a_flush(settings: Settings) -> None:
    """On stop the intake hands over what arrived; a full buffer must not hold that hand-over
    (with NATS away the flush that would make room may not end until the stop)."""
    from services.evaluator.profiles import load_profile

    settings = settings.model_copy(update={"batch_max_messages": 3})
    async with driven_evaluator(settings, load_profile("foundation")) as d:
        js, sub, evaluator = d.js, d.sub, d.evaluator
        await bus.publish_all(js, sweep_events("s1", stale_days=40))
        await bus.publish_all(js, sweep_events("s2", stale_days=0))
        messages = await sub.fetch(6, timeout=10)
        receiving = asyncio.create_task(evaluator.receive(messages))
        await wait_for(_async(lambda: len(evaluator.buffer) == 3), "a full buffer")
        await asyncio.sleep(0.2)
        assert not receiving.done()  # waiting for space
        await evaluator.receive_last()
        await asyncio.wait_for(receiving, timeout=5)
        assert len(evaluator.buffer) == 6


async def test_a_copy_redelivered_after_its_ack_is_acknowledged_and_not_stored_again(
    settings: Settings,
) -> None:
    """JetStream redelivers a message whose ack_wait ran out while it waited in the intake or the
    buffer (a long backlog ahead of it). A copy that arrives after the original was stored and
    acknowledged is acknowledged too, and its page's rows are not stored a second time."""
    from nats.js.api import ConsumerConfig

    from services.evaluator.profiles import load_profile

    def late_copies() -> float:
        return REGISTRY.get_sample_value("gospublic_evaluator_late_copies_total") or 0.0

    async with driven_evaluator(settings, load_profile("foundation")) as d:
        js, store, evaluator = d.js, d.store, d.evaluator
        await store.migrate()
        sub = await js.pull_subscribe(
            "events.>", durable="test-late", stream=c.EVENTS_STREAM,
            config=ConsumerConfig(ack_wait=1),
        )  # fmt: skip
        await bus.publish_all(js, sweep_events("s1", stale_days=40))
        originals = await sub.fetch(3, timeout=10)
        await asyncio.sleep(1.5)  # ack_wait runs out: the server sends every message again
        copies = await sub.fetch(3, timeout=10)
        assert [m.metadata.num_delivered for m in copies] == [2, 2, 2]

        await evaluator.receive(originals)
        token, batch = evaluator.next_batch()
        await evaluator.flush(batch, token=token)
        stored = await table_rows(store)
        assert stored["post_observations"] == 5 and stored["page_snapshots"] == 1
        before = late_copies()

        await evaluator.receive(copies)
        assert not evaluator.buffer
        assert late_copies() == before + 3
        assert await table_rows(store) == stored

        async def all_acked() -> bool:
            return await bus.consumer_pending(js, c.EVENTS_STREAM, "test-late") == (0, 0)

        await wait_for(all_acked, "the copies acknowledged", timeout=10)
