"""Publishing to JetStream: pipelined, deduplicated by message id, every message acknowledged or an
error; and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from prometheus_client import Counter

from gospublic import contracts as c

log = logging.getLogger("gospublic.bus")

# The header of a status reply (no responders, a refused request) instead of a message.
_STATUS = "Status"


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
