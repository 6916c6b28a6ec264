"""No platform client follows a redirect off its platform (SSRF).

Each test runs two real HTTP servers on 127.0.0.1: a fake platform that answers every request
with a redirect, and a "metadata service" on another port that records every request it gets.
The client is pointed at the fake platform, as the simulator and the tests point it; a redirect to
the other port is another origin and must be refused, counted, and never fetched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gospublic import contracts as c
from services.collector import tg_collect
from services.collector.ok_client import OkClient
from services.collector.tg_collect import TgClient
from services.collector.vk_client import VkClient, VkGarbage

pytestmark = pytest.mark.integration

TOKEN = "vk-token-never-elsewhere-5d1e"


@dataclass
class Server:
    """A threaded HTTP server whose every request is recorded and answered by ``answer``."""

    answer: tuple[int, dict[str, str], bytes]
    # Paths answered with a 302 to the given URL instead.
    redirects: dict[str, str] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.hits.append(f"{self.command} {self.path}")
                owner.bodies.append(self.rfile.read(length) if length else b"")
                status, headers, body = owner.answer
                if self.path in owner.redirects:
                    status, headers, body = 302, {"Location": owner.redirects[self.path]}, b""
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def metadata() -> Iterator[Server]:
    """The internal address an attacker wants fetched; it must never see a request."""
    server = Server((200, {"Content-Type": "application/json"}, b'{"response": "secret-role"}'))
    yield server
    server.close()


def redirecting(status: int, target: Server) -> Server:
    location = f"{target.origin}/latest/meta-data/iam/security-credentials/"
    return Server((status, {"Location": location}, b""))


def refused(platform: str, method: str) -> float:
    value = REGISTRY.get_sample_value(
        "gospublic_collector_api_requests_total",
        {"platform": platform, "method": method, "result": "redirect_refused"},
    )
    return value or 0.0


@pytest.mark.parametrize("status", [302, 307])
async def test_vk_client_refuses_a_redirect_off_the_platform(status: int, metadata: Server):
    platform = redirecting(status, metadata)
    before = refused("vk", "groups.getById")
    client = VkClient(f"{platform.origin}/method", [SecretStr(TOKEN)], backoff_s=0.01)
    try:
        with pytest.raises(VkGarbage) as caught:
            await client.call("groups.getById", {"group_ids": "1"})
    finally:
        await client.aclose()
        platform.close()
    assert platform.hits == ["POST /method/groups.getById"]  # asked once, not retried
    assert metadata.hits == []
    assert f"redirect to {metadata.origin} refused" in str(caught.value)
    assert TOKEN not in str(caught.value) and "meta-data" not in str(caught.value)
    assert refused("vk", "groups.getById") == before + 1


@pytest.mark.parametrize("status", [302, 307])
async def test_ok_client_refuses_a_redirect_off_the_platform(status: int, metadata: Server):
    platform = redirecting(status, metadata)
    before = refused("ok", "group.getInfo")
    client = OkClient(
        f"{platform.origin}/fb.do", "APPKEY", SecretStr("app-secret"), [SecretStr(TOKEN)],
        backoff_s=0.01,
    )  # fmt: skip
    try:
        with pytest.raises(VkGarbage) as caught:
            await client.call("group.getInfo", {"uids": "1"})
    finally:
        await client.aclose()
        platform.close()
    assert platform.hits == ["POST /fb.do"]
    assert metadata.hits == []
    assert f"redirect to {metadata.origin} refused" in str(caught.value)
    assert refused("ok", "group.getInfo") == before + 1


async def test_tg_client_refuses_a_redirect_off_the_platform(metadata: Server):
    platform = redirecting(302, metadata)
    before = refused("tg", "preview")
    client = TgClient(platform.origin, requests_per_second=100)
    ref = c.PageRef(platform=c.Platform.TG, native_id="durov", org_id="1")
    task = c.CollectTask.create(
        observed_at=datetime.now(UTC), sweep_id="s1", platform="tg", pages=(ref,)
    )
    try:
        collected = await tg_collect.collect(client, task, 20, {})
    finally:
        await client.aclose()
        platform.close()
    assert platform.hits == ["GET /s/durov"]
    assert metadata.hits == []
    [event] = collected.events
    assert isinstance(event, c.PageUnavailable)
    assert event.reason == c.Unavailability.API_ERROR
    assert f"redirect to {metadata.origin} refused" in event.detail
    assert refused("tg", "preview") == before + 1


async def test_tg_client_follows_a_redirect_on_its_own_origin():
    """t.me sends /s/<name> to /<name> when a channel has no preview: that one is followed."""
    server = Server((200, {"Content-Type": "text/html"}, b"<html>no preview</html>"))
    server.redirects = {"/s/durov": f"{server.origin}/durov"}
    client = TgClient(server.origin, requests_per_second=100)
    try:
        status, _, text = await client.preview("durov")
    finally:
        await client.aclose()
        server.close()
    assert (status, text) == (200, "<html>no preview</html>")
    assert server.hits == ["GET /s/durov", "GET /durov"]
