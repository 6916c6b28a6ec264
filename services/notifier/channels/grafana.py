"""The ``grafana`` channel: an annotation per violation, opened while firing and closed on
resolution (the server and token come from the settings)."""

from __future__ import annotations

from typing import ClassVar

from ..grafana import Annotator
from ..pipeline import Notification
from ..ports import Delivery
from .parts import Parts


class GrafanaChannel:
    kind: ClassVar[str] = "grafana"

    def __init__(self, annotator: Annotator) -> None:
        self.annotator = annotator

    @classmethod
    def create(cls, parts: Parts) -> GrafanaChannel:
        return cls(Annotator(parts.http, parts.settings, parts.annotation_store, parts.annotations))

    async def send(self, notification: Notification) -> Delivery:
        result = await self.annotator.deliver(notification)
        return Delivery(result.ok, result.status, result.error)
