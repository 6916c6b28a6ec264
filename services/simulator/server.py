"""A real HTTP/1.1 server for :class:`VkSimulator`: ``GET`` and form ``POST`` on ``/method/<name>``.

Keep-alive works as with api.vk.com (HTTP/1.1 with Content-Length), so clients exercise their
connection pools. Requests are not logged line by line; the simulator keeps its own request log.
The same server answers Odnoklassniki's ``/fb.do``, Telegram's ``/s/<channel>`` previews and
MAX's bot API under ``/max/`` (``GET /max/chats``…) when given those simulators.
``GET /_sim/stats`` returns the counters, ``POST /_sim/clock?advance=<seconds>``
moves the simulated clock and ``GET /_sim/truth`` returns the ground truth at the clock, so a
process outside can read and steer it.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from services.simulator.max_api import MaxSimulator
from services.simulator.ok_api import OkSimulator
from services.simulator.tg_web import HTML_TYPE, TgSimulator
from services.simulator.vk_api import JSON_TYPE, VkSimulator

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vk-sim/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms a response on a kept-alive connection).
    disable_nagle_algorithm = True
    simulator: VkSimulator
    ok: OkSimulator | None = None
    tg: TgSimulator | None = None
    max: MaxSimulator | None = None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/max/") and self.max is not None:
            query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            status, body, headers = self.max.respond(
                path.removeprefix("/max"), query, self.headers.get("Authorization")
            )
            self._send(status, JSON_TYPE, body, headers)
            return
        self._serve(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        pairs = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        if raw:
            pairs += parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        self._serve(pairs)

    def _serve(self, pairs: list[tuple[str, str]]) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/_sim/"):
            self._control(path, dict(pairs))
            return
        if path == "/fb.do" and self.ok is not None:
            self._send(200, JSON_TYPE, self.ok.respond(dict(pairs)))
            return
        if path.startswith("/s/") and self.tg is not None:
            params = dict(pairs)
            before = params.get("before", "")
            status, body = self.tg.page(
                unquote(path.removeprefix("/s/")).strip("/"),
                int(before) if before.isdigit() else None,
            )
            self._send(status, HTML_TYPE, body)
            return
        if not path.startswith("/method/") or path == "/method/":
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        method = unquote(path.removeprefix("/method/"))
        try:
            response = self.simulator.respond(method, dict(pairs))
        except Exception:
            log.exception("simulator failed", extra={"method": method})
            body = {"error": {"error_code": 10, "error_msg": "Internal server error"}}
            self._send(200, JSON_TYPE, json.dumps(body).encode())
            return
        self._send(response.status, response.content_type, response.body)

    def _control(self, path: str, params: dict[str, str]) -> None:
        """The simulator's own endpoints: counters for a benchmark, the clock for a test."""
        if path == "/_sim/stats":
            body = self.simulator.stats()
            if self.ok is not None:
                body["ok"] = self.ok.stats()
            if self.tg is not None:
                body["tg"] = self.tg.stats()
            if self.max is not None:
                body["max"] = self.max.stats()
        elif path == "/_sim/clock" and self.command == "POST":
            try:
                seconds = float(params.get("advance", "0"))
                body = {"now": self.simulator.region.advance(seconds).isoformat()}
            except ValueError:
                message = b"advance must be a number of seconds, not negative\n"
                self._send(400, "text/plain; charset=utf-8", message)
                return
        elif path == "/_sim/clock":
            body = {"now": self.simulator.region.now.isoformat()}
        elif path == "/_sim/truth":
            body = self.simulator.region.truth_document()
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        self._send(200, JSON_TYPE, json.dumps(body).encode())

    def _send(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class VkSimServer:
    """Serves ``simulator`` in a daemon thread; ``url`` is the API base (``.../method``)."""

    def __init__(
        self,
        simulator: VkSimulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ok: OkSimulator | None = None,
        tg: TgSimulator | None = None,
        max: MaxSimulator | None = None,
    ):
        handler = type(
            "VkSimHandler", (_Handler,), {"simulator": simulator, "ok": ok, "tg": tg, "max": max}
        )
        self.max = max
        self.simulator = simulator
        self.ok = ok
        self.tg = tg
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/method"

    @property
    def base_url(self) -> str:
        return self.url.removesuffix("/method")

    @property
    def ok_url(self) -> str:
        """OK's API endpoint (``https://api.ok.ru/fb.do`` in production)."""
        return self.base_url + "/fb.do"

    @property
    def tg_url(self) -> str:
        """Telegram's web root (``https://t.me`` in production): previews at ``/s/<channel>``."""
        return self.base_url

    @property
    def max_url(self) -> str:
        """MAX's bot API root (``https://platform-api2.max.ru`` in production)."""
        return self.base_url + "/max"

    def start(self) -> VkSimServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="vk-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> VkSimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
