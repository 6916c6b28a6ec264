"""Peak memory of ``gospublic registry import --check`` on a large generated register.

    .venv/bin/python bench/registry_import.py --rows 1000000 --json
    .venv/bin/python bench/registry_import.py --rows 200000 --source DIR --json
    .venv/bin/python bench/registry_import.py --rows 200000 --store --json

A register of ``--rows`` organisations is written once (valid OGRNs, a VK page each, an OK group
for every third and a Telegram channel for every fifth, Russian names: about 280 bytes a row, so a
million rows make a file of the size that once took 4.2 GB to check). The check then runs as
``python -m gospublic registry import --check`` in a process of its own, with a state directory
of its own and no NATS configured, and its peak resident set (``ru_maxrss`` of the child) and wall
time are reported. ``--source DIR`` runs the command of another checkout (to compare versions).
``--store`` imports for real, into an embedded nats-server the command starts in that state
directory; the peak is then the command's own (VmHWM, read while it runs), not the server's.
"""

from __future__ import annotations

import argparse
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

from gospublic.registry import COLUMNS, ogrn_check_digit  # noqa: E402


def write_register(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(COLUMNS) + "\n")
        for i in range(rows):
            first = f"10236{i:07d}"
            ogrn = first + str(ogrn_check_digit(first))
            ok = f"https://ok.ru/group/{7_000_000_000_000 + i}" if i % 3 == 0 else ""
            tg = f"@school_{i}" if i % 5 == 0 else ""
            out.write(
                f'{ogrn},"Муниципальное бюджетное общеобразовательное учреждение '
                f'«Средняя общеобразовательная школа № {i % 97 + 1}»",municipal,'
                f"Отдел образования администрации района {i % 331},Район {i % 331},"
                f"education,0,https://vk.com/club{100_000 + i},{ok},{tg}\n"
            )


def _high_water_mb(pid: int) -> float:
    """The process's own peak resident set so far (VmHWM), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_check(
    path: Path, source: Path, state: Path, store: bool = False
) -> dict[str, float | int | str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GOSPUBLIC_") and key != "PYTHONPATH"
    }
    env |= {"GOSPUBLIC_STATE_DIR": str(state), "PYTHONPATH": str(source)}
    started = time.monotonic()
    command = ["registry", "import", str(path)] + (["--region", "bench"] if store else ["--check"])
    process = subprocess.Popen(
        [sys.executable, "-m", "gospublic", *command],
        cwd=source,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if store:
        # The import starts an embedded nats-server, a child of its own whose memory is not
        # the import's: the command's own high-water mark is read while it runs.
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, _high_water_mb(process.pid))
            time.sleep(0.2)
    stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    if not store:
        # The only child this process has had: its high-water mark is the command's peak.
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "mode": "import" if store else "check",
        "exit": process.returncode,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak, 1),
        "output": (stdout or stderr).decode(errors="replace").strip()[:200],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--source", type=Path, default=REPO, help="the checkout to run")
    parser.add_argument("--keep", type=Path, help="write (or reuse) the register here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--store",
        action="store_true",
        help="import for real into an embedded NATS of its own instead of --check",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "register.csv"
        if not path.exists():
            write_register(path, args.rows)
        result = {
            "rows": args.rows,
            "file_mb": round(path.stat().st_size / 2**20, 1),
            **run_check(path, args.source.resolve(), Path(tmp) / "state", args.store),
        }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
