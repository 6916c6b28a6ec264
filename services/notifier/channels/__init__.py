"""The notification channels, one module per receiver kind, registered by that kind.

As Alertmanager's integrations: each channel takes a whole group notification and says whether it
was delivered (``async send(notification) -> Delivery``). The dispatcher looks a receiver's kind up
in the channels built from :data:`CHANNELS`; a new kind is a new module and a line here (and its
name in ``subscriptions.RECEIVER_KINDS``, which the subscriptions file is checked against).
"""

from __future__ import annotations

from typing import Protocol

from ..ports import Channel
from .email import EmailChannel
from .grafana import GrafanaChannel
from .parts import Parts
from .webhook import WebhookChannel


class ChannelClass(Protocol):
    """A channel's class: its kind, and how it is made from the shared parts."""

    kind: str

    def create(self, parts: Parts) -> Channel: ...


CHANNELS: dict[str, ChannelClass] = {
    channel.kind: channel for channel in (EmailChannel, WebhookChannel, GrafanaChannel)
}


def build(parts: Parts) -> dict[str, Channel]:
    """One channel of every registered kind, on the shared parts."""
    return {kind: channel.create(parts) for kind, channel in CHANNELS.items()}


__all__ = [
    "CHANNELS",
    "ChannelClass",
    "EmailChannel",
    "GrafanaChannel",
    "Parts",
    "WebhookChannel",
    "build",
]
