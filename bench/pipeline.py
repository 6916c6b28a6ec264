"""One whole sweep end to end, measured: simulator → collectors → NATS → evaluator → chDB → notifier.

    .venv/bin/python bench/pipeline.py --preset national --json
    .venv/bin/python bench/pipeline.py --preset voronezh --json
    .venv/bin/python bench/pipeline.py --pages 200

Every part is a process of its own, as in production on one machine: the VK simulator (its limits
lifted, ``bench/collect.py``'s ``Simulator``), an embedded nats-server, the evaluator on chDB, the
notifier and the VK collectors (``gospublic/processes.py``); the SMTP server is an aiosmtpd sink in
this process. The register is imported, one sweep scheduled, and the clock runs from the first task
published until every consumer is drained and the notifier has nothing pending.

Nothing is counted inside the services. Afterwards the services are stopped and:

- ``lost``/``duplicated`` observations compare the rows in ClickHouse (``page_snapshots`` by page,
  ``post_observations`` by page and post) with what the simulator planted: every page the register
  links that exists and is not deactivated has one snapshot, and its newest posts (as many as a
  collector asks for) one row each;
- ``lost``/``duplicated`` alerts compare, per municipality, the violations opened in ClickHouse
  with the new alerts the SMTP server received (the notifier groups by municipality; the subject of
  every e-mail counts its new alerts, never truncated).

``stages_s`` says when collection, evaluation and notification finished (seconds from the start);
``cpu_s`` is each process's CPU time over the sweep: the stage with the most is the bottleneck.
``product_cpu_s`` sums it over what is shipped (collectors, nats-server, evaluator, notifier; the
simulator stands in for VK and is left out) and ``product_cpu_ms_per_page`` divides it by the pages;
``loadavg_start``/``loadavg_end`` (``os.getloadavg()``) say how busy the machine was around the run.

The notifier groups by municipality with the route's timers (``--group-wait``/``--group-interval``,
by default the notifier's own, 30 s and 5 min, as a route that sets neither): every e-mail lists
its group's open alerts, so with a 2 s interval a municipality is mailed every 2 s of the sweep and
the notifier's CPU is mostly e-mails nobody would be sent. The run lasts until the last group's
e-mail is out, up to one interval after the last alert, and ``cpu_s`` includes that wait:
``idle_cpu_s_per_min`` (sampled for ``--idle-s`` after the sweep) says what a minute of it costs.

The same class runs the fault tests (``tests/integration/test_faults.py``) on a small slice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nats.js.errors import NotFoundError  # noqa: E402

from bench.collect import Simulator, _cpu_seconds  # noqa: E402
from gospublic import bus  # noqa: E402
from gospublic import contracts as c  # noqa: E402
from gospublic.processes import ProcessGroup, ServiceProcess, child_env  # noqa: E402
from gospublic.registry import read_registry_file, store_registry  # noqa: E402
from gospublic.runtime import EmbeddedNats  # noqa: E402
from gospublic.settings import Settings  # noqa: E402
from services.collector.scheduler import schedule_sweep  # noqa: E402
from services.notifier import routes  # noqa: E402
from services.notifier.mailsink import MailSink, Received  # noqa: E402

REGION = "bench"
COLLECTOR_DURABLE = c.COLLECTOR_DURABLE.format(platform="vk")
# One group per municipality: a handful of e-mails per region, and each subject counts its new
# alerts exactly (a body lists at most 200). No inhibition: every opened violation is mailed.
# The group's timers: the tests' short ones by default, the notifier's own defaults from the
# command line (see --group-interval).
SUBSCRIPTIONS = """
routes:
  - name: bench
    receivers: {{email: [monitor@bench.example.ru]}}
    group_by: [municipality]
    group_wait: {group_wait}
    group_interval: {group_interval}
    repeat_interval: 24h
