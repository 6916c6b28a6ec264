"""Webhook and Grafana receivers against a real local HTTP server, next to real SMTP and NATS.

The server implements Grafana's annotation endpoints (``POST /api/annotations``, ``PATCH
/api/annotations/<id>``, Bearer token checked) and a webhook endpoint, records every request and
can be told to fail the next requests with a status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from gospublic import bus
from gospublic import contracts as c
from gospublic.settings import Settings
from services.notifier.mailsink import MailSink
from services.notifier.main import serve

pytestmark = pytest.mark.integration

TOKEN = "glsa_test-token-0123456789"
HOOK_SECRET = "bot123456:SECRET-in-the-path"


@dataclass
class Request:
    method: str
    path: str
    body: dict
    authorization: str


@dataclass
class FakeServer:
    """Grafana's annotation API and a webhook endpoint in one ``ThreadingHTTPServer``."""

    token: str = TOKEN
    requests: list[Request] = field(default_factory=list)
    annotations: dict[int, dict] = field(default_factory=dict)
    fail: dict[str, list[int]] = field(default_factory=dict)  # path prefix → statuses to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, method: str, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def answer(self, method: str, path: str, body: dict, authorization: str) -> tuple[int, dict]:
        with self.lock:
            self.requests.append(Request(method, path, body, authorization))
            for prefix, statuses in self.fail.items():
                if path.startswith(prefix) and statuses:
                    return statuses.pop(0), {"message": "scripted failure"}
            if path.startswith("/hook/"):
                return 200, {}
            if authorization != f"Bearer {self.token}":
                return 401, {"message": "Unauthorized"}
            if method == "POST" and path == "/api/annotations":
                annotation_id = len(self.annotations) + 1
                self.annotations[annotation_id] = dict(body)
                return 200, {"message": "Annotation added", "id": annotation_id}
            if method == "PATCH" and path.startswith("/api/annotations/"):
                annotation_id = int(path.rsplit("/", 1)[1])
                if annotation_id not in self.annotations:
                    return 404, {"message": "Annotation not found"}
                self.annotations[annotation_id].update(body)
                return 200, {"message": "Annotation patched"}
            return 404, {"message": "Not found"}


def start_http(fake: FakeServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else {}
            status, answer = fake.answer(
                self.command, self.path, body, self.headers.get("Authorization", "")
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PATCH = _handle

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def fake() -> Iterator[tuple[FakeServer, str]]:
    state = FakeServer()
    server = start_http(state)
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sink(tmp_path: Path):
    with MailSink(tmp_path / "mail") as running:
        yield running


SUBSCRIPTIONS = """
routes:
  - name: ops-mail
    receivers: {{email: [ops@x.org]}}
    group_by: ["..."]
    group_wait: 0s
    group_interval: 1s
  - name: bot
    receivers: {{webhook: ["{base}/hook/{secret}"]}}
    group_by: [municipality]
    group_wait: 300ms
    group_interval: 1s
  - name: wall
    matchers: {{severity: "=~critical|high"}}
    receivers: {{grafana: true}}
    group_by: ["..."]
    group_wait: 0s
    group_interval: 1s
inhibit_rules: []
"""


def configure(tmp_path: Path, settings: Settings, sink: MailSink, base: str, **extra) -> Settings:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(SUBSCRIPTIONS.format(base=base, secret=HOOK_SECRET), encoding="utf-8")
    fields = {
        "subscriptions_file": path,
        "smtp_port": sink.port,
        "notifier_tick_s": 0.05,
        "grafana_url": base,
        "grafana_token": TOKEN,
        "http_retry_backoff_s": 0.05,
        "http_max_attempts": 3,
        "webhook_timeout_s": 2,
        "grafana_timeout_s": 2,
        "digest_enabled": False,
    }
    fields.update(extra)
    fields["grafana_token"] = SecretStr(fields["grafana_token"])  # model_copy does not validate
    return settings.model_copy(update=fields)


def labels(org: str, severity: str = "high", **extra: str) -> c.AlertLabels:
    fields = {
        "org_id": f"10236000000{org}",
        "org_name": f"Школа №{org}",
        "founder": "Отдел образования",
        "municipality": "Борисоглебский городской округ",
        "sphere": "education",
        "level": "municipal",
        "platform": "vk",
        "page_id": org,
        "page_url": f"https://vk.com/club{org}",
        "rule": "DESCRIPTION_MISSING",
        "severity": severity,
    }
    fields.update(extra)
    return c.AlertLabels(**fields)


def opened(vid: str, org: str, **kw: str) -> c.ViolationOpened:
    now = c.utcnow()
    return c.ViolationOpened.create(
        violation_id=vid, labels=labels(org, **kw), summary=vid, observed_at=now, opened_at=now
    )


def resolved(event: c.ViolationOpened) -> c.ViolationResolved:
    now = c.utcnow()
    return c.ViolationResolved.create(
        violation_id=event.violation_id,
        labels=event.labels,
        summary="fixed",
        observed_at=now,
        opened_at=event.opened_at,
        resolved_at=now,
    )


def outgoing(event) -> bus.Outgoing:
    subject = c.alert_subject(event.labels.severity, event.labels.rule)
    return bus.event_message(subject, event, event.violation_id, event.event_id)


async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Running:
    def __init__(self, nats_url: str, settings: Settings):
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve(nats_url, settings, argparse.Namespace(subscriptions=None), self.stop)
        )

    async def close(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, 15)


async def test_webhook_and_grafana_with_retries_and_a_restart(
    nats_server, settings, tmp_path, sink, fake, caplog
) -> None:
    state, base = fake
    config = configure(tmp_path, settings, sink, base)
    state.fail = {"/hook/": [500], "/api/annotations": [503]}  # each retried once
    nc = await bus.connect(nats_server.url, config, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, config)
    school = opened("v-school", "01")
    minor = opened("v-minor", "02", severity="medium", rule="STALE")

    caplog.set_level(logging.INFO)
    running = Running(nats_server.url, config)
    try:
        await bus.publish_all(js, [outgoing(school), outgoing(minor)])
        await wait_for(lambda: len(state.annotations) == 1 and len(state.of("POST", "/hook/")) == 2)
        await wait_for(lambda: len(sink.messages) == 2)

        # Webhook: first attempt got a 500, the retry carried the Alertmanager payload.
        failed, delivered = state.of("POST", "/hook/")
        assert failed.body == delivered.body
        payload = delivered.body
        assert payload["version"] == "4" and payload["status"] == "firing"
        assert payload["receiver"] == "bot"
        assert sorted(a["annotations"]["violation_id"] for a in payload["alerts"]) == [
            "v-minor",
            "v-school",
        ]
        assert {a["status"] for a in payload["alerts"]} == {"firing"}

        # Grafana: only the high violation (the route's matcher), with its tags and the token.
        [annotation] = state.annotations.values()
        assert annotation["time"] == int(school.opened_at.timestamp() * 1000)
        assert "rule:DESCRIPTION_MISSING" in annotation["tags"]
        assert "organisation:Школа №01" in annotation["tags"]
        assert "municipality:Борисоглебский городской округ" in annotation["tags"]
        assert all(r.authorization == f"Bearer {TOKEN}" for r in state.of("POST", "/api/"))
        assert len(state.of("POST", "/api/annotations")) == 2  # a 503, then the annotation
    finally:
        assert await running.close() == 0

    # Restarted: the annotation id comes back from KV, so the resolution closes it.
    running = Running(nats_server.url, config)
    try:
        await bus.publish_all(js, [outgoing(resolved(school))])
        await wait_for(lambda: len(state.of("PATCH", "/api/annotations/1")) == 1)
        [patch] = state.of("PATCH", "/api/annotations/1")
        assert set(patch.body) == {"timeEnd"} and patch.authorization == f"Bearer {TOKEN}"
        assert state.annotations[1]["timeEnd"] >= state.annotations[1]["time"]
        await wait_for(lambda: len(state.of("POST", "/hook/")) == 3)
        payload = state.of("POST", "/hook/")[-1].body
        statuses = {a["annotations"]["violation_id"]: a["status"] for a in payload["alerts"]}
        assert statuses == {"v-school": "resolved", "v-minor": "firing"}
        await wait_for(lambda: len(sink.messages) == 3)  # the resolved notice
        await asyncio.sleep(1.2)  # nothing more: no repeat, no second annotation
        assert len(state.annotations) == 1 and len(state.of("POST", "/hook/")) == 3
    finally:
        assert await running.close() == 0
        await nc.close()
    # Our own log lines only: setup_logging keeps httpx's per-request lines (with URLs) quiet.
    ours = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("gospublic")
    )
    assert "notification sent" in ours
    assert "SECRET" not in ours and TOKEN not in ours


