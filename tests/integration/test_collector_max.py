"""The MAX collector against the MAX simulator (and a few hand-made servers) over real HTTP.

Paging (``/chats`` by marker, ``/messages`` back by time), 429 backoff with ``Retry-After``, the
rate limit, a token MAX refuses, a channel that removed the bot (``not_connected``), the token only
in the ``Authorization`` header, a redirect off MAX's hosts refused, malformed answers as
``PageUnavailable(api_error)``, and a whole sweep through ``gospublic collector --platform max``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector import main as collector
from services.collector import max_collect
from services.collector.max_client import MaxClient
from services.collector.scheduler import plan_tasks
from services.collector.vk_client import VkNoTokens
from services.simulator.max_api import Channel, MaxSimulator
from services.simulator.region import Region, generate_region
from services.simulator.server import VkSimServer
from services.simulator.vk_api import VkSimulator

pytestmark = pytest.mark.integration

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
TOKEN = "max-bot-token-never-elsewhere-7f3a"
ORG = "1027700000001"


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region("voronezh", seed=5, now=NOW, size=220)


@pytest.fixture
def sim(region: Region) -> Iterator[tuple[MaxSimulator, str]]:
    simulator = MaxSimulator(region, TOKEN)
    with VkSimServer(VkSimulator(region), max=simulator) as server:
        yield simulator, server.max_url


def client_for(url: str, token: str = TOKEN, **options) -> MaxClient:
    options = {"backoff_s": 0.01, **options}
    return MaxClient(url, SecretStr(token), options.pop("rps", 500.0), 10.0, **options)


def task_for(names: list[str], sweep: str = "max-1") -> c.CollectTask:
    refs = tuple(c.PageRef(platform=c.Platform.MAX, native_id=n, org_id=ORG) for n in names)
    return c.CollectTask.create(
        observed_at=c.utcnow(), sweep_id=sweep, platform=c.Platform.MAX, pages=refs
    )


def outcome(events: list[c.PageEvent], comments: bool = False) -> dict[str, list[str]]:
    """native_id → the kinds of its events (a reason for an unavailable one); comment events
    only if asked for."""
    found: dict[str, list[str]] = {}
    for e in events:
        if isinstance(e, c.CommentsObserved) and not comments:
            continue
        kind = e.reason.value if isinstance(e, c.PageUnavailable) else type(e).__name__
        found.setdefault(e.page_ref.native_id, []).append(kind)
    return found


def metric(operation: str, result: str) -> float:
    labels = {"platform": "max", "method": operation, "result": result}
    return REGISTRY.get_sample_value("gospublic_collector_api_requests_total", labels) or 0.0


def by_state(simulator: MaxSimulator, state: str) -> Channel:
    return next(ch for ch in simulator.channels() if ch.state == state)


async def test_collect_matches_every_planted_state(sim, caplog) -> None:
    simulator, url = sim
    caplog.set_level(logging.DEBUG)
    channels = simulator.channels()
    connected = [ch for ch in channels if ch.state != "not_connected"]
    assert len(connected) > 100  # the bot's chats take more than one /chats page
    # Register names in another case, and one channel named by its id, still match.
    names = [ch.name.upper() if ch.index % 5 == 0 else ch.name for ch in channels]
    names[channels.index(connected[0])] = str(connected[0].chat_id)
    client = client_for(url)
    try:
        collected = await max_collect.collect(client, task_for(names), 20, {})
    finally:
        await client.aclose()
    got = outcome(collected.events)
    assert set(got) == set(names)
    for ch, name in zip(channels, names, strict=True):
        if ch.state == "not_connected":
            assert got[name] == ["not_connected"], name
        else:
            assert got[name] == ["PageSnapshot", "PostsObserved"], (name, ch.state)
    snapshots = {e.page_ref.native_id: e for e in collected.events if isinstance(e, c.PageSnapshot)}
    posts = {e.page_ref.native_id: e for e in collected.events if isinstance(e, c.PostsObserved)}
    first = snapshots[str(connected[0].chat_id)]
    assert first.page_id == str(connected[0].chat_id) and first.screen_name == connected[0].name
    assert first.members == connected[0].group.members and first.name
    for ch, name in zip(channels, names, strict=True):
        if ch.state == "empty":
            assert posts[name].posts == ()
        if ch.state == "connected":
            assert posts[name].posts
        if ch.state in ("connected", "copied"):  # a copy of an empty VK wall is empty too
            assert all(p.views is not None for p in posts[name].posts)
        if ch.state == "stale":
            own = [p for p in posts[name].posts if p.is_own]
            assert own and (NOW - own[0].posted_at).days > 90
    # Paged by marker: the second /chats request carried the first page's marker.
    listing = [q for q in simulator.seen_queries if q.startswith("/chats?")]
    assert listing[0] == "/chats?count=100" and len(listing) >= 2
    assert all(q.startswith("/chats?count=100&marker=") for q in listing[1:])
    # The token went in the Authorization header of every request, and nowhere else.
    assert set(simulator.seen_authorization) == {TOKEN}
    assert not any(TOKEN in q for q in simulator.seen_queries)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in e.model_dump_json() for e in collected.events)


async def test_messages_are_paged_back_in_time(sim) -> None:
    simulator, url = sim
    ch = next(
        ch
        for ch in simulator.channels()
        if ch.state == "connected" and len(simulator._posts(ch)) >= 25
    )
    client = client_for(url)
    try:
        before = simulator.requests["messages"]
        collected = await max_collect.collect(
            client, task_for([ch.name]), 25, {}, comments=False, messages_per_call=10
        )
    finally:
        await client.aclose()
    assert simulator.requests["messages"] - before == 3  # 10 + 10 + 5
    (posts,) = [e for e in collected.events if isinstance(e, c.PostsObserved)]
    expected = [f"mid.{abs(ch.chat_id):014x}{p.id:08x}" for p, _ in simulator._posts(ch)[:25]]
    assert [p.post_id for p in posts.posts] == expected
    assert collected.cursors[f"max.{ch.name}"].last_post == int(
        posts.posts[0].posted_at.timestamp() * 1000
    )


async def test_comments_of_the_newest_posts_are_read(sim) -> None:
    simulator, url = sim
    region = simulator.region
    channels = [ch for ch in simulator.channels() if ch.state == "connected"][:30]
    client = client_for(url)
    try:
        collected = await max_collect.collect(
            client, task_for([ch.name for ch in channels]), 20, {}
        )
    finally:
        await client.aclose()
    observed = {
        e.page_ref.native_id: e for e in collected.events if isinstance(e, c.CommentsObserved)
    }
    assert observed and collected.comment_posts == sum(
        min(max_collect.COMMENT_POSTS, len(simulator._posts(ch))) for ch in channels
    )
    for ch in channels:
        newest = simulator._posts(ch)[: max_collect.COMMENT_POSTS]
        expected = {
            (simulator._mid(ch, post.id), simulator._comment_mid(ch, post, cm.id), cm.from_id)
            for post, _ in newest
            for cm in region.comments(ch.group, post)
        }
        got = observed.get(ch.name)
        assert {
            (x.post_id, x.comment_id, int(x.from_id)) for x in (got.comments if got else ())
        } == {
            (post, mid, ch.chat_id if from_id == -ch.group.id else abs(from_id))
            for post, mid, from_id in expected
        }
    comments = [x for e in observed.values() for x in e.comments]
    assert {x.author_kind for x in comments} == {"citizen", "page"}
    replies = [x for x in comments if x.reply_to]
    assert replies and all(x.thread_id == x.reply_to for x in replies)
    # The posts carry the count of comments read.
    posts = {
        p.post_id: p for e in collected.events if isinstance(e, c.PostsObserved) for p in e.posts
    }
    per_post = Counter(x.post_id for x in comments)
    assert all(posts[post].comments_count == n for post, n in per_post.items())


async def test_429_is_backed_off_honouring_retry_after(sim) -> None:
    simulator, url = sim
    ch = by_state(simulator, "connected")
    refused_before = metric("getChats", "429")
    simulator.throttle(2, "1")
    client = client_for(url)
    started = time.monotonic()
    try:
        collected = await max_collect.collect(client, task_for([ch.name]), 5, {})
    finally:
        await client.aclose()
    assert time.monotonic() - started >= 1.8  # two pauses of Retry-After: 1
    assert outcome(collected.events)[ch.name] == ["PageSnapshot", "PostsObserved"]
    assert simulator.requests["429"] == 2
    assert metric("getChats", "429") - refused_before == 2


async def test_503_without_retry_after_is_backed_off(sim) -> None:
    simulator, url = sim
    ch = by_state(simulator, "connected")
    simulator.throttle(3, None, status=503)
    client = client_for(url)
    try:
        collected = await max_collect.collect(client, task_for([ch.name]), 5, {}, comments=False)
    finally:
        await client.aclose()
    assert outcome(collected.events)[ch.name] == ["PageSnapshot", "PostsObserved"]
    assert simulator.requests["503"] == 3


async def test_429_that_never_ends_gives_the_task_back(sim) -> None:
    """Still refused after the retries: not the pages' fault, the task is retried later."""
    from services.collector.vk_client import VkTransient

    simulator, url = sim
    simulator.throttle(100, "0")
    client = client_for(url, max_rate_retries=3)
    try:
        with pytest.raises(VkTransient):
            await max_collect.collect(
                client, task_for([by_state(simulator, "connected").name]), 5, {}
            )
    finally:
        await client.aclose()
    assert simulator.requests["429"] == 4


