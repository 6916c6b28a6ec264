"""``gospublic check``: every rule's verdict for one page, from saved platform answers, offline.

    gospublic check --group G.json [--wall W.json] [--comments C.json] [--fields F1,F2]
    gospublic check --platform ok --group getInfo.json [--wall topics.json] [--comments C.json]
    gospublic check --platform tg --group channel.html
                    [--profile NAME] [--now ISO] [--org-name NAME] [--format table|json] [--lang ru|en]

The files are what the platform returned (VK: ``groups.getById``, ``wall.get``,
``wall.getComments``, with or without the ``{"response": ...}`` envelope; OK: ``group.getInfo``,
``mediatopic.getTopics``, ``discussions.getComments``; Telegram: the channel's public page
``t.me/s/<name>`` saved as HTML). They are read by the same mapping the collectors use
(``gospublic.platforms``) into the same events, and run through the same batch step as the stream,
on an empty state; every rule the profile enables gets a verdict, ``not_evaluable`` with the reason
when its data is not there.

Without ``--profile`` the page is checked with the profile its organisation is assigned
(``--region``, ``--org-level``, ``--org-sphere`` against the profile assignment, as on the stream).

What a person really has is not always what the command expects, so the input is looked at before
it is believed: a deleted or banned VK group comes with the wall's error answer (15, 18, 30), which
is the expected rest of a gone page, not a broken input; a wall or comments file of another page
is refused with both ids named; a saved web page, or another platform's answer, is refused with a
one-line hint saying what to give instead.

Exit code 0: nothing failed; 1: some rule failed; 2: the input could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from gospublic import contracts as c
from gospublic import rulebook as book
from gospublic.platforms.descriptor import platform_ids
from gospublic.settings import Settings
from services.evaluator import rules as r
from services.evaluator.assignment import load_book
from services.evaluator.profiles import Profile, ProfileError, load_profile

from .inputs import (
    CHECK_ORG_ID,
    ApiError,
    InputError,
    Inputs,
    _fields,
    _moment,
    _read,
    _text,
    _wrong_method,
    _wrong_platform,
)
from .other_answers import max_inputs, ok_inputs, tg_inputs
from .verdicts import table_en, table_ru, verdicts
from .vk_answers import vk_inputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Проверить одну страницу по сохранённым ответам площадки, без сети. "
        "Check one page offline from saved platform answers."
    )
    parser.add_argument(
        "--platform",
        choices=list(platform_ids()),
        default="vk",
        help="vk (default): JSON answers of the VK API; ok: JSON answers of the OK API; "
        "tg: the channel's page t.me/s/<name> saved as HTML; max: JSON answers of MAX's bot API "
        "(GET /chats/{chatId}, GET /messages)",
    )
    parser.add_argument(
        "--group",
        type=Path,
        required=True,
        help="vk: groups.getById answer; ok: group.getInfo answer; tg: the saved t.me/s/<name> page",
    )
    parser.add_argument(
        "--wall",
        type=Path,
        help="vk: wall.get answer (an error answer of a deleted, banned or closed page is "
        "accepted); ok: mediatopic.getTopics answer; tg: not needed, the posts are on the page",
    )
    parser.add_argument(
        "--comments",
        type=Path,
        help="vk: wall.getComments answer, a list of them, or {post_id: answer}; "
        "ok: discussions.getComments answer, a list, or {topic_id: answer}",
    )
    parser.add_argument(
        "--fields",
        default=None,
        help="vk: the groups.getById fields that were requested, comma-separated "
        "(e.g. description,contacts,addresses,site,links): a requested field VK left out is empty. "
        "Without it a missing field is unknown and its rules are not evaluated",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="rule profile (default: the one assigned to --region/--org-level/--org-sphere, "
        "else GOSPUBLIC_PROFILE)",
    )
    parser.add_argument("--profiles-dir", type=Path, default=None)
    parser.add_argument(
        "--profile-assignment",
        type=Path,
        default=None,
        help="YAML assigning profiles per region, level or sphere "
        "(default: GOSPUBLIC_PROFILE_ASSIGNMENT or the shipped one)",
    )
    parser.add_argument(
        "--now",
        help="the moment of the check, ISO 8601 (default: now); a time without a zone is "
        "Moscow time (Europe/Moscow), e.g. 2026-03-02T12:00 = 2026-03-02T12:00+03:00",
    )
    parser.add_argument(
        "--org-name", default="", help="the official name in the register (for NAME_MISMATCH)"
    )
    parser.add_argument("--org-level", default="", help="the organisation's level (register)")
    parser.add_argument("--org-sphere", default="", help="the organisation's sphere (register)")
    parser.add_argument("--region", default="", help="register region code (time zone, cohort)")
    parser.add_argument("--format", choices=["json", "table"], default="table")
    parser.add_argument(
        "--lang",
        choices=["ru", "en"],
        default="ru",
        help="language of the table: ru (default) or en; JSON keys stay as they are",
    )


# --- the command ----------------------------------------------------------------------------------


def choose_profile(settings: Settings, args: argparse.Namespace) -> Profile:
    """``--profile`` if given, else the organisation's assigned profile, as the stream picks it."""
    profiles_dir = args.profiles_dir or settings.profiles_dir
    if args.profile:
        return load_profile(args.profile, profiles_dir)
    assignment = load_book(
        settings.profile,
        profiles_dir,
        getattr(args, "profile_assignment", None) or settings.profile_assignment,
    )
    return assignment.resolve(
        args.region.strip().lower(), args.org_level.strip().lower(), args.org_sphere.strip().lower()
    )


