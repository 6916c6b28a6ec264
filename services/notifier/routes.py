"""The subscriptions as the notifier uses them: routes with their matchers and receivers, and
inhibit rules (read and checked from YAML by :mod:`.subscriptions`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from gospublic.contracts import AlertLabels

LABELS: tuple[str, ...] = tuple(AlertLabels.model_fields)
GROUP_BY_ALL = "..."

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)

# The receiver kinds a route may name: one registered channel each (services.notifier.channels).
RECEIVER_KINDS = ("email", "webhook", "grafana")
GRAFANA = "grafana"

Op = Literal["=", "!=", "=~", "!~"]


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


class Router:
    """The routes that take an alert, and its group key in each, found once per distinct value of
    the labels the routes read (their matchers' and group_by's), not once per alert: a sweep
    brings a hundred thousand alerts into a few hundred groups."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        names: set[str] = set()
        for route in self.routes:
            names.update(m.label for m in route.matchers)
            names.update(LABELS if route.group_by == (GROUP_BY_ALL,) else route.group_by)
        self.labels = tuple(sorted(names))
        self._found: dict[tuple[str, ...], list[tuple[Route, tuple[tuple[str, str], ...]]]] = {}

    def routed(
        self, values: Mapping[str, object]
    ) -> list[tuple[Route, tuple[tuple[str, str], ...]]]:
        """(route, group key) for an alert with these label values (a StrEnum as its text)."""
        key = tuple(str(values.get(name, "")) for name in self.labels)
        found = self._found.get(key)
        if found is None:
            labels = dict(zip(self.labels, key, strict=True))
            found = [(r, r.group_key(labels)) for r in self.routes if r.matches(labels)]
            if len(self._found) >= 100_000:
                self._found.clear()
            self._found[key] = found
        return found


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
