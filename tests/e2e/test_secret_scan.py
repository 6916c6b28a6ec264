"""No secret leaves the services: one small sweep as real processes with every credential set to a
distinctive value, then everything they produced is searched for those values.

Servers are real and demand the credentials: nats-server with a password and TLS, an SMTP server
with STARTTLS and AUTH, a Grafana-like and a webhook HTTP endpoint that check the token. Some of them
misbehave on purpose the way real ones do: the first Grafana and webhook requests fail with an error
page that echoes the request's token and URL, and one VK token in the pool is revoked. The scan
covers every service's log, the nats-server log, every service's /metrics, /healthz and /readyz,
every message on every stream (events, alerts, dead letters, KV buckets) with its headers, the
e-mails, what the receivers were sent, and every ClickHouse table. Only the simulator's log is left
out: it plays VK, which is meant to see the tokens.

Every URL setting carries credentials in its userinfo too (NATS, ClickHouse, the webhook, the
Grafana API and the dashboard links), and the webhook receiver's error page echoes the
``Authorization: Basic …`` header httpx derives from the webhook URL's user and password: neither
that value nor any URL password may appear anywhere.

The second test shows the scan is not blind: a process run with a debug hook that prints a secret
is caught.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr
from secretscan import scan
from tlscert import needs_openssl, self_signed

from gospublic import bus
from gospublic import contracts as c
from gospublic.processes import ProcessGroup, ServiceProcess, child_env
from gospublic.registry import read_registry_file, store_registry
from gospublic.runtime import EmbeddedNats, NatsCredentials, free_port
from gospublic.settings import Settings
from services.collector.scheduler import schedule_sweep

pytestmark = [pytest.mark.e2e, needs_openssl]

REGION = "voronezh"
SIZE = 40
VK_TOKEN = "vk-token-4e8a1f0c9b2d"
VK_TOKEN_REVOKED = "vk-token-revoked-77d3a5e1"
SMTP_USER = "monitor"
SECRETS = {
    "nats_password": "nats-pass-c41f7e9a0b",
    "smtp_password": "smtp-pass-31c9e0aa5d",
    "grafana_token": "glsa_grafana-token-8b7e2c51f0",
    "clickhouse_password": "ch-pass-0d9f3b6a2e",
    "ok_secret_key": "ok-secret-6a1c0e9f7d",
    "ok_token": "ok-token-2f8d4b7c1e",
    "webhook_path_token": "bot-token-9e0c7a3b5f",
    # Credentials written into the userinfo of URL settings.
    "webhook_password": "hook-pass-5b2e9d07c4",
    "grafana_url_password": "grafana-url-pass-3c8a61f2",
    "clickhouse_url_password": "ch-url-pass-7e4d2a90b1",
    "dashboard_url_password": "dash-pass-0a6f3e8c27",
    "vk_token": VK_TOKEN,
    "vk_token_revoked": VK_TOKEN_REVOKED,
}
# What travels encoded on the wire: HTTP Basic and SMTP AUTH PLAIN.
SECRETS["nats_basic"] = f"gospublic:{SECRETS['nats_password']}"
SECRETS["smtp_plain"] = f"\0{SMTP_USER}\0{SECRETS['smtp_password']}"
SECRETS["webhook_userinfo"] = f"hookuser:{SECRETS['webhook_password']}"
SECRETS["grafana_userinfo"] = f"grafana-admin:{SECRETS['grafana_url_password']}"
# The header value httpx derives from the webhook URL, which the error page echoes.
WEBHOOK_BASIC = "Basic " + base64.b64encode(SECRETS["webhook_userinfo"].encode()).decode()
SECRETS["webhook_basic_header"] = WEBHOOK_BASIC


# --- the servers the services talk to -------------------------------------------------------------


@dataclass
class Receivers:
    """A Grafana annotations API and a webhook endpoint; the first call to each fails with an
    error page that echoes what it was sent, as badly written proxies do."""

    bodies: list[bytes] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    next_id: int = 1

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receivers.bodies.append(body)
                kind = "grafana" if self.path.startswith("/api/annotations") else "webhook"
                authorization = self.headers.get("Authorization", "")
                receivers.authorizations.append(f"{kind} {authorization}")
                if kind not in receivers.failed:
                    receivers.failed.add(kind)
                    echo = f"upstream failed for {self.command} {self.path} ({authorization})"
                    self._send(502, echo.encode())
                    return
                if kind == "grafana" and authorization != f"Bearer {SECRETS['grafana_token']}":
                    self._send(401, b'{"message": "invalid API key"}')
                    return
                receivers.next_id += 1
                self._send(200, json.dumps({"id": receivers.next_id, "message": "ok"}).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PATCH = do_PUT = _answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler


class SmtpHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.logins: list[str] = []
        self.count = 0

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.logins.append(auth_data.login.decode())
        ok = auth_data.password == SECRETS["smtp_password"].encode()
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.count += 1
        (self.directory / f"{self.count:05d}.eml").write_bytes(envelope.original_content)
        return "250 OK"


@dataclass
class Run:
    out: Path
    processes: ProcessGroup
    nats: EmbeddedNats
    settings: Settings
    receivers: Receivers
    smtp: SmtpHandler
    http_pages: dict[str, bytes]
    env: dict[str, str]


def with_userinfo(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def service_env(
    run_dir: Path, nats_url: str, ca: Path, extra: dict[str, str], *, nats_in_url: bool = False
) -> dict[str, str]:
    """``nats_in_url``: the NATS user and password in the URL instead of their own variables."""
    nats = (
        {"GOSPUBLIC_NATS_URL": with_userinfo(nats_url, "gospublic", SECRETS["nats_password"])}
        if nats_in_url
        else {
            "GOSPUBLIC_NATS_URL": nats_url,
            "GOSPUBLIC_NATS_USER": "gospublic",
            "GOSPUBLIC_NATS_PASSWORD": SECRETS["nats_password"],
        }
    )
    values = {
        "GOSPUBLIC_STATE_DIR": str(run_dir),
        **nats,
        "GOSPUBLIC_NATS_TLS_CA_FILE": str(ca),
        "GOSPUBLIC_DASHBOARD_URL": "http://dash-admin:"
        + SECRETS["dashboard_url_password"]
        + "@127.0.0.1:3000/d/gospublic-region",
        "GOSPUBLIC_ORG_DASHBOARD_URL": "http://dash-admin:"
        + SECRETS["dashboard_url_password"]
        + "@127.0.0.1:3000/d/gospublic-org?var-org_id={org_id}",
        "GOSPUBLIC_CLICKHOUSE_URL": f"chdb://{run_dir / 'clickhouse'}",
        "GOSPUBLIC_CLICKHOUSE_PASSWORD": SECRETS["clickhouse_password"],
        "GOSPUBLIC_OK_APPLICATION_SECRET_KEY": SECRETS["ok_secret_key"],
        "GOSPUBLIC_OK_TOKENS": SECRETS["ok_token"],
        "GOSPUBLIC_LOG_FORMAT": "json",
        # DEBUG: the most a log can say, including the libraries' own lines.
        "GOSPUBLIC_LOG_LEVEL": "DEBUG",
        **extra,
    }
    return child_env(values, inherit_settings=False)


def get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except OSError as exc:
        return f"unreachable: {exc}".encode()


async def sweep(settings: Settings, registry_csv: Path, notifier: ServiceProcess, run) -> None:
    nc = await bus.connect(settings.nats_url, settings, "test")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        await store_registry(js, REGION, read_registry_file(registry_csv))
        await schedule_sweep(js, settings, REGION)
        deadline = time.monotonic() + 150
        quiet_since = None
        while time.monotonic() < deadline:
            run.processes.check_alive()
            settled = (
                (await js.stream_info(c.TASKS_STREAM)).state.messages == 0
                and await bus.consumer_pending(js, c.EVENTS_STREAM, c.EVALUATOR_DURABLE) == (0, 0)
                and (await js.stream_info(c.ALERTS_STREAM)).state.messages > 0
                and await bus.consumer_pending(js, c.ALERTS_STREAM, c.NOTIFIER_DURABLE) == (0, 0)
                and notifier.metric("gospublic_notifier_groups_pending") == 0
                and run.smtp.count > 0
                and len(run.receivers.failed) == 2
            )
            quiet_since = (quiet_since or time.monotonic()) if settled else None
            if quiet_since and time.monotonic() - quiet_since > 3.0:
                return
            await asyncio.sleep(0.3)
        raise AssertionError("the sweep did not settle in time")
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[Run]:
    out = tmp_path_factory.mktemp("secrets")
    cert, key = self_signed(out)
    nats = EmbeddedNats(
        out / "nats", credentials=NatsCredentials("gospublic", SECRETS["nats_password"]),
        tls_cert=cert, tls_key=key,
    ).start()  # fmt: skip
    receivers = Receivers()
    http = ThreadingHTTPServer(("127.0.0.1", 0), receivers.handler())
    threading.Thread(target=http.serve_forever, daemon=True).start()
    mail_dir = out / "mail"
    mail_dir.mkdir()
    smtp = SmtpHandler(mail_dir)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    smtp_port = free_port()
    controller = Controller(
        smtp, hostname="127.0.0.1", port=smtp_port, tls_context=tls, require_starttls=True,
        authenticator=smtp.authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()

    processes = ProcessGroup(out / "logs")
    settings = Settings(
        _env_file=None, state_dir=out, nats_url=nats.url, nats_user="gospublic",
        nats_password=SecretStr(SECRETS["nats_password"]), nats_tls_ca_file=cert,
        collect_platforms=["vk"],  # the one collector this sweep runs
    )  # fmt: skip
    run = Run(out, processes, nats, settings, receivers, smtp, {}, {})
    try:
        sim_dir = out / "sim"
        env = service_env(out, nats.url, cert, {})
        processes.spawn(
            "simulator",
            ["simulate", "--preset", REGION, "--seed", "11", "--size", str(SIZE), "--out",
             str(sim_dir), "--tokens", VK_TOKEN, "--ok-secret-key", SECRETS["ok_secret_key"]],
            env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (sim_dir / "simulator.json").exists():
            processes.check_alive()
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.1)
        sim_url = json.loads((sim_dir / "simulator.json").read_text())["url"]
        registry_csv = sim_dir / "registry.csv"
        webhook = with_userinfo(
            f"http://127.0.0.1:{http.server_address[1]}/hook/{SECRETS['webhook_path_token']}",
            "hookuser",
            SECRETS["webhook_password"],
        )
        subscriptions = out / "subscriptions.yaml"
        subscriptions.write_text(
            yaml.safe_dump(
                {
                    "routes": [
                        {
                            "name": "everything",
                            "matchers": {"severity": "=~.*"},
                            "receivers": {
                                "email": ["cur@cur36.example.ru"],
                                "webhook": [webhook],
                                "grafana": True,
                            },
                            "group_by": ["municipality"],
                            "group_wait": "1s",
                            "group_interval": "2s",
                        }
                    ]
                }
            ),
            encoding="utf-8",
        )
        common = {"GOSPUBLIC_BATCH_MAX_WAIT_S": "0.3"}
        processes.spawn(
            "evaluator", ["evaluator"], service_env(out, nats.url, cert, common, nats_in_url=True)
        )
        notifier = processes.spawn(
            "notifier",
            ["notifier"],
            service_env(
                out,
                nats.url,
                cert,
                {
                    **common,
                    "GOSPUBLIC_SUBSCRIPTIONS_FILE": str(subscriptions),
                    "GOSPUBLIC_SMTP_HOST": "127.0.0.1",
                    "GOSPUBLIC_SMTP_PORT": str(smtp_port),
                    "GOSPUBLIC_SMTP_USER": SMTP_USER,
                    "GOSPUBLIC_SMTP_PASSWORD": SECRETS["smtp_password"],
                    "GOSPUBLIC_SMTP_STARTTLS": "true",
                    "GOSPUBLIC_SMTP_CA_FILE": str(cert),
                    "GOSPUBLIC_GRAFANA_URL": with_userinfo(
                        f"http://127.0.0.1:{http.server_address[1]}",
                        "grafana-admin",
                        SECRETS["grafana_url_password"],
                    ),
                    "GOSPUBLIC_GRAFANA_TOKEN": SECRETS["grafana_token"],
                    "GOSPUBLIC_HTTP_RETRY_BACKOFF_S": "0.1",
                    "GOSPUBLIC_NOTIFIER_TICK_S": "0.1",
                    # The notifier opens no ClickHouse; the URL is only held, never shown.
                    "GOSPUBLIC_CLICKHOUSE_URL": "https://default:"
                    + SECRETS["clickhouse_url_password"]
                    + "@127.0.0.1:9",
                },
                nats_in_url=True,
            ),
        )
        run.env = service_env(
            out,
            nats.url,
            cert,
            {
                "GOSPUBLIC_VK_API_URL": sim_url,
                "GOSPUBLIC_VK_TOKENS": f"{VK_TOKEN_REVOKED},{VK_TOKEN}",
                "GOSPUBLIC_VK_REQUESTS_PER_SECOND": "20",
            },
        )
        processes.spawn("collector-vk", ["collector", "--platform", "vk"], run.env)
        waiting = [s for s in processes.services if s.name != "simulator"]  # it has no /readyz
        deadline = time.monotonic() + 120
        while waiting:
            processes.check_alive()
            assert time.monotonic() < deadline, [s.name for s in waiting]
            waiting = [s for s in waiting if not s.ready()]
            time.sleep(0.2)
        asyncio.run(sweep(settings, registry_csv, notifier, run))
        for service in processes.services:
            if service.name != "simulator":
                for path in ("/metrics", "/healthz", "/readyz"):
                    run.http_pages[f"{service.name}{path}"] = get(service.base_url + path)
        yield run
    finally:
        processes.stop_all()
        controller.stop()
        http.shutdown()
        http.server_close()
        nats.stop()


# --- collecting everything the run produced -------------------------------------------------------


async def stream_contents(settings: Settings) -> dict[str, bytes]:
    """Every message on every stream (the KV buckets are streams too), with its headers."""
    nc = await bus.connect(settings.nats_url, settings, "scan")
    contents: dict[str, bytes] = {}
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name, state = info.config.name, info.state
            parts = []
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    msg = await js.get_msg(name, seq)
                except Exception:  # deleted (KV history, work queue)
                    continue
                parts.append(msg.subject.encode() + b" " + json.dumps(msg.headers or {}).encode())
                parts.append(msg.data or b"")
            contents[f"stream:{name} ({len(parts) // 2} messages)"] = b"\n".join(parts)
    finally:
        await nc.close()
    return contents


def clickhouse_contents(chdb_dir: Path) -> dict[str, bytes]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    try:
        tables = [
            str(row[0])
            for row in client.query(
                "SELECT name FROM system.tables WHERE database = 'gospublic'"
            ).result_rows
        ]
        return {
            f"clickhouse:{table}": client.raw_query(
                "SELECT * FROM gospublic.{t:Identifier} FORMAT TSV", parameters={"t": table}
            )
            for table in tables
        }
    finally:
        client.close()


def logs(log_dir: Path, skip: set[str]) -> dict[str, bytes]:
    return {
        f"log:{path.name}": path.read_bytes()
        for path in sorted(log_dir.glob("*.log"))
        if path.stem not in skip
    }


def everything(run: Run) -> dict[str, bytes]:
    outputs = logs(run.out / "logs", skip={"simulator"})
    outputs["log:nats-server.log"] = (run.out / "nats" / "nats-server.log").read_bytes()
    outputs.update({f"http:{k}": v for k, v in run.http_pages.items()})
    outputs.update(asyncio.run(stream_contents(run.settings)))
    for path in sorted((run.out / "mail").glob("*.eml")):
        outputs[f"mail:{path.name}"] = path.read_bytes()
    outputs["sent to grafana and the webhook"] = b"\n".join(run.receivers.bodies)
    return outputs


# --- the tests ----------------------------------------------------------------------------------


def test_no_secret_in_any_output_of_a_sweep(run: Run) -> None:
    # The run did what it should, through every credential, including the failures.
    assert run.smtp.logins and set(run.smtp.logins) == {SMTP_USER} and run.smtp.count > 0
    assert run.receivers.failed == {"grafana", "webhook"}
    # The token reached Grafana (the URL's userinfo did not replace it), and httpx did send the
    # webhook the Basic header it derives from the URL, which the error page echoed back.
    assert f"grafana Bearer {SECRETS['grafana_token']}" in run.receivers.authorizations
    assert f"webhook {WEBHOOK_BASIC}" in run.receivers.authorizations
    collector = next(s for s in run.processes.services if s.name == "collector-vk")
    assert b"gospublic_collector_pages_total" in run.http_pages["collector-vk/metrics"]
    assert collector.process.poll() is None

    outputs = everything(run)
    run.processes.stop_all()
    outputs.update(logs(run.out / "logs", skip={"simulator"}))  # with the shutdown lines
    outputs.update(clickhouse_contents(run.out / "clickhouse"))
    assert any(k.startswith("clickhouse:") for k in outputs)
    assert any(k.startswith("stream:DEADLETTER") or "EVENTS" in k for k in outputs)
    assert sum(len(v) for v in outputs.values()) > 100_000  # a real run, not an empty one

    leaks = scan(outputs, SECRETS)
    assert leaks == [], "\n".join(str(leak) for leak in leaks)


def test_the_scan_finds_a_secret_a_process_prints(run: Run, tmp_path: Path) -> None:
    """A stray debug print bypasses the log redaction; the scan must catch it."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, sys\n"
        "print('debug: smtp login', os.environ.get('GOSPUBLIC_SMTP_PASSWORD'), file=sys.stderr)\n",
        encoding="utf-8",
    )
    group = ProcessGroup(tmp_path / "logs")
    env = {
        **run.env,
        "GOSPUBLIC_SMTP_PASSWORD": SECRETS["smtp_password"],
        "PYTHONPATH": str(hooks),
    }
    leaky = group.spawn(
        "leaky", ["registry", "import", "--check", str(run.out / "sim" / "registry.csv")], env
    )
    assert leaky.process.wait(timeout=60) == 0
    outputs = logs(tmp_path / "logs", skip=set())
    assert b"valid" in outputs["log:leaky.log"]  # the command itself ran normally
    assert [str(leak) for leak in scan(outputs, SECRETS) if leak.form == "raw"] == [
        "log:leaky.log: smtp_password (raw)"
    ]
    # The same process without the hook leaks nothing.
    clean = ProcessGroup(tmp_path / "clean")
    quiet = clean.spawn(
        "quiet",
        ["registry", "import", "--check", str(run.out / "sim" / "registry.csv")],
        {**env, "PYTHONPATH": ""},
    )
    assert quiet.process.wait(timeout=60) == 0
    assert scan(logs(tmp_path / "clean", skip=set()), SECRETS) == []


def test_the_scan_sees_encoded_forms() -> None:
    import base64

    basic = base64.b64encode(SECRETS["nats_basic"].encode())
    plain = base64.b64encode(SECRETS["smtp_plain"].encode())
    line = b'{"msg": "sent", "auth": "Basic ' + basic + b'", "smtp": "AUTH PLAIN ' + plain + b'"}'
    found = {(leak.secret, leak.form) for leak in scan({"log": line}, SECRETS)}
    assert ("nats_basic", "base64") in found and ("smtp_plain", "base64") in found
    assert ("nats_password", "base64") in found  # inside the Basic value, at its offset
    assert scan({"log": sys.version.encode()}, SECRETS) == []
