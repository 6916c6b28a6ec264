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

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from gospublic.contracts import AlertLabels, Severity

LABELS: tuple[str, ...] = tuple(AlertLabels.model_fields)
GROUP_BY_ALL = "..."

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)

RECEIVER_KINDS = ("email", "webhook", "grafana")
GRAFANA = "grafana"
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
MAX_URL_CHARS = 2000

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
        """Identity in the notification log (kept in NATS KV): a webhook URL, which may carry a
        bot token, is stored as its origin and a hash of the whole URL."""
        if self.kind == "webhook":
            digest = hashlib.sha256(self.address.encode()).hexdigest()[:16]
            return f"{self.display}#{digest}"
        return f"{self.kind}:{self.address}"

    @property
    def display(self) -> str:
        """For logs: a webhook URL's path and query may carry a bot token, so only its origin."""
        if self.kind == "webhook":
            parts = urlsplit(self.address)
            return f"webhook:{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        return self.address


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
    digest: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def group_key(self, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        names = LABELS if self.group_by == (GROUP_BY_ALL,) else self.group_by
        return tuple((name, labels.get(name, "")) for name in names)


@dataclass(frozen=True)
class InhibitRule:
    """Alertmanager's inhibit rule: a firing source alert mutes the targets it shares labels with."""

    name: str
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def source_matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.source_matchers)

    def target_matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.target_matchers)

    def equal_values(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        # A label an alert lacks counts as empty, as in Alertmanager.
        return tuple(labels.get(name, "") for name in self.equal)


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


@dataclass(frozen=True)
class Subscriptions:
    routes: tuple[Route, ...]
    source: str = ""
    inhibit_rules: tuple[InhibitRule, ...] = ()
    default_inhibit_rules: bool = False

    def matching(self, labels: Mapping[str, str]) -> list[Route]:
        return [route for route in self.routes if route.matches(labels)]

    def receivers(self, kind: str) -> list[Receiver]:
        seen: dict[Receiver, None] = {}
        for route in self.routes:
            for receiver in route.receivers:
                if receiver.kind == kind:
                    seen.setdefault(receiver)
        return list(seen)


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


def parse_url(raw: object) -> str:
    """A webhook target: an absolute http(s) URL without spaces or control characters."""
    if not isinstance(raw, str):
        raise ValueError(f"a URL must be a string, got {type(raw).__name__}")
    url = raw.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"URL longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValueError("bad URL: it contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"bad URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("bad URL: an absolute http:// or https:// URL is required")
    return url


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


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


def summary(subscriptions: Subscriptions) -> str:
    """What a file configures, one route or rule per line, for ``check-config``."""
    lines = [f"{subscriptions.source}: OK, {len(subscriptions.routes)} route(s)"]
    for route in subscriptions.routes:
        matchers = ", ".join(map(str, route.matchers)) or "every alert"
        kinds: dict[str, int] = {}
        for receiver in route.receivers:
            kinds[receiver.kind] = kinds.get(receiver.kind, 0) + 1
        receivers = ", ".join(f"{kind} x{n}" for kind, n in kinds.items())
        group_by = ", ".join(route.group_by) or "(one group)"
        lines.append(
            f"  route {route.name}: {matchers} -> {receivers}; group_by {group_by}; "
            f"wait {_duration_text(route.group_wait)}, "
            f"interval {_duration_text(route.group_interval)}, "
            f"repeat {_duration_text(route.repeat_interval)}; "
            f"send_resolved {'yes' if route.send_resolved else 'no'}; "
            f"digest {'yes' if route.digest else 'no'}"
        )
    origin = " (built-in defaults)" if subscriptions.default_inhibit_rules else ""
    lines.append(f"{len(subscriptions.inhibit_rules)} inhibit rule(s){origin}")
    for rule in subscriptions.inhibit_rules:
        source = ", ".join(map(str, rule.source_matchers))
        target = ", ".join(map(str, rule.target_matchers))
        equal = ", ".join(rule.equal) or "-"
        lines.append(f"  inhibit {rule.name}: {source} mutes {target} when equal: {equal}")
    return "\n".join(lines)
