"""The ports of the notifier: what its parts need from the world, as ``typing.Protocol``.

The parts (intake, dispatcher, ticker, weekly digest) are given these and nothing else, so a unit
test builds them with fakes: a clock it sets, a dict for the KV bucket, a list for the replies to
JetStream, a channel that keeps what it was handed. :mod:`services.notifier.assemble` wires the
real ones (``NotificationLog`` on NATS KV, :class:`NatsBus`, the channels of
:mod:`services.notifier.channels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from gospublic import contracts as c

from .heldstore import StoredMessage
from .nflog import Intent
from .pipeline import LogEntry, LogKey, Notification

Reply = Literal["ack", "ack_sync", "nak", "in_progress", "term"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return c.utcnow()


class Bus(Protocol):
    """JetStream as the intake sees it: replies to messages and the dead letters."""

    async def reply(self, msg: Any, how: Reply, *, delay: float | None = None) -> bool: ...

    async def reply_all(self, msgs: list[Any], how: Reply) -> bool: ...

    async def dead_letter(self, data: bytes, error: c.ContractError, headers: dict) -> None: ...


class AlertStore(Protocol):
    """The KV bucket's alerts and scores (written by the intake, pruned by the ticker)."""

    async def save_alerts(self, messages: list[StoredMessage]) -> None: ...

    async def forget_alerts(self, violation_ids: list[str]) -> None: ...


class LogStore(Protocol):
    """The notification log: an entry per (route, receiver, group), an intent before an e-mail."""

    async def put_entry(self, key: LogKey, entry: LogEntry | None) -> None: ...

    async def begin(self, key: LogKey, previous: LogEntry | None, intent: Intent) -> None: ...

    async def abandon(self, key: LogKey, previous: LogEntry | None) -> None: ...


class DigestStore(Protocol):
    """What the weekly digest keeps between restarts: its slot, who has it, the scores' base."""

    async def digest_slot(self) -> datetime | None: ...

    async def set_digest_slot(self, slot: datetime) -> None: ...

    async def digest_sent(self, slot: datetime, address: str) -> bool: ...

    async def mark_digest_sent(self, slot: datetime, address: str) -> None: ...

    async def forget_digest_marks(self, slot: datetime, addresses: list[str]) -> None: ...

    async def save_baseline(
        self, baseline: dict[str, dict[str, float]], slot: datetime
    ) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """What a channel reports of one notification: delivered or not, and why not."""

    ok: bool
    code: int | None = None
    error: str = ""
    log_fields: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """A receiver kind (``email``, ``webhook``, ``grafana``): delivers one notification."""

    kind: ClassVar[str]

    async def send(self, notification: Notification) -> Delivery: ...
