"""Freshness within the quota: how late a violation reaches the SMTP sink, over a simulated week.

    .venv/bin/python bench/freshness.py --json                          # 24,000 organisations, 7 days
    .venv/bin/python bench/freshness.py --pages 2000 --days 2 --json    # a development run

Two topologies of processes (``bench.pipeline.Pipeline``: the VK simulator, nats-server, the
evaluator on chDB, the notifier, a collector; the SMTP server an aiosmtpd sink in this process)
run side by side on the same world (the simulator's ``national`` preset, same seed, same epoch)
with the same token budget, tick by tick in lockstep:

- ``adaptive``: every tick, ``schedule_sweep`` at the tick's simulated time, as production runs
  it (the pages due, the day's ``wall.get`` budget paced over the day);
- ``round_robin``: every page once a day in a fixed rotation, the register cut into as many
  equal slices as a day has ticks (:func:`round_robin_slice`).

The budget: tokens for one full read of every page a day (``--tokens`` tokens whose ``wall.get``
quota times their number is the register's VK pages). Every tick the simulator's clock advances
by the tick (``POST /_sim/clock``), the sweep is scheduled at that moment, and the bench waits
until the collectors, the evaluator and the notifier have drained. An e-mail's moment is the
simulator's clock when it arrived. The notifier groups by page and rule, so each e-mail's subject
names the one page and rule it announces.

The changes and the moments their rules became true come from the simulator's own timeline
(``services.simulator.regional.changes``): deletions and closures, descriptions removed, pages
turning stale, citizens' comments reaching the reply SLA unanswered. The delay of a change is
from that moment to the first e-mail announcing the new violation (its rule on its page). A
change later than a day before the end, or never announced, is "undetected" and counts as
infinitely late in the percentiles. A breach of the reply SLA was warned when an
UNANSWERED_COMMENT_SOON e-mail for its page arrived after the comment and at least 4 hours before
the deadline.

What is real: every service is the production program, reading the simulator over HTTP and
talking through JetStream; the scheduler is production's. What is shortened: the week is
simulated (the services read the simulator's clock through a ``sitecustomize`` shim that replaces
``gospublic.contracts.utcnow``, the one clock they take "now" from); the notifier sends a group's
first e-mail at once (production waits 30 s); the collectors' own quota tracking is off and
the budget is the scheduler's (the simulator's limits are lifted), so requests are counted at the
simulator; the violations present at the epoch are found by a full read before the week begins
(its alerts are dropped before the notifier starts) and the week's first quota day starts at the
next Moscow midnight.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import email
import json
import math
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bench.pipeline as pipeline_module  # noqa: E402
import services.collector.scheduler as scheduler_module  # noqa: E402
from bench.collect import _cpu_seconds  # noqa: E402
from bench.pipeline import REGION, Pipeline, say  # noqa: E402
from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.registry import read_registry_file, store_registry  # noqa: E402
from services.collector.scheduler import (  # noqa: E402
    PollPolicy,
    plan_tasks,
    quota_day,
    refs_of,
    schedule_sweep,
)
from services.notifier.mailsink import MailSink, Received  # noqa: E402

HOUR = 3600
DAY = 86_400
WARN_AHEAD_S = 4 * HOUR
KINDS = ("unanswered_comment", "page_gone", "page_stale", "profile_field_removed")
MODES = ("adaptive", "round_robin")
# One group per page and rule: a subject names the page and the rule it announces.
SUBSCRIPTIONS = """
routes:
  - name: freshness
    receivers: {email: [monitor@bench.example.ru]}
    group_by: [page_id, rule]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1000h
inhibit_rules: []
"""
_SUBJECT = re.compile(r"^\S+ (.+?) / ([A-Z_]+): \d+ наруш.*\((\d+) нов")
# Every service takes "now" from gospublic.contracts.utcnow; here it reads the simulated clock.
SITECUSTOMIZE = """
import os

