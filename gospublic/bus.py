"""Thin NATS JetStream adapter: connection, streams and buckets, pipelined publishing, dead letters.

Services consume through FastStream; everything else that touches NATS goes through here so that the
topology is declared in one place.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from prometheus_client import Counter

from gospublic import contracts as c
from gospublic.settings import Settings

log = logging.getLogger("gospublic.bus")

# The header of a status reply (no responders, a refused request) instead of a message.
_STATUS = "Status"

DAY_S = 86_400.0

T = TypeVar("T")


def tls_context(settings: Settings, url: str = "") -> ssl.SSLContext | None:
    """The client TLS context the settings ask for; None for a plain connection."""
    wanted = settings.nats_tls_ca_file or settings.nats_tls_cert_file or url.startswith("tls://")
    if not wanted:
        return None
    context = ssl.create_default_context(
        cafile=str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file else None
    )
    if settings.nats_tls_cert_file:
        context.load_cert_chain(
            str(settings.nats_tls_cert_file),
            str(settings.nats_tls_key_file) if settings.nats_tls_key_file else None,
        )
    return context


def connect_options(settings: Settings, url: str = "") -> dict[str, Any]:
    """Credentials and TLS for nats-py; never logged. (Credentials in the URL work as well.)"""
    options: dict[str, Any] = {}
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password.get_secret_value()
    if settings.nats_token.get_secret_value():
        options["token"] = settings.nats_token.get_secret_value()
    context = tls_context(settings, url)
    if context is not None:
        options["tls"] = context
    return options


def broker_security(settings: Settings, url: str = ""):
    """The same credentials and TLS in FastStream's terms (it takes no ``user=`` of its own)."""
    from faststream.nats import NatsSecurity, NatsToken, NatsUserPassword

    context = tls_context(settings, url)
    if settings.nats_user:
        return NatsUserPassword(
            settings.nats_user, settings.nats_password.get_secret_value(), ssl_context=context
        )
    if settings.nats_token.get_secret_value():
        return NatsToken(settings.nats_token.get_secret_value(), ssl_context=context)
    if context is not None:
        return NatsSecurity(ssl_context=context)
    return None


