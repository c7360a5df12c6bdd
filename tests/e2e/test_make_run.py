"""`make run` as a new user meets it: one command brings everything up, Ctrl-C takes it all down."""

import os
import re
import shutil
import signal
import subprocess
import uuid

import pytest
import requests

from tests.conftest import ROOT, Process, free_ports, wait_for, wait_for_http


@pytest.fixture
def stack_dir():
    # Under the repository, not /tmp: as root, the stack's PostgreSQL runs as 'postgres'
    # and must be able to reach its data folder.
    path = ROOT / ".var" / f"smoke-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def project_env_file():
    """The project's .env, which make run writes: a developer's own is put back afterwards."""
    path = ROOT / ".env"
    saved = path.read_bytes() if path.exists() else None
    yield path
    if saved is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(saved)


@pytest.fixture
def stack_env(stack_dir, project_env_file):
    # Without ENV_FILE (make test sets it empty), make run writes the project's .env, as for a user.
    left_out = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "ENV_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in left_out}
    pg_port, redis_port, web_port, flower_port = free_ports(4)
    env.update(
        STACK_VAR_DIR=str(stack_dir),
        PG_PORT=str(pg_port),
        REDIS_PORT=str(redis_port),
        WEB_PORT=str(web_port),
        FLOWER_PORT=str(flower_port),
        ADMIN_PASSWORD="first-password",
        WEB_CONCURRENCY="1",
    )
    return env


@pytest.fixture
def stacks(stack_dir):
    """Started `make run` stacks, interrupted at teardown even when the test fails."""
    started = []
    yield started
    for stack in started:
        interrupt(stack)


def start_stack(stacks, env, log_dir, name):
    stack = Process(name, ["scripts/stack.sh", "run"], env, log_dir)
    stacks.append(stack)
    web = f"http://127.0.0.1:{env['WEB_PORT']}"

    wait_for_http(f"{web}/api/", status=401, timeout=120, what="make run's web server", process=stack)
    return stack, web


def interrupt(stack):
    """What Ctrl-C in the terminal does: SIGINT to the whole foreground process group."""
    if stack.popen.poll() is None:
        os.killpg(stack.popen.pid, signal.SIGINT)
        stack.popen.wait(60)
    stack.stop()


def port_open(port) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except requests.ConnectionError:
        return False


