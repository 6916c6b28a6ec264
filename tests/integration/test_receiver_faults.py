"""Faults around the push receiver, with a real nats-server.

- The receiver is down while posts and a comment appear: nothing is lost, the collector's sweep
  reads them (its publish is reproduced here with its own event mapping and ``to_outgoing``). When
  the receiver is back, VK sends again what was not answered: a notification whose answer was lost
  is dropped by its message id; one never stored becomes its pushed event.
- NATS goes away: the receiver answers 503 (VK and MAX send again), stays up and not ready; when
  NATS is back it is ready again and stores the next push.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.platforms import vk as vn
from gospublic.registry import store_registry
from gospublic.runtime import EmbeddedNats, free_port
from gospublic.settings import Settings
from services.collector.outcomes import to_outgoing as collector_outgoing
from services.receiver import main as receiver_main
from services.receiver import payloads as p

pytestmark = pytest.mark.integration

PUSH = Path(__file__).resolve().parents[1] / "fixtures" / "push"
VK_SECRET = "vk-callback-secret-1"
GROUP = 123456
REGION = "testregion"
ORG_ID = "1023600000001"
REF = c.PageRef(platform=c.Platform.VK, native_id=str(GROUP), org_id=ORG_ID)
ORG = c.Organisation(
    org_id=ORG_ID, name="Администрация района", level="municipal", founder="",
    municipality="Район", sphere="administration", pages=(REF,),
)  # fmt: skip


def post_notification(post_id: int, date: int, event_id: str) -> bytes:
    body = json.loads((PUSH / "vk_wall_post_new.json").read_text())
    body["object"].update(id=post_id, date=date, text=f"Запись {post_id}")
    body["event_id"] = event_id
    return json.dumps(body).encode()


def reply_notification() -> bytes:
    return (PUSH / "vk_wall_reply_new.json").read_bytes()


def wall_item(post_id: int, date: int) -> dict[str, Any]:
    """The post as wall.get shows it in a sweep: with the counters a push lacks."""
    return {
        "id": post_id, "owner_id": -GROUP, "from_id": -GROUP, "date": date,
        "text": f"Запись {post_id}", "comments": {"count": 1 if post_id == 501 else 0},
        "likes": {"count": 7}, "reposts": {"count": 1}, "views": {"count": 480},
    }  # fmt: skip


def receiver_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "vk_callback_secrets": {GROUP: SecretStr(VK_SECRET)},
            "receiver_regions": [REGION],
            "receiver_publish_timeout_s": 1.0,
            **extra,
        }
    )


async def page_events(js: Any) -> list[Any]:
    sub = await js.pull_subscribe(c.event_filter("vk", ">"), stream=c.EVENTS_STREAM)
    found = []
    try:
        while True:
            found.extend(await sub.fetch(100, timeout=0.5))
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return [(m.subject, c.decode(m.data)) for m in found]


@pytest.fixture
async def js(nats_server: EmbeddedNats, settings: Settings):
    nc = await bus.connect(nats_server.url, settings, "test")
    stream = nc.jetstream()
    await bus.ensure_topology(stream, settings)
    await store_registry(stream, REGION, [ORG])
    yield stream
    await nc.close()


async def start_receiver(nats_server: EmbeddedNats, config: Settings):
    broker = bus.make_broker(nats_server.url, config, "receiver-test")
    await broker.connect()
    receiver = receiver_main.make_receiver(config, broker, [REGION])
    await receiver.pages.reload()
    return broker, receiver


async def test_polling_covers_the_receivers_downtime_and_a_restart_drops_redeliveries(
    nats_server: EmbeddedNats, settings: Settings, js: Any
) -> None:
    config = receiver_settings(settings)
    broker, receiver = await start_receiver(nats_server, config)
    # Post 500 is pushed and stored; the receiver dies before its "ok" reaches VK.
    assert (await receiver.vk_callback(post_notification(500, 1765040000, "e500"))).status == 200
    await broker.stop()

    # While it is down, post 501 and a comment under it appear; VK's notifications fail. The
    # collector's next sweep reads the wall and the comments and publishes them its way.
    sweep = "sweep-1765051800"
    at = c.utcnow()
    wall = {"count": 2, "items": [wall_item(501, 1765047600), wall_item(500, 1765040000)]}
    polled_posts = vn.build_posts(wall, GROUP, REF, sweep, at)
    comment = vn.comment_from(json.loads(reply_notification())["object"], GROUP, "501")
    polled_comments = c.CommentsObserved.create(
        observed_at=at, platform=c.Platform.VK, page_ref=REF, sweep_id=sweep,
        page_id=str(GROUP), comments=(comment,),
    )  # fmt: skip
    partition = c.region_partition(REGION)  # the sweep of the region the page is registered in
    polled = [collector_outgoing(e, partition) for e in (polled_posts, polled_comments)]
    assert await bus.publish_all(js, polled) == 2
    stored = await page_events(js)
    posts_seen = {
        post.post_id for _, e in stored if isinstance(e, c.PostsObserved) for post in e.posts
    }
    comments_seen = {
        x.comment_id for _, e in stored if isinstance(e, c.CommentsObserved) for x in e.comments
    }
    assert posts_seen == {"500", "501"} and comments_seen == {"9001"}  # nothing lost

    # The receiver is back; VK sends again every notification not answered "ok".
    broker, receiver = await start_receiver(nats_server, config)
    try:
        again = [
            post_notification(500, 1765040000, "e500"),  # stored before the crash
            post_notification(501, 1765047600, "e501"),
            reply_notification(),
        ]
        for body in again:
            answer = await receiver.vk_callback(body)
            assert (answer.status, answer.body) == (200, b"ok")
        # And once more, as VK does when an answer is slow: every one a duplicate now.
        for body in again:
            assert (await receiver.vk_callback(body)).status == 200
    finally:
        await broker.stop()
    after = await page_events(js)
    pushed = [e for _, e in after if p.is_pushed(e)]
    # Post 500 once (the redelivery dropped by its id), 501 and the comment once each.
    assert sorted(
        (
            type(e).__name__,
            (e.posts[0].post_id if isinstance(e, c.PostsObserved) else e.comments[0].comment_id),
        )
        for e in pushed
    ) == [("CommentsObserved", "9001"), ("PostsObserved", "500"), ("PostsObserved", "501")]
    # The polled events are untouched, and remain the only ones with the wall's counters.
    [polled_wall] = [e for _, e in after if isinstance(e, c.PostsObserved) and not p.is_pushed(e)]
    assert polled_wall.total_count == 2 and polled_wall.posts[0].views == 480
    assert all(e.posts[0].views is None for e in pushed if isinstance(e, c.PostsObserved))


async def test_nats_away_is_503_and_the_receiver_recovers(
    nats_server: EmbeddedNats, settings: Settings, js: Any
) -> None:
    push_port, health_port = free_port(), free_port()
    config = receiver_settings(settings, receiver_port=push_port, http_port=health_port)
    stop = asyncio.Event()
    args = receiver_main.argparse.Namespace(region=[])
    service = asyncio.create_task(receiver_main.serve(nats_server.url, config, args, stop))
    push = f"http://127.0.0.1:{push_port}/vk/callback"
    ready = f"http://127.0.0.1:{health_port}/readyz"

    async def wait_ready(client: httpx.AsyncClient, want: int) -> None:
        for _ in range(200):
            try:
                if (await client.get(ready)).status_code == want:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"/readyz never answered {want}")

    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await wait_ready(client, 200)
            first = await client.post(push, content=post_notification(600, 1765040000, "e600"))
            assert (first.status_code, first.text) == (200, "ok")

            nats_server.stop()
            await wait_ready(client, 503)
            down = await client.post(push, content=post_notification(601, 1765047600, "e601"))
            assert down.status_code == 503 and down.text != "ok"
            assert not service.done()  # still serving

            nats_server.start()
            await wait_ready(client, 200)
            for _ in range(50):  # VK sends it again until it is answered "ok"
                again = await client.post(push, content=post_notification(601, 1765047600, "e601"))
                if again.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert (again.status_code, again.text) == (200, "ok")
    finally:
        stop.set()
        assert await asyncio.wait_for(service, 20) == 0
    nc = await bus.connect(nats_server.url, settings, "check")
    try:
        stored = await page_events(nc.jetstream())
    finally:
        await nc.close()
    assert sorted(e.posts[0].post_id for _, e in stored) == ["600", "601"]
