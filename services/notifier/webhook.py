"""Webhook receiver: Alertmanager's webhook JSON (version "4"), so existing bridges to Telegram or
other messengers work unchanged.

Labels are the alert's labels; annotations carry the human text (summary, what to fix, the rule's
legal basis, the measured value) and the violation id. ``startsAt``/``endsAt`` are the violation's
opening and resolution times; a firing alert's ``endsAt`` is Go's zero time, as Alertmanager sends
it. ``fingerprint`` is stable per violation. At most :data:`MAX_ALERTS` alerts go in one payload;
the rest are counted in ``truncatedAlerts``, as with Alertmanager's ``max_alerts``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import httpx

from gospublic import display
from gospublic.contracts import ViolationOpened, ViolationResolved
from gospublic.settings import Settings

from . import email
from .httpsend import HttpResult, request
from .pipeline import Notification, labels_of

VERSION = "4"
MAX_ALERTS = 1000
ZERO_TIME = "0001-01-01T00:00:00Z"


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fingerprint(violation_id: str) -> str:
    return hashlib.sha256(violation_id.encode()).hexdigest()[:16]


def _annotations(event: ViolationOpened | ViolationResolved, settings: Settings) -> dict[str, str]:
    annotations = {
        "summary": event.summary,
        "title": email.rule_title(event.labels.rule),
        "fix": email.rule_fix(event.labels.rule),
        "violation_id": event.violation_id,
    }
    if isinstance(event, ViolationOpened):
        for name in ("basis", "value", "threshold"):
            if getattr(event, name):
                annotations[name] = getattr(event, name)
    card = email.org_link(event.labels.org_id, settings)
    if card:
        annotations["dashboard"] = card
    return annotations


def _alert(event: ViolationOpened | ViolationResolved, settings: Settings) -> dict[str, Any]:
    firing = isinstance(event, ViolationOpened)
    return {
        "status": "firing" if firing else "resolved",
        # A bridge shows these to a person as they are: no controls, no direction overrides.
        "labels": _shown(labels_of(event)),
        "annotations": _shown(_annotations(event, settings)),
        "startsAt": timestamp(event.opened_at),
        "endsAt": ZERO_TIME if firing else timestamp(event.resolved_at),  # type: ignore[union-attr]
        "generatorURL": email.org_link(event.labels.org_id, settings) or event.labels.page_url,
        "fingerprint": fingerprint(event.violation_id),
    }


def _shown(values: dict[str, str]) -> dict[str, str]:
    return {name: display.clean(value) for name, value in values.items()}


def _common(items: list[dict[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    common = dict(items[0])
    for item in items[1:]:
        common = {k: v for k, v in common.items() if item.get(k) == v}
    return common


def group_key(notification: Notification) -> str:
    labels = ",".join(f"{name}={value!r}" for name, value in notification.group_key)
    return f"{{}}/{{route={notification.route.name!r}}}:{{{labels}}}"


def payload(notification: Notification, settings: Settings) -> dict[str, Any]:
    events = [*email.by_severity(notification.firing), *email.by_severity(notification.resolved)]
    alerts = [_alert(event, settings) for event in events[:MAX_ALERTS]]
    return {
        "version": VERSION,
        "groupKey": group_key(notification),
        "truncatedAlerts": max(0, len(events) - MAX_ALERTS),
        "status": "firing" if notification.firing else "resolved",
        "receiver": notification.route.name,
        "groupLabels": _shown(dict(notification.group_key)),
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": email.safe_url(settings.dashboard_url) or "",
        "alerts": alerts,
    }


async def send(
    client: httpx.AsyncClient, notification: Notification, settings: Settings
) -> HttpResult:
    return await request(
        client,
        "POST",
        notification.receiver.address,
        json=payload(notification, settings),
        headers={"User-Agent": "GosPublic-Monitor"},
        timeout_s=settings.webhook_timeout_s,
        attempts=settings.http_max_attempts,
        backoff_s=settings.http_retry_backoff_s,
        target=notification.receiver.display,
    )
