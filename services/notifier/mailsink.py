"""``gospublic mailsink``: a local SMTP server that keeps every accepted message as an ``.eml`` file.

For development, demos and tests: point ``GOSPUBLIC_SMTP_HOST``/``GOSPUBLIC_SMTP_PORT`` at it and
open the files with any mail client. It accepts everything and relays nothing.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller

from gospublic.settings import Settings

log = logging.getLogger("gospublic.notifier.mailsink")


@dataclass(frozen=True)
class Received:
    path: Path
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes


class _Handler:
    def __init__(self, directory: Path, on_message=None):
        self.directory = directory
        self.on_message = on_message
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._count = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self._count += 1
            number = self._count
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{number}.eml"
        content = (
            envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        )
        path.write_bytes(content)
        received = Received(path, envelope.mail_from or "", tuple(envelope.rcpt_tos), content)
        with self._lock:
            self.messages.append(received)
        log.debug("message stored", extra={"path": str(path), "rcpt_tos": list(envelope.rcpt_tos)})
        if self.on_message is not None:
            self.on_message(received)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Port 0 binds a free port; read it back before the readiness probe connects to it.
        if self.server is not None and self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailSink:
    """The SMTP sink in a background thread: ``start()``, ``.port``, ``.messages``, ``stop()``."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0, on_message=None):
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self.handler = _Handler(self.directory, on_message)
        self._controller: _Controller | None = None

    @property
    def messages(self) -> list[Received]:
        with self.handler._lock:
            return list(self.handler.messages)

    def start(self) -> MailSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = _Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to write .eml files (default: <state dir>/mail)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=1025, help="port to listen on (default: %(default)s)"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    directory = args.dir or settings.state_dir / "mail"

    def announce(message: Received) -> None:
        print(f"stored {message.path} for {', '.join(message.rcpt_tos)}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sink = MailSink(directory, args.host, args.port, on_message=announce)
    try:
        sink.start()
    except OSError as exc:
        print(f"mailsink: cannot listen on {args.host}:{args.port}: {exc}", flush=True)
        return 1
    print(
        f"mailsink listening on {args.host}:{sink.port}, writing to {directory.resolve()}",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sink.stop()
    return 0
