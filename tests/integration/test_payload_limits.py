"""Every consumer refuses a message above ``max_message_bytes`` unread: it goes to the dead letters
with the reason, kind ``too_large``, and is counted in ``gospublic_messages_rejected_total``. One
real nats-server; the evaluator, a collector and the notifier run as they do in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings
from services.collector import main as collector
from services.evaluator import main as evaluator
from services.notifier import main as notifier

pytestmark = pytest.mark.integration

LIMIT = 4096
NOW = c.utcnow()
REF = c.PageRef(platform=c.Platform.TG, native_id="school1", org_id="1023601547177")
LABELS = c.AlertLabels(
    org_id="1023601547177", org_name="Школа", founder="Отдел", municipality="Лиски",
    sphere="education", level="municipal", platform="tg", page_id="school1",
    page_url="https://t.me/school1", rule="STALE", severity=c.Severity.HIGH,
)  # fmt: skip
SUBSCRIPTIONS = """
routes:
  - name: all
    matchers: {severity: "=~.*"}
    receivers: {email: [ops@example.org]}
    group_by: [municipality]
"""


def rejected(source: str, kind: str) -> float:
    labels = {"source": source, "reason": kind}
    return REGISTRY.get_sample_value("gospublic_messages_rejected_total", labels) or 0.0


async def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_oversized_and_misplaced_messages_are_dead_lettered_by_every_consumer(
    settings: Settings, tmp_path: Path
) -> None:
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(SUBSCRIPTIONS, encoding="utf-8")
    settings = settings.model_copy(
        update={
            "max_message_bytes": LIMIT,
            "subscriptions_file": subscriptions,
            "smtp_port": 9,  # nothing is sent: no message here is a valid alert
            "digest_enabled": False,
            "collect_platforms": ["tg"],
            "tg_base_url": "http://127.0.0.1:9",
        }
    )
    before = {
        (source, kind): rejected(source, kind)
        for source in ("evaluator", "notifier", "collector.tg")
        for kind in ("too_large", "wrong_type")
    }
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)

    big_snapshot = c.PageSnapshot.create(
        observed_at=NOW, platform="tg", page_ref=REF, sweep_id="s", page_id="school1",
        name="Школа", description="я" * LIMIT,
    )  # fmt: skip
    big_alert = c.ViolationOpened.create(
        observed_at=NOW, violation_id="v1", labels=LABELS, summary="ы" * 2000, opened_at=NOW
    )
    big_task = c.CollectTask.create(
        observed_at=NOW, sweep_id="s", platform="tg",
        pages=tuple(REF.model_copy(update={"native_id": f"channel{i:04d}"}) for i in range(200)),
    )  # fmt: skip
    wrong_task = c.CollectTask.create(observed_at=NOW, sweep_id="s", platform="tg", pages=(REF,))
    for event in (big_snapshot, big_alert, big_task):
        assert len(event.to_bytes()) > LIMIT
    await bus.publish_all(
        js,
        [
            bus.Outgoing(
                c.event_subject("tg", "snapshot", 0), big_snapshot.to_bytes(), "big-snapshot"
            ),
            bus.Outgoing(c.event_subject("tg", "task", 0), wrong_task.to_bytes(), "wrong-event"),
            bus.Outgoing(c.alert_subject("high", "stale"), big_alert.to_bytes(), "big-alert"),
            bus.Outgoing(c.alert_subject("high", "stale"), wrong_task.to_bytes(), "wrong-alert"),
            bus.Outgoing(c.task_subject("tg"), big_task.to_bytes(), "big-task"),
            bus.Outgoing(c.task_subject("tg"), big_alert.to_bytes()[:LIMIT], "cut-task"),
        ],
    )

    stop = asyncio.Event()
    services = [
        asyncio.create_task(
            evaluator.serve(
                settings.nats_url,
                settings,
                argparse.Namespace(profile="foundation", profiles_dir=None),
                stop,
            )
        ),
        asyncio.create_task(
            collector.serve(settings.nats_url, settings, argparse.Namespace(platform="tg"), stop)
        ),
        asyncio.create_task(
            notifier.serve(
                settings.nats_url, settings, argparse.Namespace(subscriptions=None), stop
            )
        ),
    ]
    try:

        async def six_dead_letters() -> bool:
            return (await js.stream_info(c.DEADLETTER_STREAM)).state.messages >= 6

        await wait_for(six_dead_letters, "six dead letters")
        sub = await js.pull_subscribe("deadletter.>", stream=c.DEADLETTER_STREAM)
        letters = [json.loads(m.data) for m in await sub.fetch(6, timeout=5)]
    finally:
        stop.set()
        codes = await asyncio.wait_for(asyncio.gather(*services), 60)
        await nc.close()
    assert codes == [0, 0, 0]

    by_source: dict[str, list[dict]] = {}
    for letter in letters:
        by_source.setdefault(letter["source"], []).append(letter)
    assert sorted(by_source) == ["collector.tg", "evaluator", "notifier"]
    for source, kinds in (
        ("evaluator", {"too_large", "wrong_type"}),
        ("notifier", {"too_large", "wrong_type"}),
        ("collector.tg", {"too_large", "not_json"}),
    ):
        assert {letter["kind"] for letter in by_source[source]} == kinds, source
        for letter in by_source[source]:
            assert letter["reason"].strip()
            if letter["kind"] == "too_large":
                assert f"exceeds the limit of {LIMIT}" in letter["reason"]
                assert letter["payload_bytes"] > LIMIT
            assert rejected(source, letter["kind"]) == before.get((source, letter["kind"]), 0) + 1
