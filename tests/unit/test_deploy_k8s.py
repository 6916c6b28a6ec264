"""Kubernetes manifests: valid against the Kubernetes schemas (offline, kubernetes-validate ships
them), probes on /healthz and /readyz, configuration that Settings understands, collectors sized by
their tokens, and the KEDA ScaledObject (a CRD, so checked field by field) on the real consumer."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gospublic import contracts as c
from gospublic.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"
VK_REQUESTS_PER_TOKEN = 3.0  # VK's limit per access token


def load(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module")
def resources() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(load(path))
    return docs


def by_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_specs(resources: list[dict]):
    for r in resources:
        if r["kind"] in ("Deployment", "StatefulSet"):
            yield r["metadata"]["name"], r["spec"]["template"]["spec"]
        elif r["kind"] == "CronJob":
            yield r["metadata"]["name"], r["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_kustomization_lists_every_manifest_but_the_secrets_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secrets.example.yaml"}


def test_manifests_validate_against_the_kubernetes_schemas(resources: list[dict]) -> None:
    checked = 0
    for resource in resources:
        if resource["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: not in the Kubernetes schemas, see the ScaledObject test
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 8


def test_validation_rejects_a_broken_manifest(resources: list[dict]) -> None:
    import copy

    broken = copy.deepcopy(by_kind(resources, "StatefulSet")["evaluator"])
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_services_have_probes_on_healthz_and_readyz(resources: list[dict]) -> None:
    deployments = by_kind(resources, "Deployment")
    assert set(deployments) == {
        "collector-vk",
        "collector-ok",
        "collector-tg",
        "collector-max",
        "notifier",
        "receiver",
    }
    assert set(by_kind(resources, "StatefulSet")) == {"evaluator"}  # partitioned, see below
    for name, deployment in {**deployments, **by_kind(resources, "StatefulSet")}.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == 8080, name


def test_one_collector_deployment_per_platform(resources: list[dict]) -> None:
    from services.collector.main import PLATFORMS

    collectors = {
        name: d
        for name, d in by_kind(resources, "Deployment").items()
        if d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "collector"
    }
    assert sorted(collectors) == sorted(f"collector-{p}" for p in PLATFORMS)


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_collectors_are_sized_by_their_tokens(resources: list[dict]) -> None:
    deployment = by_kind(resources, "Deployment")["collector-vk"]
    env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
    per_replica = float(env["GOSPUBLIC_VK_REQUESTS_PER_SECOND"]["value"])
    # Every replica uses every token: together they must stay within VK's limit per token.
    assert deployment["spec"]["replicas"] * per_replica <= VK_REQUESTS_PER_TOKEN
    assert env["GOSPUBLIC_VK_TOKENS"]["valueFrom"]["secretKeyRef"] == {
        "name": "gospublic-vk",
        "key": "tokens",
    }


def test_configuration_is_settings_and_secrets_come_from_secrets(resources: list[dict]) -> None:
    fields = set(Settings.model_fields)
    names = set()
    for config in by_kind(resources, "ConfigMap").values():
        names |= {k for k in config["data"] if k.startswith("GOSPUBLIC_")}
        for key in config["data"]:
            assert not re.search(r"PASSWORD|TOKEN", key), f"a secret in a ConfigMap: {key}"
    secrets = by_kind(resources, "Secret")
    for name, spec in pod_specs(resources):
        for container in spec["containers"]:
            for env in _env(container).values():
                if env["name"].startswith("GOSPUBLIC_"):
                    names.add(env["name"])
                if re.search(r"PASSWORD|TOKEN", env["name"]):
                    ref = env["valueFrom"]["secretKeyRef"]
                    assert ref["key"] in secrets[ref["name"]]["stringData"], f"{name}: {ref}"
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in by_kind(resources, "ConfigMap")
    unknown = sorted(n for n in names if n.removeprefix("GOSPUBLIC_").lower() not in fields)
    assert not unknown, f"not fields of Settings: {unknown}"
    for secret in secrets.values():
        assert all(v in ("", "gospublic", "587") for v in secret["stringData"].values()), (
            "the example Secrets carry no real value"
        )


def test_pods_run_locked_down(resources: list[dict]) -> None:
    for name, spec in pod_specs(resources):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert container["resources"]["limits"], name


def test_single_instance_services_never_overlap(resources: list[dict]) -> None:
    deployments = by_kind(resources, "Deployment")
    assert deployments["notifier"]["spec"]["strategy"]["type"] == "Recreate"
    assert deployments["notifier"]["spec"]["replicas"] == 1
    # Each evaluator pod owns its partition group on a durable of its own: a StatefulSet never runs
    # one pod index twice, not even during a rollout, and the index picks the group.
    evaluator = by_kind(resources, "StatefulSet")["evaluator"]
    env = _env(evaluator["spec"]["template"]["spec"]["containers"][0])
    assert (
        int(env["GOSPUBLIC_EVALUATOR_PARTITION_GROUPS"]["value"]) == evaluator["spec"]["replicas"]
    )
    assert env["GOSPUBLIC_EVALUATOR_PARTITION_GROUP"]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"
    }
    assert evaluator["spec"]["podManagementPolicy"] == "Parallel"
    service = by_kind(resources, "Service")[evaluator["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"


def evaluator_durables(resources: list[dict]) -> list[str]:
    """The durable of each evaluator pod, as the evaluator names it from its settings."""
    from gospublic.bus.topology import owned_partitions

    evaluator = by_kind(resources, "StatefulSet")["evaluator"]
    groups = evaluator["spec"]["replicas"]
    return [
        c.evaluator_durable(
            owned_partitions(
                Settings(
                    _env_file=None,
                    evaluator_partition_groups=groups,
                    evaluator_partition_group=group,
                )
            )
        )
        for group in range(groups)
    ]


def test_the_evaluator_groups_own_every_partition_once(resources: list[dict]) -> None:
    from gospublic.bus.topology import owned_partitions

    groups = by_kind(resources, "StatefulSet")["evaluator"]["spec"]["replicas"]
    owned = [
        owned_partitions(
            Settings(_env_file=None, evaluator_partition_groups=groups, evaluator_partition_group=g)
        )
        for g in range(groups)
    ]
    assert sorted(p for group in owned for p in group) == list(range(c.EVENT_PARTITIONS))
    assert len(set(evaluator_durables(resources))) == groups


def test_keda_scales_the_evaluators_on_their_consumers_lag(resources: list[dict]) -> None:
    scaled = by_kind(resources, "ScaledObject")
    assert set(scaled) == {"evaluator"}
    obj = scaled["evaluator"]
    assert obj["apiVersion"] == "keda.sh/v1alpha1"
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    spec = obj["spec"]
    allowed = {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "idleReplicaCount", "fallback", "advanced", "triggers",
    }  # fmt: skip
    assert set(spec) <= allowed
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "StatefulSet")
    evaluator = by_kind(resources, "StatefulSet")[target["name"]]
    assert evaluator["metadata"]["namespace"] == obj["metadata"]["namespace"]
    # Replicas are the partition groups (the pod index picks one): all of them or none.
    groups = evaluator["spec"]["replicas"]
    assert spec["minReplicaCount"] == 0
    assert spec["maxReplicaCount"] == groups
    nats_url = by_kind(resources, "ConfigMap")["gospublic-config"]["data"]["GOSPUBLIC_NATS_URL"]
    names = []
    for trigger in spec["triggers"]:
        assert trigger["type"] == "nats-jetstream"
        assert set(trigger) == {"type", "name", "metadata"}
        meta = trigger["metadata"]
        assert set(meta) <= {
            "natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold",
            "activationLagThreshold", "useHttps",
        }  # fmt: skip
        assert meta["stream"] == c.EVENTS_STREAM
        assert meta["account"] == "$G"
        assert re.fullmatch(r"[\w.-]+:8222", meta["natsServerMonitoringEndpoint"])
        for key in ("lagThreshold", "activationLagThreshold"):
            assert isinstance(meta[key], str) and meta[key].isdigit(), key  # KEDA wants strings
        assert meta["natsServerMonitoringEndpoint"].split(":")[0] in nats_url
        names.append(trigger["name"])
    # One trigger on each pod's durable, named as the evaluators name them.
    consumers = [t["metadata"]["consumer"] for t in spec["triggers"]]
    assert consumers == evaluator_durables(resources)
    modifiers = spec["advanced"]["scalingModifiers"]
    assert set(modifiers) <= {"formula", "target", "activationTarget", "metricType"}
    assert modifiers["formula"] == " + ".join(names) + f" > 0 ? {groups} : 0"
    assert (modifiers["target"], modifiers["activationTarget"]) == ("1", "0")
    assert modifiers["metricType"] == "AverageValue"
