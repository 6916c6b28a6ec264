"""``gospublic up`` as a user runs it: every service becomes ready, SIGTERM stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


COLLECTORS = {"collector-vk", "collector-tg"}


def test_up_starts_every_service_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSPUBLIC_")}
    env |= {
        "GOSPUBLIC_STATE_DIR": str(tmp_path / "state"),
        "GOSPUBLIC_VK_TOKENS": "token-a,token-b",
        "GOSPUBLIC_VK_API_URL": "http://127.0.0.1:9/method",  # no sweep runs: never called
        "GOSPUBLIC_LOG_FORMAT": "text",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gospublic", "up", "--mailsink"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "gospublic up ended early:\n" + "".join(lines)
            lines.append(line)
            if "all services ready" in line or "not ready yet" in line:
                break
        output = "".join(lines)
        assert "all services ready" in output, output
        urls = dict(
            re.findall(r"^\s+(evaluator|notifier|collector-\w+)\s+(\S+/readyz)", output, re.M)
        )
        # A collector for each platform that can start: VK (its tokens are set) and Telegram (no
        # credentials); not OK or MAX, whose credentials are not set.
        assert set(urls) == {"evaluator", "notifier", *COLLECTORS}, output
        assert all(_ready(url) for url in urls.values())
        assert re.search(r"mail sink\s+smtp://127\.0\.0\.1:\d+", output)

        pids = _child_pids(process.pid)
        assert len(pids) >= 5  # nats-server and the four services
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines) + rest
    assert "stopped" in rest
    assert not any(_ready(url) for url in urls.values())
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"child {pid} still runs"
    logs = tmp_path / "state" / "logs"
    assert {p.stem for p in logs.glob("*.log")} == {"evaluator", "notifier", *COLLECTORS}
    assert "collector stopped" in (logs / "collector-vk.log").read_text()


def _child_pids(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_up_shows_no_password_of_a_configured_nats_url(tmp_path: Path) -> None:
    """The NATS URL printed for a person is masked like the ClickHouse one; the services still
    reach the server with the credentials the URL carries."""
    from gospublic.runtime import EmbeddedNats, NatsCredentials

    password = "up-nats-pass-6a0f2d"
    server = EmbeddedNats(
        tmp_path / "external-nats", credentials=NatsCredentials("operator", password)
    ).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSPUBLIC_")}
    env |= {
        "GOSPUBLIC_STATE_DIR": str(tmp_path / "state"),
        "GOSPUBLIC_NATS_URL": f"nats://operator:{password}@127.0.0.1:{server.port}",
        "GOSPUBLIC_CLICKHOUSE_URL": "https://default:ch-url-pass-19be@127.0.0.1:9",
        "GOSPUBLIC_VK_TOKENS": "token-a",
        "GOSPUBLIC_VK_API_URL": "http://127.0.0.1:9/method",
        "GOSPUBLIC_LOG_FORMAT": "text",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gospublic", "up"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        while not any(line.lstrip().startswith("collector-vk") for line in lines):
            line = process.stdout.readline()
            assert line, "gospublic up ended early:\n" + "".join(lines)
            lines.append(line)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.stop()
    output = "".join(lines) + rest
    assert f"nats://operator:***@127.0.0.1:{server.port}" in output, output
    assert "https://default:***@127.0.0.1:9" in output, output
    assert password not in output and "ch-url-pass-19be" not in output
