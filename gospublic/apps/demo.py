"""``gospublic demo``: one simulated region through one full sweep, as real processes.

The demo is a composition root, not a service: it starts the embedded nats-server, a local SMTP sink,
the VK simulator and every service as separate processes wired by environment variables alone (the
same variables that point them at real servers), imports the simulated register, schedules a sweep,
follows progress through JetStream consumer state, stops the services, and only then opens the chDB
directory (one process may own it) to print the summary, write the report and compare with the
simulator's ground truth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from nats.js.errors import NotFoundError

from gospublic import bus, display
from gospublic import contracts as c
from gospublic.platforms.descriptor import descriptor, descriptors
from gospublic.processes import ProcessGroup, ServiceProcess, child_env
from gospublic.registry import read_registry_file, store_registry
from gospublic.runtime import CREDENTIALS_FILE, EmbeddedNats, embedded_credentials, free_port
from gospublic.settings import Settings
from services.collector.scheduler import schedule_sweep

from . import scorecard_export
from .report import Findings, compare_with_truth, load_findings, write_html_report

# Each collector process gets its own tokens: VK limits requests per token, not per process.
DEMO_TOKENS = tuple(f"demo-token-{n}" for n in range(1, 5))
# The MAX bot's token: the simulator accepts it, one MAX collector sends it.
DEMO_MAX_TOKEN = "demo-max-bot-token"
# The platforms the demo collects: those whose pages the simulator's ground truth covers. Its OK
# and Telegram pages carry no planted violations, so their findings could not be compared, and
# reading them would give organisations without a VK page cards the truth does not model.
DEMO_PLATFORMS = (c.Platform.VK, c.Platform.MAX)
REGION = "voronezh"


def _labelled(rule: str, platform: str) -> str:
    """The agreement table's name of a rule compared on one platform's pages alone."""
    return f"{rule} ({descriptor(platform).display})"


def planted_rules(truth: dict) -> list[str]:
    """The rules the ground truth covers: its per-rule counts name them, planted or not, and
    the rules of each platform compared apart (``platform_counts``), labelled with it."""
    rules = set(truth.get("counts") or {v["rule"] for v in truth["violations"]})
    for platform, counts in (truth.get("platform_counts") or {}).items():
        rules |= {_labelled(rule, platform) for rule in counts}
    return sorted(rules)


def agreement_with_truth(findings: Findings, truth: dict) -> dict[str, dict[str, int]]:
    """Rule by rule, the findings against the ground truth. The platforms under
    ``platform_counts`` (MAX) are compared apart, for their own rules only: the truth plants
    nothing else on their pages, so their other verdicts are left out of every row."""
    apart = truth.get("platform_counts") or {}

    def on(platforms: set[str], keep: bool) -> tuple[Findings, list[dict]]:
        violations = [v for v in findings.violations if (v.platform in platforms) == keep]
        rows = [t for t in truth["violations"] if (t["platform"] in platforms) == keep]
        return replace(findings, violations=violations), rows

    general, rows = on(set(apart), keep=False)
    rules = truth.get("counts") or {v["rule"] for v in rows}
    agreement = compare_with_truth(general, rows, rules)
    for platform, counts in apart.items():
        found, rows = on({platform}, keep=True)
        for rule, row in compare_with_truth(found, rows, counts).items():
            agreement[_labelled(rule, platform)] = row
    return agreement


@dataclass
class DemoResult:
    out_dir: Path
    report_path: Path
    mail_dir: Path
    ground_truth_path: Path
    findings: Findings
    agreement: dict[str, dict[str, int]]
    mails: int
    dead_letters: int
    seconds: float
    logs: dict[str, Path] = field(default_factory=dict)
    scorecard_path: Path | None = None
    # Per organisation: the total of its scorecard against the one the simulator's facts give.
    scorecards: ScorecardAgreement | None = None

    @property
    def agrees(self) -> bool:
        rules = all(row["missing"] == 0 and row["extra"] == 0 for row in self.agreement.values())
        return rules and (self.scorecards is None or self.scorecards.agrees)


@dataclass
class ScorecardAgreement:
    truth: int  # organisations the simulator gives a total for
    found: int  # organisations with a stored card
    equal: int  # of them, with exactly the expected total
    differ: list[tuple[str, float | None, float]]  # (ОГРН, ours or None, expected), a few

    @property
    def agrees(self) -> bool:
        return self.truth == self.found == self.equal


def compare_scorecards(
    found: dict[str, float], expected: dict[str, float], keep: int = 10
) -> ScorecardAgreement:
    """Every organisation's total must equal the expected one exactly (both are sums of points
    rounded to 0.1)."""
    differ = [
        (ogrn, found.get(ogrn), total)
        for ogrn, total in sorted(expected.items())
        if found.get(ogrn) != total
    ]
    differ += [(ogrn, total, float("nan")) for ogrn, total in found.items() if ogrn not in expected]
    equal = sum(1 for ogrn, total in expected.items() if found.get(ogrn) == total)
    return ScorecardAgreement(len(expected), len(found), equal, differ[:keep])


def expected_scorecards(truth: dict, seed: int, size: int | None) -> dict[str, float]:
    """The totals the simulated region's planted facts give under dialog-default's scorecard,
    at the clock of its ground truth (the world the simulator served)."""
    from datetime import datetime

    from services.evaluator.profiles import PROFILES_DIR
    from services.simulator.region import generate_region
    from services.simulator.scorecard_truth import expected_totals

    profile = yaml.safe_load((PROFILES_DIR / "dialog-default.yaml").read_text(encoding="utf-8"))
    now = datetime.fromisoformat(truth["now"])
    region = generate_region(REGION, seed=seed, now=now, size=size)
    return expected_totals(region, profile["scorecard"])


class Demo:
    def __init__(
        self,
        out_dir: Path,
        *,
        size: int | None,
        seed: int,
        collectors: int,
        smtp_port: int | None,
        say: Callable[[str], None],
    ):
        self.out_dir = out_dir.resolve()
        self.size = size
        self.seed = seed
        self.collectors = collectors
        self.smtp_port = smtp_port
        self.say = say
        self.sim_dir = self.out_dir / "sim"
        self.mail_dir = self.out_dir / "mail"
        self.log_dir = self.out_dir / "logs"
        self.chdb_dir = self.out_dir / "clickhouse"
        self.processes = ProcessGroup(self.log_dir)

    # --- processes -----------------------------------------------------------------------------

    @property
    def services(self) -> list[ServiceProcess]:
        return self.processes.services

    def _env(self, nats: Settings, extra: dict[str, str]) -> dict[str, str]:
        values = {
            "GOSPUBLIC_STATE_DIR": str(self.out_dir),
            # The URL and the embedded server's credentials, in the child's environment only.
            **nats.nats_env(),
            "GOSPUBLIC_CLICKHOUSE_URL": f"chdb://{self.chdb_dir}",
            "GOSPUBLIC_LOG_FORMAT": "json",
            **extra,
        }
        return child_env(values, inherit_settings=False)

    def _spawn(
        self, name: str, argv: list[str], nats: Settings, extra: dict[str, str]
    ) -> ServiceProcess:
        return self.processes.spawn(name, argv, self._env(nats, extra))

    def _check_alive(self) -> None:
        self.processes.check_alive()

    def _stop_all(self) -> None:
        self.processes.stop_all()

    # --- the run -------------------------------------------------------------------------------

    def _start_simulator(self, nats: Settings) -> dict[str, str]:
        argv = [
            "simulate",
            "--preset",
            REGION,
            "--seed",
            str(self.seed),
            "--out",
            str(self.sim_dir),
        ]
        argv += ["--tokens", ",".join(DEMO_TOKENS), "--max-token", DEMO_MAX_TOKEN]
        if self.size:
            argv += ["--size", str(self.size)]
        self._spawn("simulator", argv, nats, {})
        info = self.sim_dir / "simulator.json"
        deadline = time.monotonic() + 60
        while not info.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start within 60 s")
            time.sleep(0.1)
        return json.loads(info.read_text())

    def _write_subscriptions(self, municipalities: list[str]) -> Path:
        """The regional centre gets critical and high alerts per municipality; each municipality's
        administration gets everything about its own institutions, grouped by founder.

        Timers are shortened so a one-sweep demo finishes in seconds: a sweep's violations arrive
        over several seconds, and Alertmanager semantics hold late arrivals for group_interval.
        """
        timers = {"group_wait": "3s", "group_interval": "5s"}
        routes = [
            {
                "name": "cur-critical-high",
                "matchers": {"severity": "=~critical|high"},
                "receivers": {"email": ["cur@cur36.example.ru"]},
                "group_by": ["municipality"],
                **timers,
            }
        ]
        for n, municipality in enumerate(municipalities, start=1):
            routes.append(
                {
                    "name": f"municipality-{n:02d}",
                    "matchers": {"municipality": municipality},
                    "receivers": {"email": [f"admin@mo{n:02d}.example.ru"]},
                    "group_by": ["founder"],
                    **timers,
                }
            )
        path = self.out_dir / "subscriptions.yaml"
        path.write_text(yaml.safe_dump({"routes": routes}, allow_unicode=True), encoding="utf-8")
        return path

    async def _follow(self, js, total_tasks: int, total_pages: int) -> None:
        notifier = next(s for s in self.services if s.name == "notifier")
        durables = [c.COLLECTOR_DURABLE.format(platform=p.value) for p in DEMO_PLATFORMS]
        phase_started = time.monotonic()
        last_line = ""
        settled_since: float | None = None
        while True:
            self._check_alive()
            tasks_left = (await js.stream_info(c.TASKS_STREAM)).state.messages
            events = (await js.stream_info(c.EVENTS_STREAM)).state.messages
            ev_pending, ev_unacked = await bus.consumer_pending(
                js, c.EVENTS_STREAM, c.EVALUATOR_DURABLE
            )
            alerts = (await js.stream_info(c.ALERTS_STREAM)).state.messages
            al_pending, al_unacked = await bus.consumer_pending(
                js, c.ALERTS_STREAM, c.NOTIFIER_DURABLE
            )
            groups_pending = notifier.metric("gospublic_notifier_groups_pending")
            mails = len(list(self.mail_dir.glob("*.eml")))
            done_tasks = total_tasks - tasks_left
            line = (
                f"  collect {done_tasks}/{total_tasks} tasks ({total_pages} pages) | "
                f"evaluated {events - ev_pending - ev_unacked}/{events} events | "
                f"alert messages {alerts} | e-mails {mails}"
            )
            if line != last_line:
                self.say(line)
                last_line = line
            settled = (
                await self._consumers_exist(js)
                and tasks_left == 0
                and ev_pending == ev_unacked == 0
                and al_pending == al_unacked == 0
                and groups_pending == 0
                and all(
                    pending == (0, 0)
                    for pending in [
                        await bus.consumer_pending(js, c.TASKS_STREAM, durable)
                        for durable in durables
                    ]
                )
            )
            # Quiet for a moment: the notifier may still be inside group_wait for a last group.
            if settled:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since > 1.5:
                    return
            else:
                settled_since = None
            if time.monotonic() - phase_started > 600:
                raise RuntimeError("the sweep did not finish within 10 minutes")
            await asyncio.sleep(0.5)

    @staticmethod
    async def _consumers_exist(js) -> bool:
        try:
            await js.consumer_info(c.EVENTS_STREAM, c.EVALUATOR_DURABLE)
            await js.consumer_info(c.ALERTS_STREAM, c.NOTIFIER_DURABLE)
        except NotFoundError:
            return False
        return True

    async def _pipeline(self, settings: Settings, registry_csv: Path) -> tuple[int, int]:
        nc = await bus.connect(settings.nats_url, settings, "demo")
        try:
            js = nc.jetstream()
            await bus.ensure_topology(js, settings)
            organisations = read_registry_file(registry_csv)
            version = await store_registry(js, REGION, organisations)
            self.say(
                f"• register imported: {len(organisations)} organisations, "
                f"{sum(len(o.pages) for o in organisations)} pages (version {version})"
            )
            sweep_id, tasks, pages = await schedule_sweep(js, settings, REGION, DEMO_PLATFORMS)
            per_platform = Counter(p.platform for o in organisations for p in o.pages)
            counts = ", ".join(
                f"{d.display} {per_platform.get(d.platform, 0)}"
                + ("" if d.platform in DEMO_PLATFORMS else " (not collected here)")
                for d in descriptors()
            )
            self.say(f"• pages per platform in the register: {counts}")
            self.say(f"• sweep {sweep_id} scheduled: {tasks} tasks for {pages} pages")
            await self._follow(js, tasks, pages)
            dead = (await js.stream_info(c.DEADLETTER_STREAM)).state.messages
            alerts = (await js.stream_info(c.ALERTS_STREAM)).state.messages
        finally:
            await nc.close()
        return dead, alerts

    def _wait_until_ready(self, timeout_s: float = 180.0) -> None:
        """Schedule nothing before every consumer exists: an idle pipeline must not look finished."""
        deadline = time.monotonic() + timeout_s
        waiting = [s for s in self.services if s.name != "simulator"]
        while waiting:
            self.processes.check_alive()
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                raise RuntimeError(f"not ready after {timeout_s:.0f} s: {names}")
            waiting = [s for s in waiting if not s.ready()]
            time.sleep(0.2)

    def run(self) -> DemoResult:
        started = time.monotonic()
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        for directory in (self.sim_dir, self.mail_dir, self.log_dir):
            directory.mkdir(parents=True)
        settings = Settings(state_dir=self.out_dir, nats_url="", clickhouse_url="")

        from services.notifier.mailsink import MailSink

        nats = EmbeddedNats(settings.nats_dir, credentials=embedded_credentials(settings)).start()
        settings = settings.model_copy(update=nats.client_settings())
        sink = MailSink(self.mail_dir, "127.0.0.1", self.smtp_port or free_port()).start()
        self.say(
            f"• embedded nats-server at {display.url(nats.url)} (credentials in "
            f"{nats.store_dir / CREDENTIALS_FILE}); SMTP sink on 127.0.0.1:{sink.port}"
        )
        try:
            served = self._start_simulator(settings)
            sim_url = served["url"]
            registry_csv = self.sim_dir / "registry.csv"
            truth_path = self.sim_dir / "ground_truth.json"
            truth = json.loads(truth_path.read_text())
            self.say(
                f"• VK simulator at {display.url(sim_url)}, MAX bot API at "
                f"{display.url(served['max_url'])}"
            )
            municipalities = sorted({o.municipality for o in read_registry_file(registry_csv)})
            subscriptions = self._write_subscriptions(municipalities)
            common = {"GOSPUBLIC_BATCH_MAX_WAIT_S": "0.3"}
            # The default profile: every rule runs; the comparison covers the rules the
            # simulator planted (the ground truth is computed for dialog-default's thresholds).
            self._spawn(
                "evaluator", ["evaluator"], settings,
                {**common, "GOSPUBLIC_PROFILE": "dialog-default"},
            )  # fmt: skip
            notifier_env = {
                **common,
                "GOSPUBLIC_SMTP_HOST": "127.0.0.1",
                "GOSPUBLIC_SMTP_PORT": str(sink.port),
                "GOSPUBLIC_SUBSCRIPTIONS_FILE": str(subscriptions),
            }
            self._spawn("notifier", ["notifier"], settings, notifier_env)
            for n in range(self.collectors):
                tokens = DEMO_TOKENS[n :: self.collectors]
                collector_env = {
                    "GOSPUBLIC_VK_API_URL": sim_url,
                    "GOSPUBLIC_VK_TOKENS": ",".join(tokens),
                }
                argv = ["collector", "--platform", "vk"]
                self._spawn(f"collector-vk-{n + 1}", argv, settings, collector_env)
            # One MAX collector: one bot, one token, 30 requests/s per bot. Without comments: MAX
            # gives no comment counts, so each of a channel's five newest posts costs a call,
            # which would triple the demo's time (210 s), and no MAX comment rule is planted.
            max_env = {
                "GOSPUBLIC_MAX_API_URL": served["max_url"],
                "GOSPUBLIC_MAX_TOKEN": DEMO_MAX_TOKEN,
                "GOSPUBLIC_COLLECT_COMMENTS": "false",
            }
            self._spawn("collector-max-1", ["collector", "--platform", "max"], settings, max_env)
            self._wait_until_ready()
            self.say(
                f"• services ready: evaluator, notifier, {self.collectors} VK collector(s), "
                f"1 MAX collector (logs in {self.log_dir})"
            )
            dead, _alerts = asyncio.run(self._pipeline(settings, registry_csv))
        finally:
            self._stop_all()
            sink.stop()
            nats.stop()
        self.say("• services stopped; reading ClickHouse")
        findings = load_findings(settings)
        agreement = agreement_with_truth(findings, truth)
        report_path = self.out_dir / "report.html"
        write_html_report(report_path, findings, agreement)
        scorecard_path = self.out_dir / "scorecard.xlsx"
        scorecard_export.export(settings, REGION, None, scorecard_path)
        scorecards = compare_scorecards(
            scorecard_export.latest_totals(settings, REGION),
            expected_scorecards(truth, self.seed, self.size),
        )
        return DemoResult(
            out_dir=self.out_dir,
            report_path=report_path,
            mail_dir=self.mail_dir,
            ground_truth_path=truth_path,
            findings=findings,
            agreement=agreement,
            mails=len(list(self.mail_dir.glob("*.eml"))),
            dead_letters=dead,
            seconds=time.monotonic() - started,
            logs={s.name: s.log_path for s in self.services},
            scorecard_path=scorecard_path,
            scorecards=scorecards,
        )


def print_summary(result: DemoResult, say: Callable[[str], None]) -> None:
    f = result.findings
    say("")
    say("Compliance summary")
    say(f"  organisations {f.organisations} | pages {f.pages} | open violations {f.open_total}")
    if f.platforms:
        say("  pages per platform (read | not connected | gone):")
        for platform, pages, read, not_connected, gone in f.platforms:
            say(
                f"    {descriptor(platform).display:<10} {pages:>6}  "
                f"{read:>6} | {not_connected:>6} | {gone:>6}"
            )
    say("  violations by rule:")
    for rule, count in f.by_rule:
        say(f"    {display.clean(rule):<24} {count:>6}")
    say("  violations by municipality (worst 10):")
    for municipality, count in f.by_municipality[:10]:
        say(f"    {display.clean(municipality, 48):<48} {count:>6}")
    say("")
    say("Agreement with the simulator's ground truth")
    for rule, row in sorted(result.agreement.items()):
        verdict = "OK" if row["missing"] == row["extra"] == 0 else "MISMATCH"
        say(
            f"    {rule:<24} truth {row['truth']:>5}  found {row['found']:>5}  "
            f"missing {row['missing']:>4}  extra {row['extra']:>4}  {verdict}"
        )
    cards = result.scorecards
    if cards is not None:
        verdict = "OK" if cards.agrees else "MISMATCH"
        say(
            f"    {'scorecard totals':<24} truth {cards.truth:>5}  found {cards.found:>5}  "
            f"equal {cards.equal:>5}  {verdict}"
        )
        for ogrn, ours, expected in cards.differ:
            say(f"      {ogrn}: ours {ours}, expected {expected}")
    say(f"  overall: {'AGREES' if result.agrees else 'DISAGREES'}")
    say("")
    say(f"HTML report:        {result.report_path}")
    if result.scorecard_path is not None:
        say(f"Scorecard (XLSX):   {result.scorecard_path}")
    say(f"E-mails ({result.mails}):       {result.mail_dir}/*.eml")
    say(f"Ground truth:       {result.ground_truth_path}")
    say(f"Service logs:       {result.out_dir / 'logs'}")
    say(f"Dead letters:       {result.dead_letters}")
    say(f"Finished in {result.seconds:.1f} s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output directory (default: <state dir>/demo)")
    parser.add_argument("--size", type=int, help="number of organisations (default: the preset's)")
    parser.add_argument("--seed", type=int, default=42, help="simulator seed (default 42)")
    parser.add_argument(
        "--collectors",
        type=int,
        default=2,
        choices=range(1, len(DEMO_TOKENS) + 1),
        help="VK collector processes, each with its own API tokens (default 2)",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(text, flush=True)

    # The services log to files; this process reports progress in plain lines instead.
    logging.getLogger().setLevel(logging.WARNING)

    out_dir = args.out or settings.state_dir / "demo"
    say(f"GosPublic Monitor demo: a simulated region '{REGION}', outputs in {out_dir.resolve()}")
    demo = Demo(
        out_dir, size=args.size, seed=args.seed, collectors=args.collectors, smtp_port=None, say=say
    )
    result = demo.run()
    print_summary(result, say)
    return 0 if result.agrees else 1
