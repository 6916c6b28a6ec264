"""Grafana receiver: one annotation per violation, opened when it fires and closed when it resolves.

``POST /api/annotations`` with the violation's opening time and tags (``rule:…``, ``severity:…``,
``organisation:…``, ``org_id:…``, ``municipality:…``), then ``PATCH /api/annotations/<id>`` with
``timeEnd`` at its resolution, authenticated by a service-account token (``Authorization: Bearer``).
The annotation id of every open violation is kept in the notification-log bucket, so a restarted
notifier still closes annotations it opened before.

A Grafana receiver is a route receiver like any other: its notifications pass inhibition, silences,
grouping and dedup. Only what to do differs: it works per violation, and skips violations it has
already annotated, so a repeat or a retry of a partly failed notification sends nothing twice.
Temporary failures make the whole notification fail, to be retried at the group's next flush;
a permanent rejection (a 4xx other than 401/403) is logged, counted and not retried. Grafana never
holds up e-mail: each receiver's notification is delivered on its own.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from prometheus_client import Counter

from gospublic import display
from gospublic.contracts import AlertLabels, ViolationOpened, ViolationResolved
from gospublic.settings import Settings

from . import email
from .httpsend import HttpResult, request
from .pipeline import Notification

log = logging.getLogger("gospublic.notifier.grafana")

ANNOTATIONS = Counter(
    "gospublic_notifier_grafana_annotations_total",
    "Grafana annotation requests by action (create, close) and result (ok, failed, rejected)",
    ["action", "result"],
)
for _action in ("create", "close"):
    for _result in ("ok", "failed", "rejected"):
        ANNOTATIONS.labels(action=_action, result=_result)

MAX_TAG_CHARS = 100
CONCURRENCY = 8


@dataclass(frozen=True)
class Annotation:
    violation_id: str
    annotation_id: int
    opened_at: datetime


class AnnotationStore(Protocol):
    async def save_annotation(self, annotation: Annotation) -> None: ...

    async def forget_annotation(self, violation_id: str) -> None: ...


def millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def tags(labels: AlertLabels) -> list[str]:
    pairs = [
        ("rule", labels.rule),
        ("severity", labels.severity.value),
        ("organisation", labels.org_name),
        ("org_id", labels.org_id),
        ("municipality", labels.municipality),
    ]
    return ["gospublic"] + [
        email.clean(f"{name}:{value}", MAX_TAG_CHARS) for name, value in pairs if value
    ]


def create_body(event: ViolationOpened, settings: Settings) -> dict:
    labels = event.labels
    text = (
        f"<b>{html.escape(email.rule_title(labels.rule))}</b>: "
        f"{html.escape(email.clean(labels.org_name, 300))}. "
        f"{html.escape(email.clean(event.summary, 1000))} "
        f"Что исправить: {html.escape(email.rule_fix(labels.rule))}"
    )
    body: dict = {"time": millis(event.opened_at), "tags": tags(labels), "text": text}
    if settings.grafana_dashboard_uid:
        body["dashboardUID"] = settings.grafana_dashboard_uid
    return body


def close_body(event: ViolationResolved) -> dict:
    return {"timeEnd": millis(event.resolved_at)}


class Annotator:
    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        store: AnnotationStore,
        known: dict[str, Annotation] | None = None,
    ):
        self.client = client
        self.settings = settings
        self.store = store
        self.known: dict[str, Annotation] = dict(known or {})
        self._slots = asyncio.Semaphore(CONCURRENCY)
        # httpx turns a URL's user and password into "Authorization: Basic …", replacing the
        # configured token's Bearer header: with a token, the token is what Grafana gets.
        base = settings.grafana_url.rstrip("/")
        token = settings.grafana_token.get_secret_value()
        self._base = display.without_userinfo(base) if token else base

    async def _call(self, method: str, path: str, body: dict) -> HttpResult:
        token = self.settings.grafana_token.get_secret_value()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._slots:
            return await request(
                self.client,
                method,
                f"{self._base}{path}",
                json=body,
                headers=headers,
                timeout_s=self.settings.grafana_timeout_s,
                attempts=self.settings.http_max_attempts,
                backoff_s=self.settings.http_retry_backoff_s,
                target="grafana",
            )

    async def _open(self, event: ViolationOpened) -> HttpResult | None:
        """None when done (or given up for good); a result when it should be retried."""
        result = await self._call("POST", "/api/annotations", create_body(event, self.settings))
        annotation_id = result.body.get("id") if isinstance(result.body, dict) else None
        if result.ok and isinstance(annotation_id, int) and not isinstance(annotation_id, bool):
            annotation = Annotation(event.violation_id, annotation_id, event.opened_at)
            self.known[event.violation_id] = annotation
            ANNOTATIONS.labels(action="create", result="ok").inc()
            try:
                await self.store.save_annotation(annotation)
            except Exception:
                # Kept in memory: this process still closes it; a restart would not.
                log.exception("cannot store an annotation id", extra={"id": annotation_id})
            return None
        if result.ok or result.permanent:
            ANNOTATIONS.labels(action="create", result="rejected").inc()
            log.error(
                "Grafana refused an annotation; not retried",
                extra={"status": result.status, "error": result.error or "no id in the answer"},
            )
            return None
        ANNOTATIONS.labels(action="create", result="failed").inc()
        return result

    async def _close(self, event: ViolationResolved) -> HttpResult | None:
        annotation = self.known.get(event.violation_id)
        if annotation is None:
            return None  # never annotated (opened and resolved between flushes, or refused)
        result = await self._call(
            "PATCH", f"/api/annotations/{annotation.annotation_id}", close_body(event)
        )
        if not (result.ok or result.permanent):
            ANNOTATIONS.labels(action="close", result="failed").inc()
            return result
        # 404: someone deleted it in Grafana; any other refusal will not change on a retry.
        ANNOTATIONS.labels(action="close", result="ok" if result.ok else "rejected").inc()
        if not result.ok:
            log.error(
                "Grafana refused to close an annotation; not retried",
                extra={"status": result.status, "error": result.error},
            )
        self.known.pop(event.violation_id, None)
        try:
            await self.store.forget_annotation(event.violation_id)
        except Exception:
            log.warning("cannot delete a stored annotation id", exc_info=True)
        return None

    async def deliver(self, notification: Notification) -> HttpResult:
        jobs = [self._open(e) for e in notification.firing if e.violation_id not in self.known]
        jobs += [self._close(e) for e in notification.resolved]
        outcomes = await asyncio.gather(*jobs)
        failures = [r for r in outcomes if r is not None]
        if failures:
            first = failures[0]
            return HttpResult(
                False, first.attempts, first.status, f"{len(failures)} failed: {first.error}"
            )
        return HttpResult(True, 1)
