"""Receiver URLs and tokens stay out of logs and the notification log, even when echoed back."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from services.notifier.httpsend import request
from services.notifier.subscriptions import Receiver

HOOK = "https://bridge.example.org/bot/123456:bot-token-abcdef/send?chat=1"


def test_a_webhook_receiver_key_keeps_only_the_origin_and_a_hash() -> None:
    key = Receiver("webhook", HOOK).key
    assert key.startswith("webhook:https://bridge.example.org#")
    assert "bot-token" not in key and "123456" not in key
    assert key != Receiver("webhook", HOOK + "2").key  # still one entry per URL
    assert Receiver("email", "a@b.example").key == "email:a@b.example"


class _Echo(BaseHTTPRequestHandler):
    """Answers 401 with the request's path and Authorization header in the page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"denied: {self.path} {self.headers.get('Authorization')}".encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def test_an_error_page_that_echoes_the_request_is_scrubbed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/bot/123456:bot-token-abcdef/send?chat=1"
    try:
        async with httpx.AsyncClient() as client:
            result = await request(
                client, "POST", url, json={}, headers={"Authorization": "Bearer glsa_secret-token"},
                timeout_s=5, attempts=1, backoff_s=0, target="webhook",
            )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert not result.ok and result.status == 401
    assert result.error.startswith("HTTP 401: denied:")
    for secret in ("bot-token", "glsa_secret-token", "/bot/123456"):
        assert secret not in result.error


async def test_credentials_httpx_derives_from_a_webhook_url_are_scrubbed() -> None:
    """http://user:pass@host/… makes httpx send "Authorization: Basic <base64>", a header the
    caller never set; an error page that echoes it must not carry it into the error text."""
    import base64

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://hookuser:hook-pass-3f9a1c@127.0.0.1:{server.server_address[1]}/hook"
    basic = base64.b64encode(b"hookuser:hook-pass-3f9a1c").decode()
    try:
        async with httpx.AsyncClient() as client:
            result = await request(
                client, "POST", url, json={}, timeout_s=5, attempts=1, backoff_s=0,
                target="webhook",
            )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == 401 and result.error.startswith("HTTP 401: denied:")
    for secret in (basic, "hook-pass-3f9a1c"):
        assert secret not in result.error, result.error


async def test_a_grafana_token_is_not_replaced_by_credentials_in_the_grafana_url() -> None:
    """httpx makes "Basic <user:pass>" out of a URL's userinfo and sends it instead of the
    configured Bearer token: Grafana refused every annotation."""
    from pydantic import SecretStr

    from gospublic.settings import Settings
    from services.notifier.grafana import Annotator

    seen: list[tuple[str, str]] = []

    def grafana(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("Authorization", "")))
        return httpx.Response(200, json={"id": 1})

    settings = Settings(
        _env_file=None,
        grafana_url="http://admin:grafana-url-pass@grafana.example:3000",
        grafana_token=SecretStr("glsa_token-2c7e"),
        http_max_attempts=1,
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(grafana)) as client:
        result = await Annotator(client, settings, store=None)._call("POST", "/api/annotations", {})
    assert result.ok
    assert seen == [("http://grafana.example:3000/api/annotations", "Bearer glsa_token-2c7e")]
