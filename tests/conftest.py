"""Fixtures shared by all layers. Servers are real and started per test or per session here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gospublic.runtime import EmbeddedNats
from gospublic.settings import Settings

REPO = Path(__file__).resolve().parents[1]
VK_SCHEMA_DIR = REPO / "tests" / "fixtures" / "vk-api-schema"


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A real nats-server with JetStream, private to the test; like every embedded server it
    demands its generated credentials (``client_settings()``, ``client_env()``)."""
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path, nats_server: EmbeddedNats) -> Settings:
    """Settings pointing at the test's own nats-server (its URL and credentials) and chDB
    directory, nothing from the host."""
    return Settings(
        _env_file=None,
        state_dir=tmp_path / "state",
        **nats_server.client_settings(),
        log_format="text",
        batch_max_wait_s=0.2,
    )
