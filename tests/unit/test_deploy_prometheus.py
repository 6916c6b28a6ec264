"""Prometheus alert rules about the pipeline: they parse, cover the four failure modes and use the
metric names the services register (and the NATS exporter's). promtool checks them when present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_deploy_grafana import EXTERNAL_METRICS, promql_metrics, registered_metric_names

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"


@pytest.fixture(scope="module")
def rules() -> dict[str, dict]:
    config = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    found = {}
    for group in config["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] not in found, f"duplicate alert {rule['alert']}"
            found[rule["alert"]] = rule
    return found


def test_rules_use_real_metric_names(rules: dict[str, dict]) -> None:
    known = registered_metric_names() | EXTERNAL_METRICS
    for name, rule in rules.items():
        used = promql_metrics(rule["expr"])
        assert used, name
        assert not used - known, f"{name}: unknown metrics {sorted(used - known)}"
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["annotations"]["summary"], name


def test_the_pipeline_failure_modes_are_covered(rules: dict[str, dict]) -> None:
    from gospublic import contracts as c

    def expr(name: str) -> str:
        return rules[name]["expr"]

    stalled = expr("GosPublicCollectorStalled")
    assert (
        f'stream_name="{c.TASKS_STREAM}"' in stalled
        and "gospublic_collector_tasks_total" in stalled
    )
    lag = expr("GosPublicEvaluatorLagGrowing")
    assert f'stream_name="{c.EVENTS_STREAM}"' in lag
    # Every partition group's durable (evaluator-v1-p0-7 ...) as well as the one of all partitions.
    assert f'consumer_name=~"{c.EVALUATOR_DURABLE}(-p.*)?"' in lag and "deriv(" in lag
    assert f'consumer_name="{c.NOTIFIER_DURABLE}"' in expr("GosPublicNotifierLagGrowing")
    dead = expr("GosPublicDeadLetters")
    assert "gospublic_evaluator_dead_letters_total" in dead
    assert "gospublic_notifier_dead_letters_total" in dead
    assert f'stream_name="{c.DEADLETTER_STREAM}"' in expr("GosPublicDeadLetterStreamGrowing")
    assert 'result="29"' in expr("GosPublicVkQuotaExhausted")  # VK: daily quota exceeded


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
