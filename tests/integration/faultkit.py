"""Helpers for the fault tests: the whole topology as processes on a small region slice.

The topology is ``bench/pipeline.py``'s ``Pipeline`` (the end-to-end benchmark runs the same code on
the national preset): a VK simulator, an embedded nats-server, an aiosmtpd sink, the evaluator on
chDB, the notifier and two paced VK collectors. The counts at the end come from ClickHouse rows and
the SMTP server's messages against the simulator's planted pages and posts.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from nats.js.errors import NotFoundError

from gospublic import contracts as c
from services.notifier.mailsink import MailSink

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.pipeline import Pipeline  # noqa: E402

SLICE_ORGS = 120  # about 105 VK pages, 1,400 observations, a few hundred violations
MAX_IN_FLIGHT = 4  # the notifier's send concurrency: e-mails a kill can catch unrecorded
POSTS_PER_PAGE = 20  # the collector's default: the rows each live page should have


class FlakySink(MailSink):
    """The SMTP sink, answering ``451`` to every message while ``refusing`` is set."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.refusing = False
        self.refused = 0
        accept = self.handler.handle_DATA

        async def handle_DATA(server, session, envelope) -> str:
            if self.refusing:
                self.refused += 1
                return "451 4.3.0 Mailbox busy, try again later"
            return await accept(server, session, envelope)

        self.handler.handle_DATA = handle_DATA