def read_inputs(args: argparse.Namespace, now: datetime, org: c.Organisation | None) -> Inputs:
    """The page's events from the files the arguments name (``InputError`` if they cannot be)."""
    platform = args.platform
    requested = _fields(getattr(args, "fields", None))
    if platform != "vk" and requested is not None:
        raise InputError("--fields относится только к ВКонтакте (поля groups.getById)")
    if platform == "tg":
        if args.wall or args.comments:
            raise InputError(
                "для Telegram нужна только --group: сохранённая страница t.me/s/<канал> "
                "(записи уже на ней, комментариев превью не показывает)"
            )
        return tg_inputs(_text(args.group, "--group"), now, org, args.region, args.group)
    paths = {"group": args.group}
    group = _read(args.group, "--group", platform)
    _wrong_platform(group, "--group", args.group, platform)
    if platform == "vk" and not isinstance(group, ApiError):
        _wrong_method(group, "--group", args.group)
    wall = comments = None
    if args.wall:
        paths["wall"] = args.wall
        wall = _read(args.wall, "--wall", platform)
        _wrong_platform(wall, "--wall", args.wall, platform)
        if platform == "vk" and not isinstance(wall, ApiError):
            _wrong_method(wall, "--wall", args.wall)
    if args.comments:
        paths["comments"] = args.comments
        comments = _read(args.comments, "--comments", platform)
        if platform == "vk" and not isinstance(comments, ApiError):
            _wrong_method(comments, "--comments", args.comments)
    if platform == "ok":
        return ok_inputs(group, wall, comments, now, org, args.region, paths)
    if platform == "max":
        if comments is not None:
            raise InputError("для MAX комментарии из файла пока не читаются: уберите --comments")
        return max_inputs(group, wall, now, org, args.region)
    return vk_inputs(group, wall, comments, now, org, args.region, requested, paths)


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        profile = choose_profile(settings, args)
    except ProfileError as exc:
        print(f"ошибка: {exc}", file=sys.stderr)
        return 2
    try:
        now = _moment(args.now)
        org = None
        if args.org_name:
            org = c.Organisation(
                org_id=CHECK_ORG_ID, name=args.org_name, level=args.org_level, founder="",
                municipality="", sphere=args.org_sphere,
            )  # fmt: skip
        inputs = read_inputs(args, now, org)
    except InputError as exc:
        print(f"ошибка: {exc}", file=sys.stderr)
        return 2
    comments_given = args.comments is not None
    rows = verdicts(inputs.events, profile, now, comments_given, inputs.missing, inputs.platform)
    lang = getattr(args, "lang", "ru")
    if args.format == "json":
        document = {
            "profile": profile.name,
            "checked_at": now.isoformat(),
            "platform": inputs.platform,
            "notes": inputs.notes,
            "verdicts": [
                {
                    "rule": x.rule,
                    "title": book.title(x.rule),
                    "status": x.status,
                    "severity": x.severity,
                    "value": x.value,
                    "threshold": x.threshold,
                    "norm": book.norm(x.rule, profile.rule(x.rule)),
                    "basis": x.basis,
                    "summary": x.summary,
                    "fix": book.fix(x.rule),
                    "criterion": book.rule_criterion(x.rule),
                    "platform": platform,
                    "page_id": page_id,
                }
                for platform, page_id, x in rows
            ],
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    elif lang == "en":
        for note in inputs.notes:
            print(f"note: {note}", file=sys.stderr)
        sys.stdout.write(table_en(rows, profile, now))
    else:
        sys.stdout.write(table_ru(rows, profile, now, inputs.events, inputs.platform, inputs.notes))
    return 1 if any(x.status == r.FAIL for *_, x in rows) else 0
