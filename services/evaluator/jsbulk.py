"""The evaluator's pull-consumer intake: JetStream's pull protocol spoken directly.

nats-py's ``fetch`` waits for every message with a fresh task and timer, and returns early when
messages trickle in while it runs; measured here it costs more per message than decoding one, which
caps the evaluator far below national speed. So the evaluator speaks the pull protocol itself: it
publishes a pull request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>``) whose answers arrive on
an inbox subscription with a callback that only appends to a list, and hands the list over in bulk.

One pull request is outstanding at a time. The next one is sent when the previous one has ended
(its messages all arrived, or the server answered 404/408/409) and the handler has taken the
messages, so a handler that blocks (a full buffer) throttles the pulls. The messages are ordinary
``nats.aio.msg.Msg`` objects: ``ack``, ``nak(delay)`` and ``metadata`` work as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js.api import ConsumerConfig

log = logging.getLogger("gospublic.evaluator.intake")

_STATUS = "Status"
_HEARTBEAT = "100"
# The request ended normally: no messages now (404), it expired (408), or the server closed it
# (409, e.g. "Batch Completed" or a limit reached): ask again.
_QUIET = frozenset({"404", "408", "409"})
_RETRY_AFTER_ERROR_S = 0.5
_MAX_REQUEST_BYTES = 64 * 1024 * 1024


class PullIntake:
    def __init__(
        self,
        nc: Any,
        js: Any,
        *,
        stream: str,
        config: ConsumerConfig,
        handle: Callable[[list[Any]], Awaitable[None]],
        batch: int = 1000,
        expires_s: float = 1.0,
    ) -> None:
        if not config.durable_name:
            raise ValueError("the consumer needs a durable name")
        self.nc = nc
        self.js = js
        self.stream = stream
        self.config = config
        self.handle = handle
        self.batch = batch
        self.expires_s = expires_s
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{config.durable_name}"
        self._inbox = ""
        self._sub: Any = None
        self._task: asyncio.Task | None = None
        self._received: list[Any] = []
        self._wakeup = asyncio.Event()
        self._open = False  # a pull request is outstanding
        self._owed = 0  # messages it may still bring
        self._sent_at = 0.0
        self._errored = False
        self._stopping = False

    async def start(self) -> None:
        await self.js.add_consumer(self.stream, self.config)
        self._inbox = self.nc.new_inbox()
        # The server never sends more than one request's worth, bounded by max_bytes.
        self._sub = await self.nc.subscribe(
            self._inbox,
            cb=self._on_message,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        self._task = asyncio.create_task(self._run(), name=f"pull-{self.config.durable_name}")

    async def stop(self) -> None:
        """Send no more requests, let the outstanding one end, hand over what arrived."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._received:  # arrived after the last hand-over, before the unsubscribe
            received, self._received = self._received, []
            await self.handle(received)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _on_message(self, msg: Any) -> None:
        headers = msg.headers
        status = headers.get(_STATUS) if headers and not msg.data else None
        if status is None:
            self._received.append(msg)
            self._owed -= 1
            if self._owed <= 0:
                self._open = False
        elif status == _HEARTBEAT:
            return
        else:
            self._open = False
            if status not in _QUIET:
                self._errored = True
                log.warning(
                    "pull request refused",
                    extra={"status": status, "description": headers.get("Description", "")},
                )
        self._wakeup.set()

    async def _request(self) -> None:
        request = {
            "batch": self.batch,
            "expires": int(self.expires_s * 1e9),
            "max_bytes": _MAX_REQUEST_BYTES,
        }
        self._open, self._owed, self._sent_at = True, self.batch, time.monotonic()
        await self.nc.publish(self._api, json.dumps(request).encode(), reply=self._inbox)

    async def _run(self) -> None:
        while True:
            if self._open and time.monotonic() - self._sent_at > self.expires_s + 5:
                self._open = False  # its end was lost (a reconnect): ask again
            if not self._open:
                if self._stopping:
                    return
                if self._errored:
                    self._errored = False
                    await asyncio.sleep(_RETRY_AFTER_ERROR_S)
                await self._request()
            if not self._received:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.expires_s + 1)
                continue
            received, self._received = self._received, []
            await self.handle(received)
