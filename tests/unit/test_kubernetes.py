"""deploy/kubernetes/: every manifest against the Kubernetes 1.30 schemas and KEDA's CRDs, the
settings every workload must have, and the KEDA backlog queries run against a known backlog."""

import functools
import math
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.db import connection

from jobs.models import Job, JobStatus

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes" / "base"
KUBERNETES_VERSION = "1.30.0"


@functools.cache
def resources() -> list[dict]:
    found = []
    for path in sorted(BASE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def of_kind(kind: str) -> list[dict]:
    return [resource for resource in resources() if resource["kind"] == kind]


def named(kind: str, name: str) -> dict:
    (resource,) = [r for r in of_kind(kind) if r["metadata"]["name"] == name]
    return resource


@functools.cache
def crd_schema(kind: str) -> dict:
    plural = {"ScaledObject": "scaledobjects", "TriggerAuthentication": "triggerauthentications"}[kind]
    crd = yaml.safe_load((ROOT / "deploy" / "schemas" / f"keda.sh_{plural}.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def resource_id(resource: dict) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


@pytest.mark.parametrize("resource", resources(), ids=resource_id)
def test_each_manifest_is_valid(resource):
    if resource["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(resource, crd_schema(resource["kind"]))
    else:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    on_disk = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk)


def pod_specs() -> list[tuple[str, dict]]:
    return [(resource_id(r), r["spec"]["template"]["spec"]) for r in of_kind("Deployment") + of_kind("Job")]


@pytest.mark.parametrize("name, pod", pod_specs(), ids=[name for name, _ in pod_specs()])
def test_every_pod_runs_as_non_root_read_only_with_requests_and_limits(name, pod):
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert "memory" in container["resources"]["limits"]
        assert {"configMapRef": {"name": "jobservice-config"}} in container["envFrom"]


def container(deployment: str) -> dict:
    return named("Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


def test_the_web_is_probed_on_livez_and_readyz():
    web = container("jobservice-web")
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"


def queues() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


@pytest.mark.parametrize("queue", queues())
def test_each_queue_has_a_worker_that_outlives_the_hard_time_limit_when_stopped(queue):
    name = f"jobservice-worker-{queue}"
    worker = container(name)
    assert worker["command"] == ["bin/worker", "-Q", queue]
    assert worker["livenessProbe"]["exec"]["command"] == ["python", "-m", "ops.liveness", "worker"]
    pod = named("Deployment", name)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > settings.CELERY_TASK_TIME_LIMIT
    assert named("ScaledObject", name)["spec"]["scaleTargetRef"]["name"] == name
    assert any(
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == name
        for b in of_kind("PodDisruptionBudget")
    )


def test_beat_is_one_replica_replaced_not_rolled():
    beat = named("Deployment", "jobservice-beat")["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")
    assert container("jobservice-beat")["livenessProbe"]["exec"]["command"][-1] == "beat"


def test_the_web_scales_on_cpu():
    hpa = named("HorizontalPodAutoscaler", "jobservice-web")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "jobservice-web"
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_every_variable_the_config_and_secret_set_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    names = set(named("ConfigMap", "jobservice-config")["data"]) | set(
        named("Secret", "jobservice-secrets")["stringData"]
    )
    assert [name for name in sorted(names) if not re.search(rf"`{name}`", readme)] == []


def keda_replicas(queue: str) -> int:
    """What KEDA would ask for: the query's value over the target, rounded up, within the
    bounds; the minimum (0 for scale to zero) while the value is not above the activation."""
    scaled = named("ScaledObject", f"jobservice-worker-{queue}")["spec"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(trigger["metadata"]["query"])
        (value,) = cursor.fetchone()
    if value <= float(trigger["metadata"]["activationTargetQueryValue"]):
        return scaled["minReplicaCount"]
    wanted = math.ceil(value / float(trigger["metadata"]["targetQueryValue"]))
    return max(scaled["minReplicaCount"], min(scaled["maxReplicaCount"], wanted))


@pytest.mark.django_db
def test_the_keda_queries_count_the_backlog_in_the_ledger_into_replicas(user):
    def jobs(queue, status, count):
        for _ in range(count):
            Job.objects.create(owner=user, type="math.add", queue=queue, status=status)

    assert (keda_replicas("default"), keda_replicas("long")) == (1, 0)  # empty: the minimums
    jobs("default", JobStatus.QUEUED, 9)
    jobs("default", JobStatus.RUNNING, 2)
    jobs("default", JobStatus.SUCCEEDED, 50)  # finished work asks for no worker
    jobs("default", JobStatus.SCHEDULED, 20)  # nor does work that is not due yet
    jobs("long", JobStatus.QUEUED, 1)
    # 11 queued or running at 4 per replica: 3; one long job wakes a long worker from zero.
    assert (keda_replicas("default"), keda_replicas("long")) == (3, 1)
    jobs("default", JobStatus.QUEUED, 1000)
    assert keda_replicas("default") == 20  # maxReplicaCount


def test_the_rabbitmq_overlay_makes_rabbitmq_the_broker_and_keeps_redis():
    overlay = BASE.parent / "overlays" / "rabbitmq"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../base"]
    (patch,) = [yaml.safe_load((overlay / p["path"]).read_text()) for p in kustomization["patches"]]
    kubernetes_validate.validate(patch, KUBERNETES_VERSION, strict=True)
    assert patch["metadata"]["name"] == named("Secret", "jobservice-secrets")["metadata"]["name"]
    assert patch["stringData"]["CELERY_BROKER_URL"].startswith("amqp://")
    assert patch["stringData"]["REDIS_URL"].startswith("redis://")
