"""Structured logs that never carry a secret, and the ``/healthz`` ``/readyz`` ``/metrics`` endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from gospublic.display import mask_credentials

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Redactor:
    """Replaces every known secret value, and every credential a text shows by its form (a URL's
    userinfo, a token in a query, an ``Authorization`` value): those may be derived from a secret
    (httpx builds ``Basic <base64>`` from a URL's user and password) or never configured at all."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        known = {*self.secrets, *(s for s in secrets if s and len(s) >= 4)}
        self.secrets = sorted(known, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return mask_credentials(text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, redact: Redactor):
        super().__init__()
        self.service = service
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, service: str, redact: Redactor):
        super().__init__(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")
        }
        line = super().format(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return self.redact(line)


# The redactor of this process's log handler, for secrets learnt after start (a generated password).
_active = Redactor()


def redact_also(*secrets: str) -> None:
    _active.add(secrets)


def setup_logging(service: str, level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    global _active
    redact = _active = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        TextFormatter(service, redact) if fmt == "text" else JsonFormatter(service, redact)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-message lines from the broker library would drown everything else on a busy consumer.
    for noisy in ("faststream", "faststream.access", "nats", "httpx", "httpcore", "mail.log"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class HealthServer:
    """A minimal HTTP endpoint: liveness, readiness (a callable), and Prometheus metrics."""

    def __init__(self, host: str, port: int, ready: Callable[[], bool] = lambda: True):
        self.host = host
        self.port = port
        self.ready = ready
        self._server: asyncio.Server | None = None

    async def start(self) -> HealthServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            if path == "/healthz":
                status, body, ctype = 200, b"ok\n", "text/plain"
            elif path == "/readyz":
                ready = self.ready()
                status, ctype = (200 if ready else 503), "text/plain"
                body = b"ready\n" if ready else b"not ready\n"
            elif path == "/metrics":
                status, body, ctype = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
            else:
                status, body, ctype = 404, b"not found\n", "text/plain"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