class ConnectionLog:
    """One log line per change of the connection instead of a traceback per reconnect attempt.

    Left alone, nats-py logs every failed attempt (two a second while the server is away) at
    ERROR with a traceback; an operator needs to know when the connection went, why, and when it
    came back.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.client: Client | None = None
        self.failed_attempts = 0
        self.last_error = ""

    async def error(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"[:300]
        self.failed_attempts += 1
        if text != self.last_error:
            self.last_error = text
            log.warning("nats client error", extra={"client": self.name, "error": text})

    async def disconnected(self) -> None:
        if self.client is not None and self.client.is_closed:  # our own close()
            log.debug("nats connection closed", extra={"client": self.name})
        else:
            log.warning("nats disconnected, reconnecting", extra={"client": self.name})

    async def reconnected(self) -> None:
        log.info(
            "nats reconnected",
            extra={"client": self.name, "failed_attempts": self.failed_attempts},
        )
        self.failed_attempts, self.last_error = 0, ""


async def _process_pong_once(self: Client) -> None:
    """``Client._process_pong`` that passes over the PONG of a ping whose flush gave up.

    In nats-py 2.16 a ``flush`` that times out cancels its PONG future; when that PONG arrives,
    ``set_result`` raises ``InvalidStateError`` inside the read loop, which ends the loop for good:
    the connection then reads nothing more (no acks, no replies) and does not reconnect. Seen on a
    loaded machine: the evaluator's publishes waited for acks that were never read again.
    PONGs answer pings in order, so the first future is still the one to pop.

    No upstream issue reports this path (searched nats-io/nats.py, December 2026); the nearest is
    https://github.com/nats-io/nats.py/issues/624, the same ``InvalidStateError`` on a cancelled
    future in the flusher task, fixed by https://github.com/nats-io/nats.py/pull/636 without
    touching ``_process_pong``. 2.16.0 is the newest release and still has the bug
    (tests/integration/test_bus_publish.py shows it).
    """
    if self._pongs:
        future = self._pongs.pop(0)
        if not future.done():
            future.set_result(True)
        self._pongs_received += 1
        self._pings_outstanding = 0


# nats-py releases whose ``_process_pong`` this replacement was written for (read, and the bug
# shown by a test). Any other release stops the process at import: its ``_process_pong`` may have
# changed, and replacing it blindly could undo a fix or break the client.
NATS_PY_PATCHED = frozenset({"2.16.0"})
# Releases read and checked to fix the bug themselves: there the replacement is not installed.
NATS_PY_FIXED = frozenset[str]()


class UnverifiedNatsClient(RuntimeError):
    """The installed nats-py is neither a release the PONG fix was written for nor one that fixes
    the bug itself."""


def patch_process_pong(client: type[Client] = Client, version: str | None = None) -> bool:
    """Install :func:`_process_pong_once` on ``client`` if ``version`` (the installed nats-py by
    default) needs it; ``False`` if that release fixes the bug itself. Raises
    :class:`UnverifiedNatsClient` for a release not checked either way."""
    version = version or nats.aio.client.__version__
    if version in NATS_PY_FIXED:
        return False
    if version not in NATS_PY_PATCHED:
        raise UnverifiedNatsClient(
            f"nats-py {version} is not a release gospublic.bus's _process_pong fix was checked "
            f"against ({', '.join(sorted(NATS_PY_PATCHED))}): read its Client._process_pong, run "
            "tests/integration/test_bus_publish.py without the fix, and add the release to "
            "NATS_PY_PATCHED (still broken) or NATS_PY_FIXED (fixed)"
        )
    client._process_pong = _process_pong_once
    return True


patch_process_pong()  # every connection of the process, FastStream's too


async def connect(url: str, settings: Settings, name: str) -> Client:
    events = ConnectionLog(name)
    events.client = await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=events.error,
        disconnected_cb=events.disconnected,
        reconnected_cb=events.reconnected,
        **connect_options(settings, url),
    )
    return events.client


def stream_configs(settings: Settings) -> list[StreamConfig]:
    window = settings.events_duplicate_window_s
    return [
        StreamConfig(
            name=c.TASKS_STREAM,
            subjects=["tasks.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=window,
            max_age=2 * DAY_S,
        ),
        # Limits retention: several consumers (evaluator, archivers, replays) read the same events.
        StreamConfig(
            name=c.EVENTS_STREAM,
            subjects=["events.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=window,
            max_age=7 * DAY_S,
            max_msg_size=c.MAX_EVENT_BYTES,
            discard=DiscardPolicy.OLD,
        ),
        StreamConfig(
            name=c.ALERTS_STREAM,
            subjects=["alerts.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=window,
            max_age=30 * DAY_S,
        ),
        StreamConfig(
            name=c.DEADLETTER_STREAM,
            subjects=["deadletter.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY_S,
        ),
    ]


async def ensure_topology(js: JetStreamContext, settings: Settings) -> None:
    """Create or update every stream and bucket; safe to call from every process at start.

    Processes started together race to create: one that finds a stream or bucket missing and
    then loses the race gets "stream name already in use" (err_code 10058) and takes it as found.
    A collector crashed at start on that (the other had already turned on the cursor bucket's
    direct gets, so the configurations differed).
    """
    for config in stream_configs(settings):
        try:
            await js.stream_info(config.name)
            await js.update_stream(config)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise
                await js.update_stream(config)
    for bucket in (
        c.REGISTRY_BUCKET,
        c.CURSORS_BUCKET,
        c.NOTIFICATION_LOG_BUCKET,
        c.SILENCES_BUCKET,
    ):
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            try:
                await js.create_key_value(KeyValueConfig(bucket=bucket, history=1))
            except BadRequestError as exc:
                if exc.err_code != _NAME_IN_USE:
                    raise


_NAME_IN_USE = 10058  # JetStream: stream name already in use (with a different configuration)


class NetworkTimeout(TimeoutError):
    """An await on the network that ran out of its deadline (``within``)."""


async def within(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """Await ``awaitable`` for at most ``seconds``; past that, raise ``NetworkTimeout`` naming it.

    Every await on the network has a deadline: a reply that never comes (its connection was
    replaced by a reconnect, the server is gone) otherwise holds its caller for ever. nats-py's
    own requests time out; what it does not bound (a ``drain``, a subscription's ``unsubscribe``
    during a reconnect, a stop of FastStream's broker) goes through here.

    The deadline is hard: past it the wait is cancelled and left to end on its own, where
    ``asyncio.wait_for`` waits for the cancelled wait to finish (nats-py's ``drain`` took 10 s
    more to give up, and held a collector's stop).
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise NetworkTimeout(f"{what}: no answer in {seconds:g} s")
    return task.result()


def _retrieve(task: asyncio.Future) -> None:
    """Read the outcome of a wait given up on, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class Outgoing:
    subject: str
    payload: bytes
    msg_id: str


async def publish_all(js: JetStreamContext, messages: Iterable[Outgoing]) -> int:
    """Publish with ``Nats-Msg-Id`` dedup, pipelined; return how many were new (not duplicates).

    Raises ``PublishError`` with the server's reason when it refuses any message, or when a
    message is not acknowledged in time (see ``BulkPublisher``).
    """
    return await connection_publisher(js._nc).publish_all(list(messages))


async def publish_paced(
    js: JetStreamContext,
    messages: Sequence[Outgoing],
    window: int = 256,
    attempts: int = 8,
    backoff_s: float = 0.5,
    max_backoff_s: float = 10.0,
) -> int:
    """Publish many messages at most ``window`` unacknowledged at a time; return how many were new.

    A window the server refuses while busy or away (429: too many pending publishes, 503, acks
    not in time) is sent again after a growing pause, up to ``attempts`` times; its messages
    carry ``Nats-Msg-Id``, so what was stored the first time is dropped as a duplicate (and not
    counted as new). Any other refusal, or the last attempt's, raises ``PublishError``. A bulk
    publish of a whole register at once overran the server's limit of pending publishes
    (err_code 10167) and failed the import.
    """
    new = 0
    for start in range(0, len(messages), window):
        part = list(messages[start : start + window])
        for attempt in range(attempts):
            try:
                new += await publish_all(js, part)
                break
            except PublishError as exc:
                if not exc.retryable or attempt == attempts - 1:
                    raise
                pause = min(backoff_s * 2**attempt, max_backoff_s)
                log.warning(
                    "publish refused for now; sending again",
                    extra={"error": str(exc)[:300], "attempt": attempt + 1, "pause_s": pause},
                )
                await asyncio.sleep(pause)
    return new


# One publisher (so one reply subscription) per connection. Not a WeakKeyDictionary: the
# publisher holds its connection, so the connection would never be collected; closed
# connections are dropped instead whenever another connection gets its publisher.
_publishers: dict[Any, BulkPublisher] = {}


def connection_publisher(nc: Any) -> BulkPublisher:
    """The ``BulkPublisher`` shared by every ``publish_all`` on this connection."""
    publisher = _publishers.get(nc)
    if publisher is None:
        for closed in [other for other in _publishers if other.is_closed]:
            del _publishers[closed]
        publisher = _publishers[nc] = BulkPublisher(nc)
    return publisher


class PublishError(RuntimeError):
    """The server refused a publish, or did not acknowledge it in time.

    ``retryable``: every refusal was one the server gives while busy or away (429: too many
    pending publishes; a 503 status with no responders, as during a restart), or acks did not
    come; sending the same messages again is safe where they carry a ``Nats-Msg-Id``. A stream
    limit is not retryable, though its PubAck may say 503 too (err_code 10077).
    """

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class BulkPublisher:
    """Publish many messages and return once the server has stored every one (or raise).

    ``Nats-Msg-Id`` goes on every message that has one; a call raises unless every message was
    stored. Unlike nats-py's ``publish_async`` there is no future, task or parsed ``PubAck`` per
    message: each message gets a reply subject of its own under one wildcard inbox, where the
    acknowledgements of a call are only counted, and a call's messages go out in one write.
    (``publish_async`` in nats-py 2.16 also never resolves a publish the server answers with an
    error such as a stream limit: its caller waits for ever.)

    Calls may overlap: each has its own number in the reply subjects. ``timeout_s`` counts from
    the moment a call's messages are written.
    """

    def __init__(self, nc: Any, timeout_s: float = 30.0) -> None:
        self.nc = nc
        self.timeout_s = timeout_s
        self._prefix = ""
        self._sub: Any = None
        self._subscribing = asyncio.Lock()
        self._calls = 0
        self._waiting: dict[str, _Acks] = {}

    async def start(self) -> None:
        async with self._subscribing:
            if self._sub is None:
                self._prefix = self.nc.new_inbox()
                self._sub = await self.nc.subscribe(
                    f"{self._prefix}.*.*", cb=self._on_ack, pending_msgs_limit=-1,
                    pending_bytes_limit=-1,
                )  # fmt: skip

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None  # a later call subscribes again

    async def publish_all(self, messages: list[Any]) -> int:
        """Publish ``Outgoing`` messages; return how many were new (not duplicates)."""
        if not messages:
            return 0
        if self._sub is None:
            await self.start()
        self._calls += 1
        call = str(self._calls)
        acks = self._waiting[call] = _Acks(messages)
        try:
            for i, message in enumerate(messages):
                await self.nc.publish(
                    message.subject,
                    message.payload,
                    reply=f"{self._prefix}.{call}.{i}",
                    headers={"Nats-Msg-Id": message.msg_id} if message.msg_id else None,
                )
            # No ``flush`` (a PING round trip): each publish wakes the client's flusher, and the
            # acks are the proof that the messages arrived.
            try:
                await asyncio.wait_for(acks.done.wait(), self.timeout_s)
            except TimeoutError:
                raise PublishError(
                    f"{acks.remaining} of {len(messages)} publishes not acknowledged in "
                    f"{self.timeout_s:.0f} s" + (f"; {acks.error()}" if acks.refused else ""),
                    retryable=not acks.lasting,
                ) from None
        finally:
            del self._waiting[call]
        if acks.refused:
            raise PublishError(acks.error(), retryable=not acks.lasting)
        return len(messages) - acks.duplicates

    async def _on_ack(self, msg: Any) -> None:
        call, _, index = msg.subject[len(self._prefix) + 1 :].partition(".")
        acks = self._waiting.get(call)
        if acks is None:  # the call timed out or was cancelled
            return
        data = msg.data
        if not data and msg.headers and msg.headers.get(_STATUS):
            acks.refuse(index, *_status_reason(msg.headers))
        elif b'"error":' in data:
            acks.refuse(index, *_error_reason(data))
        elif b'"duplicate":true' in data or b'"duplicate": true' in data:
            acks.duplicates += 1
        acks.remaining -= 1
        if acks.remaining <= 0:
            acks.done.set()


class _Acks:
    __slots__ = (
        "done", "duplicates", "first_refusal", "lasting", "messages", "refused", "remaining"
    )  # fmt: skip

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.remaining = len(messages)
        self.duplicates = 0
        self.refused = 0
        self.first_refusal = ""
        self.lasting = 0  # refusals that sending again would not change (a stream limit)
        self.done = asyncio.Event()

    def refuse(self, index: str, transient: bool, reason: str) -> None:
        self.refused += 1
        self.lasting += not transient
        if not self.first_refusal:
            self.first_refusal = f"{self.messages[int(index)].subject}: {reason}"

    def error(self) -> str:
        return (
            f"{self.refused} of {len(self.messages)} publishes refused; "
            f"the first, to {self.first_refusal}"
        )


def _status_reason(headers: dict[str, str]) -> tuple[bool, str]:
    """Whether a status reply is passing, and its reason. 503 is the server's "no responders":
    no stream captures the subject, for good or while the server restarts."""
    status = headers.get(_STATUS, "")
    if status == "503":
        return True, "no stream captures the subject (status 503, no responders)"
    return False, f"status {status} {headers.get('Description', '')}".strip()


def _error_reason(data: bytes) -> tuple[bool, str]:
    """Whether a refusal in the PubAck JSON is passing (429: too many pending publishes,
    err_code 10167), and the server's description (e.g. of a stream limit)."""
    try:
        error = json.loads(data)["error"]
        code = error.get("code")
        return (
            code == 429,
            f"{error['description']} (code {code}, err_code {error.get('err_code')})",
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return False, data[:300].decode(errors="replace")


def event_message(subject: str, event: c.Event, *key: object) -> Outgoing:
    return Outgoing(subject, event.to_bytes(), c.message_id(subject, *key))


# A dead letter keeps this much of the original; an oversized message is kept in part.
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024

REJECTED = Counter(
    "gospublic_messages_rejected_total",
    "Messages a consumer dead-lettered, by source and reason kind (contracts.REJECTION_KINDS, "
    "retries_exhausted, or other)",
    ["source", "reason"],
)


async def dead_letter(
    js: JetStreamContext,
    source: str,
    data: bytes,
    reason: str | c.ContractError,
    headers: dict[str, str] | None,
    kind: str = "other",
) -> None:
    """Keep the original bytes (up to a limit) and the reason; the consumer then acks the original.

    A ``ContractError`` brings its own bounded kind, which labels the rejection counter; the full
    reason goes only to the record, since it quotes the input.
    """
    if isinstance(reason, c.ContractError):
        kind, reason = reason.kind, reason.reason
    record = {
        "reason": reason,
        "kind": kind,
        "source": source,
        "headers": headers or {},
        "payload_bytes": len(data),
        "payload": data[:DEAD_LETTER_PAYLOAD_BYTES].decode("utf-8", errors="replace"),
    }
    await js.publish(c.deadletter_subject(source), json.dumps(record, ensure_ascii=False).encode())
    REJECTED.labels(source, kind).inc()
    log.warning("dead-lettered a message", extra={"source": source, "reason": reason[:300]})


async def ensure_pull_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create a durable pull consumer, or leave one that exists as it is.

    What ``pull_subscribe`` does about the consumer, without the subscription it returns: a
    service that pulls with its own requests would leave that inbox idle. An existing durable is
    not updated, so a deployment whose settings changed keeps the consumer's delivery state.
    """
    try:
        await js.consumer_info(stream, config.durable_name)
    except NotFoundError:
        await js.add_consumer(stream, config)


async def consumer_pending(js: JetStreamContext, stream: str, durable: str) -> tuple[int, int]:
    """(not yet delivered, delivered but not acked) for a durable consumer; (0, 0) if none yet."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return (0, 0)
    return (info.num_pending or 0, info.num_ack_pending or 0)


def _catch_every_fetch_timeout() -> None:
    """Let FastStream's pull loop catch the timeout nats-py actually raises.

    faststream 0.7.8 catches ``nats.errors.TimeoutError`` around ``fetch()``, but nats-py 2.16 raises
    the plain ``asyncio.TimeoutError`` when a fetch deadline runs out (seen on a busy machine). The
    exception then escapes, FastStream's supervisor restarts the pull task, and the messages of the
    abandoned pull request wait for ``ack_wait`` before redelivery: minutes of stall. The builtin
    ``TimeoutError`` is the base of both, so catching it restores the intended "no messages yet".
    """
    from faststream.nats.subscriber.usecases import stream_pull_subscriber

    stream_pull_subscriber.TimeoutError = builtins.TimeoutError


def make_broker(url: str, settings: Settings, name: str):
    """A FastStream broker on the same server; per-message logs go to DEBUG, not INFO."""
    from faststream.nats import NatsBroker

    _catch_every_fetch_timeout()

    return NatsBroker(
        url,
        name=name,
        log_level=logging.DEBUG,
        logger=logging.getLogger("faststream"),
        max_reconnect_attempts=-1,
        security=broker_security(settings, url),
    )