def test_make_run_serves_everything_and_ctrl_c_stops_it_all(stacks, stack_env, stack_dir, tmp_path):
    stack, web = start_stack(stacks, stack_env, tmp_path, "run-1")
    flower = f"http://127.0.0.1:{stack_env['FLOWER_PORT']}"
    log = stack.log()
    assert f"http://127.0.0.1:{stack_env['WEB_PORT']}/admin/" in log
    assert "user admin / password first-password" in log
    assert "basic auth admin:admin" in log

    token = requests.post(
        f"{web}/api/auth/token/", data={"username": "admin", "password": "first-password"}
    ).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token['token']}"
    job = session.post(f"{web}/api/jobs/", json={"type": "math.add", "params": {"x": 40, "y": 2}}).json()
    done = wait_for(
        lambda: (j := session.get(job["url"]).json())["status"] == "succeeded" and j,
        timeout=60,
        what="a job on make run's worker",
    )
    assert done["result"] == 42

    docs = requests.get(f"{web}/api/docs/")
    asset = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', docs.text).group(1)
    assert requests.get(f"{web}{asset}").status_code == 200
    assert requests.get(f"{web}/static/admin/css/base.css").status_code == 200

    # make run starts everything at once; Flower may still be starting after the web server.
    wait_for_http(f"{flower}/", status=401, timeout=60, what="make run's Flower", process=stack)
    assert requests.get(f"{flower}/api/workers").status_code == 401
    for path in ("/metrics", "/healthcheck"):  # Flower 2.2 leaves these two open by itself
        assert requests.get(f"{flower}{path}").status_code == 401
        assert requests.get(f"{flower}{path}", auth=("admin", "admin")).status_code == 200
    # No page of Flower's can be framed, or names its server, whether it answers 200, 401 or 404.
    for path, auth in (("/", ("admin", "admin")), ("/", None), ("/no-such-page", ("admin", "admin"))):
        headers = requests.get(f"{flower}{path}", auth=auth).headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert "Server" not in headers
    # A kubelet's probe: the pod's address as Host, no credentials.
    probe = {"Host": "10.244.1.17:8000"}
    assert requests.get(f"{web}/readyz", headers=probe, timeout=10).json() == {"status": "ok"}
    workers = wait_for(
        # refresh=1: Flower started before the worker has an empty cache until it asks again.
        lambda: requests.get(f"{flower}/api/workers?refresh=1", auth=("admin", "admin"), timeout=5).json(),
        timeout=60,
        what="Flower to see the worker",
    )
    assert any(name.startswith("worker@") for name in workers)
    # Flower's task list comes from the worker's events. Once Flower has heard the worker's own
    # event heartbeat, it hears the events of a job sent after that too.
    wait_for(
        lambda: any(
            alive and name.startswith("worker@")
            for name, alive in requests.get(f"{flower}/api/workers?status=1", auth=("admin", "admin"))
            .json()
            .items()
        ),
        timeout=60,
        what="Flower to hear the worker's events",
    )
    seen = session.post(f"{web}/api/jobs/", json={"type": "math.add", "params": {"x": 1, "y": 2}}).json()
    tasks = wait_for(
        lambda: (
            (t := requests.get(f"{flower}/api/tasks", auth=("admin", "admin"), timeout=5).json())
            and seen["id"] in t
            and t
        ),
        timeout=60,
        what="Flower to list the job",
    )
    # Flower shows the jobs, not the dispatcher that runs every second.
    assert {task["name"] for task in tasks.values()} == {"math.add"}
    use_the_stack_from_a_plain_shell(web, flower, stack_env, tmp_path)
    assert "Starting..." in stack.log()  # beat

    interrupt(stack)
    for port in (stack_env["WEB_PORT"], stack_env["FLOWER_PORT"]):
        assert not port_open(port)
    assert (
        subprocess.run(["redis-cli", "-p", stack_env["REDIS_PORT"], "ping"], capture_output=True).returncode
        != 0
    )
    assert not (stack_dir / "pg" / "postmaster.pid").exists()

    # A second run reuses the data: the job is still there, the admin user is left alone.
    stack_env["ADMIN_PASSWORD"] = "changed-password"
    stack, web = start_stack(stacks, stack_env, tmp_path, "run-2")
    assert "already exists; left unchanged" in stack.log()
    assert session.get(job["url"]).json()["result"] == 42
    interrupt(stack)


# A Django task enqueued from `manage.py shell`, waited for there, printed as "<id> <status> <value>".
ENQUEUE_AND_WAIT = """
import time
from tests.tasks import add
result = add.enqueue(2, 3)
deadline = time.monotonic() + 60
while not result.is_finished and time.monotonic() < deadline:
    time.sleep(0.1)
    result.refresh()
print(result.id, result.status, result.return_value)
"""


def use_the_stack_from_a_plain_shell(web, flower, stack_env, tmp_path):
    """A new terminal with nothing exported: manage.py reads the .env make run wrote, and a
    Django task it enqueues shows up in `manage.py jobs`, the admin and Flower."""
    assert (ROOT / ".env").read_text().startswith("# Written by make run")
    plain = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}

    def manage(*args):
        done = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", *args],
            cwd=ROOT,
            env=plain,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    task_id, status, value = manage("shell", "-c", ENQUEUE_AND_WAIT).split()[-3:]
    assert (status, value) == ("SUCCESSFUL", "5")
    listed = manage("jobs")
    assert task_id in listed and "tests.tasks.add" in listed
    assert "tests.tasks.add" in manage("job", task_id)

    admin = requests.Session()
    login = f"{web}/admin/login/"
    admin.get(login, timeout=10)
    admin.post(
        login,
        data={
            "username": "admin",
            "password": stack_env["ADMIN_PASSWORD"],
            "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=10,
    )
    page = admin.get(f"{web}/admin/jobs/job/?kind__exact=task", timeout=10)
    assert page.status_code == 200 and task_id in page.text and "tests.tasks.add" in page.text

    def in_flower():
        tasks = requests.get(f"{flower}/api/tasks", auth=("admin", "admin"), timeout=5).json()
        return tasks.get(task_id)

    shown = wait_for(in_flower, timeout=30, what="Flower to show the Django task")
    assert shown["name"] == "jobs.django_task"
    assert "tests.tasks.add" in shown["args"]
