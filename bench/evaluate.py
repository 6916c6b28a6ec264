"""Evaluator throughput: fill EVENTS with a sweep, time one evaluator process draining it into chDB.

    .venv/bin/python bench/evaluate.py --preset national --json
    .venv/bin/python bench/evaluate.py --pages 20000 --runs 1 --naive-pages 1000

The evaluator runs as ``python -m gospublic evaluator``, configured by ``GOSPUBLIC_*`` variables
alone, against an embedded nats-server and a fresh chDB directory; its peak RSS is the child's
``ru_maxrss``. The clock starts when the process answers ``/readyz`` (migrated, state loaded,
consuming) and stops when its durable has nothing pending or unacknowledged; ``startup_s`` is
reported apart. The EVENTS backlog is filled once; each run gets a new durable and a new chDB
directory. The naive path (one handler call per message, one insert per table per message, then
the ack) drains a smaller backlog of the same sweep in the same way, in a process of its own.
It reads through FastStream's pull subscriber, as the first plan did, without the patch the
services no longer need (docs/DESIGN.md, "One consumer"): when nats-py raises the builtin
``TimeoutError`` its loop restarts and a pull's messages wait out their ack wait, so the naive
figure is a baseline to compare with, never a product number.

``--step`` measures the batch step alone, in this process (decode + ``process_batch``, no NATS, no
chDB): the evaluator's own CPU per page, steady enough to compare changes on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.sweep import sweep_messages  # noqa: E402
from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.runtime import EmbeddedNats, free_port  # noqa: E402
from gospublic.settings import Settings  # noqa: E402

PRESETS = {"national": 175_000, "region": 6_500, "small": 2_000}
NAIVE_DURABLE = "evaluator-naive-bench"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- filling -------------------------------------------------------------------------------------


async def simulated_messages(pages: int) -> list[bus.Outgoing]:
    """The national simulator's register and the VK collectors' events (``--simulated``), on one
    subject of the events: the evaluator routes by the payload, not by the subject. Made in a
    thread: the collectors' code runs an event loop of its own."""
    from bench.collect import simulated_payloads

    payloads = await asyncio.to_thread(simulated_payloads, "national", pages)
    return [
        bus.Outgoing("events.0.vk.simulated", payload, f"simulated-{n}")
        for n, payload in enumerate(payloads)
    ]


async def fill(url: str, settings: Settings, messages_in: Iterable[bus.Outgoing]) -> dict[str, Any]:
    nc = await bus.connect(url, settings, "bench-fill")
    js = nc.jetstream()
    await bus.ensure_topology(js, settings)
    started = time.perf_counter()
    messages = payload_bytes = 0
    chunk: list[bus.Outgoing] = []
    for message in messages_in:
        chunk.append(message)
        if len(chunk) == 2000:
            await bus.publish_all(js, chunk)
            messages += len(chunk)
            payload_bytes += sum(len(m.payload) for m in chunk)
            chunk = []
            if messages % 50_000 == 0:
                say(f"  filled {messages} messages")
    await bus.publish_all(js, chunk)
    messages += len(chunk)
    payload_bytes += sum(len(m.payload) for m in chunk)
    info = await js.stream_info(c.EVENTS_STREAM)
    await nc.close()
    return {
        "messages": info.state.messages,
        "published": messages,
        "bytes": payload_bytes,
        "fill_s": round(time.perf_counter() - started, 1),
    }


# --- one drain -----------------------------------------------------------------------------------


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


async def _drained(js, durable: str, last_seq: int) -> bool:
    try:
        info = await js.consumer_info(c.EVENTS_STREAM, durable)
    except Exception:
        return False
    return (
        info.delivered.stream_seq >= last_seq
        and not info.num_pending
        and not info.num_ack_pending
        and info.ack_floor.stream_seq >= last_seq
    )


