"""The container files start the same processes, with the same commands, as `make run`.

There is no Docker engine in CI, so these tests read the Dockerfile, docker-compose.yml and
.dockerignore as text and check them against the Procfile and bin/ scripts they build on.
"""

import functools
import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("web", "worker", "beat", "flower")
APP_SERVICES = ("migrate", *LONG_RUNNING)


def read(name):
    return (ROOT / name).read_text()


def procfile():
    lines = [line for line in read("Procfile").splitlines() if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines)}


@functools.cache
def services():
    return yaml.safe_load(read("docker-compose.yml"))["services"]


def command_of(service):
    command = services()[service]["command"]
    return command if isinstance(command, str) else " ".join(command)


@functools.cache
def dockerfile():
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    lines = [line for line in read("Dockerfile").splitlines() if not line.lstrip().startswith("#")]
    instructions = re.sub(r"\\\n", " ", "\n".join(lines)).splitlines()
    return [tuple(line.split(None, 1)) for line in instructions if line.strip()]


def index_of(instruction, pattern=""):
    """Position of the first `instruction` whose arguments match `pattern`."""
    matches = (
        i for i, (name, args) in enumerate(dockerfile()) if name == instruction and re.search(pattern, args)
    )
    return next(matches)


def test_it_defines_the_backing_services_and_one_service_per_process():
    assert set(services()) == {"postgres", "redis", *APP_SERVICES}


def test_it_runs_every_app_service_from_the_one_image_built_from_the_dockerfile():
    images = {(services()[name]["build"], services()[name]["image"]) for name in APP_SERVICES}
    assert images == {(".", "jobservice:latest")}


@pytest.mark.parametrize("process, command", sorted(procfile().items()))
def test_it_runs_each_procfile_command_in_the_service_of_the_same_name(process, command):
    assert command_of(process) == command


def test_it_runs_the_release_script_in_the_one_shot_migrate_service():
    assert command_of("migrate") == "bin/release"
    assert services()["migrate"]["restart"] == "no"


def test_it_starts_the_image_as_the_web_process_by_default():
    assert json.loads(dockerfile()[index_of("CMD")][1]) == [procfile()["web"]]


def test_it_only_names_bin_scripts_that_exist_and_are_executable():
    commands = [*procfile().values(), *(command_of(name) for name in APP_SERVICES)]
    scripts = {ROOT / command.split()[0] for command in commands}
    assert all(script.is_file() and os.access(script, os.X_OK) for script in scripts), scripts


@pytest.mark.parametrize("service", APP_SERVICES)
def test_it_points_each_app_service_at_the_compose_postgres_and_redis(service):
    environment = services()[service]["environment"]
    assert urlparse(environment["DATABASE_URL"]).hostname == "postgres"
    assert urlparse(environment["CELERY_BROKER_URL"]).hostname == "redis"
    assert environment["BIND_HOST"] == "0.0.0.0"
    assert environment["FLOWER_BASIC_AUTH"]


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_it_starts_each_process_after_healthy_backends_and_finished_migrations(service):
    assert services()[service]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services()[service]["restart"] == "unless-stopped"


def test_it_migrates_only_once_postgres_is_healthy():
    assert services()["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


@pytest.mark.parametrize("service, probe", [("postgres", "pg_isready"), ("redis", "redis-cli ping")])
def test_it_health_checks_the_backing_services(service, probe):
    assert probe in " ".join(services()[service]["healthcheck"]["test"])


def test_it_keeps_redis_queues_on_disk_with_the_append_only_file():
    assert "--appendonly yes" in command_of("redis")


def test_it_runs_at_most_one_beat_scheduler():
    beat = services()["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) <= 1
    assert "scale" not in beat


def test_it_publishes_ports_on_the_host_loopback_only():
    published = {name: service.get("ports", []) for name, service in services().items()}
    assert {name: ports for name, ports in published.items() if ports} == {
        "web": ["127.0.0.1:8000:8000"],
        "flower": ["127.0.0.1:5555:5555"],
    }


def test_it_documents_every_variable_the_compose_file_reads_in_the_readme():
    readme = read("README.md")
    names = set(re.findall(r"\$\{(\w+)", read("docker-compose.yml")))
    assert names
    assert [name for name in sorted(names) if not re.search(rf"\b{name}\b", readme)] == []


def test_it_builds_from_a_slim_python_3_11_image():
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", dockerfile()[0][1])


def test_it_installs_the_requirements_before_copying_the_rest_of_the_source():
    copy_requirements = index_of("COPY", r"^requirements\.txt ")
    install = index_of("RUN", r"pip install .*-r requirements\.txt")
    copy_source = index_of("COPY", r"^\. ")
    assert copy_requirements < install < copy_source


def test_it_switches_to_a_non_root_user_before_the_command():
    users = [(i, args) for i, (name, args) in enumerate(dockerfile()) if name == "USER"]
    assert users and users[-1][1] not in {"root", "0"}
    assert users[-1][0] < index_of("CMD")


def test_it_collects_static_files_at_build_time():
    assert index_of("RUN", r"manage\.py collectstatic --noinput") > index_of("COPY", r"^\. ")


def test_it_bakes_no_secret_key_into_the_image():
    assert not [args for name, args in dockerfile() if name in {"ENV", "ARG"} and "SECRET_KEY" in args]


def test_it_keeps_local_state_and_history_out_of_the_build_context():
    patterns = {line.strip().rstrip("/") for line in read(".dockerignore").splitlines()}
    assert {".git", ".venv", ".var", "**/__pycache__", ".env"} <= patterns


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.rabbitmq.yml"])
def test_it_is_valid_against_the_compose_specification(name):
    schema = json.loads(read("deploy/schemas/compose-spec.json"))
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(read(name)))


@pytest.mark.parametrize(
    "service, probe",
    [("web", "/readyz"), ("worker", "ops.liveness worker"), ("beat", "ops.liveness beat")],
)
def test_it_health_checks_each_process_with_its_own_probe(service, probe):
    assert probe in " ".join(services()[service]["healthcheck"]["test"])


def pins(name: str) -> dict[str, str]:
    """{normalised package name: version} of a pip requirements or constraints file."""
    found = {}
    for line in read(name).splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_the_image_and_make_install_with_the_same_constraints_that_pin_every_requirement():
    assert "-c constraints.txt" in read("scripts/venv.sh")
    assert re.search(r"pip install -r requirements\.txt -c constraints\.txt", read("Dockerfile"))
    constraints = pins("constraints.txt")
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for package, version in pins(requirements).items():
            assert constraints.get(package) == version, (requirements, package)


def test_the_rabbitmq_file_makes_rabbitmq_every_app_services_broker_and_keeps_redis():
    override = yaml.safe_load(read("docker-compose.rabbitmq.yml"))["services"]
    for service in APP_SERVICES:
        environment = override[service]["environment"]
        assert urlparse(environment["CELERY_BROKER_URL"]).scheme == "amqp"
        assert urlparse(environment["CELERY_BROKER_URL"]).hostname == "rabbitmq"
        assert urlparse(environment["REDIS_URL"]).hostname == "redis"
        assert override[service]["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}
