"""The ``webhook`` channel: Alertmanager's webhook JSON, POSTed to the receiver's URL."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import httpx

from gospublic.settings import Settings

from .. import webhook
from ..pipeline import Notification
from ..ports import Delivery
from .parts import Parts


class WebhookChannel:
    kind: ClassVar[str] = "webhook"

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, slots: asyncio.Semaphore
    ) -> None:
        self.http = http
        self.settings = settings
        self.slots = slots

    @classmethod
    def create(cls, parts: Parts) -> WebhookChannel:
        return cls(parts.http, parts.settings, parts.http_slots)

    async def send(self, notification: Notification) -> Delivery:
        async with self.slots:
            result = await webhook.send(self.http, notification, self.settings)
        return Delivery(result.ok, result.status, result.error)