inhibit_rules: []
"""
DEFAULT_GROUP_WAIT = f"{routes.DEFAULT_GROUP_WAIT.total_seconds():g}s"
DEFAULT_GROUP_INTERVAL = f"{routes.DEFAULT_GROUP_INTERVAL.total_seconds():g}s"
_NEW = re.compile(r"\((\d+) нов")
_TITLE = re.compile(r"^\S+ (.*): \d+ наруш")
QUIET_S = 1.5  # everything drained for this long: the sweep is over


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (VmHWM), while it lives."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


@dataclass
class Mailbox:
    """What the SMTP server received: new alerts per group title, and messages sent again.

    A notifier killed after the server accepted a message and before it recorded the sending
    finds its recorded intent on restart and sends that very message again, under the same
    Message-ID (the receiver's key to drop it). A resend under the same Message-ID is counted
    apart; an alert announced as new in two different messages is a duplicate.
    """

    messages: int
    new_by_group: Counter
    resent: int


def read_mailbox(messages: list[Received]) -> Mailbox:
    new: Counter = Counter()
    seen: set[str] = set()
    resent = 0
    for received in messages:
        message = email.message_from_bytes(received.content, policy=policy.default)
        if message["Message-ID"] in seen:
            resent += 1
            continue
        seen.add(message["Message-ID"])
        subject = str(message["Subject"])
        title, count = _TITLE.search(subject), _NEW.search(subject)
        if title and count:
            new[title[1]] += int(count[1])
    return Mailbox(len(messages), new, resent)


@dataclass
class Planted:
    """The simulator's world as a collector should see it: rows expected per key."""

    pages: Counter  # page_id → snapshots
    posts: Counter  # (page_id, post_id) → rows


def planted(args: argparse.Namespace, now: datetime, posts_per_page: int) -> Planted:
    from services.simulator.region import generate_region

    region = generate_region(args.preset, seed=args.seed, now=now, size=args.size)
    pages: Counter = Counter()
    posts: Counter = Counter()
    for org in region.organisations:
        group = region.vk_group_of(org)
        if group is None or group.deactivated:
            continue
        pages[str(group.id)] += 1
        wall = region.posts(group) if group.wall != 0 else []
        for post in wall[:posts_per_page]:
            posts[(str(group.id), str(post.id))] += 1
    return Planted(pages, posts)


def compare(expected: Counter, got: Counter) -> tuple[int, int]:
    """(lost, duplicated): rows missing against the expectation, rows beyond it."""
    lost = sum(max(0, n - got.get(k, 0)) for k, n in expected.items())
    extra = sum(max(0, n - expected.get(k, 0)) for k, n in got.items())
    return lost, extra


@dataclass
class Stored:
    pages: Counter
    posts: Counter
    opened_by_municipality: Counter
    opened_twice: int

    @property
    def opened(self) -> int:
        return sum(self.opened_by_municipality.values())


def read_clickhouse(chdb_dir: Path, sweep_id: str) -> Stored:
    """Rows of one sweep (open the directory only when the evaluator is gone: one owner)."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    try:
        params = {"sweep": sweep_id}
        pages = Counter(
            {
                r[0]: int(r[1])
                for r in client.query(
                    "SELECT page_id, count() FROM gospublic.page_snapshots"
                    " WHERE sweep_id = {sweep:String} GROUP BY page_id",
                    parameters=params,
                ).result_rows
            }
        )
        posts = Counter(
            {
                (r[0], r[1]): int(r[2])
                for r in client.query(
                    "SELECT page_id, post_id, count() FROM gospublic.post_observations"
                    " WHERE sweep_id = {sweep:String} GROUP BY page_id, post_id",
                    parameters=params,
                ).result_rows
            }
        )
        opened = client.query(
            "SELECT municipality, violation_id, count() FROM gospublic.violations"
            " WHERE state = 'open' GROUP BY municipality, violation_id"
        ).result_rows
    finally:
        client.close()
    by_municipality = Counter(r[0] for r in opened)
    return Stored(pages, posts, by_municipality, sum(1 for r in opened if r[2] > 1))


def alert_counts(stored: Stored, mailbox: Mailbox) -> tuple[int, int]:
    """(lost, duplicated) alerts: per municipality, opened in ClickHouse vs new in e-mails."""
    from services.notifier.email import clean

    expected = Counter({clean(m, 120): n for m, n in stored.opened_by_municipality.items()})
    return compare(expected, mailbox.new_by_group)


class Unsettled(TimeoutError):
    def __init__(self, finished: dict[str, float], state: dict[str, bool]) -> None:
        super().__init__(f"the sweep did not settle: {state}")
        self.finished = finished


@dataclass
class Pipeline:
    """The topology as processes, with handles to stop, kill and restart each part."""

    work: Path
    preset: str = "voronezh"
    size: int | None = None
    seed: int = 42
    collectors: int = 2
    tokens: int = 8
    pages_per_task: int | None = None  # the scheduler's; None: the default (500)
    # Extra GOSPUBLIC_* values per service (tests shorten timers and ack waits).
    evaluator_env: dict[str, str] = field(default_factory=dict)
    notifier_env: dict[str, str] = field(default_factory=dict)
    collector_env: dict[str, str] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    group_wait: str = "1s"
    group_interval: str = "2s"

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.chdb_dir = self.work / "clickhouse"
        self.group = ProcessGroup(self.work / "logs")
        self.nats: EmbeddedNats | None = None
        self.sink: MailSink | None = None
        self.simulator: Simulator | None = None
        self.settings: Settings | None = None
        self.sweep_id = ""
        self.pages = 0
        self.tasks = 0

    @property
    def args(self) -> argparse.Namespace:
        return argparse.Namespace(
            preset=self.preset, seed=self.seed, size=self.size, now=self.now.isoformat()
        )

    # --- processes ---------------------------------------------------------------------------

    def start(self, sink: MailSink | None = None) -> Pipeline:
        """Every part started and ready; if one fails, the others are stopped before the error
        goes up (left running, they spent the next run's CPU)."""
        try:
            return self._start(sink)
        except BaseException:
            self.stop()
            raise

    def _start(self, sink: MailSink | None) -> Pipeline:
        self.simulator = Simulator(self.work, self.args)
        self.nats = EmbeddedNats(self.work / "nats").start()
        # VK's collectors are the ones this topology runs, so a sweep schedules VK alone.
        self.settings = Settings(
            _env_file=None,
            state_dir=self.work / "state",
            collect_platforms=["vk"],
            **self.nats.client_settings(),
        )
        if self.pages_per_task:
            self.settings.collect_pages_per_task = self.pages_per_task
        self.sink = (sink or MailSink(self.work / "mail")).start()
        subscriptions = SUBSCRIPTIONS.format(
            group_wait=self.group_wait, group_interval=self.group_interval
        )
        (self.work / "subscriptions.yaml").write_text(subscriptions, encoding="utf-8")
        self.spawn_evaluator()
        self.spawn_notifier()
        for n in range(self.collectors):
            self.spawn_collector(n)
        late = self.group.wait_ready(180)
        if late:
            raise RuntimeError(f"not ready: {[s.name for s in late]}")
        return self

    def _env(self, values: dict[str, str]) -> dict[str, str]:
        assert self.nats is not None
        common = {
            **self.nats.client_env(),
            "GOSPUBLIC_STATE_DIR": str(self.work / "state"),
            "GOSPUBLIC_CLICKHOUSE_URL": f"chdb://{self.chdb_dir}",
            "GOSPUBLIC_LOG_FORMAT": "json",
        }
        return child_env({**common, **values}, inherit_settings=False)

    def _spawn(self, name: str, argv: list[str], values: dict[str, str]) -> ServiceProcess:
        # A restarted service takes the place (and the log name) of the one before it.
        self.group.services = [s for s in self.group.services if s.name != name]
        log = self.group.log_dir / f"{name}.log"
        if log.exists():
            log.rename(log.with_suffix(f".{time.monotonic_ns()}.log"))
        return self.group.spawn(name, argv, self._env(values))

    def spawn_evaluator(self) -> ServiceProcess:
        return self._spawn("evaluator", ["evaluator"], self.evaluator_env)

    def spawn_notifier(self) -> ServiceProcess:
        assert self.sink is not None
        values = {
            "GOSPUBLIC_SMTP_HOST": "127.0.0.1",
            "GOSPUBLIC_SMTP_PORT": str(self.sink.port),
            "GOSPUBLIC_SUBSCRIPTIONS_FILE": str(self.work / "subscriptions.yaml"),
            "GOSPUBLIC_DIGEST_ENABLED": "false",
            **self.notifier_env,
        }
        return self._spawn("notifier", ["notifier"], values)

    def spawn_collector(self, n: int) -> ServiceProcess:
        assert self.simulator is not None
        tokens = [f"bench-token-{k:02d}" for k in range(self.tokens)][n :: self.collectors]
        values = {
            "GOSPUBLIC_VK_API_URL": self.simulator.url,
            "GOSPUBLIC_VK_TOKENS": ",".join(tokens),
            # The simulator's limits are lifted; so are the collector's pacing and quotas.
            "GOSPUBLIC_VK_REQUESTS_PER_SECOND": "1000",
            "GOSPUBLIC_VK_DAILY_QUOTA": "{}",
            "GOSPUBLIC_COLLECT_COMMENTS": "0",
            **self.collector_env,
        }
        return self._spawn(f"collector-{n + 1}", ["collector", "--platform", "vk"], values)

    def service(self, name: str) -> ServiceProcess:
        return next(s for s in self.group.services if s.name == name)

    def processes(self) -> dict[str, int]:
        """Live pids by name, the servers included."""
        pids = {s.name: s.process.pid for s in self.group.services if s.process.poll() is None}
        if self.simulator is not None:
            pids["simulator"] = self.simulator.process.pid
        if self.nats is not None and self.nats.process is not None:
            pids["nats-server"] = self.nats.process.pid
        return pids

    def restart_nats(self, down_s: float = 1.0) -> None:
        """Stop the nats-server and start it again on the same port and store directory."""
        assert self.nats is not None
        port = self.nats.port
        self.nats.stop()
        time.sleep(down_s)
        self.nats = EmbeddedNats(self.work / "nats", port=port).start()

    def stop_services(self) -> None:
        self.group.stop_all(timeout_s=120)

    def stop(self) -> None:
        self.stop_services()
        if self.sink is not None:
            self.sink.stop()
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.nats is not None:
            self.nats.stop()

    # --- the sweep ---------------------------------------------------------------------------

    async def connect(self):
        assert self.nats is not None and self.settings is not None
        nc = await bus.connect(self.nats.url, self.settings, "bench")
        js = nc.jetstream()
        await bus.ensure_topology(js, self.settings)
        return nc, js

    async def schedule(self, js) -> None:
        assert self.simulator is not None and self.settings is not None
        organisations = read_registry_file(self.simulator.out / "registry.csv")
        await store_registry(js, REGION, organisations)
        self.sweep_id, self.tasks, self.pages = await schedule_sweep(js, self.settings, REGION)

    async def drained(self, js) -> dict[str, bool]:
        """Which stages have nothing left: collect, evaluate, notify."""
        try:
            tasks_left = (await js.stream_info(c.TASKS_STREAM)).state.messages
            collect = await bus.consumer_pending(js, c.TASKS_STREAM, COLLECTOR_DURABLE)
            await js.consumer_info(c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
            await js.consumer_info(c.ALERTS_STREAM, c.NOTIFIER_DURABLE)
            evaluate = await bus.consumer_pending(js, c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
            alerts = await bus.consumer_pending(js, c.ALERTS_STREAM, c.NOTIFIER_DURABLE)
        except (NotFoundError, TimeoutError, OSError):
            return {"collect": False, "evaluate": False, "notify": False}
        groups = self.service("notifier").metric("gospublic_notifier_groups_pending")
        done_collect = tasks_left == 0 and collect == (0, 0)
        done_evaluate = done_collect and evaluate == (0, 0)
        return {
            "collect": done_collect,
            "evaluate": done_evaluate,
            "notify": done_evaluate and alerts == (0, 0) and groups == 0,
        }

    async def wait_settled(
        self, js, started: float, timeout_s: float, report_every_s: float | None = None
    ) -> dict[str, float]:
        """Until every stage is drained for ``QUIET_S``; when each stage finished, from ``started``.

        On timeout, ``Unsettled`` carries the stages that did finish."""
        finished: dict[str, float] = {}
        quiet_since: float | None = None
        deadline = time.monotonic() + timeout_s
        reported = time.monotonic()
        while True:
            self.group.check_alive()
            state = await self.drained(js)
            now = time.monotonic()
            if report_every_s is not None and now - reported >= report_every_s:
                reported = now
                say(f"{now - started:.0f} s: {await self.progress(js)}")
            for stage, done in state.items():
                if done:
                    finished.setdefault(stage, now - started)
                else:
                    finished.pop(stage, None)
            if all(state.values()):
                quiet_since = quiet_since or now
                if now - quiet_since >= QUIET_S:
                    return {k: round(v, 1) for k, v in finished.items()}
            else:
                quiet_since = None
            if now > deadline:
                raise Unsettled({k: round(v, 1) for k, v in finished.items()}, state)
            await asyncio.sleep(0.2)

    async def progress(self, js) -> dict[str, int]:
        """Messages in each stream and still to be handled by each consumer."""
        out = {}
        for stream, durable in (
            (c.TASKS_STREAM, COLLECTOR_DURABLE),
            (c.EVENTS_STREAM, c.EVALUATOR_DURABLE),
            (c.ALERTS_STREAM, c.NOTIFIER_DURABLE),
        ):
            with contextlib.suppress(Exception):
                pending, unacked = await bus.consumer_pending(js, stream, durable)
                out[stream] = (await js.stream_info(stream)).state.messages
                out[f"{stream} to do"] = pending + unacked
        out["emails"] = len(self.sink.messages) if self.sink is not None else 0
        return out

    def results(self, posts_per_page: int) -> dict[str, Any]:
        """Stop the services, then count ClickHouse rows and e-mails against the simulator."""
        assert self.sink is not None
        self.stop_services()
        stored = read_clickhouse(self.chdb_dir, self.sweep_id)
        mailbox = read_mailbox(self.sink.messages)
        expected = planted(self.args_for_truth(), self.now, posts_per_page)
        lost_pages, dup_pages = compare(expected.pages, stored.pages)
        lost_posts, dup_posts = compare(expected.posts, stored.posts)
        lost_alerts, dup_alerts = alert_counts(stored, mailbox)
        return {
            "observations": sum(stored.pages.values()) + sum(stored.posts.values()),
            "expected_observations": sum(expected.pages.values()) + sum(expected.posts.values()),
            "alerts": stored.opened,
            "emails": mailbox.messages,
            "lost": lost_pages + lost_posts + lost_alerts,
            "duplicated": dup_pages + dup_posts + dup_alerts + stored.opened_twice,
            "detail": {
                "pages": [lost_pages, dup_pages],
                "posts": [lost_posts, dup_posts],
                "alerts": [lost_alerts, dup_alerts],
                "violations_opened_twice": stored.opened_twice,
                "emails_resent_same_message_id": mailbox.resent,
            },
        }

    def args_for_truth(self) -> argparse.Namespace:
        return argparse.Namespace(preset=self.preset, seed=self.seed, size=self.size)


async def run_once(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work or tempfile.mkdtemp(prefix="gospublic-pipeline-"))
    say(f"work directory: {work}")
    size = args.pages if args.pages else args.size
    pipeline = Pipeline(
        work,
        preset=args.preset,
        size=size,
        seed=args.seed,
        collectors=args.collectors,
        evaluator_env={"GOSPUBLIC_PROFILE": args.profile} if args.profile else {},
        group_wait=args.group_wait,
        group_interval=args.group_interval,
    )
    load_start = [round(x, 2) for x in os.getloadavg()]
    t0 = time.monotonic()
    pipeline.start()
    say(f"processes ready in {time.monotonic() - t0:.1f} s: {sorted(pipeline.processes())}")
    try:
        nc, js = await pipeline.connect()
        try:
            cpu_before = {n: _cpu_seconds(p) for n, p in pipeline.processes().items()}
            started = time.monotonic()
            await pipeline.schedule(js)
            say(f"sweep {pipeline.sweep_id}: {pipeline.tasks} tasks, {pipeline.pages} pages")
            settled = True
            try:
                stages = await pipeline.wait_settled(js, started, args.timeout, 15.0)
                wall_s = time.monotonic() - started - QUIET_S
            except Unsettled as exc:
                # Still worth the counts: what did finish, and how much is missing so far.
                say(f"timed out after {args.timeout:.0f} s: {await pipeline.progress(js)}")
                settled, stages, wall_s = False, exc.finished, time.monotonic() - started
            pids = pipeline.processes()
            cpu = {n: round(_cpu_seconds(p) - cpu_before.get(n, 0.0), 1) for n, p in pids.items()}
            rss = {n: peak_rss_mb(p) for n, p in pids.items()}
            idle = await idle_cpu_per_min(pids, args.idle_s)
            events = (await js.stream_info(c.EVENTS_STREAM)).state.messages
            dead = (await js.stream_info(c.DEADLETTER_STREAM)).state.messages
        finally:
            await nc.close()
        counted = pipeline.results(Settings(_env_file=None).vk_posts_per_page)
    finally:
        pipeline.stop()
    product_s = product_cpu_s(cpu)
    result = {
        "settled": settled,
        "pages": pipeline.pages,
        "group_wait": args.group_wait,
        "group_interval": args.group_interval,
        "observations": counted["observations"],
        "wall_s": round(wall_s, 1),
        "observations_per_s": round(counted["observations"] / wall_s, 1),
        "alerts": counted["alerts"],
        "peak_rss_mb": rss,
        "lost": counted["lost"],
        "duplicated": counted["duplicated"],
        "stages_s": stages,
        "cpu_s": cpu,
        "product_cpu_s": product_s,
        "product_cpu_ms_per_page": round(1000 * product_s / max(pipeline.pages, 1), 3),
        "idle_cpu_s_per_min": idle,
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "events": events,
        "dead_letters": dead,
        "emails": counted["emails"],
        "expected_observations": counted["expected_observations"],
        "detail": counted["detail"],
    }
    say(json.dumps(result))
    return result


async def idle_cpu_per_min(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """CPU each process spends a minute with the sweep over and nothing to do (its timers, pull
    requests, the notifier's ticks over the alerts it holds), sampled for ``seconds``: what the
    wait for the last group's e-mail adds to ``cpu_s``."""
    if seconds <= 0:
        return {}
    before = {n: _cpu_seconds(p) for n, p in pids.items()}
    await asyncio.sleep(seconds)
    return {n: round((_cpu_seconds(p) - before[n]) * 60 / seconds, 2) for n, p in pids.items()}


def product_cpu_s(cpu: dict[str, float]) -> float:
    """CPU of what we ship (collectors, nats-server, evaluator, notifier): the simulator is the platform."""
    return round(sum(seconds for name, seconds in cpu.items() if name != "simulator"), 1)


MEDIAN_KEYS = (
    "wall_s",
    "observations_per_s",
    "lost",
    "duplicated",
    "product_cpu_s",
    "product_cpu_ms_per_page",
)
RUN_KEYS = (*MEDIAN_KEYS, "cpu_s", "idle_cpu_s_per_min", "loadavg_start", "loadavg_end")


def median(results: list[dict[str, Any]]) -> dict[str, Any]:
    if len(results) == 1:
        return results[0]
    out = dict(results[-1])
    for key in MEDIAN_KEYS:
        out[key] = round(statistics.median(r[key] for r in results), 3)
    names = {name for r in results for name in r["cpu_s"]}
    out["cpu_s"] = {
        n: round(statistics.median(r["cpu_s"].get(n, 0.0) for r in results), 2)
        for n in sorted(names)
    }
    for key in ("loadavg_start", "loadavg_end"):
        out[key] = [round(statistics.median(r[key][i] for r in results), 2) for i in range(3)]
    out["settled"] = all(r["settled"] for r in results)
    out["runs"] = [{k: r[k] for k in RUN_KEYS} for r in results]
    return out


def add_group_timers(parser: argparse.ArgumentParser) -> None:
    """``--group-wait``/``--group-interval`` of the benches' route. A group with news is mailed at
    most every group_interval, each e-mail listing the group's open alerts: the sweep's e-mails,
    and so the notifier's CPU, depend on it. The defaults are the notifier's own (a route that
    sets neither); the tests' pipelines use 1s and 2s."""
    parser.add_argument(
        "--group-wait", default=DEFAULT_GROUP_WAIT, help=f"the route's ({DEFAULT_GROUP_WAIT})"
    )
    parser.add_argument(
        "--group-interval",
        default=DEFAULT_GROUP_INTERVAL,
        help=f"the route's ({DEFAULT_GROUP_INTERVAL}; 2s mails a group with news every 2 s)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="national", help="simulator preset (national)")
    parser.add_argument("--size", type=int, default=None, help="organisations (preset's size)")
    parser.add_argument("--pages", type=int, default=None, help="a slice: this many organisations")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--collectors", type=int, default=2, help="collector processes (2)")
    parser.add_argument("--profile", default=None, help="evaluator profile (its default)")
    parser.add_argument("--runs", type=int, default=1, help="whole runs; medians are printed")
    parser.add_argument("--timeout", type=float, default=900.0, help="per sweep, seconds")
    parser.add_argument("--work", help="work directory (default: a new temporary one)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_group_timers(parser)
    parser.add_argument(
        "--idle-s",
        type=float,
        default=30.0,
        help="after the sweep, idle CPU sampled this long (30)",
    )
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.runs):
        runs.append(asyncio.run(run_once(args)))
        args.work = None
    result = median(runs)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    return 0 if result["settled"] and result["lost"] == result["duplicated"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
