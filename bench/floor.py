"""The evaluator's floor: what reading, decoding and evaluating a sweep cost before any storing.

    .venv/bin/python bench/floor.py --json
    .venv/bin/python bench/floor.py --pages 175000 --runs 1 --json

``bench/evaluate.py`` times the whole evaluator. This script takes its stages apart, in this one
process, on the same backlog (``bench/sweep.py``), to show how much of the per-page budget each
one needs on its own: 100,000 post observations a second at 20 posts a page is 200 µs per page.

- ``read_ack``: the one pull consumer the services read with (``bus.Consumer``) delivers every message of
  EVENTS from an embedded nats-server, and each is acknowledged; nothing else.
- ``read_ack_decode``: the same, and each message is decoded as the evaluator decodes it.
- ``evaluate``: ``handlers.process_batch`` over the decoded events in batches of 2,000 messages,
  with the whole catalogue, on a fresh state (a first sweep: every violation opens).

Each figure is this process's CPU time per page (``time.process_time``), the median of ``--runs``.
The nats-server's own CPU over the read stages is reported apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy  # noqa: E402

from bench.collect import _cpu_seconds  # noqa: E402
from bench.evaluate import fill, say  # noqa: E402
from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.bus import Consumer as PullIntake  # noqa: E402
from gospublic.runtime import EmbeddedNats  # noqa: E402
from gospublic.settings import Settings  # noqa: E402
from services.evaluator.fastdecode import decode  # noqa: E402
from services.evaluator.handlers import process_batch  # noqa: E402
from services.evaluator.profiles import load_profile  # noqa: E402
from services.evaluator.state import EvaluatorState  # noqa: E402

TARGET_OBSERVATIONS_PER_S = 100_000
EVALUATE_BATCH = 2000


async def read(url: str, settings: Settings, durable: str, with_decode: bool) -> list[c.Event]:
    """Drain EVENTS through a new durable; return the decoded events (empty unless decoding)."""
    nc = await bus.connect(url, settings, "bench-floor")
    js = nc.jetstream()
    last = (await js.stream_info(c.EVENTS_STREAM)).state.last_seq
    events: list[c.Event] = []
    seen = 0
    done = asyncio.Event()

    async def handle(messages: list[Any]) -> None:
        nonlocal seen
        for msg in messages:
            if with_decode:
                events.append(decode(msg.data))
            await msg.ack()
        seen += len(messages)
        if seen >= last:
            done.set()

    config = ConsumerConfig(
        durable_name=durable,
        filter_subject="events.>",
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=10_000,
    )
    intake = PullIntake(nc, js, stream=c.EVENTS_STREAM, config=config, handle=handle)
    await intake.start()
    await done.wait()
    await intake.stop()
    await nc.close()
    return events


def evaluate(events: list[c.Event]) -> None:
    state = EvaluatorState()
    profile = load_profile("dialog-default")
    now = c.utcnow()
    for start in range(0, len(events), EVALUATE_BATCH):
        process_batch(state, events[start : start + EVALUATE_BATCH], profile, now)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="gospublic-floor-"))
    settings = Settings(_env_file=None)
    pages = args.pages
    stages: dict[str, list[float]] = {"read_ack": [], "read_ack_decode": [], "evaluate": []}
    nats_cpu: dict[str, list[float]] = {"read_ack": [], "read_ack_decode": []}
    nats = EmbeddedNats(workdir / "nats").start()
    settings = settings.model_copy(update=nats.client_settings())
    try:
        say(f"filling EVENTS with {pages} pages x 20 posts ...")
        filled = await fill(nats.url, settings, pages, 20)
        for run in range(args.runs):
            events: list[c.Event] = []
            for stage, with_decode in (("read_ack", False), ("read_ack_decode", True)):
                server_before = _cpu_seconds(nats.process.pid)
                before = time.process_time()
                events = await read(nats.url, settings, f"floor-{stage}-{run}", with_decode)
                stages[stage].append(time.process_time() - before)
                nats_cpu[stage].append(_cpu_seconds(nats.process.pid) - server_before)
            before = time.process_time()
            evaluate(events)
            stages["evaluate"].append(time.process_time() - before)
            say(
                f"run {run + 1}/{args.runs}: "
                + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in stages.items())
            )
    finally:
        nats.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def per_page(seconds: list[float]) -> float:
        return round(statistics.median(seconds) / pages * 1e6, 1)

    budget = 20 / TARGET_OBSERVATIONS_PER_S * 1e6
    floor = per_page(stages["read_ack_decode"]) + per_page(stages["evaluate"])
    return {
        "pages": pages,
        "messages": filled["messages"],
        "us_per_page": {stage: per_page(seconds) for stage, seconds in stages.items()},
        "nats_server_us_per_page": {s: per_page(v) for s, v in nats_cpu.items()},
        "budget_us_per_page": round(budget, 1),
        "read_decode_evaluate_us_per_page": round(floor, 1),
        "runs": {stage: [round(s, 2) for s in seconds] for stage, seconds in stages.items()},
        "median_of": args.runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20_000, help="pages in the backlog (20,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of every stage; medians")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)
    result = asyncio.run(bench(args))
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
