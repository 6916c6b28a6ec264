"""The NATS connection's own log while the server goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from gospublic import bus
from gospublic.runtime import EmbeddedNats
from gospublic.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_server_restart_is_logged_once_each_way_without_tracebacks(
    nats_server: EmbeddedNats, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    nc = await bus.connect(nats_server.url, settings, "test-client")
    try:
        nats_server.stop()
        await asyncio.sleep(2.5)  # about five reconnect attempts, every one refused
        nats_server.start()
        deadline = time.monotonic() + 20
        while not nc.is_connected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert nc.is_connected
    finally:
        await nc.close()

    ours = [r for r in caplog.records if r.name == "gospublic.bus"]
    errors = [r for r in ours if r.getMessage() == "nats client error"]
    [reconnected] = [r for r in ours if r.getMessage() == "nats reconnected"]
    assert [r.getMessage() for r in ours].count("nats disconnected, reconnecting") == 1
    assert 1 <= len(errors) < reconnected.failed_attempts  # repeats of one error are not logged
    assert all(r.client == "test-client" and r.exc_info is None for r in ours)
    assert not [
        r for r in caplog.records if r.name.startswith("nats") and r.levelno >= logging.ERROR
    ]
