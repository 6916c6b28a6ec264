"""`gospublic check` never reports a violation that the saved answer cannot show.

The page below fails every profile rule when VK shows all of it: its description, contacts,
address, site and links are requested and empty, it has no avatar, cover or «Госорганизация»
mark, and its wall is off. Take any set of its keys away, as an answer saved with other ``fields``
looks, and each rule whose data went with those keys must stop failing: it is not evaluable, since
the page may well have the thing the answer does not show. Told with ``--fields`` that the keys
were requested, the same answer is judged as empty again.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gospublic.apps import check
from gospublic.apps.cli import build_parser
from gospublic.settings import Settings

NOW = "2026-12-01T12:00:00+03:00"

# A page that fails every profile rule while each key below is in the answer.
FULL_GROUP = {
    "id": 200000001,
    "name": "МБОУ СОШ № 1",
    "screen_name": "club200000001",
    "is_closed": 0,
    "type": "group",
    "description": "",
    "contacts": [],
    "addresses": {"is_enabled": False},
    "site": "",
    "links": [],
    "cover": {"enabled": 0},
    "has_photo": 0,
    "photo_200": "https://vk.com/images/community_200.png",
    "is_government_organization": False,
    "verified": 0,
    "wall": 0,
    "menu": {"items": [], "count": 0},
}

# The groups.getById fields each key answers, and the rules that cannot fail without it.
BLOCKED_BY_ABSENCE = {
    "description": {"DESCRIPTION_MISSING", "DESCRIPTION_NO_GOALS"},
    "contacts": {"CONTACT_PHONE_MISSING", "CONTACT_EMAIL_MISSING"},
    "addresses": {"ADDRESS_MISSING", "CONTACT_PHONE_MISSING"},
    "site": {"WEBSITE_LINK_MISSING"},
    "links": {"WEBSITE_LINK_MISSING"},
    "cover": {"COVER_MISSING"},
    "is_government_organization": {"NOT_VERIFIED"},
    "wall": {"WALL_CLOSED"},
    "menu": {"WIDGETS_MISSING"},
}
# The avatar is shown by `has_photo` or by the photo URLs (VK's placeholder means none).
AVATAR_KEYS = ("has_photo", "photo_200")
OPTIONAL_KEYS = sorted({*BLOCKED_BY_ABSENCE, *AVATAR_KEYS})
# Rules that need files or register data this check is not given: never a violation here.
NEEDS_OTHER_INPUT = {"posts", "comments", "registry", "profile+posts"}


def run_check(group: dict, profile: str, fields: list[str] | None = None) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "group.json"
        path.write_text(json.dumps({"response": [group]}, ensure_ascii=False), encoding="utf-8")
        argv = ["check", "--platform", "vk", "--profile", profile, "--group", str(path)]
        argv += ["--now", NOW, "--format", "json"]
        if fields is not None:
            argv += ["--fields", ",".join(fields)]
        args = build_parser().parse_args(argv)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = check.run(Settings(_env_file=None), args)
    assert code in (0, 1), err.getvalue()
    return {v["rule"]: v for v in json.loads(out.getvalue())["verdicts"]}


def failed(verdicts: dict[str, dict]) -> set[str]:
    return {rule for rule, v in verdicts.items() if v["status"] == "fail"}


def blocked(removed: set[str]) -> set[str]:
    rules = set().union(*(BLOCKED_BY_ABSENCE.get(key, set()) for key in removed))
    if set(AVATAR_KEYS) <= removed:
        rules.add("AVATAR_MISSING")
    return rules


@pytest.mark.parametrize("profile", ["dialog-default", "bashkortostan-2025"])
def test_the_whole_answer_fails_every_profile_rule(profile: str) -> None:
    """The base case: with every key shown, each rule the property relies on does fail."""
    fails = failed(run_check(FULL_GROUP, profile))
    expected = blocked(set(OPTIONAL_KEYS))
    assert expected <= fails | _disabled(profile), sorted(expected - fails)


def _disabled(profile: str) -> set[str]:
    verdicts = run_check(FULL_GROUP, profile)
    return {rule for rules in BLOCKED_BY_ABSENCE.values() for rule in rules} - set(verdicts)


@pytest.mark.parametrize("profile", ["dialog-default", "bashkortostan-2025"])
@settings(max_examples=40, deadline=None)
@given(removed=st.sets(st.sampled_from(OPTIONAL_KEYS), min_size=1))
def test_a_rule_whose_data_the_answer_lacks_never_fails(profile: str, removed: set[str]) -> None:
    group = {k: v for k, v in FULL_GROUP.items() if k not in removed}
    verdicts = run_check(group, profile)
    wrongly = failed(verdicts) & blocked(removed)
    assert not wrongly, {rule: verdicts[rule]["summary"] for rule in wrongly}
    for rule in blocked(removed) & set(verdicts):
        assert verdicts[rule]["status"] == "not_evaluable", (rule, verdicts[rule])


@pytest.mark.parametrize("profile", ["dialog-default", "bashkortostan-2025"])
def test_no_wall_comments_or_register_means_no_violation_of_their_rules(profile: str) -> None:
    from services.evaluator import rules as r

    verdicts = run_check(FULL_GROUP, profile)
    needing = {
        rule for rule in verdicts if rule in r.RULES and r.RULES[rule].source in NEEDS_OTHER_INPUT
    }
    assert needing, "the catalogue names the rules that need other inputs"
    assert not failed(verdicts) & needing, sorted(failed(verdicts) & needing)


@settings(max_examples=20, deadline=None)
@given(removed=st.sets(st.sampled_from(sorted(BLOCKED_BY_ABSENCE)), min_size=1))
def test_requested_fields_left_out_of_the_answer_are_empty(removed: set[str]) -> None:
    """VK may leave a requested empty field out: told it was requested, check judges it empty."""
    group = {k: v for k, v in FULL_GROUP.items() if k not in removed}
    fields = [k for k in OPTIONAL_KEYS if k not in AVATAR_KEYS]
    fails = failed(run_check(group, "dialog-default", fields=fields))
    assert blocked(removed) - {"NOT_VERIFIED", "WALL_CLOSED", "COVER_MISSING"} <= fails
