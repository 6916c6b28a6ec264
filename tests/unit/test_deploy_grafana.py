"""Grafana provisioning: data sources and dashboards parse, uids are stable and unique, every panel
names a provisioned data source, and Prometheus panels use metrics the services really export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from gospublic.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
EXPECTED_UIDS = {
    "gospublic-region",
    "gospublic-org",
    "gospublic-feedback",
    "gospublic-pipeline",
}
# Exported by prometheus-nats-exporter (-jsz=all) and by Prometheus itself.
EXTERNAL_METRICS = {
    "up",
    "jetstream_consumer_num_pending",
    "jetstream_consumer_num_ack_pending",
    "jetstream_stream_total_messages",
}


@pytest.fixture(scope="module")
def datasources() -> dict[str, dict]:
    sources = {}
    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert config["apiVersion"] == 1
        for source in config["datasources"]:
            assert source["uid"] not in sources, f"duplicate datasource uid {source['uid']}"
            sources[source["uid"]] = source
    return sources


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict]:
    boards = {}
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] not in boards, f"duplicate dashboard uid {board['uid']}"
        boards[board["uid"]] = board
    return boards


def registered_metric_names() -> set[str]:
    """Every sample name the services' metrics produce (counter x → x_total, histogram → …)."""
    from prometheus_client import REGISTRY

    import services.collector.main
    import services.collector.vk_client
    import services.evaluator.main
    import services.notifier.main  # noqa: F401

    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("gospublic_"):
            names.update(family.name + s for s in suffixes[family.type])
    return names


def promql_metrics(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_strings = re.sub(r'"[^"]*"', "", without_labels)
    return set(re.findall(r"\b(gospublic_\w+|jetstream_\w+|gnatsd_\w+|up)\b", without_strings))


def test_datasources(datasources: dict[str, dict]) -> None:
    assert set(datasources) == {"gospublic-clickhouse", "gospublic-prometheus"}
    clickhouse = datasources["gospublic-clickhouse"]
    assert clickhouse["type"] == "grafana-clickhouse-datasource"
    assert clickhouse["jsonData"]["protocol"] in ("native", "http")
    assert {"host", "port", "username", "defaultDatabase"} <= set(clickhouse["jsonData"])
    # The password comes from the environment, never from the file.
    assert re.fullmatch(r"\$\{\w+\}", clickhouse["secureJsonData"]["password"])
    assert datasources["gospublic-prometheus"]["type"] == "prometheus"


def test_dashboard_provider_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/gospublic.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


def test_dashboards_have_the_stable_uids(dashboards: dict[str, dict]) -> None:
    assert set(dashboards) == EXPECTED_UIDS
    for uid, board in dashboards.items():
        assert board["title"] and board["schemaVersion"] >= 36, uid
        assert "gospublic" in board["tags"], uid


def test_the_notifiers_dashboard_link_exists(dashboards: dict[str, dict]) -> None:
    path = urlparse(Settings.model_fields["dashboard_url"].default).path
    assert path.startswith("/d/") and path.split("/")[2] in dashboards


def _panels(board: dict):
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside collapsed rows


def test_every_panel_names_an_existing_datasource(
    dashboards: dict[str, dict], datasources: dict[str, dict]
) -> None:
    for uid, board in dashboards.items():
        ids = [p["id"] for p in _panels(board)]
        assert len(ids) == len(set(ids)), f"{uid}: duplicate panel ids"
        for panel in _panels(board):
            where = f"{uid} / {panel['title']}"
            if panel["type"] in ("row", "text"):
                continue
            source = panel["datasource"]
            assert source["uid"] in datasources, where
            assert source["type"] == datasources[source["uid"]]["type"], where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["datasource"] == source, where
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, where
        for var in board["templating"]["list"]:
            if "datasource" in var:
                assert var["datasource"]["uid"] in datasources, f"{uid} ${var['name']}"


def test_clickhouse_targets_use_the_plugin_format(dashboards: dict[str, dict]) -> None:
    for uid, board in dashboards.items():
        for panel in _panels(board):
            if panel.get("datasource", {}).get("uid") != "gospublic-clickhouse":
                continue
            for target in panel["targets"]:
                where = f"{uid} / {panel['title']}"
                assert target["editorType"] == "sql" and target["rawSql"].strip(), where
                # format: 0 time series, 1 table (sqlutil.FormatQueryOption).
                expected = {0: "timeseries", 1: "table"}[target["format"]]
                assert target["queryType"] == expected, where
                if panel["type"] == "timeseries":
                    assert target["format"] == 0, where
                # Table names stay unqualified: they resolve in the datasource's defaultDatabase.
                assert "gospublic." not in target["rawSql"], where


def test_dashboard_links_point_at_existing_dashboards(dashboards: dict[str, dict]) -> None:
    text = json.dumps(list(dashboards.values()))
    linked = set(re.findall(r"/d/([\w-]+)", text))
    assert linked, "the region overview links to the organisation card"
    assert linked <= set(dashboards)
    org_vars = {v["name"] for v in dashboards["gospublic-org"]["templating"]["list"]}
    assert set(re.findall(r"var-(\w+)=", text)) <= org_vars


def test_prometheus_panels_use_real_metric_names(dashboards: dict[str, dict]) -> None:
    known = registered_metric_names() | EXTERNAL_METRICS
    used = set()
    for board in dashboards.values():
        for panel in _panels(board):
            if panel.get("datasource", {}).get("uid") == "gospublic-prometheus":
                for target in panel["targets"]:
                    used |= promql_metrics(target["expr"])
    assert used, "no Prometheus panel found"
    assert not used - known, f"unknown metrics: {sorted(used - known)}"
    # The pipeline-health questions, each answered by at least one panel.
    for needed in (
        "gospublic_collector_events_published_total",
        "jetstream_consumer_num_pending",
        "gospublic_collector_api_requests_total",
        "gospublic_evaluator_dead_letters_total",
        "gospublic_notifier_notifications_total",
    ):
        assert needed in used, needed


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheus_panel_queries_parse(dashboards: dict[str, dict], tmp_path: Path) -> None:
    """promtool parses every panel's PromQL, given as recording rules (Grafana's own variables
    replaced by what Grafana would put there)."""
    rules = []
    for board in dashboards.values():
        for panel in _panels(board):
            if panel.get("datasource", {}).get("uid") != "gospublic-prometheus":
                continue
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "1m").replace("$__range", "6h")
                rules.append(
                    {"record": f"check:{board['uid']}:{len(rules)}".replace("-", "_"), "expr": expr}
                )
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
