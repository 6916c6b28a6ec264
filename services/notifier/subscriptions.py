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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

from gospublic.contracts import AlertLabels, Severity

LABELS: tuple[str, ...] = tuple(AlertLabels.model_fields)
GROUP_BY_ALL = "..."

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)

RECEIVER_KINDS = ("email",)
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
    }
)

_DURATION = re.compile(r"^(?:(\d+)(ms|s|m|h|d|w))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# An address we can hand to smtplib without SMTPUTF8: an ASCII local part; the domain may be
# international (школа.рф) and is stored in its IDNA form.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

Op = Literal["=", "!=", "=~", "!~"]


class SubscriptionError(ValueError):
    """Every problem found in one file; ``errors`` lists them one per line, each fully located."""

    def __init__(self, path: Path | str, errors: list[str]):
        self.path = str(path)
        self.errors = errors
        super().__init__(
            f"{path}: {len(errors)} error(s) in subscriptions:\n  " + "\n  ".join(errors)
        )


@dataclass(frozen=True)
class Matcher:
    label: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value!r}"


@dataclass(frozen=True)
class Receiver:
    """One delivery target. Each address gets its own message and its own notification log entry,
    so one bouncing mailbox neither blocks nor duplicates mail to the others."""

    kind: str
    address: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.address}"


@dataclass(frozen=True)
class Route:
    name: str
    matchers: tuple[Matcher, ...]
    receivers: tuple[Receiver, ...]
    group_by: tuple[str, ...] = ()
    group_wait: timedelta = DEFAULT_GROUP_WAIT
    group_interval: timedelta = DEFAULT_GROUP_INTERVAL
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    send_resolved: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def group_key(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        names = LABELS if self.group_by == (GROUP_BY_ALL,) else self.group_by
        return tuple((name, labels.get(name, "")) for name in names)


@dataclass(frozen=True)
class Subscriptions:
    routes: tuple[Route, ...]
    source: str = ""

    def matching(self, labels: Mapping[str, str]) -> list[Route]:
        return [route for route in self.routes if route.matches(labels)]


def parse_duration(text: object) -> timedelta:
    """``30s``, ``5m``, ``4h``, ``1h30m``, ``0s`` (and a bare ``0``); raise ValueError otherwise."""
    if text == 0 or text == "0":
        return timedelta(0)
    if not isinstance(text, str) or not _DURATION.match(text.strip()):
        raise ValueError(
            f"bad duration {text!r}: use a number with a unit, e.g. 30s, 5m, 4h, 1h30m"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def parse_matcher(label: object, raw: object) -> Matcher:
    if not isinstance(label, str) or label not in LABELS:
        raise ValueError(f"unknown label {label!r}; known labels: {', '.join(LABELS)}")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f"value must be a string, got {type(raw).__name__}")
    text = str(raw)
    op: Op = "="
    for prefix in ("=~", "!~", "!=", "="):
        if text.startswith(prefix):
            op, text = prefix, text[len(prefix) :]  # type: ignore[assignment]
            break
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise ValueError(f"bad regex {text!r}: {exc}") from None
    elif label == "severity" and text not in {s.value for s in Severity}:
        known = ", ".join(s.value for s in Severity)
        raise ValueError(f"unknown severity {text!r}; known: {known}")
    return Matcher(label, op, text, pattern)


def parse_email(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"an e-mail address must be a string, got {type(raw).__name__}")
    address = raw.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or not _LOCAL_PART.match(local) or len(address) > 254:
        raise ValueError(f"bad e-mail address {raw!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"bad e-mail address {raw!r}: invalid domain") from None
    if not all(_DOMAIN_LABEL.match(part) for part in ascii_domain.split(".")):
        raise ValueError(f"bad e-mail address {raw!r}: invalid domain")
    return f"{local}@{ascii_domain}"


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

    matchers: list[Matcher] = []
    raw_matchers = raw.get("matchers") or {}
    if not isinstance(raw_matchers, dict):
        errors.append(f"{where}: matchers: must be a mapping of label to value")
    else:
        for label, value in raw_matchers.items():
            try:
                matchers.append(parse_matcher(label, value))
            except ValueError as exc:
                errors.append(f"{where}: matchers.{label}: {exc}")

    receivers: list[Receiver] = []
    raw_receivers = raw.get("receivers")
    if not isinstance(raw_receivers, dict) or not raw_receivers:
        errors.append(f"{where}: receivers: required, e.g. {{email: [ops@example.org]}}")
    else:
        for kind, targets in raw_receivers.items():
            if kind not in RECEIVER_KINDS:
                errors.append(
                    f"{where}: receivers.{kind}: unknown receiver; known: {', '.join(RECEIVER_KINDS)}"
                )
                continue
            if isinstance(targets, str):
                targets = [targets]
            if not isinstance(targets, list) or not targets:
                errors.append(
                    f"{where}: receivers.{kind}: a non-empty list of addresses is required"
                )
                continue
            for position, target in enumerate(targets):
                try:
                    receiver = Receiver(kind, parse_email(target))
                except ValueError as exc:
                    errors.append(f"{where}: receivers.{kind}[{position}]: {exc}")
                    continue
                if receiver in receivers:
                    errors.append(f"{where}: receivers.{kind}[{position}]: duplicate {target!r}")
                else:
                    receivers.append(receiver)

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

    if len(errors) > before or not isinstance(name, str) or not name.strip():
        return None
    return Route(
        name=name.strip(),
        matchers=tuple(matchers),
        receivers=tuple(receivers),
        group_by=tuple(group_by),
        send_resolved=send_resolved,
        **timings,
    )


def parse_subscriptions(raw: Any, source: str = "<subscriptions>") -> Subscriptions:
    errors: list[str] = []
    if not isinstance(raw, dict) or "routes" not in raw:
        raise SubscriptionError(source, ["top level: a mapping with a 'routes' list is required"])
    for unknown in sorted(set(map(str, raw)) - {"routes"}):
        errors.append(f"top level: unknown field {unknown!r}; known: routes")
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
    if errors:
        raise SubscriptionError(source, errors)
    return Subscriptions(tuple(routes), source)


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