_PATH = os.environ.get("FRESHNESS_CLOCK_FILE")
if _PATH:
    from datetime import UTC, datetime

    import gospublic.contracts as _contracts

    _seen = [None, None]

    def utcnow():
        try:
            stat = os.stat(_PATH)
            key = (stat.st_ino, stat.st_mtime_ns)
            if key != _seen[0]:
                with open(_PATH) as f:
                    _seen[1] = float(f.read())
                _seen[0] = key
        except (OSError, ValueError):
            pass
        return datetime.fromtimestamp(_seen[1], UTC) if _seen[1] else datetime.now(UTC)

    _contracts.utcnow = utcnow
"""


# --- pure parts ---------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``math.inf`` counts as larger than any); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def round_robin_slice(pages: list, tick: int, ticks_per_day: int) -> list:
    """The pages a round-robin tick reads: page ``i`` on ticks ``t`` with ``t % n == i % n``, so
    every page is read once every ``ticks_per_day`` ticks and each tick reads an equal share."""
    slot = tick % ticks_per_day
    return [page for i, page in enumerate(pages) if i % ticks_per_day == slot]


@dataclass(frozen=True)
class Arrival:
    """An e-mail announcing a new violation: its page, rule and the simulated moment it came."""

    page: str
    rule: str
    at: float


def read_arrival(content: bytes, at: float) -> Arrival | None:
    message = email.message_from_bytes(content, policy=policy.default)
    match = _SUBJECT.search(str(message["Subject"]))
    if not match or int(match[3]) == 0:
        return None
    return Arrival(match[1], match[2], at)


def page_keys(change: Any) -> set[str]:
    """The ids an alert may name the page by: the group id and the register link's last part."""
    keys = {change.page_id}
    if change.link:
        keys.add(change.link.rstrip("/").rsplit("/", 1)[-1])
    return keys


def first_arrival(change: Any, index: dict[tuple[str, str], list[float]]) -> float | None:
    """The first e-mail at or after the change announcing one of its rules on its page."""
    times = [
        t
        for key in page_keys(change)
        for rule in change.rules
        for t in index.get((key, rule), ())
        if t >= change.at
    ]
    return min(times, default=None)


def index_arrivals(arrivals: list[Arrival]) -> dict[tuple[str, str], list[float]]:
    index: dict[tuple[str, str], list[float]] = defaultdict(list)
    for arrival in arrivals:
        index[(arrival.page, arrival.rule)].append(arrival.at)
    return index


def warned(change: Any, index: dict[tuple[str, str], list[float]], sla_s: float) -> bool:
    """An UNANSWERED_COMMENT_SOON e-mail for the page after the comment, >= 4 h before the SLA."""
    deadline = change.comment_at + sla_s
    return any(
        change.comment_at <= t <= deadline - WARN_AHEAD_S
        for key in page_keys(change)
        for t in index.get((key, "UNANSWERED_COMMENT_SOON"), ())
    )


def delays(
    changes: list,
    arrivals: list[Arrival],
    measured_until: float,
    sla_s: float,
    warning_share: float = 0.75,
    since: float = -math.inf,
) -> dict[str, Any]:
    """Per kind: changes counted, detected, p50/p95 delay in hours; and the warned share, of all
    breaches and of those whose warning fell due after ``since`` (the week's start: a comment
    already in its warning band at the full read was warned by alerts the bench drops)."""
    index = index_arrivals(arrivals)
    out: dict[str, Any] = {}
    for kind in KINDS:
        of_kind = [ch for ch in changes if ch.kind == kind and ch.at <= measured_until]
        values = []
        for ch in of_kind:
            first = first_arrival(ch, index)
            values.append(math.inf if first is None else (first - ch.at) / HOUR)
        finite = [v for v in values if v != math.inf]

        def hours(v: float | None) -> float | None:
            return None if v is None or v == math.inf else round(v, 2)

        out[kind] = {
            "changes": len(of_kind),
            "detected": len(finite),
            "p50_h": hours(percentile(values, 0.5)),
            "p95_h": hours(percentile(values, 0.95)),
            "max_detected_h": hours(max(finite, default=None)),
        }
    breaches = [ch for ch in changes if ch.kind == "unanswered_comment" and ch.at <= measured_until]
    warned_n = sum(1 for ch in breaches if warned(ch, index, sla_s))
    due_in_week = [ch for ch in breaches if ch.comment_at + warning_share * sla_s > since]
    warned_in_week = sum(1 for ch in due_in_week if warned(ch, index, sla_s))
    out["sla_breaches_warned_4h"] = {
        "breaches": len(breaches),
        "warned": warned_n,
        "share": round(warned_n / len(breaches), 3) if breaches else None,
        "breaches_warning_due_in_week": len(due_in_week),
        "warned_of_those": warned_in_week,
        "share_of_those": round(warned_in_week / len(due_in_week), 3) if due_in_week else None,
    }
    return out


