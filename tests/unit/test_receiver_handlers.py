"""The push receiver's handling, in memory: FastStream's ``TestNatsBroker`` stands in for NATS.

Each request goes through ``Receiver`` (and, for the HTTP details, through ``PushServer`` on a real
socket); what it publishes is caught by a subscriber on the test broker, headers included.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.nats import JStream, NatsBroker, TestNatsBroker
from faststream.nats.annotations import NatsMessage
from prometheus_client import REGISTRY

from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector.outcomes import to_outgoing as collector_outgoing
from services.receiver import payloads as p
from services.receiver.handlers import Receiver
from services.receiver.http import PushServer
from services.receiver.pages import PageDirectory, numeric_key
from services.receiver.publisher import PushPublisher

PUSH = Path(__file__).resolve().parents[1] / "fixtures" / "push"
VK_SECRET = "vk-callback-secret-1"
MAX_SECRET = "max-webhook-secret-1"
CONFIRMATION = "a1b2c3d4"
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
GROUP = 123456
CHAT = -72000000000123
# The partition of the pushed events: the receiver does not tell its pages' regions yet.
# The register the pages were found in: the events go to its region's partition.
REGION = "voronezh"
PARTITION = c.region_partition(REGION)
ORG = c.Organisation(
    org_id="1023600000001",
    name="Администрация района",
    level="municipal",
    founder="",
    municipality="Район",
    sphere="administration",
    pages=(
        c.PageRef(platform=c.Platform.VK, native_id=f"club{GROUP}", org_id="1023600000001"),
        c.PageRef(platform=c.Platform.MAX, native_id=str(CHAT), org_id="1023600000001"),
    ),
)


def sample(name: str) -> bytes:
    return (PUSH / name).read_bytes()


def changed(name: str, **fields: Any) -> bytes:
    body = json.loads(sample(name))
    body.update(fields)
    return json.dumps(body).encode()


def counted(platform: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "gospublic_receiver_requests_total", {"platform": platform, "outcome": outcome}
    )
    return value or 0.0


class Harness:
    def __init__(
        self, broker: Any, published: list, dead: list, receiver: Receiver, marked: list
    ) -> None:
        self.broker = broker
        self.published = published
        self.dead = dead
        self.receiver = receiver
        self.marked = marked

    def events(self) -> list[c.Event]:
        return [c.decode(body) for _, _, body in self.published]


def receiver_settings(**extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        vk_callback_secrets={GROUP: VK_SECRET},
        vk_callback_confirmations={GROUP: CONFIRMATION},
        max_webhook_secret=MAX_SECRET,
        receiver_max_body_bytes=4096,
        **extra,
    )


async def _raw(msg: Any) -> bytes:
    return msg.body


@pytest.fixture
async def harness():
    broker = NatsBroker("nats://127.0.0.1:1")
    published: list[tuple[str, dict, bytes]] = []

    @broker.subscriber("events.>", stream=JStream(c.EVENTS_STREAM, declare=False), decoder=_raw)
    async def catch(body: bytes, msg: NatsMessage) -> None:
        published.append((msg.raw_message.subject, dict(msg.headers), body))

    dead: list[tuple[str, bytes, p.Unreadable]] = []

    async def dead_letter(source: str, data: bytes, reason: p.Unreadable) -> None:
        dead.append((source, data, reason))

    async def organisations() -> dict[str, list[c.Organisation]]:
        return {REGION: [ORG]}

    async with TestNatsBroker(broker) as test_broker:
        pages = PageDirectory(organisations)
        await pages.reload()
        publisher = PushPublisher(test_broker, c.EVENTS_STREAM, timeout_s=1.0)
        marked: list[tuple[c.PageRef, datetime]] = []

        async def mark_pushed(ref: c.PageRef, at: datetime) -> None:
            marked.append((ref, at))

        receiver = Receiver(
            receiver_settings(),
            pages,
            publisher,
            dead_letter,
            now=lambda: NOW,
            mark_pushed=mark_pushed,
        )
        yield Harness(test_broker, published, dead, receiver, marked)


# --- VK ---------------------------------------------------------------------------------------


async def test_a_pushed_vk_post_is_the_collectors_event_with_their_message_id(harness) -> None:
    answer = await harness.receiver.vk_callback(sample("vk_wall_post_new.json"))
    assert (answer.status, answer.body) == (200, b"ok")
    [(subject, headers, body)] = harness.published
    assert subject == c.event_subject("vk", "posts_observed", PARTITION)
    event = c.decode(body)
    assert isinstance(event, c.PostsObserved)
    assert event.page_ref == ORG.pages[0] and event.page_id == str(GROUP)
    assert event.total_count is None and event.sweep_id.startswith(p.PUSH_SWEEP_PREFIX)
    [post] = event.posts
    assert (post.post_id, post.is_own, post.is_repost, post.views) == ("501", True, False, None)
    assert post.links == ("https://example.gov.ru/priem",)
    # The subject and id the collector's own function gives the same event.
    assert headers["Nats-Msg-Id"] == collector_outgoing(event, PARTITION).msg_id
    assert subject == collector_outgoing(event, PARTITION).subject


async def test_the_same_notification_twice_has_one_message_id(harness) -> None:
    for _ in range(2):
        assert (await harness.receiver.vk_callback(sample("vk_wall_post_new.json"))).status == 200
    ids = {headers["Nats-Msg-Id"] for _, headers, _ in harness.published}
    assert len(harness.published) == 2 and len(ids) == 1  # JetStream keeps one


async def test_comments_new_and_edited_are_comment_events(harness) -> None:
    await harness.receiver.vk_callback(sample("vk_wall_reply_new.json"))
    await harness.receiver.vk_callback(sample("vk_wall_reply_edit.json"))
    first, edit = harness.events()
    assert isinstance(first, c.CommentsObserved) and isinstance(edit, c.CommentsObserved)
    [comment] = first.comments
    assert (comment.comment_id, comment.post_id, comment.author_kind) == ("9001", "501", "citizen")
    assert first.unknown_posts == ("501",)  # whose post it is the push does not say
    [answer] = edit.comments
    assert (answer.author_kind, answer.reply_to, answer.thread_id) == ("page", "9001", "9001")
    assert answer.addressees == ("31415926",)
    ids = {headers["Nats-Msg-Id"] for _, headers, _ in harness.published}
    assert len(ids) == 2
    assert {s for s, _, _ in harness.published} == {
        c.event_subject("vk", "comments_observed", PARTITION)
    }


async def test_an_edit_notified_twice_is_one_message_but_a_new_edit_is_another(harness) -> None:
    await harness.receiver.vk_callback(sample("vk_wall_reply_edit.json"))
    await harness.receiver.vk_callback(sample("vk_wall_reply_edit.json"))
    await harness.receiver.vk_callback(changed("vk_wall_reply_edit.json", event_id="f" * 40))
    ids = [headers["Nats-Msg-Id"] for _, headers, _ in harness.published]
    assert ids[0] == ids[1] != ids[2]


async def test_the_confirmation_request_gets_the_configured_string(harness) -> None:
    answer = await harness.receiver.vk_callback(sample("vk_confirmation.json"))
    assert (answer.status, answer.body) == (200, CONFIRMATION.encode())
    # The schema leaves the secret optional: a confirmation without one is answered too.
    unsigned = await harness.receiver.vk_callback(changed("vk_confirmation.json", secret=None))
    assert (unsigned.status, unsigned.body) == (200, CONFIRMATION.encode())
    # But an unsigned notification of anything else is not.
    unsigned_post = changed("vk_wall_post_new.json", secret=None)
    assert (await harness.receiver.vk_callback(unsigned_post)).status == 403
    assert harness.published == []


@pytest.mark.parametrize(
    "body",
    [
        changed("vk_wall_post_new.json", secret="wrong"),
        changed("vk_wall_post_new.json", secret=VK_SECRET[:-1]),
        changed("vk_wall_post_new.json", secret=None),
        changed("vk_wall_post_new.json", group_id=999),  # a community not configured
        changed("vk_confirmation.json", secret="wrong"),
        changed("vk_confirmation.json", secret=None, group_id=999),
    ],
)
async def test_a_wrong_or_missing_secret_is_refused_and_counted(harness, body: bytes) -> None:
    before = counted("vk", "forbidden")
    answer = await harness.receiver.vk_callback(body)
    assert answer.status == 403 and CONFIRMATION.encode() not in answer.body
    assert counted("vk", "forbidden") == before + 1
    assert harness.published == [] and harness.dead == []


async def test_notifications_without_an_event_are_answered_ok(harness) -> None:
    for body in (
        sample("vk_wall_reply_delete.json"),
        changed("vk_wall_post_new.json", type="group_join", object={"user_id": 1}),
    ):
        answer = await harness.receiver.vk_callback(body)
        assert (answer.status, answer.body, answer.outcome) == (200, b"ok", "ignored")
    suggested = json.loads(sample("vk_wall_post_new.json"))
    suggested["object"]["post_type"] = "suggest"
    assert (await harness.receiver.vk_callback(json.dumps(suggested).encode())).outcome == "ignored"
    assert harness.published == []


async def test_a_page_not_in_the_registers_is_answered_and_counted(harness) -> None:
    harness.receiver.pages.replace({})
    answer = await harness.receiver.vk_callback(sample("vk_wall_post_new.json"))
    assert (answer.status, answer.outcome) == (200, "unknown_page")
    assert harness.published == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "wall_post_new", "secret": "' + VK_SECRET.encode() + b'", ', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "wall_post_new"}', "group_id"),
        (b"\xff\xfe", "not JSON"),
    ],
)
async def test_garbage_is_400_with_the_reason_and_a_dead_letter(
    harness, body: bytes, reason: str
) -> None:
    answer = await harness.receiver.vk_callback(body)
    assert answer.status == 400 and reason in answer.body.decode()
    [(source, kept, why)] = harness.dead
    assert source == "receiver-vk" and reason in why.reason
    assert VK_SECRET.encode() not in kept  # the body's secret is blanked out
    assert harness.published == []


async def test_an_authenticated_object_the_mapping_refuses_is_dead_lettered(harness) -> None:
    broken = json.loads(sample("vk_wall_post_new.json"))
    broken["object"]["date"] = "yesterday"
    answer = await harness.receiver.vk_callback(json.dumps(broken).encode())
    # Answered "ok": VK would send the same object again, and pauses a server that keeps failing.
    assert (answer.status, answer.body, answer.outcome) == (200, b"ok", "unreadable")
    [(_, kept, why)] = harness.dead
    assert "date" in why.reason
    assert b"***" in kept and VK_SECRET.encode() not in kept
    assert harness.published == []


async def test_a_body_over_the_limit_is_413(harness) -> None:
    answer = await harness.receiver.vk_callback(b" " * 5000)
    assert answer.status == 413 and harness.dead == []


# --- MAX --------------------------------------------------------------------------------------


async def test_a_max_channel_post_is_published(harness) -> None:
    answer = await harness.receiver.max_webhook(
        {"x-max-bot-api-secret": MAX_SECRET}, sample("max_message_created.json")
    )
    assert (answer.status, answer.body) == (200, b"ok")
    [(subject, headers, _)] = harness.published
    [event] = harness.events()
    assert subject == c.event_subject("max", "posts_observed", PARTITION) and isinstance(
        event, c.PostsObserved
    )
    assert event.page_ref == ORG.pages[1] and event.page_id == str(CHAT)
    assert event.posts[0].post_id == "mid.ffffb5f4a3c2e1d0.019aefc8d7e6f501"
    assert headers["Nats-Msg-Id"] == collector_outgoing(event, PARTITION).msg_id


async def test_a_max_comment_is_published(harness) -> None:
    headers = {"x-max-bot-api-secret": MAX_SECRET}
    assert (
        await harness.receiver.max_webhook(headers, sample("max_comment_created.json"))
    ).status == 200
    [event] = harness.events()
    assert isinstance(event, c.CommentsObserved)
    [comment] = event.comments
    assert (comment.author_kind, comment.from_id) == ("citizen", "2718281")
    assert comment.post_id == "mid.ffffb5f4a3c2e1d0.019aefc8d7e6f501"


async def test_max_needs_its_secret_header(harness) -> None:
    before = counted("max", "forbidden")
    for headers in ({}, {"x-max-bot-api-secret": "wrong"}, {"x-max-bot-api-secret": ""}):
        answer = await harness.receiver.max_webhook(headers, sample("max_message_created.json"))
        assert answer.status == 403
    assert counted("max", "forbidden") == before + 3
    assert harness.published == [] and harness.dead == []


async def test_max_messages_outside_channels_are_ignored(harness) -> None:
    headers = {"x-max-bot-api-secret": MAX_SECRET}
    for body in (
        sample("max_message_created_dialog.json"),
        b'{"update_type": "bot_started", "timestamp": 1}',
    ):
        answer = await harness.receiver.max_webhook(headers, body)
        assert (answer.status, answer.outcome) == (200, "ignored")
    assert harness.published == []


async def test_max_garbage_is_400_and_dead_lettered(harness) -> None:
    answer = await harness.receiver.max_webhook({"x-max-bot-api-secret": MAX_SECRET}, b"{oops")
    assert answer.status == 400 and "not JSON" in answer.body.decode()
    assert [source for source, _, _ in harness.dead] == ["receiver-max"]


# --- NATS away, logs ----------------------------------------------------------------------------


class DownBroker:
    connection = None

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        raise TimeoutError("nats: timeout")


async def test_nats_down_is_503_so_the_platform_sends_again() -> None:
    pages = PageDirectory(lambda: asyncio.sleep(0, {REGION: [ORG]}))
    await pages.reload()

    async def dead_letter(*args: Any) -> None:
        raise AssertionError("nothing to dead-letter")

    publisher = PushPublisher(DownBroker(), c.EVENTS_STREAM)
    marked: list[c.PageRef] = []

    async def mark_pushed(ref: c.PageRef, at: datetime) -> None:
        marked.append(ref)

    receiver = Receiver(receiver_settings(), pages, publisher, dead_letter, mark_pushed=mark_pushed)
    before = counted("vk", "unavailable")
    answer = await receiver.vk_callback(sample("vk_wall_post_new.json"))
    assert answer.status == 503 and answer.body != b"ok"
    assert marked == []  # not stored: the platform sends it again, and then it is marked
    assert counted("vk", "unavailable") == before + 1
    assert not publisher.connected


async def test_logs_never_carry_a_secret(harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await harness.receiver.vk_callback(changed("vk_wall_post_new.json", secret=VK_SECRET + "x"))
    await harness.receiver.vk_callback(b'{"secret": "' + VK_SECRET.encode() + b'"')
    await harness.receiver.max_webhook({"x-max-bot-api-secret": MAX_SECRET + "x"}, b"{}")
    await harness.receiver.max_webhook({"x-max-bot-api-secret": MAX_SECRET}, b"{oops")
    assert caplog.records
    for record in caplog.records:
        text = f"{record.getMessage()} {record.__dict__}"
        assert VK_SECRET not in text and MAX_SECRET not in text


# --- HTTP -------------------------------------------------------------------------------------


async def test_the_http_server_routes_limits_and_answers(harness) -> None:
    server = await PushServer(harness.receiver, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            ok = await client.post("/vk/callback", content=sample("vk_wall_post_new.json"))
            assert (ok.status_code, ok.text) == (200, "ok")
            confirm = await client.post("/vk/callback", content=sample("vk_confirmation.json"))
            assert confirm.text == CONFIRMATION
            assert (await client.get("/vk/callback")).status_code == 405
            assert (await client.post("/elsewhere", content=b"{}")).status_code == 404
            big = await client.post("/vk/callback", content=b"x" * 5000)
            assert big.status_code == 413
            refused = await client.post("/max/webhook", content=sample("max_message_created.json"))
            assert refused.status_code == 403
            channel = await client.post(
                "/max/webhook",
                content=sample("max_message_created.json"),
                headers={"X-Max-Bot-Api-Secret": MAX_SECRET},
            )
            assert channel.status_code == 200

            async def chunks():
                yield b"{}"

            chunked = await client.post("/vk/callback", content=chunks())
            assert chunked.status_code == 411
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
        # A client that waits for "100 Continue" before the body (curl does) gets it.
        body = sample("vk_confirmation.json")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /vk/callback HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        assert await reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        writer.write(body)
        assert (await reader.read()).endswith(CONFIRMATION.encode())
        writer.close()
    finally:
        await server.stop()
    assert [s for s, _, _ in harness.published] == [
        c.event_subject("vk", "posts_observed", PARTITION),
        c.event_subject("max", "posts_observed", PARTITION),
    ]


# --- pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "native", "key"),
    [
        (c.Platform.VK, "123456", "123456"),
        (c.Platform.VK, "-123456", "123456"),
        (c.Platform.VK, "club123456", "123456"),
        (c.Platform.VK, "Public123456", "123456"),
        (c.Platform.VK, "adm_rayon", None),
        (c.Platform.MAX, "-72000000000123", "-72000000000123"),
        (c.Platform.MAX, "adm_rayon", None),
        (c.Platform.TG, "123", None),
    ],
)
def test_register_ids_a_push_can_name(platform: c.Platform, native: str, key: str | None) -> None:
    ref = c.PageRef(platform=platform, native_id=native, org_id="1023600000001")
    assert numeric_key(ref) == key


async def test_a_signed_max_post_the_mapping_refuses_is_kept_and_answered(harness) -> None:
    broken = json.loads(sample("max_message_created.json"))
    del broken["message"]["body"]["mid"]
    answer = await harness.receiver.max_webhook(
        {"x-max-bot-api-secret": MAX_SECRET}, json.dumps(broken).encode()
    )
    assert (answer.status, answer.outcome) == (200, "unreadable")  # MAX would retry for hours
    [(source, _, why)] = harness.dead
    assert source == "receiver-max" and "mid" in why.reason
    assert harness.published == []


# --- marking the page for the next sweep ----------------------------------------------------


async def test_a_stored_push_marks_its_page_for_the_next_sweep(harness) -> None:
    await harness.receiver.vk_callback(sample("vk_wall_reply_new.json"))
    await harness.receiver.max_webhook(
        {"x-max-bot-api-secret": MAX_SECRET}, sample("max_message_created.json")
    )
    assert harness.marked == [(ORG.pages[0], NOW), (ORG.pages[1], NOW)]


async def test_nothing_is_marked_without_a_stored_event(harness) -> None:
    await harness.receiver.vk_callback(sample("vk_confirmation.json"))
    await harness.receiver.vk_callback(changed("vk_wall_post_new.json", secret="wrong"))
    await harness.receiver.vk_callback(changed("vk_wall_post_new.json", group_id=999))
    assert harness.marked == []


async def test_a_mark_that_fails_leaves_the_answer_ok(harness, caplog) -> None:
    async def broken(ref: c.PageRef, at: datetime) -> None:
        raise TimeoutError("nats: timeout")

    harness.receiver.mark_pushed = broken
    answer = await harness.receiver.vk_callback(sample("vk_wall_post_new.json"))
    assert (answer.status, answer.body) == (200, b"ok") and len(harness.published) == 1
    assert "page not marked for the next sweep" in caplog.text
