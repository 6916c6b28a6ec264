"""``gospublic simulate``: generate a synthetic region, write its register and truth, serve it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from gospublic.settings import Settings
from services.simulator.max_api import MaxSimulator
from services.simulator.names import PRESETS
from services.simulator.ok_api import OkSimulator
from services.simulator.region import generate_region
from services.simulator.server import VkSimServer
from services.simulator.tg_web import TgSimulator
from services.simulator.vk_api import VkLimits, VkSimulator

log = logging.getLogger(__name__)


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _size(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("size must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="voronezh",
        choices=sorted(PRESETS),
        help="which region to simulate (default: %(default)s, 34 municipalities, ~1,500 "
        "bodies; national: Russia's regions, 175,000 VK pages)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="random seed; the same seed and --now give the same region (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=_size,
        default=None,
        help="number of organisations (default: the preset's size)",
    )
    parser.add_argument(
        "--now",
        type=_timestamp,
        default=None,
        help="the simulated present, ISO 8601 (e.g. 2025-06-01T12:00:00+03:00); post dates and "
        "the ground truth are relative to it (default: the current time)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for registry.csv, ground_truth.json and simulator.json "
        "(default: <state dir>/sim)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port to listen on; 0 picks a free one, printed at start (default: %(default)s)",
    )
    parser.add_argument(
        "--tokens",
        default="",
        help="comma-separated access tokens to accept (default: any non-empty token)",
    )
    parser.add_argument(
        "--ok-application-key",
        default="CBAQOKAPPKEY",
        help="OK application key to accept (default: %(default)s)",
    )
    parser.add_argument(
        "--ok-secret-key",
        default="ok-application-secret",
        help="OK application secret key that signatures are checked with (default: %(default)s)",
    )
    parser.add_argument(
        "--max-token",
        default="max-bot-token",
        help="the MAX bot token to accept in the Authorization header (default: %(default)s)",
    )
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="lift VK's limits (3 requests/s per token, daily quotas per method); requests are "
        "still counted",
    )
    parser.add_argument(
        "--truth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write ground_truth.json before serving (default: yes; for the national preset "
        "that reads every wall, about a minute)",
    )
    parser.add_argument(
        "--write-only",
        action="store_true",
        help="write the register and the ground truth, then exit without serving",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    now = args.now or datetime.now(UTC)
    region = generate_region(args.preset, seed=args.seed, now=now, size=args.size)
    out = Path(args.out) if args.out else settings.state_dir / "sim"
    out.mkdir(parents=True, exist_ok=True)
    registry = region.write_registry_csv(out / "registry.csv")
    print(
        f"region {region.preset} seed {region.seed} at {region.now.isoformat()}: "
        f"{len(region.organisations)} organisations, {len(region.groups)} VK pages",
        flush=True,
    )
    print(f"register:     {registry}", flush=True)
    if args.truth:
        truth = region.write_ground_truth(out / "ground_truth.json")
        print(f"ground truth: {truth}", flush=True)
    if args.write_only:
        return 0

    tokens = {t.strip() for t in args.tokens.split(",") if t.strip()} or None
    limits = None if args.no_limits else VkLimits()
    simulator = VkSimulator(region, tokens, limits=limits)
    ok = OkSimulator(
        region, args.ok_application_key, args.ok_secret_key, tokens if args.tokens else None
    )
    max_api = MaxSimulator(
        region, args.max_token, requests_per_second=None if limits is None else 30
    )
    server = VkSimServer(
        simulator, args.host, args.port, ok=ok, tg=TgSimulator(region), max=max_api
    ).start()
    info = out / "simulator.json"
    tmp = info.with_suffix(".json.tmp")
    document = {
        "url": server.url,
        "ok_url": server.ok_url,
        "tg_url": server.tg_url,
        "max_url": server.max_url,
        "pid": os.getpid(),
    }
    tmp.write_text(json.dumps(document) + "\n", encoding="utf-8")
    tmp.replace(info)  # atomic: a parent polling for the file never reads half of it
    print(f"VK API simulator: {server.url}", flush=True)
    print(f"OK API simulator: {server.ok_url}", flush=True)
    print(f"Telegram previews: {server.tg_url}/s/<channel>", flush=True)
    print(f"MAX bot API simulator: {server.max_url}", flush=True)
    log.info(
        "simulator serving", extra={"url": server.url, "organisations": len(region.organisations)}
    )

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
        info.unlink(missing_ok=True)
    log.info("simulator stopped")
    return 0
