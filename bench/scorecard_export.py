"""Time and peak memory of ``gospublic scorecard`` on a national register's cards.

    .venv/bin/python bench/scorecard_export.py --json
    .venv/bin/python bench/scorecard_export.py --organisations 175000 --format csv --json

A chDB state directory is filled once with one organisation card per organisation of one region
(``--organisations``, 175,000 by default: the national count of official pages), each with the
nine criteria, a total, a colour and some not-evaluable criteria, written by ClickHouse itself
(``INSERT … SELECT … FROM numbers(N)``) through the evaluator's own migration; three older cards
per organisation sit beside them, so the export has to pick the latest. The export then runs as
``gospublic scorecard`` (its ``cli.main``) in a process of its own (one process owns a chDB
directory), and its wall time, interpreter start included, its CPU time and its own peak resident
set (``ru_maxrss``) are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REGION = "national"
WEEK = "2026-W49"

# Criteria with their weights (dialog-default); points drawn per organisation from its number.
_FILL_SQL = """
INSERT INTO {db}.scorecards
SELECT
    toDateTime64('2026-12-01 09:00:00', 3, 'UTC') + toIntervalHour(version_no * 24) AS scored_at,
    '2026-W49', 'dialog-default', 1, '{region}',
    toString(1023600000000 + n), concat('Муниципальное учреждение «Школа № ', toString(n % 97 + 1),
        '» района ', toString(n % 331)),
    'municipal', concat('Отдел образования района ', toString(n % 331)),
    concat('Район ', toString(n % 331)), 'education', 'any', '',
    arraySum(mapValues(p)) AS total,
    multiIf(total >= 76, 'green', total >= 47.5, 'yellow', 'red'),
    p,
    map('connection', 10., 'gov_mark', 10., 'avatar', 5., 'description', 5., 'cover', 10.,
        'widgets', 10., 'activity', 30., 'reach_week', 10., 'reach_post', 5.),
    if(n % 4 = 0, ['reach_week', 'reach_post'], []),
    map('connection', toFloat64(n % 2))
FROM (
    SELECT number AS n, v AS version_no,
           map('connection', 10. * (n % 2), 'gov_mark', 10. * (n % 7 != 0),
               'avatar', 5., 'description', 5. * (n % 5 != 0), 'cover', 10. * (n % 3 != 0),
               'widgets', 5. * ((n + v) % 3), 'activity', round(30. * ((n + v) % 4) / 3, 1),
               'reach_week', if(n % 4 = 0, 0., 7.), 'reach_post', if(n % 4 = 0, 0., 3.)) AS p
    FROM numbers({organisations}) ARRAY JOIN [0, 1, 2, 3] AS v
)
"""


async def _fill(state_dir: Path, organisations: int) -> int:
    from gospublic.settings import Settings
    from services.evaluator.store import ClickHouseStore

    settings = Settings(_env_file=None, state_dir=state_dir)
    store = await ClickHouseStore.open(settings)
    try:
        await store.migrate()
        await store.command(
            _FILL_SQL.format(db=store.database, region=REGION, organisations=int(organisations))
        )
        rows = await store.query("SELECT count() FROM {db}.scorecards")
    finally:
        await store.close()
    return int(rows[0][0])


def _child_env(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOSPUBLIC_")}
    env["GOSPUBLIC_STATE_DIR"] = str(state_dir)
    env["GOSPUBLIC_LOG_LEVEL"] = "WARNING"
    return env


def run(organisations: int, fmt: str, work: Path) -> dict:
    state_dir = work / "state"
    started = time.perf_counter()
    # Filled in a child: the export's process must be the only one to open the chDB directory.
    fill = subprocess.run(
        [sys.executable, __file__, "--fill", str(state_dir), "--organisations", str(organisations)],
        capture_output=True, text=True, cwd=REPO, env=_child_env(state_dir), check=True,
    )  # fmt: skip
    stored = int(fill.stdout.strip())
    fill_s = time.perf_counter() - started
    out = work / f"scorecard.{fmt}"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--export", str(out)],
        capture_output=True, text=True, cwd=REPO, env=_child_env(state_dir),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"export failed ({done.returncode}): {done.stderr[-2000:]}")
    said, own = done.stdout.strip().rsplit("\n", 1)
    peak_kb, cpu_s = own.split()
    return {
        "organisations": organisations,
        "stored_cards": stored,
        "format": fmt,
        "fill_seconds": round(fill_s, 1),
        "export_seconds": round(seconds, 2),
        # Its CPU time (user + system): the wall time grows with what else the machine runs.
        "export_cpu_seconds": round(float(cpu_s), 2),
        # The export process's own peak resident set (its ru_maxrss, the interpreter included).
        "peak_rss_mb": round(int(peak_kb) / 1024, 1),
        "file_mb": round(out.stat().st_size / 2**20, 1),
        "said": said,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisations", type=int, default=175_000)
    parser.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        # The command as a user runs it, in this process, so that its peak is this process's.
        from gospublic.apps.cli import main as gospublic

        argv = ["scorecard", "--region", REGION, "--week", WEEK, "--out", str(args.export)]
        code = gospublic(argv)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
        return code
    if args.fill:
        print(asyncio.run(_fill(args.fill, args.organisations)))
        return 0
    with tempfile.TemporaryDirectory(prefix="scorecard-bench-") as tmp:
        result = run(args.organisations, args.format, Path(tmp))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