async def drain(
    url: str,
    settings: Settings,
    workdir: Path,
    argv: list[str],
    durable: str,
    env_extra: dict[str, str],
    timeout_s: float,
) -> dict[str, Any]:
    """Start the consumer process, wait until it has acked everything, stop it, count the rows."""
    nc = await bus.connect(url, settings, "bench-watch")
    js = nc.jetstream()
    with contextlib.suppress(Exception):
        await js.delete_consumer(c.EVENTS_STREAM, durable)
    last_seq = (await js.stream_info(c.EVENTS_STREAM)).state.last_seq
    chdb_dir = workdir / "clickhouse"
    shutil.rmtree(chdb_dir, ignore_errors=True)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOSPUBLIC_")},
        **settings.model_copy(update={"nats_url": url}).nats_env(),
        "GOSPUBLIC_CLICKHOUSE_URL": f"chdb://{chdb_dir}",
        "GOSPUBLIC_STATE_DIR": str(workdir / "state"),
        "GOSPUBLIC_HTTP_PORT": str(port),
        "GOSPUBLIC_LOG_LEVEL": "WARNING",
        **env_extra,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "consumer.log"
    spawned = time.perf_counter()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO,
            start_new_session=True,
        )  # fmt: skip
    try:
        while not _ready(port):
            if process.poll() is not None:
                raise RuntimeError(f"consumer exited early; see {log_path}")
            await asyncio.sleep(0.05)
        ready = time.perf_counter()
        deadline = ready + timeout_s
        while not await _drained(js, durable, last_seq):
            if process.poll() is not None:
                raise RuntimeError(f"consumer exited early; see {log_path}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"not drained after {timeout_s:.0f} s; see {log_path}")
            await asyncio.sleep(0.05)
        done = time.perf_counter()
        phases = _phase_seconds(port)
        threads = _cpu_by_thread(process.pid)
        process.send_signal(signal.SIGTERM)
        _, status, usage = await asyncio.to_thread(os.wait4, process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
        await nc.close()
    rows = await asyncio.to_thread(count_rows, chdb_dir)
    return {
        "startup_s": round(ready - spawned, 2),
        "drain_s": round(done - ready, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        # CPU seconds of the whole process life (start-up included): the work, whatever else
        # runs on the machine; drain_s is what a user waits.
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "exit_code": process.returncode,
        "rows": rows,
        "phases_s": phases,
        "cpu_by_thread_s": threads,
    }


def _phase_seconds(port: int) -> dict[str, float]:
    """Where the evaluator's time went, from its own /metrics (empty for the naive consumer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    phases = {}
    for line in text.splitlines():
        if line.startswith("gospublic_evaluator_flush_phase_seconds_sum{"):
            name = line.split('phase="', 1)[1].split('"', 1)[0]
            phases[name] = round(float(line.rsplit(" ", 1)[1]), 2)
        elif line.startswith("gospublic_evaluator_decode_seconds_total "):
            phases["decode"] = round(float(line.rsplit(" ", 1)[1]), 2)
    return phases


def _cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a running process (Linux): Python vs the embedded ClickHouse."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if task.name == str(pid):
            name = "python main thread"
        elif name.startswith("python"):
            name = "python worker threads"
        out[name] = round(out.get(name, 0.0) + seconds, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:8])


def count_rows(chdb_dir: Path) -> dict[str, int]:
    """Rows per table. A roll-up table counts as merged (``FINAL``): how many rows its unmerged
    parts hold depends on when the background merges ran, not on what was written."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    try:
        tables = client.query(
            "SELECT name, engine FROM system.tables WHERE database = 'gospublic'"
            " AND engine LIKE '%MergeTree' AND name != 'schema_migrations' ORDER BY name"
        ).result_rows
        return {
            str(name): int(
                client.command(
                    "SELECT count() FROM gospublic.{t:Identifier}"
                    + (" FINAL" if engine != "MergeTree" else ""),
                    parameters={"t": name},
                )
            )
            for name, engine in tables
        }
    finally:
        client.close()


# --- the naive consumer --------------------------------------------------------------------------


async def naive_worker() -> int:
    """One FastStream handler call per message: decode, evaluate, one insert per table, ack."""
    from faststream import AckPolicy, Context
    from faststream.nats import JStream, PullSub

    from gospublic.observability import HealthServer
    from services.evaluator.handlers import process_batch
    from services.evaluator.profiles import load_profile
    from services.evaluator.schema import TABLE_COLUMNS, TABLE_ORDER
    from services.evaluator.store import ClickHouseStore

    settings = Settings()
    profile = load_profile(settings.profile)
    store = await ClickHouseStore.open(settings)
    await store.migrate()
    state = await store.load_state()
    broker = bus.make_broker(settings.nats_url, settings, "bench-naive")
    consuming = {"on": False}
    health = await HealthServer(
        settings.http_host, settings.http_port, ready=lambda: consuming["on"]
    ).start()

    @broker.subscriber(
        "events.>",
        stream=JStream(name=c.EVENTS_STREAM, declare=False),
        durable=NAIVE_DURABLE,
        pull_sub=PullSub(batch_size=100, timeout=0.5),
        ack_policy=AckPolicy.MANUAL,
    )
    async def handle(body: Any, msg: Any = Context("message")) -> None:  # noqa: B008
        raw = msg.raw_message
        event = c.decode(raw.data)
        state.begin()
        out = process_batch(state, [event], profile, c.utcnow())
        for table in TABLE_ORDER:
            rows = out.rows[table]
            if rows:
                await store.insert(table, rows, TABLE_COLUMNS[table])
        state.commit()
        await raw.ack()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    consuming["on"] = True
    await stop.wait()
    await broker.stop()
    await store.close()
    await health.stop()
    return 0


# --- the whole benchmark -------------------------------------------------------------------------


def evaluator_argv(cprofile: str | None) -> list[str]:
    profiler = ["-m", "cProfile", "-o", cprofile] if cprofile else []
    return [sys.executable, *profiler, "-m", "gospublic", "evaluator"]


def _rates(observations: int, messages: int, run: dict[str, Any]) -> dict[str, Any]:
    return {
        "observations_per_s": round(observations / run["drain_s"]),
        "messages_per_s": round(messages / run["drain_s"]),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    pages = args.pages or PRESETS[args.preset]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gospublic-bench-"))
    settings = Settings(_env_file=None)
    extra = {"GOSPUBLIC_PROFILE": args.profile}
    if args.batch:
        extra["GOSPUBLIC_BATCH_MAX_MESSAGES"] = str(args.batch)
    result: dict[str, Any] = {"preset": args.preset if not args.pages else "custom", "pages": pages}
    try:
        nats = EmbeddedNats(workdir / "nats").start()
        settings = settings.model_copy(update=nats.client_settings())
        try:
            say(f"filling EVENTS with {pages} pages x {args.posts} posts ...")
            if args.simulated:
                filled = await fill(nats.url, settings, await simulated_messages(pages))
            else:
                filled = await fill(nats.url, settings, sweep_messages(pages, args.posts))
            observations = pages * args.posts
            messages = filled["messages"]
            say(f"  {messages} messages, {filled['bytes'] / 2**20:.0f} MiB in {filled['fill_s']} s")
            runs = []
            for n in range(args.runs):
                say(f"run {n + 1}/{args.runs}: one evaluator process drains the backlog ...")
                run = await drain(
                    nats.url, settings, workdir / "fast",
                    evaluator_argv(args.cprofile),
                    c.EVALUATOR_DURABLE, extra, args.timeout,
                )  # fmt: skip
                run.update(_rates(observations, messages, run))
                say(f"  {json.dumps(run)}")
                runs.append(run)
        finally:
            nats.stop()
        best = sorted(runs, key=lambda r: r["drain_s"])[len(runs) // 2]  # the median run
        result.update(
            {
                "observations": observations,
                "messages": messages,
                "payload_mib": round(filled["bytes"] / 2**20, 1),
                "observations_per_s": best["observations_per_s"],
                "messages_per_s": best["messages_per_s"],
                "peak_rss_mb": best["peak_rss_mb"],
                "rows_written": sum(best["rows"].values()),
                "rows_by_table": best["rows"],
                "drain_s": best["drain_s"],
                "startup_s": best["startup_s"],
                "cpu_s": best["cpu_s"],
                "phases_s": best["phases_s"],
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "fill_s": filled["fill_s"],
                "runs": [
                    {k: r[k] for k in ("drain_s", "observations_per_s", "peak_rss_mb", "cpu_s")}
                    for r in runs
                ],
                "median_of": len(runs),
            }
        )
        if args.naive_pages:
            naive_pages = min(args.naive_pages, pages)
            say(f"naive path: {naive_pages} pages, one handler call and insert per message ...")
            nats = EmbeddedNats(workdir / "nats-naive").start()
            settings = settings.model_copy(update=nats.client_settings())
            try:
                naive_filled = await fill(
                    nats.url, settings, sweep_messages(naive_pages, args.posts)
                )
                naive = await drain(
                    nats.url, settings, workdir / "naive",
                    [sys.executable, str(Path(__file__).resolve()), "--naive-worker"],
                    NAIVE_DURABLE, extra, args.timeout,
                )  # fmt: skip
            finally:
                nats.stop()
            naive.update(_rates(naive_pages * args.posts, naive_filled["messages"], naive))
            say(f"  {json.dumps(naive)}")
            result["naive"] = {
                "pages": naive_pages,
                "observations": naive_pages * args.posts,
                "messages": naive_filled["messages"],
                "observations_per_s": naive["observations_per_s"],
                "messages_per_s": naive["messages_per_s"],
                "peak_rss_mb": naive["peak_rss_mb"],
                "rows_written": sum(naive["rows"].values()),
                "drain_s": naive["drain_s"],
            }
            result["speedup_vs_naive"] = round(
                result["observations_per_s"] / max(1, naive["observations_per_s"]), 1
            )
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- the batch step alone, in this process -------------------------------------------------------


def step_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Decode the sweep and run the evaluator's batch step over it, batch by batch, in this process:
    no NATS, no chDB, so the CPU of decoding and evaluating is measured apart from the rest.
    ``--cprofile`` writes a profile of the runs."""
    import cProfile
    import statistics

    from gospublic import runtime
    from gospublic.contracts import utcnow
    from services.evaluator.assignment import load_book
    from services.evaluator.fastdecode import decode
    from services.evaluator.handlers import process_batch
    from services.evaluator.state import EvaluatorState

    if args.simulated:
        from bench.collect import simulated_payloads

        payloads = simulated_payloads("national", args.pages or PRESETS[args.preset])
        pages = sum(1 for p in payloads if b'"PageSnapshot' in p[:60] or b'"PageUnav' in p[:60])
    else:
        pages = args.pages or PRESETS[args.preset]
        payloads = [m.payload for m in sweep_messages(pages, args.posts)]
    book = load_book(args.profile)
    batch = args.batch or 1000
    runtime.keep_loaded_state_out_of_gc()  # as the evaluator does once its state is loaded
    profiler = cProfile.Profile() if args.cprofile else None
    runs = []
    for _ in range(args.runs):
        state = EvaluatorState()
        now = utcnow()
        started = time.process_time()
        if profiler:
            profiler.enable()
        decode_s = evaluate_s = 0.0
        rows = 0
        for first in range(0, len(payloads), batch):
            t0 = time.process_time()
            events = [decode(data) for data in payloads[first : first + batch]]
            t1 = time.process_time()
            out = process_batch(state, events, book, now)
            rows += sum(len(table) for table in out.rows.values())
            decode_s += t1 - t0
            evaluate_s += time.process_time() - t1
        if profiler:
            profiler.disable()
        cpu_s = time.process_time() - started
        runs.append({"cpu_s": round(cpu_s, 2), "decode_s": round(decode_s, 2),
                     "evaluate_s": round(evaluate_s, 2), "rows": rows})  # fmt: skip
        say(f"  {json.dumps(runs[-1])}")
    if profiler:
        profiler.dump_stats(args.cprofile)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    return {
        "mode": "step",
        "pages": pages,
        "messages": len(payloads),
        "cpu_s": cpu,
        "decode_s": statistics.median(r["decode_s"] for r in runs),
        "evaluate_s": statistics.median(r["evaluate_s"] for r in runs),
        "cpu_ms_per_page": round(1000 * cpu / pages, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--pages", type=int, default=0, help="override the preset's page count")
    parser.add_argument("--posts", type=int, default=20, help="posts per page")
    parser.add_argument("--runs", type=int, default=3, help="drains of the same backlog (median)")
    parser.add_argument(
        "--naive-pages", type=int, default=2000, help="pages for the naive path (0: skip it)"
    )
    parser.add_argument("--batch", type=int, default=0, help="GOSPUBLIC_BATCH_MAX_MESSAGES")
    parser.add_argument("--profile", default="dialog-default")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per drain")
    parser.add_argument("--workdir", help="keep NATS and chDB data here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="do not delete the temp dir")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--cprofile", help="write a cProfile of the evaluator's main thread here")
    parser.add_argument(
        "--step", action="store_true", help="decode and run the batch step in this process only"
    )
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="the national simulator's register and the VK collectors' events (--pages "
        "organisations) instead of the synthetic sweep (observations then count pages x --posts)",
    )
    parser.add_argument("--naive-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.naive_worker:
        return asyncio.run(naive_worker())
    if args.step:
        print(json.dumps(step_bench(args), indent=None if args.json else 2))
        return 0
    result = asyncio.run(bench(args))
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
