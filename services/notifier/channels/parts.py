"""What the channels share, handed to each channel's ``create`` by the composition root."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from gospublic.settings import Settings

from ..grafana import Annotation, AnnotationStore
from ..intents import IntentRecord
from ..smtp import Connections


@dataclass
class Parts:
    settings: Settings
    http: httpx.AsyncClient
    smtp: Connections
    # E-mails (alerts and digests) share these slots, and so do the webhooks theirs.
    email_slots: asyncio.Semaphore
    http_slots: asyncio.Semaphore
    intents: IntentRecord
    annotation_store: AnnotationStore
    annotations: dict[str, Annotation]
