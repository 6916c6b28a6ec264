"""``gospublic check``: every rule's verdict for one page, from saved API responses, offline.

    gospublic check --platform vk --group G.json --wall W.json [--comments C.json]
                    [--profile NAME] [--now ISO] [--org-name NAME] --format json|table

Without ``--profile`` the page is checked with the profile its organisation is assigned
(``--region``, ``--org-level``, ``--org-sphere`` against the profile assignment, as on the stream);
``--profile`` names one outright.

The files are what the platform returned (``groups.getById``, ``wall.get``, ``wall.getComments``;
with or without the ``{"response": ...}`` envelope). They are normalised to the same events a
collector publishes and run through the same batch step as the stream, on an empty state; every
rule the profile enables gets a verdict, ``not_evaluable`` with the reason when its data is not
there. Exit code 0: nothing failed; 1: some rule failed; 2: the input could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gospublic import contracts as c
from gospublic.platforms import vk
from gospublic.settings import Settings

from . import rules as r
from .assignment import load_book
from .handlers import process_batch
from .profiles import Profile, ProfileError, load_profile
from .state import EvaluatorState

CHECK_ORG_ID = "0000000000000"
SWEEP = "check"


class InputError(ValueError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--platform", choices=["vk"], default="vk")
    parser.add_argument("--group", type=Path, required=True, help="groups.getById response (JSON)")
    parser.add_argument("--wall", type=Path, help="wall.get response (JSON)")
    parser.add_argument(
        "--comments",
        type=Path,
        help="wall.getComments response, or a list of them, or {post_id: response} (JSON)",
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
    parser.add_argument("--now", help="the moment of the check, ISO 8601 (default: now)")
    parser.add_argument(
        "--org-name", default="", help="the official name in the register (for NAME_MISMATCH)"
    )
    parser.add_argument("--org-level", default="", help="the organisation's level (register)")
    parser.add_argument("--org-sphere", default="", help="the organisation's sphere (register)")
    parser.add_argument("--region", default="", help="register region code (time zone, cohort)")
    parser.add_argument("--format", choices=["json", "table"], default="table")


def _read(path: Path, what: str) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path}: not JSON: {exc}") from None
    if isinstance(data, dict) and "error" in data and "response" not in data:
        error = data["error"]
        message = error.get("error_msg", error) if isinstance(error, dict) else error
        raise InputError(f"{what} {path}: the platform answered with an error: {message}")
    if isinstance(data, dict) and "response" in data:
        return data["response"]
    return data


def _moment(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now: not an ISO date-time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_events(
    group_response: Any,
    wall_response: Any | None,
    comments_response: Any | None,
    now: datetime,
    org: c.Organisation | None = None,
    region: str = "",
) -> list[c.Event]:
    """The events a VK collector would publish for this page (plus the register entry, if given)."""
    try:
        groups = vk.groups_of(group_response)
        if not groups:
            raise InputError("groups.getById returned no group: the page was not found")
        group = groups[0]
        gid = vk.group_id(group)
        org_id = org.org_id if org else CHECK_ORG_ID
        ref = c.PageRef(platform=c.Platform.VK, native_id=f"club{gid}", org_id=org_id)
        if org is not None:
            org = org.model_copy(update={"pages": (ref,)})
        events: list[c.Event] = []
        if org is not None:
            events.append(
                c.OrganisationsRegistered.create(
                    observed_at=now, registry_version="check", region=region, chunk=0, chunks=1,
                    organisations=(org,),
                )
            )  # fmt: skip
        gone = vk.deactivation(group)
        if gone is not None:
            events.append(
                c.PageUnavailable.create(
                    observed_at=now, platform=c.Platform.VK, page_ref=ref, sweep_id=SWEEP,
                    reason=gone, detail=str(group.get("deactivated", ""))[:200],
                )
            )  # fmt: skip
            return events
        events.append(vk.build_snapshot(group, ref, SWEEP, now))
        if wall_response is not None:
            events.append(vk.build_posts(wall_response, gid, ref, SWEEP, now))
        if comments_response is not None:
            comments: list[c.Comment] = []
            for post_id, response in _comment_pages(comments_response):
                found, _, _ = vk.comments_page(response, gid, post_id)
                comments.extend(found)
            events.append(vk.build_comments(comments, gid, ref, SWEEP, now))
        return events
    except vk.MalformedResponse as exc:
        raise InputError(f"the response does not look like VK's: {exc.reason}") from None


def _comment_pages(data: Any) -> list[tuple[str, Any]]:
    """(post id, wall.getComments response) pairs from the accepted shapes of the file."""
    if isinstance(data, dict) and "items" in data:
        pages = [data]
    elif isinstance(data, list):
        pages = [d.get("response", d) if isinstance(d, dict) else d for d in data]
    elif isinstance(data, dict):
        return [
            (str(k), v.get("response", v) if isinstance(v, dict) else v) for k, v in data.items()
        ]
    else:
        raise InputError("comments: expected a wall.getComments response or a list of them")
    out = []
    for page in pages:
        items = page.get("items") if isinstance(page, dict) else None
        first = items[0] if isinstance(items, list) and items else {}
        out.append((str(first.get("post_id", "")) if isinstance(first, dict) else "", page))
    return out


def verdicts(events: list[c.Event], profile: Profile, now: datetime, comments_given: bool):
    """(platform, page_id, result) for every rule the profile enables, in catalogue order."""
    out = process_batch(EvaluatorState(), events, profile, now, keep_verdicts=True)
    latest: dict[tuple[str, str], tuple[str, str, r.RuleResult]] = {}
    for _org, platform, page_id, result in out.verdicts or []:
        latest[(result.rule, platform)] = (platform, page_id, result)
    seen = {rule for rule, _ in latest}
    page_id = next((e.page_id for e in events if isinstance(e, c.PageSnapshot)), "")
    reasons = {
        "comments": "Комментарии не переданы (--comments): правило не проверялось.",
        "posts": "Записи стены не переданы (--wall): правило не проверялось.",
        "registry": "Организация не указана (--org-name): правило не проверялось.",
        "profile": "Профиль страницы недоступен: правило не проверялось.",
        "profile+posts": "Нужны и профиль, и записи стены.",
    }
    for rule in profile.enabled_rules:
        if rule in seen:
            continue
        source = r.RULES[rule].source if rule in r.RULES else "registry"
        reason = reasons.get(source, "Нет данных.")
        if source == "comments" and comments_given:
            reason = "Нет данных для проверки."
        result = r.not_evaluable(rule, profile, reason)
        if result is not None:
            scope = r.RULES[rule].scope if rule in r.RULES else "organisation"
            latest[(rule, "any")] = ("any" if scope == "organisation" else "vk",
                                     "" if scope == "organisation" else page_id, result)  # fmt: skip
    order = {rule: i for i, rule in enumerate(r.RULES)}
    return sorted(latest.values(), key=lambda x: (order.get(x[2].rule, 999), x[0]))


def _table(rows: list[tuple[str, str, r.RuleResult]]) -> str:
    marks = {r.PASS: "pass", r.FAIL: "FAIL", r.NOT_EVALUABLE: "n/a"}
    lines = [f"{'rule':<26} {'status':<6} {'severity':<9} {'value':<24} {'threshold':<22} basis"]
    for _platform, _page, x in rows:
        lines.append(
            f"{x.rule:<26} {marks[x.status]:<6} {x.severity:<9} {x.value[:24]:<24} "
            f"{x.threshold[:22]:<22} {x.basis[:60]}"
        )
        if x.status != r.PASS:
            lines.append(f"{'':<26} ↳ {x.summary}")
    failed = sum(1 for *_, x in rows if x.status == r.FAIL)
    lines.append(f"{len(rows)} rules: {failed} failed, "
                 f"{sum(1 for *_, x in rows if x.status == r.NOT_EVALUABLE)} not evaluable")  # fmt: skip
    return "\n".join(lines) + "\n"


def choose_profile(settings: Settings, args: argparse.Namespace) -> Profile:
    """``--profile`` if given, else the organisation's assigned profile, as the stream picks it."""
    profiles_dir = args.profiles_dir or settings.profiles_dir
    if args.profile:
        return load_profile(args.profile, profiles_dir)
    book = load_book(
        settings.profile,
        profiles_dir,
        getattr(args, "profile_assignment", None) or settings.profile_assignment,
    )
    return book.resolve(
        args.region.strip().lower(), args.org_level.strip().lower(), args.org_sphere.strip().lower()
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        profile = choose_profile(settings, args)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        now = _moment(args.now)
        group = _read(args.group, "--group")
        wall = _read(args.wall, "--wall") if args.wall else None
        comments = _read(args.comments, "--comments") if args.comments else None
        org = None
        if args.org_name:
            org = c.Organisation(
                org_id=CHECK_ORG_ID, name=args.org_name, level=args.org_level, founder="",
                municipality="", sphere=args.org_sphere,
            )  # fmt: skip
        events = build_events(group, wall, comments, now, org, args.region)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = verdicts(events, profile, now, comments is not None)
    if args.format == "json":
        document = {
            "profile": profile.name,
            "checked_at": now.isoformat(),
            "verdicts": [
                {
                    "rule": x.rule,
                    "status": x.status,
                    "severity": x.severity,
                    "value": x.value,
                    "threshold": x.threshold,
                    "basis": x.basis,
                    "summary": x.summary,
                    "platform": platform,
                    "page_id": page_id,
                }
                for platform, page_id, x in rows
            ],
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
    else:
        sys.stdout.write(f"profile {profile.name}, checked at {now.isoformat()}\n")
        sys.stdout.write(_table(rows))
    return 1 if any(x.status == r.FAIL for *_, x in rows) else 0
