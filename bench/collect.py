"""One full VK sweep against the simulator, measured: requests per page, throughput, lost pages.

    python bench/collect.py --preset national --json

Everything runs as it does in production, on this machine: the simulator (``gospublic simulate``,
its rate limits lifted) and the collectors (``gospublic collector --platform vk``) are separate
processes; the benchmark owns an embedded nats-server, imports the simulator's register through the
register parser, schedules one sweep and times it from the first task published to the last task
acknowledged (a collector acks a task after JetStream acknowledged its events). Counts come from
outside the collectors: requests from the simulator's own counters (``GET /_sim/stats``), pages from
the EVENTS stream (a page counts when it has a ``PageSnapshot`` or a ``PageUnavailable``).

``min_requests`` is the least a sweep can cost with ``execute``: ``ceil(pages/25)`` for walls plus
``ceil(pages/500)`` for profiles. Pages that VK reports as deleted, banned or missing need no
``wall.get``, so a sweep can stay under it. With ``--runs N`` the sweep is repeated (new sweep ids,
same processes) and the median of each figure is printed; each run is also written to stderr.

``--step`` reads the sweep's answers once from the simulator in this process and then times the
collectors' own work over them (decode, events, messages) with nothing else in the measured CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nats.js import JetStreamContext  # noqa: E402
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy  # noqa: E402

from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.processes import ProcessGroup, child_env  # noqa: E402
from gospublic.registry import read_registry_file, store_registry  # noqa: E402
from gospublic.runtime import EmbeddedNats  # noqa: E402
from gospublic.settings import Settings  # noqa: E402
from services.collector.scheduler import plan_tasks  # noqa: E402

REGION = "bench"
NOW = "2025-06-01T12:00:00+03:00"
DURABLE = c.COLLECTOR_DURABLE.format(platform="vk")
_PAGE = re.compile(rb'"sweep_id":"([^"]*)"|"native_id":"([^"]*)"')


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc (0 where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Simulator:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.out = work / "sim"
        argv = [sys.executable, "-m", "gospublic", "simulate", "--preset", args.preset]
        now = getattr(args, "now", None) or NOW
        argv += ["--seed", str(args.seed), "--now", now, "--out", str(self.out), "--no-limits"]
        argv += ["--no-truth"]  # what is planted is computed in process where a bench needs it
        if args.size:
            argv += ["--size", str(args.size)]
        env = child_env(
            {"GOSPUBLIC_STATE_DIR": str(work / "state"), "GOSPUBLIC_LOG_LEVEL": "WARNING"},
            inherit_settings=False,
        )
        self.log = (work / "simulator.log").open("wb")
        self.process = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        info = self.out / "simulator.json"
        deadline = time.monotonic() + 300
        while not info.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start; see {work / 'simulator.log'}")
            time.sleep(0.1)
        self.url = json.loads(info.read_text())["url"]

    @property
    def base(self) -> str:
        return self.url.removesuffix("/method")

    def stats(self) -> dict:
        return _get_json(self.base + "/_sim/stats")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


async def wait_idle(js: JetStreamContext, timeout: float) -> None:
    """Every task acknowledged: the work queue is empty and nothing is in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await js.stream_info(c.TASKS_STREAM)
        if info.state.messages == 0 and await bus.consumer_pending(js, c.TASKS_STREAM, DURABLE) == (
            0,
            0,
        ):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the sweep did not finish in {timeout} s")


async def pages_seen(js: JetStreamContext, sweep_id: str) -> tuple[set[str], int]:
    """Pages with a snapshot or an unavailable event in ``sweep_id``; and how many events."""
    seen: set[str] = set()
    events = 0
    sub = await js.pull_subscribe(
        "",
        stream=c.EVENTS_STREAM,
        config=ConsumerConfig(
            filter_subjects=[
                c.event_filter("vk", "page_snapshot"),
                c.event_filter("vk", "page_unavailable"),
            ],
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60,
        ),
    )
    try:
        while True:
            try:
                msgs = await sub.fetch(2000, timeout=1.0)
            except TimeoutError:
                break
            for msg in msgs:
                # The envelope's fields come first: no need to parse a whole profile.
                sweep = page = None
                for m in _PAGE.finditer(msg.data, 0, 600):
                    sweep = sweep or m.group(1)
                    page = page or m.group(2)
                if sweep is not None and sweep.decode() == sweep_id and page is not None:
                    seen.add(page.decode())
                    events += 1
    finally:
        await sub.unsubscribe()
    return seen, events


