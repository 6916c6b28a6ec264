"""``gospublic notifier``: ALERTS → inhibit → silence → group → dedup → send → record.

The program around the parts :func:`services.notifier.assemble.assemble` builds (the intake, the
dispatcher and its channels, the ticker, the weekly digest, on the ports of
:mod:`services.notifier.ports`):

- a pull consumer on ``alerts.>`` (durable, explicit ack) hands what arrives to the intake;
- a follower of the ``silences`` KV bucket: the stored silences are loaded before the first flush,
  and every later change (``gospublic silence add|expire``) reaches the pipeline within moments;
- the ticker delivers what is due and sends the weekly digest when its slot comes.

``gospublic notifier check-config FILE`` validates a subscriptions file offline and prints what it
configures; ``gospublic notifier --digest-now`` sends every subscriber's digest of the last seven
days at once and exits.

The consumer is the house's one, :class:`gospublic.bus.Consumer`: it hands each message to the
intake as it arrives (an alert never waits for a batch to fill), and every ack and nak goes through
:func:`gospublic.bus.reply`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
from nats.js.api import AckPolicy, ConsumerConfig

from gospublic import bus, runtime
from gospublic import contracts as c
from gospublic.observability import HealthServer
from gospublic.settings import Settings

from . import digest, retry
from .assemble import Notifier, assemble
from .nflog import NotificationLog
from .silences import Silence, SilenceStore
from .subscriptions import (
    GRAFANA,
    SubscriptionError,
    Subscriptions,
    load_subscriptions,
    parse_url,
    summary,
)

log = logging.getLogger("gospublic.notifier")

BATCH_SIZE = 200
EXPIRES_S = 0.5  # also how long a stop waits for the open request to end
ACK_WAIT_S = 30.0
SILENCES_LOAD_TIMEOUT_S = 30.0
WATCH_RESTART_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscriptions",
        type=Path,
        default=None,
        metavar="FILE",
        help="subscriptions YAML (default: GOSPUBLIC_SUBSCRIPTIONS_FILE)",
    )
    parser.add_argument(
        "--digest-now",
        action="store_true",
        help="send every subscriber's digest of the last 7 days now, then exit",
    )
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", title="actions (without one, the notifier runs)"
    )
    check = actions.add_parser(
        "check-config",
        help="validate a subscriptions file and print what it configures (no NATS needed)",
        description="Validate a subscriptions file against the settings; print a summary, or\n"
        "every error with its route and field and exit with 1.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the subscriptions YAML")


def offline(args: argparse.Namespace) -> bool:
    """``check-config`` needs no NATS: the CLI runs :func:`run` instead of :func:`serve`."""
    return getattr(args, "action", None) == "check-config"


def runtime_problems(subscriptions: Subscriptions, settings: Settings) -> list[str]:
    """What the settings lack for a valid subscriptions file to run."""
    problems = []
    if subscriptions.receivers(GRAFANA):
        if not settings.grafana_url:
            problems.append("a route has a grafana receiver but GOSPUBLIC_GRAFANA_URL is empty")
        else:
            try:
                parse_url(settings.grafana_url)
            except ValueError as exc:
                problems.append(f"GOSPUBLIC_GRAFANA_URL: {exc}")
            if not settings.grafana_token.get_secret_value():
                problems.append(
                    "a route has a grafana receiver but GOSPUBLIC_GRAFANA_TOKEN is empty"
                )
    if digest_problem := _digest_problem(settings):
        problems.append(digest_problem)
    return problems


def _digest_problem(settings: Settings) -> str | None:
    if not settings.digest_enabled:
        return None
    try:
        digest.zone(settings.digest_timezone)
    except ValueError as exc:
        return f"GOSPUBLIC_DIGEST_TIMEZONE: {exc}"
    return None


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``check-config FILE``: every error at once, or a summary."""
    try:
        subscriptions = load_subscriptions(args.file)
    except SubscriptionError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    problems = runtime_problems(subscriptions, settings)
    if problems:
        print(
            f"{args.file}: {len(problems)} error(s) with the current settings:\n  "
            + "\n  ".join(problems),
            file=sys.stderr,
        )
        return 1
    print(summary(subscriptions))
    return 0