def targets(adaptive: dict[str, Any], round_robin: dict[str, Any]) -> dict[str, bool]:
    """Issue #16's acceptance: the adaptive p95 for unanswered comments within 2 h and within
    half of round robin's, and >= 90 % of the breaches warned 4 h ahead, of those whose warning
    fell due in the week: a comment already past the warning's share at the full read was
    warned, if at all, by alerts the bench drops, so the week cannot show it."""
    a = adaptive["unanswered_comment"]["p95_h"]
    r = round_robin["unanswered_comment"]["p95_h"]
    return {
        "adaptive_unanswered_p95_le_2h": a is not None and a <= 2,
        "adaptive_unanswered_p95_le_half_round_robin": a is not None and (r is None or a <= r / 2),
        "warned_4h_ge_90pct": (adaptive["sla_breaches_warned_4h"]["share_of_those"] or 0) >= 0.9,
    }


def policy_overrides(items: list[str]) -> dict[str, float]:
    """``--policy NAME=SECONDS`` options as changes to the scheduler's ``PollPolicy``."""
    fields = {f.name for f in dataclasses.fields(PollPolicy)}
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in fields:
            raise ValueError(f"--policy: PollPolicy has no field {name!r}")
        out[name] = float(value)
    return out


_STAMP = re.compile(r"^(\d{8}T\d{6}\d{6})Z-")


def tick_starts(collector_log: Path, epoch_ts: float, tick_s: float) -> list[tuple[float, float]]:
    """(real time, simulated time) of each tick's first task collected, from the collector's log:
    an adaptive sweep's id is its simulated minute, a round robin's ``rr-<tick>``."""
    first: dict[float, float] = {}
    for line in collector_log.read_text(encoding="utf-8").splitlines():
        if '"task collected"' not in line:
            continue
        record = json.loads(line)
        real = datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
        sweep = record["sweep_id"]
        if sweep.startswith("rr-"):
            sim = epoch_ts + int(sweep[3:]) * tick_s
        else:
            sim = datetime.strptime(sweep, "%Y%m%dT%H%MZ").replace(tzinfo=UTC).timestamp()
        first.setdefault(sim, real)
    return sorted((real, sim) for sim, real in first.items())


def arrivals_from_files(mail_dir: Path, starts: list[tuple[float, float]]) -> list[Arrival]:
    """The e-mails a finished run's sink stored, each at the simulated time of the tick it came in
    (the latest tick whose collection began before it: the bench advanced the clock only once
    everything had drained)."""
    out = []
    for path in sorted(mail_dir.glob("*.eml")):
        match = _STAMP.match(path.name)
        if not match:
            continue
        real = datetime.strptime(match[1], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).timestamp()
        before = [sim for r, sim in starts if r <= real]
        if before and (arrival := read_arrival(path.read_bytes(), before[-1])) is not None:
            out.append(arrival)
    return out


# --- the run ------------------------------------------------------------------------------------


def epoch_before(now: datetime) -> datetime:
    """The latest 20:30 UTC (23:30 in Moscow) before ``now``: the full read fits in the quota
    day that ends half an hour later, and the week's first tick opens a fresh one."""
    at = now.replace(hour=20, minute=30, second=0, microsecond=0)
    return at if at <= now else at - timedelta(days=1)