async def test_grafana_failures_never_hold_up_email(
    nats_server, settings, tmp_path, sink, fake
) -> None:
    _, base = fake

    # A "Grafana" that accepts connections and never answers.
    async def hang(reader, writer):
        await asyncio.sleep(30)

    silent = await asyncio.start_server(hang, "127.0.0.1", 0)
    silent_url = f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
    config = configure(
        tmp_path, settings, sink, base, grafana_url=silent_url, grafana_timeout_s=1.0,
        http_max_attempts=1,
    )  # fmt: skip
    before = metric(
        "gospublic_notifier_notifications_total", receiver="wall/grafana", result="failed"
    )
    nc = await bus.connect(nats_server.url, config, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, config)
    running = Running(nats_server.url, config)
    try:
        await wait_for(lambda: metric("gospublic_notifier_groups_pending") == 0)
        published = time.monotonic()
        await bus.publish_all(js, [outgoing(opened("v1", "01"))])
        await wait_for(lambda: len(sink.messages) == 1, timeout_s=5)
        assert time.monotonic() - published < 1.0  # Grafana is still hanging on its first try
        await wait_for(
            lambda: (
                metric(
                    "gospublic_notifier_notifications_total",
                    receiver="wall/grafana",
                    result="failed",
                )
                > before
            ),
            timeout_s=10,
        )
    finally:
        assert await running.close() == 0
        await nc.close()
        silent.close()


async def test_a_wrong_token_is_refused_and_retried(
    nats_server, settings, tmp_path, sink, fake
) -> None:
    state, base = fake
    config = configure(tmp_path, settings, sink, base, grafana_token="wrong-token-value")
    nc = await bus.connect(nats_server.url, config, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, config)
    running = Running(nats_server.url, config)
    try:
        await bus.publish_all(js, [outgoing(opened("v1", "01"))])
        await wait_for(lambda: len(sink.messages) == 1)
        # Refused (401) and tried again at the next group interval, never stored.
        await wait_for(lambda: len(state.of("POST", "/api/annotations")) >= 2, timeout_s=5)
        assert state.annotations == {}
        assert {r.authorization for r in state.of("POST", "/api/")} == {"Bearer wrong-token-value"}
    finally:
        assert await running.close() == 0
        await nc.close()
