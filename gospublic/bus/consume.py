"""The one JetStream consumer: the pull protocol spoken on one inbox subscription, and replies.

Why not nats-py's ``fetch``: it waits for every message with a fresh task and timer (and a uuid,
and a trip through the event loop), which costs more per message than the evaluator's decoding of
one or the notifier's handling of an alert, and it returns early when messages trickle in. Why not
FastStream's pull subscriber: it is ``fetch`` underneath, and in faststream 0.7.8 its loop catches
``nats.errors.TimeoutError`` while nats-py 2.16 may raise the builtin ``TimeoutError`` (its pull
task then restarts, and the messages of the abandoned request wait out ``ack_wait``).

So :class:`Consumer` publishes a pull request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``)
whose answers arrive on an inbox subscription with a callback that only appends to a list; a loop
hands the list to ``handle`` as soon as anything arrived. Every request has a reply subject of its
own under the inbox, so the status that ends a request given up on (lost in a reconnect) cannot end
the one asked after it. The messages are ordinary ``nats.aio.msg.Msg`` objects (``metadata`` as
usual); replies to them go through :func:`reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .connection import within
from .topology import ensure_pull_consumer

log = logging.getLogger("gospublic.bus")

_STATUS = "Status"
_DESCRIPTION = "Description"
_HEARTBEAT = "100"
# The request ended normally: no messages now (404, a no_wait request), it expired (408), or the
# server closed it (409: "Batch Completed", a limit reached, a leadership change...): ask again.
_QUIET = frozenset({"404", "408", "409"})
_RETRY_AFTER_ERROR_S = 0.5
_MAX_RETRY_PAUSE_S = 5.0
# A 409 that ended a request without a message (too many waiting requests, a batch over the
# consumer's limit) would be asked again at once, for ever: this pause keeps that from spinning.
_EMPTY_CONFLICT_PAUSE_S = 0.1
# A request not ended this long after its expiry lost its end (a reconnect): ask again.
_LOST_AFTER_S = 5.0
_MAX_REQUEST_BYTES = 64 * 1024 * 1024

Handle = Callable[[list[Msg]], Awaitable[None]]


class Consumer:
    """Pull consumer spoken on one inbox subscription.

    Requests up to ``batch`` messages with ``expires_s``; hands messages to ``handle`` as they
    arrive (never waits for a batch to fill), one ``handle()`` call at a time; the next request
    goes out when the previous ended and ``handle()`` returned, so a handler that blocks (a full
    buffer, a long task) throttles the pulls and holds no messages it has not seen. Status 100 is
    ignored; 404/408/409 end a request quietly; other statuses are logged and asked again after a
    pause. A request whose end was lost (a reconnect) is asked again ``expires_s`` + 5 s after it
    went out. A ``handle`` that raises is logged; its messages come back after ``ack_wait``.
    """

    def __init__(
        self,
        nc: Any,
        js: Any,
        *,
        stream: str,
        config: ConsumerConfig,
        handle: Handle,
        batch: int = 1000,
        expires_s: float = 1.0,
        create: bool = True,
    ) -> None:
        name = config.durable_name or config.name
        if not name:
            raise ValueError("the consumer needs a durable name (or the name of an existing one)")
        self.nc = nc
        self.js = js
        self.stream = stream
        self.config = config
        self.handle = handle
        self.batch = batch
        self.expires_s = expires_s
        self.create = create
        self.name = name
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"
        self._inbox = ""
        self._request_ids = itertools.count(1)
        self._request = ""  # the reply subject of the outstanding request
        self._sub: Any = None
        self._task: asyncio.Task | None = None
        self._received: list[Msg] = []
        self._wakeup = asyncio.Event()
        self._open = False  # a request is outstanding
        self._owed = 0  # messages it may still bring
        self._brought = 0  # messages it brought
        self._sent_at = 0.0
        self._pause = 0.0  # before the next request: it was refused, or could not be sent
        self._failures = 0
        self._stopping = False

    async def start(self) -> None:
        """Ensure the durable consumer (added if missing, an existing one left as it is),
        subscribe, and start asking."""
        if self.create:
            await ensure_pull_consumer(self.js, self.stream, self.config)
        self._inbox = self.nc.new_inbox()
        # The server never sends more than one request's worth at a time, bounded by max_bytes.
        self._sub = await self.nc.subscribe(
            f"{self._inbox}.*",
            cb=self._on_message,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        self._task = asyncio.create_task(self._run(), name=f"pull-{self.name}")

    async def stop(self) -> None:
        """Send no more requests, let the outstanding one end, hand over what arrived."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        await self._unsubscribe()
        if self._received:  # arrived after the last hand-over, before the unsubscribe
            received, self._received = self._received, []
            await self._hand_over(received)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _abandon(self) -> None:
        """Stop at once, leaving the outstanding request and what arrived (for a consumer that
        needs no acks, like :func:`scan_kv`'s)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):
                await within(sub.unsubscribe(), 2.0, "unsubscribe")

    async def _on_message(self, msg: Msg) -> None:
        """Only sorts what arrived: a message, or a status ending the request."""
        headers = msg.headers
        status = headers.get(_STATUS) if headers and not msg.data else None
        if status is None:
            # A message's subject is its stream subject: any request's messages count here.
            self._received.append(msg)
            self._brought += 1
            self._owed -= 1
            if self._owed <= 0:
                self._open = False
            self._wakeup.set()
            return
        if status == _HEARTBEAT or msg.subject != self._request:
            return  # a heartbeat, or the late end of a request given up on
        self._open = False
        if status not in _QUIET:
            self._pause = _RETRY_AFTER_ERROR_S
            log.warning(
                "pull request refused",
                extra={
                    "consumer": self.name,
                    "status": status,
                    "description": headers.get(_DESCRIPTION, ""),
                },
            )
        elif status == "409" and not self._brought:
            self._pause = _EMPTY_CONFLICT_PAUSE_S
            log.debug(
                "pull request closed",
                extra={"consumer": self.name, "description": headers.get(_DESCRIPTION, "")},
            )
        self._wakeup.set()

    async def _ask(self) -> None:
        request = {
            "batch": self.batch,
            "expires": int(self.expires_s * 1e9),
            "max_bytes": _MAX_REQUEST_BYTES,
        }
        self._request = f"{self._inbox}.{next(self._request_ids)}"
        self._open, self._owed, self._brought = True, self.batch, 0
        self._sent_at = time.monotonic()
        try:
            await self.nc.publish(self._api, json.dumps(request).encode(), reply=self._request)
        except (NatsError, OSError) as exc:  # the connection is closed or cannot take it now
            self._open = False
            self._failures += 1
            self._pause = min(_RETRY_AFTER_ERROR_S * 2 ** (self._failures - 1), _MAX_RETRY_PAUSE_S)
            if self._failures == 1:
                log.warning(
                    "pull request not sent", extra={"consumer": self.name, "error": str(exc)}
                )
        else:
            self._failures = 0

    def _ended_unheard(self) -> bool:
        return time.monotonic() - self._sent_at > self.expires_s + _LOST_AFTER_S

    async def _run(self) -> None:
        while True:
            if self._received:
                received, self._received = self._received, []
                await self._hand_over(received)
                continue
            if self._open and self._ended_unheard():
                self._open = False
            if not self._open:
                if self._stopping:
                    return
                if self._pause:
                    pause, self._pause = self._pause, 0.0
                    await asyncio.sleep(pause)
                    continue  # what arrived meanwhile is handed over first
                await self._ask()
                continue
            self._wakeup.clear()
            wait_s = self._sent_at + self.expires_s + _LOST_AFTER_S - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(wait_s, 0.01))

    async def _hand_over(self, received: list[Msg]) -> None:
        try:
            await self.handle(received)
        except Exception:
            log.exception(
                "a consumer's handler failed; its messages come back after ack_wait",
                extra={"consumer": self.name, "messages": len(received)},
            )


# --- replies ------------------------------------------------------------------------------------

How = Literal["ack", "ack_sync", "nak", "in_progress", "term"]


async def reply(msg: Msg, how: How, *, delay: float | None = None, timeout_s: float = 2.0) -> bool:
    """Reply to a JetStream message within ``timeout_s``; ``False`` (and a warning) if it could not
    be sent or, for ``ack_sync``, confirmed. Never raises on a dead connection.

    Every reply is best-effort: one that does not arrive leaves the message to come back after the
    consumer's ``ack_wait`` (a nak or an in-progress lost) or once more (an ack lost), which the
    services already tolerate (published events are deduplicated by message id). ``delay`` is for
    a nak only.

    The deadline is ``asyncio.timeout``, not ``within``: a reply is a publish into the client's
    buffer (or, for ``ack_sync``, a request), which ends at once when cancelled, and a reply per
    message must cost next to nothing (``within``'s task and ``asyncio.wait`` cost 34 µs a reply,
    against 8 µs with ``asyncio.timeout``).
    """
    if delay is not None and how != "nak":
        raise ValueError(f"a delay is for a nak, not {how}")
    try:
        async with asyncio.timeout(timeout_s):
            await _send(msg, how, delay, timeout_s)
    except (NatsError, OSError, TimeoutError) as exc:
        log.warning(
            "could not reply to JetStream",
            extra={"what": how, "error": str(exc)[:300] or type(exc).__name__},
        )
        return False
    return True


async def reply_all(msgs: list[Msg], how: How, *, timeout_s: float = 2.0) -> bool:
    """:func:`reply` to every message under one deadline; ``False`` (and one warning) at the first
    that could not be sent, leaving the rest unanswered (they come back after ``ack_wait``)."""
    try:
        async with asyncio.timeout(timeout_s):
            for msg in msgs:
                await _send(msg, how, None, timeout_s)
    except (NatsError, OSError, TimeoutError) as exc:
        log.warning(
            "could not reply to JetStream",
            extra={
                "what": how,
                "messages": len(msgs),
                "error": str(exc)[:300] or type(exc).__name__,
            },
        )
        return False
    return True


async def _send(msg: Msg, how: How, delay: float | None, timeout_s: float) -> None:
    if how == "ack":
        await msg.ack()
    elif how == "ack_sync":
        await msg.ack_sync(timeout=timeout_s)
    elif how == "nak":
        await msg.nak(delay=delay)
    elif how == "in_progress":
        await msg.in_progress()
    elif how == "term":
        await msg.term()
    else:
        raise ValueError(f"no such reply: {how}")


# --- reading a KV bucket ------------------------------------------------------------------------

SCAN_BATCH = 1000
SCAN_TIMEOUT_S = 120.0
_DELETE_OPS = ("DEL", "PURGE")


async def scan_kv(js: Any, bucket: str, prefix: str = "") -> list[tuple[str, bytes]]:
    """(key, value) of every key under ``prefix`` that has a value (deleted keys left out), each
    read exactly once, deterministically.

    Why not ``KeyValue.watch()`` and its "initial values done" marker (``None``): nats-py decides
    that marker from a consumer-info reply, and the server may answer that request before the
    pushed values reach the client. The marker then arrives first and a reader stops early, with
    part of the bucket (seen as a restarted notifier resending mail whose log entries it had not
    read).

    A pull consumer has no such race: nothing is delivered until asked for, so its ``num_pending``
    at creation is exactly the number of keys to read (one message per key, with
    ``LAST_PER_SUBJECT``). Writes made while scanning are not waited for; a caller that needs them
    follows the bucket after. The reading is :class:`Consumer`'s (its requests and statuses).
    """
    stream = f"KV_{bucket}"
    head = f"$KV.{bucket}."
    info = await js.add_consumer(
        stream,
        ConsumerConfig(
            filter_subject=f"{head}{prefix}>",
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
        ),
    )
    found: dict[str, bytes] = {}
    remaining = info.num_pending or 0
    done = asyncio.Event()

    async def take(messages: list[Msg]) -> None:
        nonlocal remaining
        for message in messages:
            remaining -= 1
            key = message.subject[len(head) :]
            operation = (message.headers or {}).get("KV-Operation")
            if operation in _DELETE_OPS or not message.data:
                found.pop(key, None)
            else:
                found[key] = message.data
        if remaining <= 0:
            done.set()

    reader = Consumer(
        js._nc,
        js,
        stream=stream,
        config=dataclasses.replace(info.config, name=info.name),
        handle=take,
        batch=max(1, min(remaining, SCAN_BATCH)),
        expires_s=5.0,
        create=False,
    )
    try:
        if remaining > 0:
            await reader.start()
            try:
                await asyncio.wait_for(done.wait(), SCAN_TIMEOUT_S)
            except TimeoutError:
                raise TimeoutError(f"reading {bucket} stalled with {remaining} left") from None
        return list(found.items())
    finally:
        await reader._abandon()
        # Otherwise it goes away by itself after inactive_threshold.
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, info.name)