def post(url: str) -> dict:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def write_clock(path: Path, ts: float) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(ts))
    tmp.replace(path)


@dataclass
class Mode:
    name: str
    pipeline: Pipeline
    arrivals: list[Arrival] = field(default_factory=list)
    wall_get_by_day: dict[str, int] = field(default_factory=dict)
    tasks: int = 0
    pages_read: int = 0
    js: Any = None
    nc: Any = None
    refs: list = field(default_factory=list)
    organisations: list = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work or tempfile.mkdtemp(prefix="gospublic-freshness-"))
        self.epoch = epoch_before(datetime.now(UTC))
        self.tick_s = int(args.tick_minutes * 60)
        self.clock = self.work / "clock"
        self.sim_ts = self.epoch.timestamp()
        shim = self.work / "shim"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        (self.work / "subscriptions.yaml").write_text(SUBSCRIPTIONS, encoding="utf-8")
        write_clock(self.clock, self.sim_ts)
        run = {"epoch": self.epoch.isoformat(), "tick_s": self.tick_s, "pages": args.pages}
        if args.policy:
            run["policy"] = args.policy
        (self.work / "run.json").write_text(json.dumps({**run, "seed": args.seed}))
        self.clock_env = {
            "PYTHONPATH": f"{shim}{os.pathsep}{ROOT}",
            "FRESHNESS_CLOCK_FILE": str(self.clock),
        }
        self.modes: list[Mode] = []
        self.sla_s = 24 * HOUR  # the simulator's (dialog-default's) reply SLA; set in run()
        self.week_start = self.epoch.timestamp()

    def make_pipeline(self, name: str) -> Pipeline:
        args = self.args
        return Pipeline(
            self.work / name,
            preset="national",
            size=args.pages,
            seed=args.seed,
            collectors=1,
            tokens=args.tokens,
            now=self.epoch,
            evaluator_env=dict(self.clock_env),
            collector_env={
                **self.clock_env,
                "GOSPUBLIC_COLLECT_COMMENTS": "true",
            },
            notifier_env={"GOSPUBLIC_SUBSCRIPTIONS_FILE": str(self.work / "subscriptions.yaml")},
        )

    def start(self, mode: Mode) -> None:
        """The pipeline without its notifier: it starts after the full read (see ``warm_up``)."""
        p = mode.pipeline
        original = p.spawn_notifier
        p.spawn_notifier = lambda: None  # type: ignore[method-assign]
        sink = MailSink(p.work / "mail", on_message=lambda r, m=mode: self.received(m, r))
        p.start(sink)
        p.spawn_notifier = original  # type: ignore[method-assign]

    def received(self, mode: Mode, message: Received) -> None:
        arrival = read_arrival(message.content, self.sim_ts)
        if arrival is not None:
            mode.arrivals.append(arrival)

    async def connect(self, mode: Mode) -> None:
        p = mode.pipeline
        mode.nc, mode.js = await p.connect()
        assert p.simulator is not None and p.settings is not None
        organisations = read_registry_file(p.simulator.out / "registry.csv")
        await store_registry(mode.js, REGION, organisations)
        mode.organisations = organisations
        mode.refs = refs_of(organisations, c.Platform.VK)
        tokens = [f"bench-token-{k:02d}" for k in range(self.args.tokens)]
        p.settings.vk_tokens = tokens  # type: ignore[assignment]
        p.settings.vk_daily_quota = {"wall.get": math.ceil(len(mode.refs) / len(tokens))}

    async def collected(self, mode: Mode) -> bool:
        state = await drained_without_notifier(mode)
        return state

    async def warm_up(self, mode: Mode) -> None:
        """The full read at the epoch; its alerts (the violations already there) are dropped
        before the notifier starts, so the week's e-mails announce the week's changes."""
        p = mode.pipeline
        assert p.settings is not None
        await schedule_sweep(mode.js, p.settings, REGION, full=True, now=self.epoch)
        deadline = time.monotonic() + self.args.timeout
        quiet = None
        while True:
            if await drained_without_notifier(mode):
                quiet = quiet or time.monotonic()
                if time.monotonic() - quiet > 2.0:
                    break
            else:
                quiet = None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{mode.name}: the full read did not finish")
            await asyncio.sleep(0.5)
        await mode.js.purge_stream(c.ALERTS_STREAM)
        p.spawn_notifier()
        late = p.group.wait_ready(120)
        if late:
            raise RuntimeError(f"{mode.name}: the notifier is not ready")

    async def tick(self, mode: Mode, k: int, now: datetime) -> None:
        p = mode.pipeline
        assert p.settings is not None
        if mode.name == "adaptive":
            _, tasks, pages = await schedule_sweep(
                mode.js, p.settings, REGION, now=now, organisations=mode.organisations
            )
        else:
            ticks_per_day = DAY // self.tick_s
            refs = round_robin_slice(mode.refs, k - 1, ticks_per_day)
            sweep = f"rr-{k:05d}"
            planned = plan_tasks(
                refs,
                c.Platform.VK,
                sweep,
                p.settings.collect_pages_per_task,
                now,
                c.region_partition(REGION),
            )
            subject = c.task_subject("vk")
            messages = [bus.event_message(subject, t, sweep, n) for n, t in enumerate(planned)]
            tasks = await bus.publish_all(mode.js, messages)
            pages = len(refs)
        mode.tasks += tasks
        mode.pages_read += pages
        await p.wait_settled(mode.js, time.monotonic(), self.args.timeout)

    def write_partial(self, changes: list, tick: int, wall_s: float) -> None:
        """The figures so far (changes up to a settle span before the clock), to ``partial.json``:
        a long run can be read while it goes, and what it measured survives a stop."""
        until = self.sim_ts - self.args.settle_hours * HOUR
        partial = {
            "tick": tick,
            "clock": datetime.fromtimestamp(self.sim_ts, UTC).isoformat(),
            "week_wall_s": round(wall_s, 1),
            "loadavg": Path("/proc/loadavg").read_text().strip(),
            **{
                m.name: {
                    **delays(changes, m.arrivals, until, self.sla_s, since=self.week_start),
                    "pages_read": m.pages_read,
                    "api_wall_get_by_quota_day": m.wall_get_by_day,
                }
                for m in self.modes
            },
        }
        (self.work / "partial.json").write_text(json.dumps(partial, ensure_ascii=False))

    def wall_gets(self, mode: Mode) -> int:
        assert mode.pipeline.simulator is not None
        stats = mode.pipeline.simulator.stats()
        return int(stats.get("calls_by_method", {}).get("wall.get", 0))

    async def run(self) -> dict[str, Any]:
        from services.simulator.region import generate_region
        from services.simulator.regional.changes import changes as world_changes
        from services.simulator.regional.rules import REPLY_SLA_HOURS

        self.sla_s = REPLY_SLA_HOURS * HOUR
        args = self.args
        say(f"work directory: {self.work}; epoch {self.epoch.isoformat()}")
        started = time.monotonic()
        region = generate_region("national", seed=args.seed, now=self.epoch, size=args.pages)
        end_ts = self.epoch.timestamp() + args.days * DAY
        changes = world_changes(region, int(self.epoch.timestamp()), int(end_ts))
        say(f"{len(changes)} changes in the week, computed in {time.monotonic() - started:.0f} s")
        self.modes = [Mode(name, self.make_pipeline(name)) for name in args.modes]
        try:
            for mode in self.modes:
                self.start(mode)
            for mode in self.modes:
                await self.connect(mode)
            t0 = time.monotonic()
            await asyncio.gather(*(self.warm_up(mode) for mode in self.modes))
            warm_s = time.monotonic() - t0
            say(f"full read at the epoch in {warm_s:.0f} s")
            base = {m.name: self.wall_gets(m) for m in self.modes}
            day_base = dict(base)
            day = quota_day(self.epoch + timedelta(seconds=self.tick_s))
            cpu_before = {
                m.name: {n: _cpu_seconds(pid) for n, pid in m.pipeline.processes().items()}
                for m in self.modes
            }
            ticks = int(args.days * DAY // self.tick_s)
            t0 = time.monotonic()
            for k in range(1, ticks + 1):
                self.sim_ts = self.epoch.timestamp() + k * self.tick_s
                now = datetime.fromtimestamp(self.sim_ts, UTC)
                for mode in self.modes:
                    assert mode.pipeline.simulator is not None
                    post(f"{mode.pipeline.simulator.base}/_sim/clock?advance={self.tick_s}")
                write_clock(self.clock, self.sim_ts)
                if quota_day(now) != day:  # the reads before this tick close the quota day
                    for mode in self.modes:
                        used = self.wall_gets(mode)
                        mode.wall_get_by_day[day] = used - day_base[mode.name]
                        day_base[mode.name] = used
                    day = quota_day(now)
                await asyncio.gather(*(self.tick(mode, k, now) for mode in self.modes))
                if k % max(1, ticks // 28) == 0:
                    say(
                        f"tick {k}/{ticks} ({now:%m-%d %H:%M}) after {time.monotonic() - t0:.0f} s: "
                        + ", ".join(f"{m.name} {m.pages_read} pages" for m in self.modes)
                    )
                    self.write_partial(changes, k, time.monotonic() - t0)
            week_s = time.monotonic() - t0
            cpu = {
                m.name: {
                    n: round(_cpu_seconds(pid) - cpu_before[m.name].get(n, 0.0), 1)
                    for n, pid in m.pipeline.processes().items()
                }
                for m in self.modes
            }
            totals = {m.name: self.wall_gets(m) - base[m.name] for m in self.modes}
            for mode in self.modes:  # the last day, whole or not
                mode.wall_get_by_day[day] = self.wall_gets(mode) - day_base[mode.name]
        finally:
            for mode in self.modes:
                if mode.nc is not None:
                    await mode.nc.close()
                mode.pipeline.stop()
                arrivals = [[a.page, a.rule, a.at] for a in mode.arrivals]
                (mode.pipeline.work / "arrivals.json").write_text(json.dumps(arrivals))
        budget = self.modes[0].pipeline.settings.vk_daily_quota["wall.get"] * args.tokens  # type: ignore[union-attr]
        measured_until = end_ts - args.settle_hours * HOUR
        result: dict[str, Any] = {
            "pages": len(self.modes[0].refs),
            "organisations": args.pages,
            "days": args.days,
            "tick_minutes": args.tick_minutes,
            "tokens": args.tokens,
            "wall_get_quota_per_token": budget // args.tokens,
            "daily_budget_wall_get": budget,
            "changes": {k: sum(1 for ch in changes if ch.kind == k) for k in KINDS},
            "changes_measured_until": datetime.fromtimestamp(measured_until, UTC).isoformat(),
            "full_read_s": round(warm_s, 1),
            "week_wall_s": round(week_s, 1),
            "wall_s_per_tick": round(week_s / max(1, ticks), 2),
        }
        sla_s = REPLY_SLA_HOURS * HOUR
        for mode in self.modes:
            full_days = list(mode.wall_get_by_day.values())[:-1] or list(
                mode.wall_get_by_day.values()
            )
            result[mode.name] = {
                **delays(changes, mode.arrivals, measured_until, sla_s, since=self.week_start),
                "pages_read": mode.pages_read,
                "api_wall_get_used": totals[mode.name],
                "api_wall_get_by_quota_day": mode.wall_get_by_day,
                "quota_left_min_day": min((budget - n for n in full_days), default=None),
                "quota_left_week": budget * args.days - totals[mode.name],
                "emails_new_violations": len(mode.arrivals),
                "cpu_s": cpu[mode.name],
            }
        if "adaptive" in result and "round_robin" in result:
            result["targets"] = targets(result["adaptive"], result["round_robin"])
        result["loadavg"] = Path("/proc/loadavg").read_text().strip()
        return result


async def drained_without_notifier(mode: Mode) -> bool:
    """Collect and evaluate drained (the notifier may not run yet)."""
    js = mode.js
    try:
        tasks_left = (await js.stream_info(c.TASKS_STREAM)).state.messages
        collect = await bus.consumer_pending(js, c.TASKS_STREAM, pipeline_module.COLLECTOR_DURABLE)
        evaluate = await bus.consumer_pending(js, c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
    except Exception:  # not there yet: not drained
        return False
    return tasks_left == 0 and collect == (0, 0) and evaluate == (0, 0)


def reanalyse(args: argparse.Namespace) -> dict[str, Any]:
    """The delays and warnings of a finished (or stopped) run, from its sink's e-mails and its
    collectors' logs, for ``args.epoch`` (the run's, in ``run.json`` when it wrote one)."""
    from services.simulator.region import generate_region
    from services.simulator.regional.changes import changes as world_changes
    from services.simulator.regional.rules import REPLY_SLA_HOURS

    work = Path(args.reanalyse)
    saved = work / "run.json"
    run = json.loads(saved.read_text()) if saved.exists() else {}
    epoch = datetime.fromisoformat(args.epoch or run["epoch"])
    tick_s = run.get("tick_s", args.tick_minutes * 60)
    region = generate_region("national", seed=args.seed, now=epoch, size=args.pages)
    end_ts = epoch.timestamp() + args.days * DAY
    changes = world_changes(region, int(epoch.timestamp()), int(end_ts))
    result: dict[str, Any] = {"work": str(work), "epoch": epoch.isoformat()}
    for name in args.modes:
        starts = tick_starts(work / name / "logs" / "collector-1.log", epoch.timestamp(), tick_s)
        if not starts:
            continue
        arrivals = arrivals_from_files(work / name / "mail", starts)
        reached = starts[-1][1]  # the last tick collected
        until = min(end_ts, reached) - args.settle_hours * HOUR
        result[name] = {
            "clock_reached": datetime.fromtimestamp(reached, UTC).isoformat(),
            "changes_measured_until": datetime.fromtimestamp(until, UTC).isoformat(),
            **delays(changes, arrivals, until, REPLY_SLA_HOURS * HOUR, since=epoch.timestamp()),
            "emails_new_violations": len(arrivals),
        }
    if "adaptive" in result and "round_robin" in result:
        result["targets"] = targets(result["adaptive"], result["round_robin"])
    result["loadavg"] = Path("/proc/loadavg").read_text().strip()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=24_000, help="organisations (24,000)")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--tick-minutes", type=float, default=30.0)
    parser.add_argument("--tokens", type=int, default=4, help="VK tokens (4)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--modes", default=",".join(MODES), help="adaptive,round_robin")
    parser.add_argument("--timeout", type=float, default=900.0, help="per tick, seconds")
    parser.add_argument(
        "--settle-hours",
        type=float,
        default=24.0,
        help="changes later than this before the end are not counted (24)",
    )
    parser.add_argument("--quiet-s", type=float, default=0.5, help="drained this long: tick over")
    parser.add_argument("--work", help="work directory (default: a new temporary one)")
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="try the adaptive scheduler with a PollPolicy field changed (repeatable), e.g. "
        "quiet_interval_s=216000",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--reanalyse",
        metavar="WORK",
        help="no run: the figures of a finished or stopped run in WORK, from its e-mails and logs",
    )
    parser.add_argument("--epoch", help="with --reanalyse: the run's epoch (default: run.json)")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.reanalyse:
        print(json.dumps(reanalyse(args), ensure_ascii=False, indent=None if args.json else 1))
        return 0
    pipeline_module.QUIET_S = args.quiet_s
    if overrides := policy_overrides(args.policy):
        # The sweeps are scheduled in this process: its scheduler reads the changed policy.
        load_policy = scheduler_module.load_policy
        scheduler_module.load_policy = lambda settings: dataclasses.replace(
            load_policy(settings), **overrides
        )
    result = asyncio.run(Bench(args).run())
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
