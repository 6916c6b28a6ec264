"""A real HTTP/1.1 server for :class:`VkSimulator`: ``GET`` and form ``POST`` on ``/method/<name>``.

Keep-alive works as with api.vk.com (HTTP/1.1 with Content-Length), so clients exercise their
connection pools. Requests are not logged line by line; the simulator keeps its own request log.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from services.simulator.vk_api import JSON_TYPE, VkSimulator

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vk-sim/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    simulator: VkSimulator

    def do_GET(self) -> None:
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

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class VkSimServer:
    """Serves ``simulator`` in a daemon thread; ``url`` is the API base (``.../method``)."""

    def __init__(self, simulator: VkSimulator, host: str = "127.0.0.1", port: int = 0):
        handler = type("VkSimHandler", (_Handler,), {"simulator": simulator})
        self.simulator = simulator
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
