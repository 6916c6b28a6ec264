"""Subscriptions: which alerts go to whom, and how they are grouped and timed (YAML).

The shape follows Alertmanager routes, flattened: every route whose matchers all match an alert gets
it (there is no tree and no ``continue``), so a founder and the ЦУР can both follow the same school.

```yaml
routes:
  - name: cur-critical
    matchers:
      severity: "=~critical|high"
      municipality: "=~Борисоглеб.*"
      rule: "!=STALE"
    receivers:
      email: [ops@cur.example.org]
    group_by: [municipality]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
    send_resolved: true
```

A matcher value is ``value`` (equality), ``=value``, ``!=value``, ``=~regex`` or ``!~regex``;
regexes are anchored at both ends, as in Alertmanager. Labels are the fields of
:class:`gospublic.contracts.AlertLabels`. ``group_by: ["..."]`` puts every alert in its own group.
Every mistake in a file is reported at once, each with the file, the route and the field.

Receivers: ``email`` (a list of addresses, one message each), ``webhook`` (a list of URLs that get
Alertmanager's webhook JSON) and ``grafana: true`` (an annotation per violation, opened and closed;
the server and token come from the settings). ``digest: false`` keeps a route's e-mail addresses out
of the weekly digest.

Inhibit rules follow Alertmanager's ``inhibit_rules``: while a firing alert matches
``source_matchers``, alerts matching ``target_matchers`` with the same values of the ``equal``
labels are muted. Matchers use the same syntax as a route's. Without an ``inhibit_rules`` key the
built-in :data:`DEFAULT_INHIBIT_RULES` apply (a missing or gone page mutes that page's profile and
activity alerts); ``inhibit_rules: []`` turns them off.

```yaml
inhibit_rules:
  - name: page-missing
    source_matchers: {rule: PAGE_MISSING_ANY}
    target_matchers: {rule: "!~PAGE_MISSING_.*|PAGE_NOT_PUBLIC|OFF_LIST_ONLY|ORG_EXEMPT"}
    equal: [org_id]
```
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from .fields import MAX_URL_CHARS as MAX_URL_CHARS
from .fields import parse_duration as parse_duration
from .fields import parse_email as parse_email
from .fields import parse_matcher as parse_matcher
from .fields import parse_url as parse_url
from .routes import DEFAULT_GROUP_INTERVAL as DEFAULT_GROUP_INTERVAL
from .routes import DEFAULT_GROUP_WAIT as DEFAULT_GROUP_WAIT
from .routes import DEFAULT_REPEAT_INTERVAL as DEFAULT_REPEAT_INTERVAL
from .routes import GRAFANA as GRAFANA
from .routes import GROUP_BY_ALL as GROUP_BY_ALL
from .routes import LABELS as LABELS
from .routes import RECEIVER_KINDS as RECEIVER_KINDS
from .routes import InhibitRule as InhibitRule
from .routes import Matcher as Matcher
from .routes import Receiver as Receiver
from .routes import Route as Route
from .routes import Router as Router
from .routes import Subscriptions as Subscriptions
from .routes import summary as summary

ROUTE_FIELDS = frozenset(
    {
        "name",
        "matchers",
        "receivers",
        "group_by",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "send_resolved",
        "digest",
    }
)
INHIBIT_FIELDS = frozenset({"name", "source_matchers", "target_matchers", "equal"})
TOP_LEVEL_FIELDS = ("routes", "inhibit_rules")


class SubscriptionError(ValueError):
    """Every problem found in one file; ``errors`` lists them one per line, each fully located."""

    def __init__(self, path: Path | str, errors: list[str]):
        self.path = str(path)
        self.errors = errors
        super().__init__(
            f"{path}: {len(errors)} error(s) in subscriptions:\n  " + "\n  ".join(errors)
        )


# Presence rules say whether a page exists at all; every other rule judges a page's content, which
# cannot be judged (and cannot be fixed) while the page is missing or gone.
PAGE_LEVEL_RULES = "!~PAGE_MISSING_.*|PAGE_NOT_PUBLIC|OFF_LIST_ONLY|ORG_EXEMPT"
DEFAULT_INHIBIT_RULES_RAW: list[dict[str, Any]] = [
    {
        "name": "page-missing-mutes-page-rules",
        "source_matchers": {"rule": "PAGE_MISSING_ANY"},
        "target_matchers": {"rule": PAGE_LEVEL_RULES},
        "equal": ["org_id"],
    },
    {
        "name": "page-not-public-mutes-its-page-rules",
        "source_matchers": {"rule": "PAGE_NOT_PUBLIC"},
        "target_matchers": {"rule": PAGE_LEVEL_RULES},
        "equal": ["org_id", "platform", "page_id"],
    },
]


def _matchers(raw: object, where: str, errors: list[str]) -> list[Matcher]:
    matchers: list[Matcher] = []
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping of label to value")
        return matchers
    for label, value in raw.items():
        try:
            matchers.append(parse_matcher(label, value))
        except ValueError as exc:
            errors.append(f"{where}.{label}: {exc}")
    return matchers


def _receivers(raw: object, where: str, errors: list[str]) -> list[Receiver]:
    receivers: list[Receiver] = []
    if not isinstance(raw, dict) or not raw:
        errors.append(f"{where}: required, e.g. {{email: [ops@example.org]}}")
        return receivers
    for kind, targets in raw.items():
        if kind not in RECEIVER_KINDS:
            errors.append(f"{where}.{kind}: unknown receiver; known: {', '.join(RECEIVER_KINDS)}")
            continue
        if kind == GRAFANA:
            if not isinstance(targets, bool):
                errors.append(f"{where}.{kind}: must be true or false")
            elif targets:
                receivers.append(Receiver(GRAFANA, GRAFANA))
            continue
        if isinstance(targets, str):
            targets = [targets]
        what = "addresses" if kind == "email" else "URLs"
        if not isinstance(targets, list) or not targets:
            errors.append(f"{where}.{kind}: a non-empty list of {what} is required")
            continue
        parse = parse_email if kind == "email" else parse_url
        for position, target in enumerate(targets):
            try:
                receiver = Receiver(kind, parse(target))
            except ValueError as exc:
                errors.append(f"{where}.{kind}[{position}]: {exc}")
                continue
            if receiver in receivers:
                errors.append(f"{where}.{kind}[{position}]: duplicate {target!r}")
            else:
                receivers.append(receiver)
    if not receivers and not any(e.startswith(where) for e in errors):
        errors.append(f"{where}: required, e.g. {{email: [ops@example.org]}}")
    return receivers


def _route(index: int, raw: object, errors: list[str]) -> Route | None:
    where = f"route #{index}"
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping, got {type(raw).__name__}")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: name: required, a non-empty string")
    else:
        where = f"route #{index} {name!r}"
    before = len(errors)

    for unknown in sorted(set(map(str, raw)) - ROUTE_FIELDS):
        errors.append(
            f"{where}: unknown field {unknown!r}; known: {', '.join(sorted(ROUTE_FIELDS))}"
        )

    matchers = _matchers(raw.get("matchers") or {}, f"{where}: matchers", errors)
    receivers = _receivers(raw.get("receivers"), f"{where}: receivers", errors)

    group_by: list[str] = []
    raw_group_by = raw.get("group_by") or []
    if not isinstance(raw_group_by, list):
        errors.append(f"{where}: group_by: must be a list of labels")
    elif raw_group_by == [GROUP_BY_ALL]:
        group_by = [GROUP_BY_ALL]
    else:
        for label in raw_group_by:
            if label not in LABELS:
                errors.append(
                    f"{where}: group_by: unknown label {label!r}; known: {', '.join(LABELS)}"
                )
            elif label in group_by:
                errors.append(f"{where}: group_by: duplicate label {label!r}")
            else:
                group_by.append(label)

    timings: dict[str, timedelta] = {}
    defaults = {
        "group_wait": DEFAULT_GROUP_WAIT,
        "group_interval": DEFAULT_GROUP_INTERVAL,
        "repeat_interval": DEFAULT_REPEAT_INTERVAL,
    }
    for key, default in defaults.items():
        if key not in raw:
            timings[key] = default
            continue
        try:
            timings[key] = parse_duration(raw[key])
        except ValueError as exc:
            errors.append(f"{where}: {key}: {exc}")
            continue
        # A zero interval would make the group flush on every tick.
        if key != "group_wait" and timings[key] <= timedelta(0):
            errors.append(f"{where}: {key}: must be greater than zero")

    send_resolved = raw.get("send_resolved", True)
    if not isinstance(send_resolved, bool):
        errors.append(f"{where}: send_resolved: must be true or false")
    elif not send_resolved and Receiver(GRAFANA, GRAFANA) in receivers:
        errors.append(
            f"{where}: send_resolved: must be true with a grafana receiver "
            "(an annotation is closed when its violation resolves)"
        )
    digest = raw.get("digest", True)
    if not isinstance(digest, bool):
        errors.append(f"{where}: digest: must be true or false")

    if len(errors) > before or not isinstance(name, str) or not name.strip():
        return None
    return Route(
        name=name.strip(),
        matchers=tuple(matchers),
        receivers=tuple(receivers),
        group_by=tuple(group_by),
        send_resolved=send_resolved,
        digest=digest,
        **timings,
    )


def _inhibit_rule(index: int, raw: object, errors: list[str]) -> InhibitRule | None:
    where = f"inhibit_rules #{index}"
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping, got {type(raw).__name__}")
        return None
    name = raw.get("name", f"inhibit-{index}")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: name: must be a non-empty string")
        name = f"inhibit-{index}"
    else:
        where = f"inhibit_rules #{index} {name!r}"
    before = len(errors)
    for unknown in sorted(set(map(str, raw)) - INHIBIT_FIELDS):
        errors.append(
            f"{where}: unknown field {unknown!r}; known: {', '.join(sorted(INHIBIT_FIELDS))}"
        )
    sides: dict[str, list[Matcher]] = {}
    for side in ("source_matchers", "target_matchers"):
        if not raw.get(side):
            errors.append(f"{where}: {side}: required, a mapping of label to value")
            continue
        sides[side] = _matchers(raw[side], f"{where}: {side}", errors)
    equal: list[str] = []
    raw_equal = raw.get("equal") or []
    if not isinstance(raw_equal, list):
        errors.append(f"{where}: equal: must be a list of labels")
    else:
        for label in raw_equal:
            if label not in LABELS:
                errors.append(
                    f"{where}: equal: unknown label {label!r}; known: {', '.join(LABELS)}"
                )
            elif label in equal:
                errors.append(f"{where}: equal: duplicate label {label!r}")
            else:
                equal.append(label)
    if len(errors) > before:
        return None
    return InhibitRule(
        name.strip(),
        tuple(sides["source_matchers"]),
        tuple(sides["target_matchers"]),
        tuple(equal),
    )


def _inhibit_rules(raw: object, errors: list[str]) -> list[InhibitRule]:
    if not isinstance(raw, list):
        errors.append("inhibit_rules: must be a list (use [] for none)")
        return []
    rules: list[InhibitRule] = []
    seen: set[str] = set()
    for index, raw_rule in enumerate(raw):
        rule = _inhibit_rule(index, raw_rule, errors)
        if rule is None:
            continue
        if rule.name in seen:
            errors.append(f"inhibit_rules #{index} {rule.name!r}: name: duplicate rule name")
            continue
        seen.add(rule.name)
        rules.append(rule)
    return rules


def default_inhibit_rules() -> tuple[InhibitRule, ...]:
    errors: list[str] = []
    rules = _inhibit_rules(DEFAULT_INHIBIT_RULES_RAW, errors)
    assert not errors, errors
    return tuple(rules)


def parse_subscriptions(raw: Any, source: str = "<subscriptions>") -> Subscriptions:
    errors: list[str] = []
    if not isinstance(raw, dict) or "routes" not in raw:
        raise SubscriptionError(source, ["top level: a mapping with a 'routes' list is required"])
    for unknown in sorted(set(map(str, raw)) - set(TOP_LEVEL_FIELDS)):
        errors.append(f"top level: unknown field {unknown!r}; known: {', '.join(TOP_LEVEL_FIELDS)}")
    raw_routes = raw["routes"]
    if not isinstance(raw_routes, list) or not raw_routes:
        raise SubscriptionError(source, [*errors, "routes: a non-empty list is required"])
    routes: list[Route] = []
    seen: set[str] = set()
    for index, raw_route in enumerate(raw_routes):
        route = _route(index, raw_route, errors)
        if route is None:
            continue
        if route.name in seen:
            errors.append(f"route #{index} {route.name!r}: name: duplicate route name")
            continue
        seen.add(route.name)
        routes.append(route)
    defaults = "inhibit_rules" not in raw
    if defaults:
        inhibit = default_inhibit_rules()
    else:
        inhibit = tuple(_inhibit_rules(raw["inhibit_rules"], errors))
    if errors:
        raise SubscriptionError(source, errors)
    return Subscriptions(tuple(routes), source, inhibit, defaults)


def load_subscriptions(path: Path | str) -> Subscriptions:
    """Read and validate a subscriptions file; raise :class:`SubscriptionError` naming every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SubscriptionError(path, [f"cannot read: {exc}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SubscriptionError(path, [f"not valid YAML: {exc}"]) from None
    return parse_subscriptions(raw, str(path))