async def run(args: argparse.Namespace) -> list[dict]:
    work = Path(args.work or tempfile.mkdtemp(prefix="gospublic-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"work directory: {work}")
    started = time.monotonic()
    sim = Simulator(work, args)
    say(f"simulator up in {time.monotonic() - started:.1f} s at {sim.url}")
    nats = EmbeddedNats(work / "nats").start()
    settings = Settings(_env_file=None, state_dir=work / "state", **nats.client_settings())
    group = ProcessGroup(work / "logs")
    results = []
    try:
        nc = await bus.connect(nats.url, settings, "bench")
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        organisations = read_registry_file(sim.out / "registry.csv")
        await store_registry(js, REGION, organisations)
        refs = {p.native_id for o in organisations for p in o.pages if p.platform == c.Platform.VK}
        say(f"register: {len(organisations)} organisations, {len(refs)} VK pages")

        tokens = [f"bench-token-{n:02d}" for n in range(args.tokens)]
        collector_pids = []
        for n in range(args.collectors):
            env = child_env(
                {
                    **nats.client_env(),
                    "GOSPUBLIC_STATE_DIR": str(work / "state"),
                    "GOSPUBLIC_VK_API_URL": sim.url,
                    "GOSPUBLIC_VK_TOKENS": ",".join(tokens[n :: args.collectors]),
                    # The simulator's limits are lifted; so are the collector's own pacing
                    # and quota bookkeeping.
                    "GOSPUBLIC_VK_REQUESTS_PER_SECOND": "1000",
                    "GOSPUBLIC_VK_DAILY_QUOTA": "{}",
                    "GOSPUBLIC_COLLECT_COMMENTS": "1" if args.comments else "0",
                    "GOSPUBLIC_LOG_LEVEL": "WARNING",
                },
                inherit_settings=False,
            )
            collector_pids.append(
                group.spawn(f"collector-{n + 1}", ["collector", "--platform", "vk"], env)
            )
        late = group.wait_ready(120)
        if late:
            raise RuntimeError(f"collectors not ready: {[s.name for s in late]}")

        for run_no in range(args.runs):
            sweep_id = f"bench-{run_no + 1}"
            tasks = plan_tasks(
                organisations, c.Platform.VK, sweep_id, settings.collect_pages_per_task, c.utcnow()
            )
            subject = c.task_subject("vk")
            messages = [bus.event_message(subject, t, sweep_id, k) for k, t in enumerate(tasks)]
            before = sim.stats()
            cpu_before = {s.name: _cpu_seconds(s.process.pid) for s in collector_pids}
            cpu_before["simulator"] = _cpu_seconds(sim.process.pid)
            t0 = time.monotonic()
            await bus.publish_all(js, messages)
            await wait_idle(js, args.timeout)
            elapsed = time.monotonic() - t0
            after = sim.stats()
            cpu = {s.name: _cpu_seconds(s.process.pid) - cpu_before[s.name] for s in collector_pids}
            cpu["simulator"] = _cpu_seconds(sim.process.pid) - cpu_before["simulator"]
            seen, events = await pages_seen(js, sweep_id)
            pages = len(refs)
            requests = after["requests"] - before["requests"]
            errors = {
                code: n - before["errors"].get(code, 0) for code, n in after["errors"].items()
            }
            min_requests = math.ceil(pages / 25) + math.ceil(pages / 500)
            result = {
                "pages": pages,
                "requests": requests,
                "min_requests": min_requests,
                "request_ratio": round(requests / min_requests, 4),
                "pages_per_s": round(pages / elapsed, 1),
                "rate_limit_errors": errors.get("6", 0) + errors.get("29", 0),
                "lost_pages": len(refs - seen),
            }
            by_method = {
                m: n - before["requests_by_method"].get(m, 0)
                for m, n in after["requests_by_method"].items()
            }
            say(
                f"run {run_no + 1}: {json.dumps(result)}; {elapsed:.1f} s, {len(tasks)} tasks, "
                f"requests by method {by_method}, {events} page events, errors {errors}, "
                f"CPU s {json.dumps({k: round(v, 1) for k, v in cpu.items()})}"
            )
            results.append(result)
        await nc.close()
    finally:
        group.stop_all()
        sim.stop()
        nats.stop()
    return results


def median_result(results: list[dict]) -> dict:
    if len(results) == 1:
        return results[0]
    return {
        key: (
            statistics.median(r[key] for r in results)
            if key not in ("pages", "min_requests")
            else results[0][key]
        )
        for key in results[0]
    }


# --- the collector's own work alone, in this process ---------------------------------------------


class _Recorder:
    """A ``VkApi`` on the simulator in this process that keeps every answer's bytes, in order."""

    def __init__(self, simulator) -> None:
        self.simulator = simulator
        self.bodies: list[bytes] = []

    def _body(self, method: str, params: dict) -> bytes:
        from services.collector.vk_client import encode_params

        form = {"access_token": "bench", "v": "5.199", **encode_params(params)}
        body = self.simulator.respond(method, form).body
        self.bodies.append(body)
        return body

    async def call(self, method: str, params: dict):
        from services.collector.vk_client import read_answer, unwrap

        return unwrap(read_answer(200, "application/json", self._body(method, params)))

    async def execute(self, calls):
        # As the client reads an answer: wall.get calls typed, the others as JSON objects.
        from services.collector.vk_client import execute_code, read_answer, split_execute

        body = self._body("execute", {"code": execute_code(calls)})
        return split_execute(read_answer(200, "application/json", body, calls), len(calls))


class _Replay(_Recorder):
    """The recorded answers again, in the same order: only the collector's work is timed."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.next = iter(bodies)

    def _body(self, method: str, params: dict) -> bytes:
        return next(self.next)


def simulated_payloads(preset: str, size: int | None, seed: int = 42) -> list[bytes]:
    """A sweep's messages as the pipeline's evaluator reads them: the register's chunks, then the
    VK collectors' events of every page (the simulator and the collectors' code, in this process)."""
    from gospublic.registry import CHUNK_SIZE
    from services.collector.vk_collect import collect_chunk

    args = argparse.Namespace(preset=preset, size=size, seed=seed)
    tasks, bodies, organisations = _record_sweep(args, keep_organisations=True)
    chunks = -(-len(organisations) // CHUNK_SIZE)
    payloads = [
        c.OrganisationsRegistered.create(
            observed_at=c.utcnow(), registry_version="bench", region=REGION, chunk=n,
            chunks=chunks, organisations=tuple(organisations[n * CHUNK_SIZE : (n + 1) * CHUNK_SIZE]),
        ).to_bytes()
        for n in range(chunks)
    ]  # fmt: skip
    replay = _Replay(bodies)
    posts = Settings(_env_file=None).vk_posts_per_page

    async def sweep() -> None:
        for task in tasks:
            payloads.extend(m.payload for m in await collect_chunk(replay, task, posts))

    asyncio.run(sweep())
    return payloads


def _record_sweep(args: argparse.Namespace, keep_organisations: bool = False) -> tuple:
    from datetime import datetime

    from services.collector.vk_collect import collect_chunk
    from services.simulator.regional.generate import generate_region
    from services.simulator.vk_api import VkSimulator

    region = generate_region(
        args.preset, seed=args.seed, now=datetime.fromisoformat(NOW), size=args.size
    )
    with tempfile.TemporaryDirectory() as tmp:
        organisations = read_registry_file(region.write_registry_csv(Path(tmp) / "registry.csv"))
    settings = Settings(_env_file=None)
    tasks = plan_tasks(
        organisations, c.Platform.VK, "bench-step", settings.collect_pages_per_task, c.utcnow()
    )
    recorder = _Recorder(VkSimulator(region, None, limits=None))
    for task in tasks:
        asyncio.run(collect_chunk(recorder, task, settings.vk_posts_per_page))
    if keep_organisations:
        return tasks, recorder.bodies, organisations
    return tasks, recorder.bodies


def step_bench(args: argparse.Namespace) -> dict:
    """Read a sweep's VK answers once from the simulator in this process, then time the collectors'
    own part over them (decoding the answers, building the events, encoding the messages) with no
    HTTP, no NATS and no simulator in the measured CPU. ``--cprofile`` writes a profile of it."""
    import cProfile

    from gospublic import runtime
    from services.collector.vk_collect import collect_chunk

    tasks, bodies = _record_sweep(args)
    # The simulated world is gone; the collector freezes what it loaded and collects less often.
    runtime.keep_loaded_state_out_of_gc()
    posts = Settings(_env_file=None).vk_posts_per_page
    pages = sum(len(t.pages) for t in tasks)
    say(f"{pages} VK pages in {len(tasks)} tasks, {len(bodies)} answers recorded")
    profiler = cProfile.Profile() if args.cprofile else None
    runs = []
    for _ in range(args.runs):
        replay = _Replay(bodies)
        started = time.process_time()
        if profiler:
            profiler.enable()
        messages = payload = 0

        async def sweep(replay: _Replay) -> None:
            nonlocal messages, payload
            for task in tasks:
                for message in await collect_chunk(replay, task, posts):
                    messages += 1
                    payload += len(message.payload)

        asyncio.run(sweep(replay))
        if profiler:
            profiler.disable()
        runs.append(round(time.process_time() - started, 2))
        say(f"  cpu_s {runs[-1]}, {messages} messages, {payload / 2**20:.1f} MiB")
    if profiler:
        profiler.dump_stats(args.cprofile)
    cpu = statistics.median(runs)
    return {
        "mode": "step",
        "pages": pages,
        "messages": messages,
        "cpu_s": cpu,
        "cpu_ms_per_page": round(1000 * cpu / pages, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="national", help="simulator preset (national)")
    parser.add_argument("--size", type=int, default=None, help="organisations (preset's size)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--collectors", type=int, default=2, help="collector processes (2)")
    parser.add_argument("--tokens", type=int, default=8, help="VK tokens, split between them")
    parser.add_argument("--runs", type=int, default=1, help="sweeps; the median is printed")
    parser.add_argument("--comments", action="store_true", help="also fetch changed comments")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per sweep, seconds")
    parser.add_argument("--work", help="work directory (default: a new temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--step", action="store_true", help="time the collectors' own work in this process only"
    )
    parser.add_argument("--cprofile", help="with --step: write a cProfile of it here")
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step_bench(args)))
        return 0
    result = median_result(asyncio.run(run(args)))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0 if result["lost_pages"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
