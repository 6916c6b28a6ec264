"""The push receiver: VK Callback API and MAX webhooks in, page events on EVENTS out.

FastStream's ``NatsBroker`` holds the one NATS connection: pushed events are published through it
(see ``publisher``), and its connection reads the registers (KV) and writes dead letters. The push
endpoints listen on ``receiver_port`` (reached by the platforms); ``/healthz``, ``/readyz`` (ready
while NATS is connected) and ``/metrics`` on ``http_port``, as for every service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from datetime import datetime

from gospublic import bus, pushmarks
from gospublic import contracts as c
from gospublic.observability import HealthServer, redact_also, setup_logging
from gospublic.registry import load_registry
from gospublic.runtime import nats_endpoint
from gospublic.settings import Settings
from services.receiver import payloads as p
from services.receiver.handlers import Receiver
from services.receiver.http import PushServer
from services.receiver.pages import PageDirectory
from services.receiver.publisher import PushPublisher

log = logging.getLogger("gospublic.receiver")

STOP_TIMEOUT_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        action="append",
        default=[],
        help="a region whose register names the pushed pages (repeatable; "
        "adds to GOSPUBLIC_RECEIVER_REGIONS)",
    )


def receiver_secrets(settings: Settings) -> list[str]:
    """The receiver's secrets, for the log redactor (Settings.secret_values predates them)."""
    values = [s.get_secret_value() for s in settings.vk_callback_secrets.values()]
    values.append(settings.max_webhook_secret.get_secret_value())
    return [v for v in values if v]


def make_receiver(settings: Settings, broker, regions: list[str]) -> Receiver:
    """The request handling over ``broker`` (connected, or under ``TestNatsBroker``)."""

    async def organisations() -> dict[str, list[c.Organisation]]:
        js = broker.connection.jetstream()
        return {region: await load_registry(js, region) for region in regions}

    async def dead_letter(source: str, data: bytes, reason: p.Unreadable) -> None:
        js = broker.connection.jetstream()
        await bus.within(
            bus.dead_letter(js, source, data, reason.reason, None, reason.kind),
            settings.receiver_publish_timeout_s,
            "dead letter",
        )

    async def mark_pushed(ref: c.PageRef, at: datetime) -> None:
        js = broker.connection.jetstream()
        await bus.within(
            pushmarks.mark_pushed(js, ref, at.timestamp()),
            settings.receiver_publish_timeout_s,
            "push mark",
        )

    publisher = PushPublisher(broker, c.EVENTS_STREAM, settings.receiver_publish_timeout_s)
    return Receiver(
        settings, PageDirectory(organisations), publisher, dead_letter, mark_pushed=mark_pushed
    )


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    redact_also(*receiver_secrets(settings))
    regions = list(dict.fromkeys([*settings.receiver_regions, *getattr(args, "region", [])]))
    if not regions:
        log.error("no region: set GOSPUBLIC_RECEIVER_REGIONS or pass --region")
        return 2
    if not settings.vk_callback_secrets and not settings.max_webhook_secret.get_secret_value():
        log.error(
            "nothing to receive: set GOSPUBLIC_VK_CALLBACK_SECRETS and/or "
            "GOSPUBLIC_MAX_WEBHOOK_SECRET"
        )
        return 2
    broker = bus.make_broker(nats_url, settings, "receiver")
    await broker.connect()
    await bus.ensure_topology(broker.connection.jetstream(), settings)
    receiver = make_receiver(settings, broker, regions)
    await receiver.pages.reload()
    health = await HealthServer(
        settings.http_host, settings.http_port, ready=lambda: receiver.publisher.connected
    ).start()
    push = await PushServer(receiver, settings.receiver_host, settings.receiver_port).start()
    refresher = asyncio.create_task(
        receiver.pages.keep_fresh(settings.receiver_registry_refresh_s, stop)
    )
    log.info(
        "receiver started",
        extra={
            "push_port": push.port,
            "metrics_port": health.port,
            "regions": regions,
            "pages": len(receiver.pages),
            "vk_communities": len(settings.vk_callback_secrets),
            "max": bool(settings.max_webhook_secret.get_secret_value()),
        },
    )
    try:
        await stop.wait()
    finally:
        await push.stop()  # no new pushes; the platforms send again what is not answered
        refresher.cancel()
        with contextlib.suppress(Exception):
            await bus.within(broker.stop(), STOP_TIMEOUT_S, "broker stop")
        await health.stop()
        log.info("receiver stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the receiver against ``GOSPUBLIC_NATS_URL`` (``gospublic receiver`` does the same)."""
    parser = argparse.ArgumentParser(prog="receiver", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings()
    setup_logging("receiver", settings.log_level, settings.log_format, settings.secret_values())

    async def until_signal(connected: Settings) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        return await serve(connected.nats_url, connected, args, stop)

    try:
        # As the gospublic command does: the configured NATS, or the embedded one.
        with nats_endpoint(settings) as connected:
            redact_also(connected.nats_password.get_secret_value())
            return asyncio.run(until_signal(connected))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