async def test_the_rate_limit_is_kept(region) -> None:
    """A MAX that refuses a 6th request within a second never refuses a client set to 5/s."""
    simulator = MaxSimulator(region, TOKEN, requests_per_second=5)
    ch = by_state(simulator, "connected")
    with VkSimServer(VkSimulator(region), max=simulator) as server:
        client = client_for(server.max_url, rps=5.0)
        started = time.monotonic()
        try:
            await asyncio.gather(
                *(client.get("getChat", f"/chats/{ch.chat_id}") for _ in range(12))
            )
        finally:
            await client.aclose()
    assert time.monotonic() - started >= 1.0
    assert simulator.requests["429"] == 0 and simulator.requests["chats"] == 12


async def test_a_refused_token_stops_the_collector(sim, caplog) -> None:
    simulator, url = sim
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-" + TOKEN[::-1]
    client = client_for(url, wrong)
    try:
        with pytest.raises(VkNoTokens):
            await max_collect.collect(
                client, task_for([by_state(simulator, "connected").name]), 5, {}
            )
        assert client.tokens_alive == 0
        with pytest.raises(VkNoTokens):  # the token is not tried again
            await client.get("getChats", "/chats")
    finally:
        await client.aclose()
    assert simulator.requests["401"] == 1
    assert "MAX refused the bot token" in caplog.text
    assert wrong not in caplog.text


