"""Subscriptions YAML: matchers, defaults, and a located error for every kind of mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.notifier.subscriptions import (
    LABELS,
    Receiver,
    SubscriptionError,
    load_subscriptions,
    parse_duration,
)

REPO = Path(__file__).resolve().parents[2]

GOOD = """
routes:
  - name: cur
    matchers:
      rule: STALE
      municipality: "=~Борисоглеб.*"
      severity: "!=medium"
      founder: "!~.*здравоохранения.*"
      page_id: 210000123
    receivers:
      email: [ops@cur.example.org, "Дежурный@школа.рф"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def route_yaml(**fields: str) -> str:
    base = {
        "name": "cur",
        "matchers": "{severity: critical}",
        "receivers": "{email: [ops@cur.example.org]}",
    }
    base.update(fields)
    body = "\n".join(f"    {k}: {v}" for k, v in base.items() if v is not None)
    return "routes:\n  - " + body.lstrip()


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SubscriptionError) as info:
        load_subscriptions(write(tmp_path, text))
    assert str(tmp_path / "subscriptions.yaml") in str(info.value)
    return info.value.errors


def test_good_file_and_defaults(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionError):  # the non-ASCII local part is refused...
        load_subscriptions(write(tmp_path, GOOD))
    subs = load_subscriptions(write(tmp_path, GOOD.replace("Дежурный", "duty")))
    [route] = subs.routes
    assert route.receivers == (
        Receiver("email", "ops@cur.example.org"),
        Receiver("email", "duty@xn--80atdl2c.xn--p1ai"),  # ...the domain becomes IDNA
    )
    assert (route.group_wait, route.group_interval, route.repeat_interval) == (
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(hours=4),
    )
    assert route.send_resolved is True and route.group_by == ()

    alert = {
        "rule": "STALE",
        "municipality": "Борисоглебский городской округ",
        "severity": "high",
        "founder": "Отдел образования",
        "page_id": "210000123",
    }
    assert route.matches(alert)
    assert not route.matches({**alert, "severity": "medium"})
    assert not route.matches({**alert, "founder": "Департамент здравоохранения области"})
    assert not route.matches({**alert, "rule": "STALE_X"})
    # Regexes are anchored at both ends, as in Alertmanager.
    assert not route.matches({**alert, "municipality": "город Борисоглебск"})


def test_example_file_loads() -> None:
    subs = load_subscriptions(REPO / "deploy" / "notifier" / "subscriptions.example.yaml")
    assert len(subs.routes) >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("4h", timedelta(hours=4)),
        ("1h30m", timedelta(minutes=90)),
        ("0s", timedelta(0)),
        ("0", timedelta(0)),
        ("1d", timedelta(days=1)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30", "5 m", "-1s", "1y", "", "s", 30, None, "1.5h"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"matchers": "{colour: red}"}, "matchers.colour: unknown label 'colour'"),
        ({"matchers": '{org_name: "=~(unclosed"}'}, "matchers.org_name: bad regex"),
        ({"matchers": '{org_name: "!~[z-a]"}'}, "matchers.org_name: bad regex"),
        ({"matchers": "{severity: CRITICAL}"}, "matchers.severity: unknown severity 'CRITICAL'"),
        ({"matchers": "{rule: [A, B]}"}, "matchers.rule: value must be a string"),
        ({"matchers": "[severity]"}, "matchers: must be a mapping"),
        ({"group_wait": "30"}, "group_wait: bad duration 30: use a number with a unit"),
        ({"group_interval": "5 minutes"}, "group_interval: bad duration"),
        ({"repeat_interval": "0s"}, "repeat_interval: must be greater than zero"),
        ({"group_interval": "0s"}, "group_interval: must be greater than zero"),
        ({"send_resolved": "maybe"}, "send_resolved: must be true or false"),
        ({"group_by": "[colour]"}, "group_by: unknown label 'colour'"),
        ({"group_by": "[municipality, municipality]"}, "group_by: duplicate label"),
        ({"group_by": "municipality"}, "group_by: must be a list"),
        ({"receivers": "{email: [not-an-address]}"}, "receivers.email[0]: bad e-mail address"),
        ({"receivers": "{email: ['a@b@c.org']}"}, "receivers.email[0]: bad e-mail address"),
        ({"receivers": "{email: ['ops@-bad-.org']}"}, "invalid domain"),
        ({"receivers": '{email: ["ops@x.org\\r\\nBcc: evil@x.org"]}'}, "bad e-mail address"),
        ({"receivers": "{email: [a@x.org, a@x.org]}"}, "receivers.email[1]: duplicate"),
        ({"receivers": "{email: []}"}, "receivers.email: a non-empty list"),
        ({"receivers": "{}"}, "receivers: required"),
        ({"receivers": None}, "receivers: required"),
        ({"receivers": "{slack: ['#ops']}"}, "receivers.slack: unknown receiver"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_each_mistake_is_located(tmp_path: Path, fields: dict, fragment: str) -> None:
    errors = errors_of(tmp_path, route_yaml(**fields))
    assert len(errors) == 1, errors
    assert errors[0].startswith("route #0 'cur': "), errors
    assert fragment in errors[0], errors


def test_all_mistakes_reported_at_once(tmp_path: Path) -> None:
    text = """
routes:
  - name: ok
    receivers: {email: [ops@x.org]}
  - name: bad
    matchers: {colour: red}
    receivers: {email: [nope]}
    group_wait: soon
  - receivers: {email: [ops@x.org]}
  - name: ok
    receivers: {email: [ops@x.org]}
"""
    errors = errors_of(tmp_path, text)
    assert [e.split(":")[0] for e in errors] == [
        "route #1 'bad'",
        "route #1 'bad'",
        "route #1 'bad'",
        "route #2",
        "route #3 'ok'",
    ]
    assert "name: required" in errors[3]
    assert "duplicate route name" in errors[4]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "a mapping with a 'routes' list is required"),
        ("- name: x", "a mapping with a 'routes' list is required"),
        ("routes: []", "routes: a non-empty list is required"),
        ("routes: [1]", "route #0: must be a mapping"),
        ("routes:\n  - name: x\n    receivers: {email: [a@x.org]}\nsilences: []", "unknown field"),
        ("routes: [unclosed", "not valid YAML"),
    ],
)
def test_file_level_mistakes(tmp_path: Path, text: str, fragment: str) -> None:
    errors = errors_of(tmp_path, text)
    assert any(fragment in e for e in errors), errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionError, match="cannot read"):
        load_subscriptions(tmp_path / "absent.yaml")


def test_group_by_all_labels() -> None:
    from services.notifier.subscriptions import parse_subscriptions

    subs = parse_subscriptions(
        {"routes": [{"name": "x", "receivers": {"email": ["a@x.org"]}, "group_by": ["..."]}]}
    )
    key = subs.routes[0].group_key({"rule": "STALE"})
    assert [name for name, _ in key] == list(LABELS)
