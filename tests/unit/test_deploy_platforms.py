"""The static deploy files and dashboards list every platform that has a descriptor: adding a
platform's descriptor without its collector service, scrape job or page links fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gospublic.platforms.descriptor import descriptors, platform_ids

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"


def _sql(dashboard: str) -> list[tuple[str, str]]:
    def walk(panels):
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    data = json.loads((DASHBOARDS / dashboard).read_text(encoding="utf-8"))
    return [
        (panel.get("title", ""), target["rawSql"])
        for panel in walk(data["panels"])
        for target in panel.get("targets", [])
        if "rawSql" in target
    ]


@pytest.mark.parametrize("platform", platform_ids())
def test_compose_runs_a_collector_for_the_platform(platform: str) -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services[f"collector-{platform}"]["command"] == ["collector", "--platform", platform]


@pytest.mark.parametrize("platform", platform_ids())
def test_k8s_deploys_a_collector_for_the_platform(platform: str) -> None:
    path = ROOT / "deploy" / "k8s" / f"collector-{platform}.yaml"
    deployment = yaml.safe_load(path.read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "collector", "--platform", platform,
    ]  # fmt: skip
    kustomization = yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())
    assert path.name in kustomization["resources"]


@pytest.mark.parametrize("platform", platform_ids())
def test_prometheus_scrapes_the_platform_collector(platform: str) -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    [static] = jobs[f"collector-{platform}"]["static_configs"]
    assert static["labels"]["platform"] == platform


@pytest.mark.parametrize(
    ("dashboard", "marker"),
    [
        ("organisation-card.json", "AS url"),
        ("citizen-feedback.json", "AS page_url"),
    ],
)
def test_page_links_on_the_dashboards_cover_every_platform(dashboard: str, marker: str) -> None:
    [sql] = [sql for _, sql in _sql(dashboard) if marker in sql]
    listed = set(re.findall(r"platform = '([a-z]+)'", sql.split(marker)[0]))
    assert listed >= set(platform_ids())


def test_the_region_overview_counts_pages_per_platform_in_the_descriptors_order() -> None:
    [sql] = [sql for title, sql in _sql("region-overview.json") if title == "Страницы по площадкам"]
    order = re.search(r"indexOf\(\[([^\]]*)\], platform\)", sql)
    assert order is not None
    assert tuple(re.findall(r"'([a-z]+)'", order.group(1))) == platform_ids()
    assert "not_connected" in sql
    data = json.loads((DASHBOARDS / "region-overview.json").read_text(encoding="utf-8"))
    [panel] = [p for p in data["panels"] if p.get("title") == "Страницы по площадкам"]
    mappings = panel["fieldConfig"]["overrides"][0]["properties"][1]["value"][0]["options"]
    assert {k: v["text"] for k, v in mappings.items()} == {d.id: d.name_ru for d in descriptors()}
