"""Subscriptions YAML: matchers, defaults, and a located error for every kind of mistake."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

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
    from services.notifier.subscriptions import default_inhibit_rules

    subs = load_subscriptions(REPO / "deploy" / "notifier" / "subscriptions.example.yaml")
    assert len(subs.routes) >= 2
    assert subs.inhibit_rules == default_inhibit_rules()  # spelled out, the same as built in


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
        ({"receivers": "{webhook: [ftp://x.org/hook]}"}, "receivers.webhook[0]: bad URL"),
        ({"receivers": "{webhook: ['http://']}"}, "receivers.webhook[0]: bad URL"),
        ({"receivers": '{webhook: ["https://x.org/a b"]}'}, "contains spaces"),
        ({"receivers": "{webhook: ['https://x.org:99999/']}"}, "bad URL"),
        ({"receivers": "{webhook: []}"}, "receivers.webhook: a non-empty list of URLs"),
        ({"receivers": "{grafana: yes please}"}, "receivers.grafana: must be true or false"),
        ({"receivers": "{grafana: false}"}, "receivers: required"),
        (
            {"receivers": "{grafana: true}", "send_resolved": "false"},
            "send_resolved: must be true with a grafana receiver",
        ),
        ({"digest": "weekly"}, "digest: must be true or false"),
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
        ("routes:\n  - name: x\n    receivers: {email: [a@x.org]}\ninhibit_rules: {}", "a list"),
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


INHIBIT = """
routes:
  - name: x
    receivers: {email: [a@x.org], webhook: [https://bot.example.org/h], grafana: true}
inhibit_rules:
  - name: ok
    source_matchers: {rule: PAGE_MISSING_ANY}
    target_matchers: {rule: "!~PAGE_.*"}
    equal: [org_id]
  - name: bad
    source_matchers: {colour: red}
    equal: [org_id, org_id, shoe_size]
    when: always
  - source_matchers: [rule]
    target_matchers: {severity: "=~(unclosed"}
  - name: ok
    source_matchers: {rule: A}
    target_matchers: {rule: B}
"""


def test_inhibit_rules_every_mistake_located(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, INHIBIT)
    assert errors == [
        "inhibit_rules #1 'bad': unknown field 'when'; known: equal, name, source_matchers, "
        "target_matchers",
        "inhibit_rules #1 'bad': source_matchers.colour: unknown label 'colour'; known labels: "
        + ", ".join(LABELS),
        "inhibit_rules #1 'bad': target_matchers: required, a mapping of label to value",
        "inhibit_rules #1 'bad': equal: duplicate label 'org_id'",
        "inhibit_rules #1 'bad': equal: unknown label 'shoe_size'; known: " + ", ".join(LABELS),
        "inhibit_rules #2 'inhibit-2': source_matchers: must be a mapping of label to value",
        "inhibit_rules #2 'inhibit-2': target_matchers.severity: bad regex '(unclosed': "
        "missing ), unterminated subpattern at position 0",
        "inhibit_rules #3 'ok': name: duplicate rule name",
    ]


def test_defaults_receivers_and_summary(tmp_path: Path) -> None:
    from services.notifier.subscriptions import summary

    text = INHIBIT.split("inhibit_rules:")[0]
    subs = load_subscriptions(write(tmp_path, text))
    assert subs.default_inhibit_rules and len(subs.inhibit_rules) == 2
    [route] = subs.routes
    assert [r.kind for r in route.receivers] == ["email", "webhook", "grafana"]
    assert route.digest is True
    assert [r.address for r in subs.receivers("webhook")] == ["https://bot.example.org/h"]
    lines = summary(subs).splitlines()
    assert lines[0].endswith("OK, 1 route(s)")
    assert "email x1, webhook x1, grafana x1" in lines[1]
    assert lines[2] == "2 inhibit rule(s) (built-in defaults)"
    off = load_subscriptions(write(tmp_path, text + "inhibit_rules: []\n"))
    assert off.inhibit_rules == () and not off.default_inhibit_rules


@pytest.fixture
def root_logging():
    """The CLI sets up logging on the root logger; put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_check_config_command(tmp_path: Path, capsys, monkeypatch, root_logging) -> None:
    """Offline: no NATS is started for it (GOSPUBLIC_NATS_URL points at nothing)."""
    from gospublic.apps.cli import main

    monkeypatch.setenv("GOSPUBLIC_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("GOSPUBLIC_STATE_DIR", str(tmp_path / "state"))
    for name in ("GOSPUBLIC_GRAFANA_URL", "GOSPUBLIC_GRAFANA_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    good = REPO / "deploy" / "notifier" / "subscriptions.example.yaml"
    assert main(["notifier", "check-config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK, " in out and "inhibit rule(s)" in out

    # The rest straight through the action (the command line above is the same path).
    from argparse import Namespace

    from gospublic.settings import Settings
    from services.notifier.main import run

    settings = Settings(_env_file=None)
    assert run(settings, Namespace(file=write(tmp_path, INHIBIT))) == 1
    err = capsys.readouterr().err
    assert err.count("inhibit_rules #") == 8

    grafana = write(tmp_path, INHIBIT.split("inhibit_rules:")[0])
    assert run(settings, Namespace(file=grafana)) == 1
    assert "GOSPUBLIC_GRAFANA_URL is empty" in capsys.readouterr().err
    with_grafana = settings.model_copy(
        update={"grafana_url": "http://grafana:3000", "grafana_token": SecretStr("t0ken")}
    )
    assert run(with_grafana, Namespace(file=grafana)) == 0
