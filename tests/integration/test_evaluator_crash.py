"""kill -9 of the evaluator half-way through a backlog, then a restart: the same rows, no violation
opened twice. Processes, a real nats-server and chDB; the whole catalogue (dialog-default).

The backlog is GOSPUBLIC_CRASH_TEST_PAGES pages (default 600, 1200 messages) so the test stays
short; the mechanism does not depend on the size (e.g. 20000 for a national-ish run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gospublic import bus
from gospublic import contracts as c
from gospublic.runtime import free_port
from gospublic.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench.sweep import sweep_messages  # noqa: E402

PAGES = int(os.environ.get("GOSPUBLIC_CRASH_TEST_PAGES", "600"))
ACK_WAIT_S = 8
# Per run: generous for the default backlog, and growing with a bigger one (the evaluator drains
# well over 100 pages a second even in the small batches set below).
RUN_TIMEOUT_S = max(240.0, PAGES / 100)
# The whole test: filling, two drains and a third part, under the suite's own limit by default.
TEST_TIMEOUT_S = max(300, int(PAGES * 0.03))


def spawn(settings: Settings, chdb: Path, log: Path) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOSPUBLIC_")},
        **settings.nats_env(),
        "GOSPUBLIC_CLICKHOUSE_URL": f"chdb://{chdb}",
        "GOSPUBLIC_STATE_DIR": str(chdb.parent / "state"),
        "GOSPUBLIC_HTTP_PORT": str(free_port()),
        "GOSPUBLIC_PROFILE": "dialog-default",
        "GOSPUBLIC_BATCH_MAX_MESSAGES": "200",
        "GOSPUBLIC_BATCH_MAX_WAIT_S": "0.3",
        "GOSPUBLIC_EVALUATOR_ACK_WAIT_S": str(ACK_WAIT_S),
        "GOSPUBLIC_LOG_FORMAT": "text",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gospublic", "evaluator"], env=env, stdout=out,
            stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip


async def consumer(js) -> tuple[int, int, int]:
    """(acked floor, not yet delivered, delivered but unacked)."""
    try:
        info = await js.consumer_info(c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
    except Exception:
        return 0, -1, -1
    return info.ack_floor.stream_seq, info.num_pending, info.num_ack_pending


async def wait(js, done, what: str, process: subprocess.Popen, log: Path, timeout=RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"evaluator exited ({process.returncode}): {log.read_text()[-2000:]}"
            )
        if done(*await consumer(js)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-2000:]}")


async def recorded(kv) -> list[str]:
    try:
        return await kv.keys()
    except Exception:  # nats-py: no keys at all
        return []


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()


def tables(chdb: Path) -> dict[str, object]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb}")
    try:
        names = [
            r[0]
            for r in client.query(
                "SELECT name FROM system.tables WHERE database = 'gospublic' AND engine LIKE "
                "'%MergeTree' AND name NOT IN ('schema_migrations', 'score_rollups')"
            ).result_rows
        ]
        counts: dict[str, object] = {
            n: int(client.command(f"SELECT count() FROM gospublic.{n}")) for n in names
        }
        # A roll-up's row count depends on when parts merge: compare its merged content.
        counts["score_rollups"] = client.query(
            "SELECT dimension, dimension_value, component, round(avgMerge(mean), 9),"
            " uniqMerge(organisations) FROM gospublic.score_rollups"
            " GROUP BY dimension, dimension_value, component ORDER BY 1, 2, 3"
        ).result_rows
        twice = client.command(
            "SELECT count() FROM (SELECT violation_id FROM gospublic.violations"
            " GROUP BY violation_id HAVING countIf(state = 'open') > 1)"
        )
        return {**counts, "violations opened twice": int(twice)}
    finally:
        client.close()


@pytest.mark.timeout(TEST_TIMEOUT_S)
async def test_kill_9_mid_backlog_then_restart_stores_the_same_rows(
    tmp_path: Path, settings: Settings
) -> None:
    nc = await bus.connect(settings.nats_url, settings, "test")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    messages = list(sweep_messages(PAGES))
    for i in range(0, len(messages), 2000):
        await bus.publish_all(js, messages[i : i + 2000])
    last = (await js.stream_info(c.EVENTS_STREAM)).state.last_seq
    assert last == len(messages)

    # The reference: one uninterrupted run.
    reference = tmp_path / "a" / "clickhouse"
    log_a = tmp_path / "a.log"
    process = spawn(settings, reference, log_a)
    try:
        await wait(js, lambda floor, pending, unacked: floor >= last, "run A", process, log_a)
    finally:
        stop(process)
    await js.delete_consumer(c.EVENTS_STREAM, c.EVALUATOR_DURABLE)

    # The same backlog, killed with SIGKILL once about a third is acknowledged.
    crashed = tmp_path / "b" / "clickhouse"
    log_b = tmp_path / "b.log"
    process = spawn(settings, crashed, log_b)
    try:
        await wait(
            js, lambda floor, pending, unacked: floor >= last // 3 and unacked > 0,
            "a third of the backlog with a batch in flight", process, log_b,
        )  # fmt: skip
        # Best: kill it in the middle of a flush, when some tables hold the batch and others not.
        kv = await js.key_value("evaluator-batches")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not await recorded(kv):
            await asyncio.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    floor, _, unacked = await consumer(js)
    assert floor < last and unacked > 0, "the kill came too late to test anything"
    mid_flush = bool(await recorded(kv))

    process = spawn(settings, crashed, log_b)
    try:
        await wait(
            js, lambda floor, pending, unacked: floor >= last, "the restarted run", process,
            log_b, timeout=RUN_TIMEOUT_S + ACK_WAIT_S,
        )  # fmt: skip
    finally:
        stop(process)
    with contextlib.suppress(Exception):
        await nc.close()

    expected, got = tables(reference), tables(crashed)
    if mid_flush:
        assert "batches to replay" in log_b.read_text()
    assert got["violations opened twice"] == 0
    assert expected["violations opened twice"] == 0
    assert expected["post_observations"] == PAGES * 20
    assert got == expected