async def follow_silences(
    store: SilenceStore,
    apply: Callable[[list[Silence]], None],
    ready: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Keep the pipeline's silences in step with the bucket; restart the watch if it breaks."""

    def before_restart(error: BaseException | None) -> None:
        if error is None:
            log.warning("the silences watch ended, restarting it")
        else:
            log.error("watching silences failed, restarting the watch", exc_info=error)

    await retry.restarting(
        partial(store.follow, apply, ready),
        pause_s=WATCH_RESTART_S,
        stopped=stop.is_set,
        before_restart=before_restart,
    )


def _load(args: argparse.Namespace, settings: Settings) -> tuple[Subscriptions, Settings] | int:
    path = getattr(args, "subscriptions", None) or settings.subscriptions_file
    if path is None:
        print(
            "notifier: no subscriptions file; pass --subscriptions FILE or set "
            "GOSPUBLIC_SUBSCRIPTIONS_FILE (see deploy/notifier/subscriptions.example.yaml)",
            file=sys.stderr,
        )
        return 2
    try:
        subscriptions = load_subscriptions(path)
    except SubscriptionError as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return 2
    digest_problem = _digest_problem(settings)
    if digest_problem:
        # Alerts matter more than the digest: run without it rather than not at all.
        log.error("weekly digests disabled", extra={"reason": digest_problem})
        settings = settings.model_copy(update={"digest_enabled": False})
    problems = runtime_problems(subscriptions, settings)
    if problems:
        print("notifier: " + "\n  ".join(problems), file=sys.stderr)
        return 2
    return subscriptions, settings


async def serve(
    nats_url: str, settings: Settings, args: argparse.Namespace, stop: asyncio.Event
) -> int:
    loaded = _load(args, settings)
    if isinstance(loaded, int):
        return loaded
    subscriptions, settings = loaded
    async with httpx.AsyncClient(follow_redirects=False) as http:
        if getattr(args, "digest_now", False):
            return await _digest_now(nats_url, settings, subscriptions, http)
        return await _run(nats_url, settings, subscriptions, http, stop)


async def _run(
    nats_url: str,
    settings: Settings,
    subscriptions: Subscriptions,
    http: httpx.AsyncClient,
    stop: asyncio.Event,
) -> int:
    ready = asyncio.Event()
    health = await HealthServer(settings.http_host, settings.http_port, ready.is_set).start()
    log.info(
        "notifier starting",
        extra={
            "routes": len(subscriptions.routes),
            "inhibit_rules": len(subscriptions.inhibit_rules),
            "subscriptions": subscriptions.source,
            "http_port": health.port,
        },
    )
    nc = await bus.connect(nats_url, settings, "notifier")
    tasks: list[asyncio.Task] = []
    watcher: asyncio.Task | None = None
    notifier: Notifier | None = None
    consumer: bus.Consumer | None = None
    finish = asyncio.Event()
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        store = await NotificationLog.open(js)
        notifier = await assemble(settings, subscriptions, store, js, http)
        runtime.keep_loaded_state_out_of_gc()
        # Silences first: a group may flush on the first tick, and a silenced alert must not slip.
        silences_ready = asyncio.Event()
        watcher = asyncio.create_task(
            follow_silences(
                await SilenceStore.open(js), notifier.held.set_silences, silences_ready, finish
            ),
            name="silences",
        )
        await asyncio.wait_for(silences_ready.wait(), SILENCES_LOAD_TIMEOUT_S)

        consumer = bus.Consumer(
            nc,
            js,
            stream=c.ALERTS_STREAM,
            config=ConsumerConfig(
                name=c.NOTIFIER_DURABLE,
                durable_name=c.NOTIFIER_DURABLE,
                filter_subject="alerts.>",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_S,
            ),
            handle=notifier.intake.handle,
            batch=BATCH_SIZE,
            expires_s=EXPIRES_S,
        )
        await consumer.start()
        tasks.append(asyncio.create_task(notifier.ticker.run(finish), name="notifier-ticker"))
        ready.set()
        log.info("notifier ready")
        await stop.wait()
    finally:
        ready.clear()
        if consumer is not None:
            await consumer.stop()  # the batch in hand is finished (handled and acked)
        finish.set()
        for task in tasks:
            await task
        if notifier is not None:
            await notifier.close()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await nc.close()
        await health.stop()
    log.info("notifier stopped")
    return 0


async def _digest_now(
    nats_url: str, settings: Settings, subscriptions: Subscriptions, http: httpx.AsyncClient
) -> int:
    nc = await bus.connect(nats_url, settings, "notifier-digest")
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        silences = await (await SilenceStore.open(js)).load()
        store = await NotificationLog.open(js)
        notifier = await assemble(
            settings, subscriptions, store, js, http, silences=silences, schedule=False
        )
        try:
            return await notifier.weekly.send_now()
        finally:
            await notifier.close()
    finally:
        await nc.close()
