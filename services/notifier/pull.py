"""Batches from a durable pull consumer, collected on one inbox subscription.

nats-py's ``PullSubscription.fetch`` waits for each message of a batch with ``next_msg``: two
tasks, a timer, a uuid and a trip through the event loop per message, which costs more than the
notifier's own handling of an alert. :class:`Puller` asks JetStream for a batch the same way (a
``no_wait`` request for what is waiting, and only when nothing was, a request that lingers until
a message comes or it expires), and its subscription callback merely collects what arrives.

The lingering request asks for one message, not a batch: JetStream holds a pull request open until
its batch is full or it expires, so a request for a whole batch kept the first alert of a quiet
stream waiting for the rest or for the timeout (half a second in the notifier: alert latency p99
went from 219 ms to 647 ms). Whatever comes after that message is waiting for the next call's
``no_wait`` request, which takes it as a batch.

Every message that reaches the inbox is returned by some ``fetch``, even one that arrives for a
request given up on (it is kept for the next call): a pulled message is never dropped here, and one
not acked is redelivered by the server after the consumer's ack wait, as with ``fetch``.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header

# The statuses that end a request: nothing was waiting (no_wait), or it expired.
ENDED = ("404", "408")
# Passed over, as ``fetch`` does: heartbeats and flow control (not asked for here) and conflicts
# (too many waiting requests, a consumer deleted...), after which the request runs out its time.
PASSED_OVER = ("100", "409")


class PullError(Exception):
    """JetStream refused a pull request (not one of the statuses that merely end it)."""


class Puller:
    def __init__(self, nc: Client, stream: str, durable: str):
        self._nc = nc
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._request_ids = itertools.count(1)
        self._messages: list[Msg] = []
        self._want = 0
        self._request = ""  # the reply subject of the request waited for
        self._ended = False  # that request was answered with a status: no more comes for it
        self._error: PullError | None = None
        self._wakeup: asyncio.Future | None = None

    async def start(self) -> Puller:
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(self._inbox + ".*", cb=self._on_message)
        return self

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages: those waiting, or else those that come within ``timeout``
        (until the batch is full). Raises ``TimeoutError`` when none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not self._messages:
            await self._ask({"batch": batch, "no_wait": True})
            await self._wait(deadline)
        if not self._messages:
            remaining = deadline - loop.time()
            if remaining > 0:
                # One message ends the wait; see the module's note on why not a whole batch.
                await self._ask({"batch": 1, "expires": int(remaining * 1e9)})
                await self._wait(deadline)
        if not self._messages:
            raise TimeoutError
        taken, self._messages = self._messages[:batch], self._messages[batch:]
        return taken

    async def _ask(self, request: dict) -> None:
        self._request = f"{self._inbox}.{next(self._request_ids)}"
        self._want = request["batch"]
        self._ended = False
        await self._nc.publish(self._api, json.dumps(request).encode(), reply=self._request)

    async def _wait(self, deadline: float) -> None:
        """Until the request asked for is answered in full or ended, or ``deadline``."""
        loop = asyncio.get_running_loop()
        while len(self._messages) < self._want and not self._ended:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup = loop.create_future()
            try:
                await asyncio.wait_for(self._wakeup, remaining)
            except TimeoutError:
                return
            finally:
                self._wakeup = None

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(Header.STATUS) if msg.headers else None
        if status is None:
            self._messages.append(msg)
            if len(self._messages) >= self._want:
                self._wake()
            return
        if status in PASSED_OVER or msg.subject != self._request:
            return  # nor is a status of a request given up on (one that ends late, say)
        if status in ENDED:
            self._ended = True
        else:
            description = msg.headers.get(Header.DESCRIPTION, "").strip().partition("\n")[0]
            self._error = PullError(f"pull request refused: {status} {description}".strip())
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
