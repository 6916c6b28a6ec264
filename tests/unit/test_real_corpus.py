"""`gospublic check` on real recorded platform answers: every verdict a careful reader expects.

Each folder of ``tests/fixtures/real`` holds the files one page's owner or a regional centre could
have saved (``groups.getById`` / ``wall.get`` / ``wall.getComments`` answers, a saved ``t.me/s``
page), where they come from (``PROVENANCE.md``) and ``expected.yaml``: the profile, the moment of the
check, and for each rule a person can judge from those files the status they would give, with the
reason. The check runs exactly as the command line runs it; a verdict that differs is reported with
the reader's reason and the one ``check`` gave.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from pathlib import Path

import pytest
import yaml

from gospublic.apps import check
from gospublic.apps.cli import build_parser
from gospublic.settings import Settings

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
PAGES = sorted(p for p in REAL.iterdir() if (p / "expected.yaml").is_file())
INPUT_OPTIONS = {"group": "--group", "wall": "--wall", "comments": "--comments"}


def expectations(page: Path) -> dict:
    return yaml.safe_load((page / "expected.yaml").read_text(encoding="utf-8"))


def _parse(argv: list[str]):
    """The parsed arguments, or None when the command line does not take them (argparse exits)."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return build_parser().parse_args(argv)
        except SystemExit:
            return None


@functools.cache
def run_check(page: Path) -> tuple[int, dict[str, dict], str]:
    """(exit code, verdict per rule, stderr) of ``gospublic check`` on the page's saved files."""
    spec = expectations(page)
    argv = ["check", "--platform", spec["platform"], "--profile", spec["profile"]]
    for kind, name in spec["inputs"].items():
        argv += [INPUT_OPTIONS[kind], str(page / name)]
    argv += ["--now", spec["now"], "--format", "json"]
    args = _parse(argv)
    if args is None:
        pytest.skip(f"`gospublic check --platform {spec['platform']}` is not available yet")
    # What was asked of groups.getById, when the source shows it: `check` is told if it takes
    # `--fields`; without it the verdicts must be the same, inferred from the answer's keys.
    if spec.get("fields_requested"):
        told = _parse([*argv, "--fields", ",".join(spec["fields_requested"])])
        args = told or args
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = check.run(Settings(_env_file=None), args)
    if code == 2:
        return code, {}, err.getvalue()
    verdicts = {v["rule"]: v for v in json.loads(out.getvalue())["verdicts"]}
    return code, verdicts, err.getvalue()


CASES = [
    pytest.param(page, rule, spec, id=f"{page.name}-{rule}")
    for page in PAGES
    for rule, spec in expectations(page)["expect"].items()
]


@pytest.mark.parametrize(("page", "rule", "expected"), CASES)
def test_verdict_on_real_page(page: Path, rule: str, expected: dict) -> None:
    code, verdicts, err = run_check(page)
    assert code != 2, f"check refused the saved answers of {page.name}: {err.strip()}"
    got = verdicts.get(rule)
    assert got is not None, f"{rule}: no verdict; expected {expected['status']} ({expected['why']})"
    assert got["status"] == expected["status"], (
        f"{rule} on {page.name}: check says {got['status']} ({got['value']}: {got['summary']}); "
        f"a reader says {expected['status']}: {expected['why']}"
    )
    # A graded rule's verdict is only right with the grade the files support.
    if "severity" in expected:
        assert got["severity"] == expected["severity"], (
            f"{rule} on {page.name}: severity {got['severity']}, a reader says "
            f"{expected['severity']}: {expected['why']}"
        )


def test_every_page_has_its_provenance_and_judged_rules() -> None:
    assert len(PAGES) >= 12
    for page in PAGES:
        spec = expectations(page)
        assert (page / "PROVENANCE.md").is_file(), page.name
        assert spec["expect"], page.name
        for rule, expected in spec["expect"].items():
            assert expected["status"] in {"pass", "fail", "not_evaluable"}, (page.name, rule)
            assert expected["why"].strip(), (page.name, rule)
            assert set(expected) <= {"status", "severity", "why"}, (page.name, rule)
        for name in spec["inputs"].values():
            assert (page / name).is_file(), (page.name, name)
