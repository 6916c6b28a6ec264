"""Notifier throughput: fill ALERTS with a national-shaped sweep, time one notifier draining it.

    .venv/bin/python bench/notify.py --json
    .venv/bin/python bench/notify.py --alerts 40000 --scores 25000 --municipalities 330 --runs 1

An embedded nats-server and a ``MailSink`` (aiosmtpd, in this process) are started and ALERTS is
filled once, in page order as a sweep would fill it: each page's ``ViolationOpened`` events and then
its organisation's ``ScoresUpdated``. Pages belong to municipalities in contiguous blocks, as the
register lists them (``--interleave`` deals them out in turn instead, so every group keeps growing
until the end). The notifier then runs as ``python -m gospublic notifier``, configured by
``GOSPUBLIC_*`` variables alone, with the subscriptions of ``bench/pipeline.py`` (one route, e-mail,
``group_by: [municipality]``, the notifier's default timers unless ``--group-wait`` and
``--group-interval`` say otherwise).

The clock starts when the process answers ``/readyz`` (state loaded, consuming) and stops when its
durable has nothing pending or unacknowledged, no group has news left
(``gospublic_notifier_groups_pending``) and no e-mail arrived for ``QUIET_S``; the quiet time is not
counted. ``cpu_s`` is the notifier's CPU time (user + system) over the same span, from /proc: the
machine may be shared, so it is the number to compare. Each run gets a fresh durable, a fresh
notification log and an empty mailbox; ``lost``/``duplicated`` compare the new alerts the e-mail
subjects count per municipality with what was published.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.collect import _cpu_seconds  # noqa: E402
from bench.pipeline import (  # noqa: E402
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    SUBSCRIPTIONS,
    add_group_timers,
    peak_rss_mb,
    read_mailbox,
)
from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.runtime import EmbeddedNats, free_port  # noqa: E402
from gospublic.settings import Settings  # noqa: E402
from services.notifier.email import clean  # noqa: E402
from services.notifier.mailsink import MailSink  # noqa: E402

QUIET_S = 1.5
RULES = (
    ("DESCRIPTION_MISSING", "high", "Описание короче 50 знаков"),
    ("CONTACT_PHONE_MISSING", "medium", "В описании и контактах нет телефона"),
    ("STALE", "high", "Последняя собственная публикация 40 дней назад"),
    ("NOT_VERIFIED", "low", "Нет отметки «Государственная организация»"),
    ("BANNED_PLATFORM_LINKS", "critical", "Ссылка на instagram.com в описании"),
    ("LOW_FREQUENCY", "medium", "1 публикация за 7 дней при норме 3"),
)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def municipality_name(index: int) -> str:
    return f"Муниципальный округ № {index:04d}"


def backlog(
    alerts: int,
    scores: int,
    municipalities: int,
    interleave: bool,
    flush_pages: int = 0,
) -> tuple[list[bus.Outgoing], Counter]:
    """The messages of one sweep in page order, and the alerts opened per municipality.

    There is one page (and organisation) per ``ScoresUpdated``; the alerts are spread evenly over
    the pages, a page's violations first, then its scores. With ``flush_pages`` the events go out
    as the evaluator publishes them, in ``AlertBatch`` messages per flush of that many pages (its
    alerts, then its scores); without, one message per event (what older evaluators sent)."""
    pages = max(1, scores)
    now = datetime.now(UTC).replace(microsecond=0)
    messages: list[bus.Outgoing] = []
    expected: Counter = Counter()
    flush_alerts: list[c.Event] = []
    flush_scores: list[c.Event] = []
    for page in range(pages):
        muni = page % municipalities if interleave else page * municipalities // pages
        labels = {
            "org_id": f"1{page:013d}",
            "org_name": f"МБОУ «Школа № {page % 997 + 1}» ({page})",
            "founder": "Отдел образования",
            "municipality": municipality_name(muni),
            "sphere": "education",
            "level": "municipal",
        }
        observed = now - timedelta(seconds=pages - page)
        first, last = page * alerts // pages, (page + 1) * alerts // pages
        for n in range(last - first):
            rule, severity, summary = RULES[(first + n) % len(RULES)]
            event = c.ViolationOpened.create(
                event_id=f"bench-open-{first + n}",
                violation_id=f"vk:{210_000_000 + page}:{rule}",
                labels=c.AlertLabels(
                    **labels,
                    platform="vk",
                    page_id=str(210_000_000 + page),
                    page_url=f"https://vk.com/club{210_000_000 + page}",
                    rule=rule,
                    severity=severity,
                ),
                summary=summary,
                observed_at=observed,
                opened_at=observed,
            )
            if flush_pages:
                flush_alerts.append(event)
            else:
                messages.append(
                    bus.event_message(c.alert_subject(severity, rule), event, event.event_id)
                )
            expected[clean(municipality_name(muni), 120)] += 1
        if page < scores:
            event = c.ScoresUpdated.create(
                event_id=f"bench-scores-{page}",
                labels=c.OrgLabels(**labels),
                scores={"design": 62.5, "frequency": 40.0, "compliance": 71.4},
                scored_at=observed,
                observed_at=observed,
            )
            if flush_pages:
                flush_scores.append(event)
            else:
                messages.append(
                    bus.event_message(c.scores_subject(labels["org_id"]), event, event.event_id)
                )
        if flush_pages and ((page + 1) % flush_pages == 0 or page == pages - 1):
            for event_id, payload in c.alert_batches([*flush_alerts, *flush_scores]):
                messages.append(bus.Outgoing(c.ALERT_BATCH_SUBJECT, payload, event_id))
            flush_alerts, flush_scores = [], []
    return messages, expected


async def fill(js, messages: list[bus.Outgoing]) -> float:
    started = time.perf_counter()
    for start in range(0, len(messages), 2000):
        await bus.publish_all(js, messages[start : start + 2000])
        if (start // 2000) % 50 == 49:
            say(f"  filled {start + 2000} messages")
    return time.perf_counter() - started


async def publish_paced(js, messages: list[bus.Outgoing], sweep_s: float) -> None:
    """Publish ``messages`` in order, spread evenly over ``sweep_s`` seconds, as a sweep's
    evaluator flushes reach ALERTS while the notifier runs."""
    started = time.perf_counter()
    for n, message in enumerate(messages):
        delay = started + sweep_s * n / len(messages) - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await bus.publish_all(js, [message])


def _get(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.read().decode() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _metric(port: int, name: str) -> float | None:
    text = _get(port, "/metrics")
    for line in (text or "").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def drain_once(
    nats: EmbeddedNats,
    settings: Settings,
    work: Path,
    sink: MailSink,
    expected: Counter,
    events: int,
    timeout_s: float,
    profile: str | None = None,
    paced: tuple[list[bus.Outgoing], float] | None = None,
    group_wait: str = DEFAULT_GROUP_WAIT,
    group_interval: str = DEFAULT_GROUP_INTERVAL,
) -> dict[str, Any]:
    nc = await bus.connect(nats.url, settings, "bench-watch")
    js = nc.jetstream()
    # A fresh durable and an empty notification log: the run starts where a first sweep would.
    with contextlib.suppress(Exception):
        await js.delete_consumer(c.ALERTS_STREAM, c.NOTIFIER_DURABLE)
    with contextlib.suppress(Exception):
        await js.delete_key_value(c.NOTIFICATION_LOG_BUCKET)
    if paced is not None:
        # The sweep is published while the notifier runs: the stream starts empty.
        with contextlib.suppress(Exception):
            await js.purge_stream(c.ALERTS_STREAM)
    await bus.ensure_topology(js, settings)
    publishing: asyncio.Task | None = None
    mail_before = len(sink.messages)
    port = free_port()
    subscriptions = work / "subscriptions.yaml"
    subscriptions.write_text(
        SUBSCRIPTIONS.format(group_wait=group_wait, group_interval=group_interval),
        encoding="utf-8",
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOSPUBLIC_")},
        **nats.client_env(),
        "GOSPUBLIC_STATE_DIR": str(work / "state"),
        "GOSPUBLIC_HTTP_PORT": str(port),
        "GOSPUBLIC_LOG_LEVEL": "WARNING",
        "GOSPUBLIC_SMTP_HOST": "127.0.0.1",
        "GOSPUBLIC_SMTP_PORT": str(sink.port),
        "GOSPUBLIC_SUBSCRIPTIONS_FILE": str(subscriptions),
        "GOSPUBLIC_DIGEST_ENABLED": "false",
    }
    log_path = work / "notifier.log"
    with log_path.open("wb") as log_file:
        # --profile: the notifier runs under cProfile, which writes its stats when it exits.
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        process = subprocess.Popen(
            [sys.executable, *profiler, "-m", "gospublic", "notifier"],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO,
            start_new_session=True,
        )  # fmt: skip
    spawned = time.perf_counter()
    try:
        while _get(port, "/readyz") is None:
            if process.poll() is not None:
                raise RuntimeError(f"notifier exited early; see {log_path}")
            await asyncio.sleep(0.05)
        ready = time.perf_counter()
        cpu_ready = _cpu_seconds(process.pid)
        if paced is not None:
            publishing = asyncio.create_task(publish_paced(js, *paced))
        deadline = ready + timeout_s
        mails, mails_at, done, cpu_done = -1, ready, None, 0.0
        reported = metrics_at = ready
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"notifier exited early; see {log_path}")
            now = time.perf_counter()
            if now > deadline:
                raise RuntimeError(f"not drained after {timeout_s:.0f} s; see {log_path}")
            count = len(sink.messages) - mail_before
            if count != mails:
                mails, mails_at = count, now
            pending = await bus.consumer_pending(js, c.ALERTS_STREAM, c.NOTIFIER_DURABLE)
            # /metrics only once the stream is drained, and once a second: rendering it costs the
            # notifier CPU that this bench measures (about 2 % when read every tick, and a group
            # waits group_wait, 30 s by default, before its first e-mail).
            sweeping = publishing is not None and not publishing.done()
            if (
                not sweeping
                and pending == (0, 0)
                and (done is not None or now >= metrics_at)
                and _metric(port, "gospublic_notifier_groups_pending") == 0
            ):
                if done is None:
                    done, cpu_done = now, _cpu_seconds(process.pid)
                if now - max(done, mails_at) >= QUIET_S:
                    # The last e-mail may have come after the log said nothing was pending.
                    end = max(done, mails_at)
                    cpu_end = cpu_done if end == done else _cpu_seconds(process.pid)
                    break
            else:
                done = None
            if pending == (0, 0) and now >= metrics_at:
                metrics_at = now + 1.0
            if now - reported >= 15:
                reported = now
                say(f"  {now - ready:.0f} s: to do {sum(pending)}, e-mails {count}")
            await asyncio.sleep(0.1)
        rss = peak_rss_mb(process.pid)
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if publishing is not None:
            publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publishing
        await nc.close()
    mailbox = read_mailbox(sink.messages[mail_before:])
    new, resent = mailbox.new_by_group, mailbox.resent
    lost = sum(max(0, n - new.get(k, 0)) for k, n in expected.items())
    duplicated = sum(max(0, n - expected.get(k, 0)) for k, n in new.items())
    drain_s = end - ready
    return {
        "events": events,
        "events_per_s": round(events / drain_s, 1),
        "cpu_s": round(cpu_end - cpu_ready, 1),
        "cpu_us_per_alert": round((cpu_end - cpu_ready) * 1e6 / max(1, sum(expected.values()))),
        "emails": mailbox.messages,
        "peak_rss_mb": rss,
        "drain_s": round(drain_s, 2),
        "startup_s": round(ready - spawned, 2),
        "lost": lost,
        "duplicated": duplicated,
        "resent": resent,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work or tempfile.mkdtemp(prefix="gospublic-notify-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"work directory: {work}")
    nats = EmbeddedNats(work / "nats").start()
    sink = MailSink(work / "mail").start()
    settings = Settings(_env_file=None, state_dir=work / "state", **nats.client_settings())
    try:
        messages, expected = backlog(
            args.alerts,
            args.scores,
            args.municipalities,
            args.interleave,
            0 if args.single else args.flush_pages,
        )
        events = args.alerts + args.scores
        paced = (messages, args.sweep_s) if args.sweep_s else None
        if paced is None:
            nc = await bus.connect(nats.url, settings, "bench-fill")
            try:
                js = nc.jetstream()
                await bus.ensure_topology(js, settings)
                fill_s = await fill(js, messages)
            finally:
                await nc.close()
            say(f"ALERTS filled with {len(messages)} messages ({events} events) in {fill_s:.1f} s")
        runs = []
        for n in range(args.runs):
            result = await drain_once(
                nats,
                settings,
                work,
                sink,
                expected,
                events,
                args.timeout,
                args.profile,
                paced,
                args.group_wait,
                args.group_interval,
            )
            say(f"run {n + 1}: {json.dumps(result)}")
            runs.append(result)
    finally:
        sink.stop()
        nats.stop()
        if not args.work and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return median(runs)


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[-1])
    for key in (
        "events_per_s",
        "cpu_s",
        "cpu_us_per_alert",
        "emails",
        "peak_rss_mb",
        "drain_s",
        "startup_s",
    ):
        out[key] = statistics.median(r[key] for r in runs)
    for key in ("lost", "duplicated"):
        out[key] = max(r[key] for r in runs)
    out["runs"] = [{k: r[k] for k in ("events_per_s", "cpu_s", "drain_s")} for r in runs]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=280_000, help="ViolationOpened (280,000)")
    parser.add_argument("--scores", type=int, default=175_000, help="ScoresUpdated = pages")
    parser.add_argument("--municipalities", type=int, default=2_300, help="groups (2,300)")
    parser.add_argument(
        "--interleave", action="store_true", help="deal pages out to municipalities in turn"
    )
    parser.add_argument(
        "--flush-pages",
        type=int,
        default=500,
        help="pages per evaluator flush: its events in AlertBatch messages (500)",
    )
    parser.add_argument(
        "--single",
        action="store_true",
        help="one message per event, as evaluators before AlertBatch published",
    )
    parser.add_argument(
        "--sweep-s",
        type=float,
        default=0.0,
        help="publish the backlog over this many seconds while the notifier runs, as a sweep"
        " does (default: ALERTS is filled before it starts)",
    )
    add_group_timers(parser)
    parser.add_argument("--runs", type=int, default=1, help="drains of the same backlog; medians")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per drain, seconds")
    parser.add_argument("--work", help="work directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--profile", metavar="FILE", help="run the notifier under cProfile, stats to FILE"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>14}: {value}")
    return 0 if result["lost"] == result["duplicated"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