async def test_a_channel_that_removed_the_bot_is_not_connected(sim) -> None:
    simulator, url = sim
    ch, other = [c_ for c_ in simulator.channels() if c_.state == "connected"][:2]
    client = client_for(url)
    try:
        first = await max_collect.collect(client, task_for([ch.name, other.name]), 5, {})
        assert outcome(first.events)[ch.name] == ["PageSnapshot", "PostsObserved"]
        simulator.remove_bot(ch.name)
        # The same client still has the listing from before: MAX now refuses the channel (403).
        again = await max_collect.collect(client, task_for([ch.name], "max-2"), 5, {})
        assert outcome(again.events)[ch.name] == ["not_connected"]
    finally:
        await client.aclose()
    fresh = client_for(url)
    try:
        later = await max_collect.collect(fresh, task_for([ch.name, other.name], "max-3"), 5, {})
    finally:
        await fresh.aclose()
    got = outcome(later.events)
    assert got[ch.name] == ["not_connected"]
    assert got[other.name] == ["PageSnapshot", "PostsObserved"]
    (down,) = [e for e in later.events if isinstance(e, c.PageUnavailable)]
    assert "bot" in down.detail and down.error_code is None


class Canned:
    """A local HTTP server answering GETs by path: (status, headers, body); records each path."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.answers = answers
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                path = self.path.split("?", 1)[0]
                status, headers, body = owner.answers.get(
                    path, (404, {}, b'{"code":"x","message":"y"}')
                )
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


JSON = {"Content-Type": "application/json"}


def _json(value: object) -> tuple[int, dict[str, str], bytes]:
    return 200, JSON, json.dumps(value).encode()


async def test_a_redirect_off_max_is_refused() -> None:
    internal = Canned({"/latest/meta-data/": _json({"secret": "role"})})
    platform = Canned({"/chats": (302, {"Location": internal.url + "/latest/meta-data/"}, b"")})
    client = client_for(platform.url)
    try:
        collected = await max_collect.collect(client, task_for(["minobr_gos"]), 5, {})
    finally:
        await client.aclose()
        platform.close()
        internal.close()
    (down,) = collected.events
    assert isinstance(down, c.PageUnavailable) and down.reason == c.Unavailability.API_ERROR
    assert "refused" in down.detail and internal.hits == []


CHAT = {
    "chat_id": -1001,
    "type": "channel",
    "status": "active",
    "title": "Канал",
    "last_event_time": 1740800000000,
    "participants_count": 12,
    "is_public": True,
    "link": "https://max.ru/minobr_gos",
}


@pytest.mark.parametrize(
    ("chat", "messages", "expected", "reason"),
    [
        ("<html>oops</html>", {"messages": []}, ["api_error"], "HTML"),
        ({**CHAT, "participants_count": "many"}, {"messages": []}, ["api_error"], "participants"),
        ({**CHAT, "icon": "x.png"}, {"messages": []}, ["api_error"], "icon"),
        ({**CHAT, "status": "frozen"}, {"messages": []}, ["api_error"], "status"),
        ({**CHAT, "status": "closed"}, {"messages": []}, ["deleted"], "closed"),
        ({**CHAT, "title": "\ud800"}, {"messages": []}, ["PageSnapshot", "PostsObserved"], ""),
        (CHAT, {"messages": "none"}, ["PageSnapshot", "api_error"], "MessageList"),
        (
            CHAT,
            {"messages": [{"recipient": {}, "timestamp": "today", "body": {"mid": "m", "seq": 1}}]},
            ["PageSnapshot", "api_error"],
            "timestamp",
        ),
        (
            CHAT,
            {
                "messages": [
                    {
                        "timestamp": 1740800000000,
                        "body": {"mid": "m", "seq": 1},
                        "stat": {"views": -(2**70)},
                    }
                ]
            },
            ["PageSnapshot", "api_error"],
            "views",
        ),
    ],
)
async def test_malformed_answers_are_api_errors(chat, messages, expected, reason) -> None:
    chat_body = chat.encode() if isinstance(chat, str) else json.dumps(chat).encode()
    server = Canned(
        {
            "/chats": _json({"chats": [CHAT], "marker": None}),
            "/chats/-1001": (200, JSON, chat_body),
            "/messages": _json(messages),
        }
    )
    client = client_for(server.url)
    try:
        collected = await max_collect.collect(client, task_for(["minobr_gos"]), 5, {})
    finally:
        await client.aclose()
        server.close()
    assert outcome(collected.events)["minobr_gos"] == expected
    for e in collected.events:
        if isinstance(e, c.PageUnavailable) and e.reason == c.Unavailability.API_ERROR:
            assert reason in e.detail


async def test_a_malformed_chat_listing_makes_every_page_an_api_error() -> None:
    server = Canned({"/chats": _json({"chats": [{"chat_id": "x"}]})})
    client = client_for(server.url)
    try:
        collected = await max_collect.collect(client, task_for(["a_gos", "b_gos"]), 5, {})
    finally:
        await client.aclose()
        server.close()
    assert outcome(collected.events) == {"a_gos": ["api_error"], "b_gos": ["api_error"]}


async def test_gospublic_collector_platform_max_sweeps_the_simulator(
    settings: Settings, region: Region, sim
) -> None:
    """``gospublic collector --platform max`` (``serve``) against the simulator, through NATS."""
    simulator, url = sim
    channels = simulator.channels()
    settings = settings.model_copy(
        update={"max_api_url": url, "max_token": SecretStr(TOKEN), "max_requests_per_second": 200.0}
    )
    organisations = [
        c.Organisation(
            org_id=region.organisations[ch.index].ogrn,
            name="x",
            level="municipal",
            founder="x",
            municipality="x",
            sphere="culture",
            pages=(
                c.PageRef(
                    platform=c.Platform.MAX,
                    native_id=ch.name,
                    org_id=region.organisations[ch.index].ogrn,
                ),
            ),
        )
        for ch in channels
    ]
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    stop = asyncio.Event()
    try:
        await bus.ensure_topology(js, settings)
        run = asyncio.create_task(
            collector.serve(settings.nats_url, settings, argparse.Namespace(platform="max"), stop)
        )
        tasks = plan_tasks(organisations, c.Platform.MAX, "max-1", 50, NOW)
        subject = c.task_subject("max")
        await bus.publish_all(
            js, [bus.event_message(subject, t, "s", n) for n, t in enumerate(tasks)]
        )
        deadline = asyncio.get_running_loop().time() + 60
        while (await js.stream_info(c.TASKS_STREAM)).state.messages:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        stop.set()
        assert await asyncio.wait_for(run, 30) == 0
        from tests.integration.test_collector_ok_tg import read_events

        events = await read_events(js, c.event_filter("max", ">"))
    finally:
        stop.set()
        await nc.close()
    got = Counter(
        e.reason.value if isinstance(e, c.PageUnavailable) else type(e).__name__
        for e in events
        if not isinstance(e, c.CommentsObserved)
    )
    assert any(isinstance(e, c.CommentsObserved) for e in events)
    hidden = sum(1 for ch in channels if ch.state == "not_connected")
    assert got == {
        "not_connected": hidden,
        "PageSnapshot": len(channels) - hidden,
        "PostsObserved": len(channels) - hidden,
    }
    assert all(e.platform == c.Platform.MAX for e in events)


async def test_a_refused_token_stops_gospublic_collector_and_keeps_the_task(
    settings: Settings, sim, caplog
) -> None:
    simulator, url = sim
    wrong = "refused-" + TOKEN
    settings = settings.model_copy(
        update={"max_api_url": url, "max_token": SecretStr(wrong), "max_requests_per_second": 200.0}
    )
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    stop = asyncio.Event()
    try:
        await bus.ensure_topology(js, settings)
        run = asyncio.create_task(
            collector.serve(settings.nats_url, settings, argparse.Namespace(platform="max"), stop)
        )
        await js.publish(c.task_subject("max"), task_for(["minobr_gos"], "bad").to_bytes())
        assert await asyncio.wait_for(asyncio.shield(run), 20) == 1
        assert (await js.stream_info(c.TASKS_STREAM)).state.messages == 1
    finally:
        stop.set()
        await nc.close()
    assert simulator.requests["401"] == 1
    assert "MAX refused the bot token" in caplog.text and wrong not in caplog.text


def test_collector_without_a_max_token_says_what_to_set(settings: Settings) -> None:
    reason = collector.make_client("max", settings)
    assert isinstance(reason, str) and "GOSPUBLIC_MAX_TOKEN" in reason


async def test_a_channel_max_cannot_serve_is_an_api_error_and_the_others_are_read() -> None:
    broken = {**CHAT, "chat_id": -1002, "link": "https://max.ru/broken_gos"}
    server = Canned(
        {
            "/chats": _json({"chats": [CHAT, broken], "marker": None}),
            "/chats/-1001": _json(CHAT),
            "/chats/-1002": (500, JSON, b'{"code": "internal", "message": "Internal error"}'),
            "/messages": _json({"messages": [MESSAGE_OK]}),
        }
    )
    client = client_for(server.url)
    try:
        collected = await max_collect.collect(
            client, task_for(["minobr_gos", "broken_gos"]), 5, {}, comments=False
        )
    finally:
        await client.aclose()
        server.close()
    got = outcome(collected.events)
    assert got == {"minobr_gos": ["PageSnapshot", "PostsObserved"], "broken_gos": ["api_error"]}
    (down,) = [e for e in collected.events if isinstance(e, c.PageUnavailable)]
    assert down.error_code == 500 and "Internal error" in down.detail
    assert server.hits.count("/chats/-1002") == 4  # the first try and three retries


MESSAGE_OK = {
    "sender": None,
    "recipient": {"chat_id": -1001, "chat_type": "channel"},
    "timestamp": 1740800000000,
    "body": {"mid": "mid.1", "seq": 1, "text": "Новость"},
    "stat": {"views": 10},
}
