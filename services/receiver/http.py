"""A small HTTP/1.1 server on asyncio streams for the two push endpoints (the project serves HTTP
this way, see ``gospublic.observability.HealthServer``: no web framework is a dependency).

One request per connection (``Connection: close``). The request line and headers are bounded, the
body must come with a ``Content-Length`` (413 past the limit, before it is read; a chunked body
is refused with 411), and each read has a deadline, so a slow or hostile client holds a
connection for seconds at most.
"""

from __future__ import annotations

import asyncio
import logging

from services.receiver.handlers import REQUESTS, Answer, Receiver, too_large

log = logging.getLogger("gospublic.receiver.http")

READ_TIMEOUT_S = 10.0
MAX_HEADER_LINES = 100
LINE_LIMIT = 8 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

VK_PATH = "/vk/callback"
MAX_PATH = "/max/webhook"


class BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class PushServer:
    def __init__(self, receiver: Receiver, host: str, port: int) -> None:
        self.receiver = receiver
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> PushServer:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=LINE_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader, writer)
        except BadRequest as exc:
            answer = Answer(exc.status, f"{exc}\n".encode(), "bad_request")
            REQUESTS.labels("http", "bad_request").inc()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            return
        except Exception:  # never let one request take the server down
            log.exception("push request failed")
            answer = Answer(500, b"internal error\n", "error")
        try:
            head = (
                f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, 'Error')}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(answer.body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + answer.body)
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Answer:
        method, path, headers = await _read_head(reader)
        if path not in (VK_PATH, MAX_PATH):
            return Answer(404, b"not found\n", "not_found")
        if method != "POST":
            return Answer(405, b"POST only\n", "not_allowed")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise BadRequest(411, "a Content-Length is required")
        if path == MAX_PATH and not self.receiver.max_authorised(headers):
            return await self.receiver.max_webhook(headers, b"")  # refused, counted, unread
        length = _content_length(headers)
        if length > self.receiver.body_limit:
            platform = "vk" if path == VK_PATH else "max"
            REQUESTS.labels(platform, "too_large").inc()
            return too_large(self.receiver.body_limit)
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl and others wait for it
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)
        if path == VK_PATH:
            return await self.receiver.vk_callback(body)
        return await self.receiver.max_webhook(headers, body)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
    try:
        line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
    except ValueError:  # over the line limit
        raise BadRequest(400, "request line too long") from None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "not an HTTP/1.x request")
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES + 1):
        try:
            raw = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
        except ValueError:
            raise BadRequest(400, "header line too long") from None
        if raw in (b"\r\n", b"\n", b""):
            return parts[0], parts[1].split("?")[0], headers
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon:
            raise BadRequest(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    raise BadRequest(400, f"more than {MAX_HEADER_LINES} header lines")


def _content_length(headers: dict[str, str]) -> int:
    text = headers.get("content-length", "")
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise BadRequest(411, "a Content-Length is required")
    return int(text)
