"""``gospublic nats``: the embedded server in the foreground, with the topology declared."""

from __future__ import annotations

import argparse
import asyncio

from gospublic import bus, display
from gospublic.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-topology", action="store_true", help="do not create the streams and buckets"
    )


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    if not args.no_topology:
        nc = await bus.connect(nats_url, settings, "nats-setup")
        await bus.ensure_topology(nc.jetstream(), settings)
        await nc.close()
    print(f"NATS with JetStream at {display.url(nats_url)} (Ctrl-C to stop)", flush=True)
    if not settings.nats_token.get_secret_value() and settings.nats_user:
        # Where a client finds them; the values themselves are never printed.
        print(
            f"clients authenticate as {settings.nats_user!r} with GOSPUBLIC_NATS_USER/_PASSWORD"
            f" (generated ones are kept in {settings.nats_dir / 'credentials.json'})",
            flush=True,
        )
    await stop.wait()
    return 0