class PublishHold:
    """A TCP proxy in front of the nats-server that can hold a client's publishes in flight.

    While ``armed`` with subject prefixes, the first ``PUB``/``HPUB`` a client connection sends
    to a matching subject, and everything that connection sends after it, stays in the proxy:
    the publish has left the client and will never be acknowledged. The server's bytes still
    reach the client. When the server goes away the client's connection is closed too; a client
    that reconnects gets a fresh connection, held only if the proxy is still armed.
    (``""`` as a prefix holds at the first publish of any subject.)
    """

    def __init__(self, upstream_url: str) -> None:
        self.upstream = urlsplit(upstream_url)
        self.prefixes: tuple[str, ...] = ()
        self.held: list[str] = []  # the subject each held connection stopped at
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        netloc = self.upstream.netloc.rsplit("@", 1)
        address = f"127.0.0.1:{port}"
        return self.upstream._replace(
            netloc=f"{netloc[0]}@{address}" if len(netloc) == 2 else address
        ).geturl()

    async def start(self) -> PublishHold:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            self._server = None

    def arm(self, *prefixes: str) -> None:
        self.prefixes = prefixes
        self.held = []

    def disarm(self) -> None:
        self.prefixes = ()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream_writer = None
        try:
            upstream_reader, upstream_writer = await self._connect_upstream()
            self._writers.add(upstream_writer)
            to_client = asyncio.create_task(_pump(upstream_reader, writer))
            to_server = asyncio.create_task(self._filter(reader, upstream_writer))
            await asyncio.wait({to_client, to_server}, return_when=asyncio.FIRST_COMPLETED)
            to_client.cancel()
            to_server.cancel()
        except (OSError, asyncio.CancelledError):
            pass  # the server is away, or the test's loop is closing
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()
                    self._writers.discard(w)

    async def _connect_upstream(self):
        deadline = time.monotonic() + 30
        while True:
            try:
                return await asyncio.open_connection(self.upstream.hostname, self.upstream.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _filter(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward the client's protocol operations until one publishes to a held subject."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await self._forward(reader, writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        holding = False
        while True:
            line = await reader.readuntil(b"\r\n")
            operation = line
            words = line.split()
            verb = words[0].upper() if words else b""
            if verb in (b"PUB", b"HPUB"):
                operation += await reader.readexactly(int(words[-1]) + 2)
                subject = words[1].decode()
                if not holding and self.prefixes and subject.startswith(self.prefixes):
                    holding = True
                    self.held.append(subject)
            if holding:
                continue  # in flight for ever: the server never sees it
            writer.write(operation)
            await writer.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


def slice_pipelines(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """Start the topology on a small slice; collectors paced so a sweep lasts several seconds."""
    started: list[Pipeline] = []

    def start(sink: MailSink | None = None, **evaluator_env: str) -> Pipeline:
        pipeline = Pipeline(
            tmp_path / "pipeline",
            preset="voronezh",
            size=SLICE_ORGS,
            seed=7,
            collectors=2,
            tokens=2,
            pages_per_task=4,
            evaluator_env={
                "GOSPUBLIC_EVALUATOR_ACK_WAIT_S": "8",
                "GOSPUBLIC_BATCH_MAX_MESSAGES": "40",
                "GOSPUBLIC_BATCH_MAX_WAIT_S": "0.2",
                **evaluator_env,
            },
            notifier_env={
                "GOSPUBLIC_SMTP_MAX_ATTEMPTS": "2",
                "GOSPUBLIC_SMTP_RETRY_BACKOFF_S": "0.1",
                "GOSPUBLIC_NOTIFIER_TICK_S": "0.1",
            },
            # One token per collector at 3 requests/s: about ten seconds of collection.
            collector_env={"GOSPUBLIC_VK_REQUESTS_PER_SECOND": "3"},
        )
        started.append(pipeline)
        return pipeline.start(sink)

    yield start
    for pipeline in started:
        pipeline.stop()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def tasks_left(js) -> int:
    return (await js.stream_info(c.TASKS_STREAM)).state.messages


async def acked_events(js) -> int:
    """The evaluator's ack floor on EVENTS (0 before its durable exists)."""
    try:
        info = await js.consumer_info(c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
    except NotFoundError:
        return 0
    return info.ack_floor.stream_seq


async def dead_letters(js) -> int:
    return (await js.stream_info(c.DEADLETTER_STREAM)).state.messages


def assert_exactly_once(pipeline: Pipeline, killed_after_mails: int | None = None) -> dict:
    """Stop the services; every planted observation stored once, every alert mailed once.

    E-mails are counted at the SMTP server by distinct Message-ID. With ``killed_after_mails``
    (the notifier was killed once that many messages were accepted): a message the server accepted
    just before the kill, which the notifier had no time to record, is sent again after the
    restart as that very message, under the same Message-ID (the receiver's key to drop it) —
    at most the deliveries in flight (send concurrency 4). No alert is announced as new under
    two different Message-IDs, and none is lost.
    """
    counted = pipeline.results(POSTS_PER_PAGE)
    assert counted["expected_observations"] > 1000, counted
    assert counted["alerts"] > 100, counted
    detail = dict(counted["detail"])
    resent = detail.pop("emails_resent_same_message_id")
    assert detail == {
        "pages": [0, 0],
        "posts": [0, 0],
        "alerts": [0, 0],
        "violations_opened_twice": 0,
    }, counted
    assert counted["observations"] == counted["expected_observations"]
    assert (counted["lost"], counted["duplicated"]) == (0, 0), counted
    if killed_after_mails is None:
        assert resent == 0, counted
        return counted
    assert pipeline.sink is not None
    ids = [_message_id(r.content) for r in pipeline.sink.messages]
    assert len(ids) - len(set(ids)) == resent, counted
    # Only messages accepted before the kill come again, and only once each.
    again = [i for i in ids[killed_after_mails:] if i in set(ids[:killed_after_mails])]
    assert len(again) == len(set(again)) == resent <= MAX_IN_FLIGHT, (again, counted)
    return counted


def _message_id(content: bytes) -> str:
    return str(email.message_from_bytes(content, policy=policy.default)["Message-ID"])


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """Every directory under ``directory`` refuses new entries, even to root (``chattr +i``)."""
    # chDB's data/ and metadata/ hold symlinks to store/: chattr would refuse them.
    dirs = [str(p) for p in [directory, *directory.rglob("*")] if p.is_dir() and not p.is_symlink()]
    as_root = os.geteuid() == 0
    if as_root and shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a directory unwritable")

    def apply(on: bool) -> None:
        if as_root:
            subprocess.run(["chattr", "+i" if on else "-i", *dirs], check=on)
        else:
            for d in dirs:
                os.chmod(d, 0o555 if on else 0o755)

    try:
        apply(True)
        yield
    finally:
        apply(False)
