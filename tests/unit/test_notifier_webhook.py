"""The webhook payload has Alertmanager's shape (version 4) and the Grafana bodies their fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from gospublic.contracts import AlertLabels, ViolationOpened, ViolationResolved
from gospublic.settings import Settings
from services.notifier import grafana, webhook
from services.notifier.pipeline import Pipeline
from services.notifier.subscriptions import parse_subscriptions

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SETTINGS = Settings(_env_file=None)


def labels(org: str, **extra: str) -> AlertLabels:
    fields = {
        "org_id": f"10236000000{org}",
        "org_name": f"Школа {org}",
        "founder": "Отдел образования",
        "municipality": "Борисоглебский городской округ",
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": org,
        "page_url": f"https://vk.com/club{org}",
        "rule": "DESCRIPTION_MISSING",
        "severity": "high",
    }
    fields.update(extra)
    return AlertLabels(**fields)


def opened(vid: str, org: str, **kw: str) -> ViolationOpened:
    return ViolationOpened.create(
        violation_id=vid,
        labels=labels(org, **kw),
        summary=f"Описание короче 50 знаков ({vid})",
        basis="8-ФЗ ст. 10",
        value="12",
        threshold=">= 50",
        observed_at=T0,
        opened_at=T0,
    )


def resolved(event: ViolationOpened, at: datetime) -> ViolationResolved:
    return ViolationResolved.create(
        violation_id=event.violation_id,
        labels=event.labels,
        summary="Описание заполнено",
        observed_at=at,
        opened_at=event.opened_at,
        resolved_at=at,
    )


ROUTE = {
    "name": "telegram-bot",
    "receivers": {"webhook": ["https://bot.example.org/hook/SECRET"]},
    "group_by": ["municipality"],
    "group_wait": "0s",
    "group_interval": "1m",
}


def test_payload_shape_firing_then_resolved() -> None:
    p = Pipeline(parse_subscriptions({"routes": [ROUTE]}))
    a, b = opened("a", "01"), opened("b", "02", severity="critical", rule="STALE")
    p.ingest(a, T0)
    p.ingest(b, T0)
    [first] = p.due(T0)
    body = webhook.payload(first, SETTINGS)
    json.dumps(body)  # serialisable as is
    assert set(body) == {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    }  # fmt: skip
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["receiver"] == "telegram-bot" and body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"municipality": "Борисоглебский городской округ"}
    assert body["groupKey"] == (
        "{}/{route='telegram-bot'}:{municipality='Борисоглебский городской округ'}"
    )
    assert body["externalURL"] == SETTINGS.dashboard_url
    assert body["commonLabels"]["municipality"] == "Борисоглебский городской округ"
    assert "rule" not in body["commonLabels"] and "summary" not in body["commonAnnotations"]
    critical, high = body["alerts"]  # most severe first
    assert critical["labels"]["rule"] == "STALE" and high["labels"]["rule"] == "DESCRIPTION_MISSING"
    assert set(high) == {
        "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    }  # fmt: skip
    assert high["status"] == "firing" and high["endsAt"] == "0001-01-01T00:00:00Z"
    assert high["startsAt"] == "2025-03-03T09:00:00.000Z"
    assert high["fingerprint"] == webhook.fingerprint("a") and len(high["fingerprint"]) == 16
    assert high["annotations"]["violation_id"] == "a"
    assert high["annotations"]["fix"].startswith("Заполните описание")
    assert high["annotations"]["basis"] == "8-ФЗ ст. 10"
    assert high["generatorURL"].endswith("var-org_id=1023600000001")
    p.mark_sent(first, T0)

    p.ingest(resolved(a, T0 + timedelta(seconds=10)), T0 + timedelta(seconds=10))
    p.ingest(resolved(b, T0 + timedelta(seconds=10)), T0 + timedelta(seconds=10))
    [last] = p.due(T0 + timedelta(minutes=1))
    body = webhook.payload(last, SETTINGS)
    assert body["status"] == "resolved"
    assert {alert["status"] for alert in body["alerts"]} == {"resolved"}
    assert body["alerts"][1]["endsAt"] == "2025-03-03T09:00:10.000Z"


def test_payload_is_truncated_like_max_alerts() -> None:
    p = Pipeline(parse_subscriptions({"routes": [ROUTE]}))
    for n in range(webhook.MAX_ALERTS + 5):
        p.ingest(opened(f"v{n}", "01"), T0)
    [note] = p.due(T0)
    body = webhook.payload(note, SETTINGS)
    assert len(body["alerts"]) == webhook.MAX_ALERTS and body["truncatedAlerts"] == 5


def test_receiver_display_hides_the_url_path() -> None:
    [route] = parse_subscriptions({"routes": [ROUTE]}).routes
    assert route.receivers[0].display == "webhook:https://bot.example.org"


def test_grafana_bodies() -> None:
    event = opened("a", "01", org_name='<img src=x onerror=alert(1)> "Школа"\r\n')
    body = grafana.create_body(event, SETTINGS.model_copy(update={"grafana_dashboard_uid": "d1"}))
    assert body["time"] == int(T0.timestamp() * 1000) and body["dashboardUID"] == "d1"
    assert body["tags"][:3] == ["gospublic", "rule:DESCRIPTION_MISSING", "severity:high"]
    assert "org_id:1023600000001" in body["tags"]
    assert "municipality:Борисоглебский городской округ" in body["tags"]
    assert all("\n" not in tag and len(tag) <= grafana.MAX_TAG_CHARS for tag in body["tags"])
    assert "<img" not in body["text"] and "&lt;img" in body["text"]
    assert "dashboardUID" not in grafana.create_body(event, SETTINGS)
    closed = grafana.close_body(resolved(event, T0 + timedelta(hours=1)))
    assert closed == {"timeEnd": int((T0 + timedelta(hours=1)).timestamp() * 1000)}


def test_payload_text_has_no_reordering_or_control_characters() -> None:
    """A messenger bridge shows labels and annotations as they are; a register name with U+202E
    or NUL must not reach it (the e-mail path already stripped them)."""
    hostile = "Школа\u202e\u2066 1\x00\u061c\u200f"
    p = Pipeline(parse_subscriptions({"routes": [ROUTE]}))
    p.ingest(opened("a", "01", org_name=hostile, municipality="Лиски\u2067"), T0)
    [first] = p.due(T0)
    text = json.dumps(webhook.payload(first, SETTINGS), ensure_ascii=False)
    assert "Школа 1" in text and "Лиски" in text
    for char in ("\u202e", "\u2066", "\u2067", "\x00", "\u061c", "\u200f"):
        assert char not in text, repr(char)
