"""Alert latency: a ``ViolationOpened`` published on NATS → the SMTP server accepting its e-mail.

    .venv/bin/python bench/alert_latency.py --json
    .venv/bin/python bench/alert_latency.py --alerts 1000 --rate 100

An embedded nats-server and an aiosmtpd server (in a process of its own, as a real relay would
be) are started; the notifier runs in this process (its ``serve()`` as a task, with the default
settings otherwise) on a subscriptions file with one route: ``group_by: ["..."]`` (each alert its
own group, so its own e-mail) and ``group_wait: 0s``. A steady stream of ``ViolationOpened`` is
published, pipelined, at ``--rate`` per second. Each event's publish time is kept by violation id;
the SMTP server writes down the wall-clock time it accepts each message (the end of DATA) and the
violation read back from the subject. Latency is the difference; p50/p99/max are over every alert,
and an alert that never arrives is counted as lost. Target: p99 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aiosmtpd.controller import Controller  # noqa: E402

from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.runtime import EmbeddedNats, free_port  # noqa: E402
from gospublic.settings import Settings  # noqa: E402
from services.notifier.main import serve  # noqa: E402

SUBSCRIPTIONS = """
routes:
  - name: bench
    receivers: {email: [bench@example.org]}
    group_by: ["..."]
    group_wait: 0s
    group_interval: 5m
    repeat_interval: 4h
"""
_INDEX = re.compile(r"bench-(\d+)")
_HEADERS = BytesParser(policy=policy.default)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Accepting:
    """The SMTP side (in the child process): one ``time<TAB>violation`` line per accepted mail."""

    def __init__(self, out) -> None:
        self.out = out

    async def handle_DATA(self, server, session, envelope) -> str:
        at = time.time()
        subject = _HEADERS.parsebytes(envelope.content, headersonly=True)["Subject"]
        found = _INDEX.search(subject or "")
        self.out.write(f"{at:.6f}\t{found[1] if found else '-'}\n")
        self.out.flush()
        return "250 Message accepted"


def smtp_child(port: int, path: Path) -> int:
    with path.open("a", encoding="utf-8") as out:
        controller = Controller(Accepting(out), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        try:
            sys.stdin.read()  # until the parent closes the pipe
        finally:
            controller.stop()
    return 0


def accepted(path: Path) -> list[tuple[float, str]]:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [(float(at), index) for at, _, index in (line.partition("\t") for line in lines)]


def opened(index: int, now) -> c.ViolationOpened:
    labels = c.AlertLabels(
        org_id=f"1023600{index:06d}",
        org_name=f"bench-{index:05d}",
        founder="Отдел образования",
        municipality="Борисоглебский городской округ",
        sphere="education",
        level="municipal",
        platform="vk",
        page_id=str(210_000_000 + index),
        page_url=f"https://vk.com/club{210_000_000 + index}",
        rule="DESCRIPTION_MISSING",
        severity="high",
    )
    return c.ViolationOpened.create(
        violation_id=f"bench-{index:05d}",
        labels=labels,
        summary="Описание короче 50 знаков",
        observed_at=now,
        opened_at=now,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run(alerts: int, rate: float, timeout_s: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gospublic-alert-latency-"))
    nats = EmbeddedNats(work / "nats").start()
    smtp_port, received = free_port(), work / "accepted.tsv"
    child = subprocess.Popen(
        [sys.executable, __file__, "--smtp-child", str(smtp_port), str(received)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    subscriptions = work / "subscriptions.yaml"
    subscriptions.write_text(SUBSCRIPTIONS, encoding="utf-8")
    settings = Settings(
        _env_file=None,
        state_dir=work / "state",
        **nats.client_settings(),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        subscriptions_file=subscriptions,
        digest_enabled=False,
    )
    stop = asyncio.Event()
    notifier = asyncio.create_task(serve(nats.url, settings, argparse.Namespace(), stop))
    nc = await bus.connect(nats.url, settings, "bench-publisher")
    published: dict[str, float] = {}
    try:
        js = nc.jetstream()
        await bus.ensure_topology(js, settings)
        await asyncio.sleep(1.0)  # the notifier connects, loads its (empty) state and consumes
        say(f"publishing {alerts} alerts at {rate:g}/s")
        acks = []
        interval = 1.0 / rate
        started = time.monotonic()
        for index in range(alerts):
            # A steady stream: each publish at its slot, not in bursts.
            delay = started + index * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = opened(index, c.utcnow())
            message = bus.event_message(
                c.alert_subject("high", "DESCRIPTION_MISSING"), event, event.violation_id
            )
            published[f"{index:05d}"] = time.time()
            acks.append(
                await js.publish_async(
                    message.subject, message.payload, headers={"Nats-Msg-Id": message.msg_id}
                )
            )
        await asyncio.gather(*acks)
        say(f"published in {time.monotonic() - started:.1f} s; waiting for the e-mails")
        deadline = time.monotonic() + timeout_s
        while len(accepted(received)) < alerts and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(notifier, 30)
        await nc.close()
        child.communicate(timeout=10)  # closes its stdin: it stops
        nats.stop()
    mails = accepted(received)
    shutil.rmtree(work, ignore_errors=True)

    latencies: dict[str, float] = {}
    for accepted_at, index in mails:
        if index in published:
            latencies.setdefault(index, (accepted_at - published[index]) * 1000)
    values = list(latencies.values())
    return {
        "alerts": alerts,
        "delivered": len(values),
        "lost": alerts - len(values),
        "duplicates": len(mails) - len(values),
        "p50_ms": round(percentile(values, 0.50), 1) if values else None,
        "p99_ms": round(percentile(values, 0.99), 1) if values else None,
        "max_ms": round(max(values), 1) if values else None,
        "rate_per_s": rate,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=500, help="default: %(default)s")
    parser.add_argument("--rate", type=float, default=50.0, help="per second; default: %(default)s")
    parser.add_argument("--timeout", type=float, default=60.0, help="wait for mail, seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--smtp-child", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_child:
        return smtp_child(int(args.smtp_child[0]), Path(args.smtp_child[1]))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("mail.log", "nats", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    result = asyncio.run(run(args.alerts, args.rate, args.timeout))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>12}: {value}")
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
