"""NATS with a password and TLS: a real nats-server that demands both, a self-signed certificate
made with ``openssl``, and the settings every service connects with (nats-py and FastStream).
The embedded server demands credentials by default: generated ones, or the configured ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError
from pydantic import SecretStr
from tlscert import needs_openssl, self_signed

from gospublic import bus
from gospublic import contracts as c
from gospublic.runtime import CREDENTIALS_FILE, EmbeddedNats, NatsCredentials, nats_endpoint
from gospublic.settings import Settings
from services.collector import main as collector

pytestmark = pytest.mark.integration

USER = "gospublic"
PASSWORD = "nats-pass-7f3c91d2"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secure_nats(tmp_path: Path, certificate: tuple[Path, Path]):
    cert, key = certificate
    server = EmbeddedNats(
        tmp_path / "nats",
        credentials=NatsCredentials(USER, PASSWORD),
        tls_cert=cert,
        tls_key=key,
    ).start()
    try:
        yield server
    finally:
        server.stop()


def secure_settings(tmp_path: Path, url: str, ca: Path | None, **extra) -> Settings:
    return Settings(
        _env_file=None,
        state_dir=tmp_path / "state",
        nats_url=url,
        nats_tls_ca_file=ca,
        log_format="text",
        **extra,
    )


async def try_connect(settings: Settings) -> str:
    """ "ok" after a JetStream round trip, or the name of the error."""
    try:
        nc = await nats.connect(
            settings.nats_url,
            allow_reconnect=False,
            connect_timeout=3,
            **bus.connect_options(settings, settings.nats_url),
        )
    except (NatsError, OSError, ssl.SSLError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}".lower()
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        await js.publish("events.vk.snapshot", b"{}", headers={"Nats-Msg-Id": "x"})
        return "ok"
    finally:
        await nc.close()


@needs_openssl
async def test_password_and_tls_are_required_and_accepted(
    secure_nats: EmbeddedNats, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = certificate
    url = secure_nats.url
    good = secure_settings(tmp_path, url, cert, nats_user=USER, nats_password=SecretStr(PASSWORD))
    assert await try_connect(good) == "ok"

    # The same credentials inside the URL, over a tls:// URL.
    in_url = f"tls://{USER}:{PASSWORD}@127.0.0.1:{secure_nats.port}"
    assert await try_connect(secure_settings(tmp_path, in_url, cert)) == "ok"

    refused = {
        "authorization": good.model_copy(update={"nats_password": SecretStr("wrong-password")}),
        "authorization violation": good.model_copy(update={"nats_user": ""}),
        "certificate verify failed": good.model_copy(update={"nats_tls_ca_file": None}),
    }
    for expected, settings in refused.items():
        outcome = await try_connect(settings)
        assert expected in outcome, outcome
        assert PASSWORD not in outcome


@needs_openssl
async def test_a_service_runs_on_the_secure_server(
    secure_nats: EmbeddedNats, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """The collector connects with both clients (nats-py for KV, FastStream for its consumer):
    a broken task comes back as a dead letter, read here over the same secure connection."""
    cert, _ = certificate
    settings = secure_settings(
        tmp_path, secure_nats.url, cert, nats_user=USER, nats_password=SecretStr(PASSWORD),
        tg_base_url="http://127.0.0.1:9",
    )  # fmt: skip
    nc = await bus.connect(settings.nats_url, settings, "test")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        stop = asyncio.Event()
        service = asyncio.create_task(
            collector.serve(settings.nats_url, settings, argparse.Namespace(platform="tg"), stop)
        )
        try:
            await js.publish(c.task_subject("tg"), b'{"schema": "CollectTask/9"}')
            sub = await js.pull_subscribe("deadletter.>", stream=c.DEADLETTER_STREAM)
            [letter] = await sub.fetch(1, timeout=20)
        finally:
            stop.set()
            assert await asyncio.wait_for(service, 30) == 0
    finally:
        await nc.close()
    record = json.loads(letter.data)
    assert record["source"] == "collector.tg" and record["kind"] == "unsupported_version"


# --- the embedded default: never open ---------------------------------------------------------


async def connect_plain(url: str, **options) -> str:
    """ "ok" after a publish the server acknowledged, or the error's name and text."""
    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3, **options)
    except (NatsError, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}".lower()
    try:
        await nc.publish("events.vk.snapshot", b"{}")
        await nc.flush(timeout=3)
        return "ok"
    finally:
        await nc.close()


async def test_the_embedded_server_refuses_a_client_without_its_generated_credentials(
    tmp_path: Path,
) -> None:
    store = tmp_path / "nats"
    server = EmbeddedNats(store).start()
    try:
        settings = Settings(_env_file=None, state_dir=tmp_path, **server.client_settings())
        # Nobody on the machine can connect, so nobody can publish a forged page or alert.
        assert "authorization violation" in await connect_plain(server.url)
        assert "authorization violation" in await connect_plain(
            server.url, user="gospublic", password="guessed"
        )
        # Every local service connects with the settings it is handed, and can publish.
        assert await try_connect(settings) == "ok"
        assert "GOSPUBLIC_NATS_PASSWORD" in server.client_env()
        assert settings.nats_password.get_secret_value() not in server.url
    finally:
        server.stop()

    # Kept for the owner only, and generated once: a restart on the same store takes them again.
    for name in (CREDENTIALS_FILE, "nats-server.conf"):
        assert (store / name).stat().st_mode & 0o777 == 0o600, name
    assert json.loads((store / CREDENTIALS_FILE).read_text())["password"] == (
        settings.nats_password.get_secret_value()
    )
    again = EmbeddedNats(store, port=server.port).start()
    try:
        assert again.credentials == server.credentials
        assert await try_connect(settings) == "ok"
    finally:
        again.stop()


@pytest.mark.parametrize(
    "configured",
    [
        {"nats_user": "operator", "nats_password": SecretStr("configured-pass-51c0")},
        {"nats_token": SecretStr("configured-token-93ab")},
    ],
)
async def test_the_embedded_server_demands_the_configured_credentials(
    tmp_path: Path, configured: dict
) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path, nats_url="", **configured)
    with nats_endpoint(settings) as connected:
        config = (settings.nats_dir / "nats-server.conf").read_text()
        assert "authorization" in config
        assert connected.nats_user == settings.nats_user
        assert connected.nats_token == settings.nats_token
        assert await try_connect(connected) == "ok"
        assert "authorization violation" in await connect_plain(connected.nats_url)
    # Configured credentials are not copied to a file of their own.
    assert not (settings.nats_dir / CREDENTIALS_FILE).exists()


async def test_a_second_command_reuses_the_running_embedded_server_with_its_credentials(
    tmp_path: Path,
) -> None:
    """`gospublic up` in one terminal, `gospublic registry import` in another: the second finds
    the server and the generated credentials through the state directory."""
    settings = Settings(_env_file=None, state_dir=tmp_path, nats_url="")
    with nats_endpoint(settings) as first, nats_endpoint(settings) as second:
        assert second.nats_url == first.nats_url
        assert second.nats_password == first.nats_password
        assert first.nats_password.get_secret_value()
        assert await try_connect(second) == "ok"
