"""The push receiver against a real nats-server: the same handler as under ``TestNatsBroker``,
publishing through FastStream's ``NatsBroker`` to JetStream, acknowledged before the answer; then
the whole service (``serve``) over HTTP, with the register read from KV."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gospublic import bus, pushmarks
from gospublic import contracts as c
from gospublic.registry import store_registry
from gospublic.runtime import EmbeddedNats, free_port
from gospublic.settings import Settings
from services.collector.cursors import Cursor, CursorStore, cursor_key
from services.collector.outcomes import to_outgoing as collector_outgoing
from services.collector.scheduler import adaptive_pages
from services.receiver import main as receiver_main
from services.receiver.handlers import PUBLISHED

pytestmark = pytest.mark.integration

PUSH = Path(__file__).resolve().parents[1] / "fixtures" / "push"
VK_SECRET = "vk-callback-secret-1"
MAX_SECRET = "max-webhook-secret-1"
GROUP = 123456
CHAT = -72000000000123
REGION = "testregion"
# The partition of the pushed events: the region of the register the page was found in.
PARTITION = c.region_partition(REGION)
ORG_ID = "1023600000001"
ORG = c.Organisation(
    org_id=ORG_ID,
    name="Администрация района",
    level="municipal",
    founder="",
    municipality="Район",
    sphere="administration",
    pages=(
        c.PageRef(platform=c.Platform.VK, native_id=str(GROUP), org_id=ORG_ID),
        c.PageRef(platform=c.Platform.MAX, native_id=str(CHAT), org_id=ORG_ID),
    ),
)


def sample(name: str) -> bytes:
    return (PUSH / name).read_bytes()


def receiver_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "vk_callback_secrets": {GROUP: SecretStr(VK_SECRET)},
            "vk_callback_confirmations": {GROUP: "a1b2c3d4"},
            "max_webhook_secret": SecretStr(MAX_SECRET),
            "receiver_regions": [REGION],
            "receiver_publish_timeout_s": 2.0,
            **extra,
        }
    )


async def stream_messages(js: Any) -> list[Any]:
    """The page events on EVENTS (the register's own announcements left out)."""
    sub = await js.pull_subscribe("events.>", stream=c.EVENTS_STREAM)
    found = []
    try:
        while True:
            found.extend(await sub.fetch(100, timeout=0.5))
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return [m for m in found if m.subject.split(".")[2] != "registry"]


@pytest.fixture
async def js(nats_server: EmbeddedNats, settings: Settings):
    nc = await bus.connect(nats_server.url, settings, "test")
    stream = nc.jetstream()
    await bus.ensure_topology(stream, settings)
    await store_registry(stream, REGION, [ORG])
    yield stream
    await nc.close()


async def test_push_then_the_poll_equivalent_publish_is_one_stored_message(
    nats_server: EmbeddedNats, settings: Settings, js: Any
) -> None:
    config = receiver_settings(settings)
    broker = bus.make_broker(nats_server.url, config, "receiver-test")
    await broker.connect()
    try:
        receiver = receiver_main.make_receiver(config, broker, [REGION])
        assert await receiver.pages.reload() and len(receiver.pages) == 2
        assert receiver.publisher.connected

        answer = await receiver.vk_callback(sample("vk_wall_post_new.json"))
        assert (answer.status, answer.body) == (200, b"ok")  # stored before the answer
        [stored] = await stream_messages(js)
        assert stored.subject == c.event_subject("vk", "posts_observed", PARTITION)
        event = c.decode(stored.data)
        assert stored.headers["Nats-Msg-Id"] == collector_outgoing(event, PARTITION).msg_id

        # VK sends the notification again: answered ok, dropped by the id.
        duplicates = PUBLISHED.labels("vk", "posts_observed", "duplicate")._value.get()
        assert (await receiver.vk_callback(sample("vk_wall_post_new.json"))).status == 200
        assert PUBLISHED.labels("vk", "posts_observed", "duplicate")._value.get() == duplicates + 1
        # The same event published the collectors' way (bus.publish_all, their message id).
        assert await bus.publish_all(js, [collector_outgoing(event, PARTITION)]) == 0
        assert len(await stream_messages(js)) == 1

        # MAX, and garbage dead-lettered on the real stream with the reason.
        answer = await receiver.max_webhook(
            {"x-max-bot-api-secret": MAX_SECRET}, sample("max_message_created.json")
        )
        assert answer.status == 200
        assert (await receiver.vk_callback(b"{not json")).status == 400
        sub = await js.pull_subscribe("deadletter.receiver-vk", stream=c.DEADLETTER_STREAM)
        [letter] = await sub.fetch(1, timeout=2)
        assert b"not JSON" in letter.data
    finally:
        await broker.stop()
    assert [m.subject for m in await stream_messages(js)] == [
        c.event_subject("vk", "posts_observed", PARTITION),
        c.event_subject("max", "posts_observed", PARTITION),
    ]


async def test_the_service_over_http(
    nats_server: EmbeddedNats, settings: Settings, js: Any
) -> None:
    push_port, health_port = free_port(), free_port()
    config = receiver_settings(settings, receiver_port=push_port, http_port=health_port)
    stop = asyncio.Event()
    args = receiver_main.argparse.Namespace(region=[])
    service = asyncio.create_task(receiver_main.serve(nats_server.url, config, args, stop))
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(100):
                try:
                    ready = await client.get(f"http://127.0.0.1:{health_port}/readyz")
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the receiver never became ready")
            base = f"http://127.0.0.1:{push_port}"
            confirm = await client.post(
                f"{base}/vk/callback", content=sample("vk_confirmation.json")
            )
            assert confirm.text == "a1b2c3d4"
            post = await client.post(
                f"{base}/vk/callback", content=sample("vk_wall_reply_new.json")
            )
            assert (post.status_code, post.text) == (200, "ok")
            metrics = (await client.get(f"http://127.0.0.1:{health_port}/metrics")).text
            assert (
                'gospublic_receiver_requests_total{outcome="confirmation",platform="vk"}' in metrics
            )
            assert VK_SECRET not in metrics and MAX_SECRET not in metrics
    finally:
        stop.set()
        assert await asyncio.wait_for(service, 20) == 0
    [stored] = await stream_messages(js)
    assert stored.subject == c.event_subject("vk", "comments_observed", PARTITION)
    # The scheduler learns of the push: the page is marked, and the mark expires by itself.
    marks = await pushmarks.read_marks(js)
    assert list(marks) == [pushmarks.page_key(ORG.pages[0])]
    assert abs(marks[pushmarks.page_key(ORG.pages[0])] - time.time()) < 60
    status = await (await js.key_value(c.PUSHES_BUCKET)).status()
    assert status.ttl == c.PUSH_MARK_TTL_S


async def test_the_service_refuses_to_start_without_a_region_or_secret(
    nats_server: EmbeddedNats, settings: Settings
) -> None:
    args = receiver_main.argparse.Namespace(region=[])
    no_region = receiver_settings(settings, receiver_regions=[])
    assert await receiver_main.serve(nats_server.url, no_region, args, asyncio.Event()) == 2
    no_secret = settings.model_copy(update={"receiver_regions": [REGION]})
    assert await receiver_main.serve(nats_server.url, no_secret, args, asyncio.Event()) == 2


async def test_the_module_entry_runs_until_sigterm_and_logs_no_secret(
    nats_server: EmbeddedNats, settings: Settings, js: Any
) -> None:
    push_port, health_port = free_port(), free_port()
    env = {
        **os.environ,
        **nats_server.client_env(),
        "GOSPUBLIC_STATE_DIR": str(settings.state_dir),
        "GOSPUBLIC_HTTP_PORT": str(health_port),
        "GOSPUBLIC_RECEIVER_PORT": str(push_port),
        "GOSPUBLIC_RECEIVER_REGIONS": REGION,
        "GOSPUBLIC_VK_CALLBACK_SECRETS": json.dumps({str(GROUP): VK_SECRET}),
        "GOSPUBLIC_MAX_WEBHOOK_SECRET": MAX_SECRET,
        "GOSPUBLIC_LOG_LEVEL": "DEBUG",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.receiver.main", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(150):
                try:
                    if (
                        await client.get(f"http://127.0.0.1:{health_port}/readyz")
                    ).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the receiver never became ready")
            wrong = json.loads(sample("vk_wall_post_new.json")) | {"secret": "nope"}
            base = f"http://127.0.0.1:{push_port}"
            assert (await client.post(f"{base}/vk/callback", json=wrong)).status_code == 403
            post = await client.post(f"{base}/vk/callback", content=sample("vk_wall_post_new.json"))
            assert post.text == "ok"
            await client.post(f"{base}/vk/callback", content=b"{garbage " + VK_SECRET.encode())
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    logs = stderr.decode()
    assert "receiver started" in logs and "receiver stopped" in logs
    assert VK_SECRET not in logs and MAX_SECRET not in logs


async def test_a_push_makes_its_page_due_at_the_next_sweep(settings: Settings, js: Any) -> None:
    """The receiver's mark reaches the scheduler through NATS: a page read a minute ago is not
    due, and is once a push about it came after that read."""
    page = ORG.pages[0]
    now = c.utcnow()
    read = Cursor("s", read_at=int(now.timestamp()) - 60, active_at=1)
    await (await CursorStore(js).start()).save({cursor_key(page): read})
    assert await adaptive_pages(js, settings, c.Platform.VK, [page], now, "t-1") == []
    await pushmarks.mark_pushed(js, page, now.timestamp() - 30)
    assert await adaptive_pages(js, settings, c.Platform.VK, [page], now, "t-2") == [page]
