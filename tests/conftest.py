import asyncio
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import tests.job_types  # noqa: F401 -- registers the test-only job types in this process too

ROOT = Path(__file__).resolve().parent.parent
LIVE_METRICS_TOKEN = "e2e-metrics-token"
TEST_JOB_TYPE_MODULES = "jobs.builtin_types,jobs.builtin_io_types,reports.job_types,tests.job_types"
UNIT, E2E = Path(__file__).parent / "unit", Path(__file__).parent / "e2e"
LIVE_FIXTURES = {"live_env", "live_api", "web_process", "web_server", "celery_worker", "celery_beat"}


def pytest_collection_modifyitems(items):
    """tests/e2e/ is the live stack's (marked e2e); tests/unit/ starts no server."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)
        elif item.path.is_relative_to(UNIT) and LIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(f"{item.nodeid} uses the live stack: it belongs in tests/e2e/")


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="alice-password")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="bob-password")


@pytest.fixture
def publish():
    """Job messages captured instead of sent to Redis: a mock called with send_task's options
    (kwargs, task_id, queue, priority...) for each job message; other tasks are sent as usual."""
    from celery import current_app

    import jobs.tasks  # noqa: F401 (registers jobs.django_task, as the worker's autodiscovery does)
    from jobs.worker.task import JobTask

    app = current_app._get_current_object()
    send_task = app.send_task
    captured = mock.Mock()

    def send_or_capture(name, *args, **options):
        if isinstance(app.tasks.get(name), JobTask):
            return captured(**options)
        return send_task(name, *args, **options)

    with mock.patch.object(app, "send_task", side_effect=send_or_capture):
        yield captured


@pytest.fixture
def run_on_publish(publish):
    """Run each published job in-process at once, as a worker would (eager: unit tests only)."""
    publish.side_effect = lambda **options: run_job(options["task_id"])
    return publish


def run_job(job_id):
    """Run a job in this process as a worker would, through its message's task (eager: unit tests only)."""
    from celery import current_app

    from jobs.models import Job
    from jobs.services.publish import task_message_of

    job = Job.objects.get(pk=job_id)
    name, args, kwargs = task_message_of(kind=job.kind, type_name=job.type, params=job.params)
    return current_app.tasks[name].apply(args=args, kwargs=kwargs, task_id=str(job.pk))


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- A live stack: uvicorn and a Celery worker as subprocesses on the test database --------


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different free ports: all bound at once while they are chosen, since a port closed
    at once can be handed out again by the next call (make run's web once got its PostgreSQL's)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_async(coroutine, *, timeout: float = 180):
    """asyncio.run in a thread of its own: once the browser tests have run, Playwright's sync API
    keeps an event loop running in the main thread, where asyncio.run refuses to start. A daemon
    thread, so a scenario stuck past `timeout` fails its test instead of holding up the run."""
    outcome: concurrent.futures.Future = concurrent.futures.Future()

    def run():
        try:
            outcome.set_result(asyncio.run(coroutine))
        except BaseException as error:  # handed to the test, re-raised there
            outcome.set_exception(error)

    threading.Thread(target=run, name="run-async", daemon=True).start()
    try:
        return outcome.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"the event loop's scenario did not finish within {timeout} s")


def wait_for(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() returns a truthy value, and return it; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_for_http(url: str, *, status: int | None = None, timeout: float, what: str, process=None):
    """Wait until `url` answers (with `status`, if given); fail early if `process` has exited."""

    def answers():
        if process is not None:
            assert process.popen.poll() is None, process.log()
        try:
            code = requests.get(url, timeout=2).status_code
        except requests.ConnectionError:
            return False
        return code == status if status is not None else True

    wait_for(answers, timeout=timeout, interval=0.2, what=what)


class Process:
    """A subprocess in its own process group, with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


@pytest.fixture(scope="session")
def live_env(django_db_setup, tmp_path_factory):
    """Environment for subprocesses that must see the test database (not the dev one); the
    live web and worker add up their metrics in one folder, as on one machine."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        JOB_TYPE_MODULES=TEST_JOB_TYPE_MODULES,
        OUTBOUND_ALLOW_LOOPBACK="true",
        PYTHONUNBUFFERED="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path_factory.mktemp("metrics")),
        METRICS_TOKEN=LIVE_METRICS_TOKEN,
    )
    return env


@pytest.fixture(scope="session")
def live_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("live-logs")


@pytest.fixture(scope="session")
def celery_worker(live_env, live_logs):
    worker = Process(
        "worker",
        ["celery", "-A", "config", "worker", "-l", "info", "-c", "2", "-n", "e2e@%h", "--without-mingle"],
        live_env,
        live_logs,
    )
    wait_for(lambda: re.search(r"e2e@\S+ ready", worker.log()), timeout=60, what="the Celery worker")
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def celery_beat(live_env, live_logs):
    # A file-based schedule from CELERY_BEAT_SCHEDULE: the tests flush the database between
    # tests, which would pull the rug from under DatabaseScheduler.
    beat = Process(
        "beat",
        [
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "-S",
            "celery.beat:PersistentScheduler",
            "-s",
            str(live_logs / "beat-schedule"),
            "--max-interval",
            "1",
        ],
        live_env,
        live_logs,
    )
    wait_for(lambda: "beat: Starting" in beat.log(), timeout=60, what="Celery beat")
    yield beat
    beat.stop()


@pytest.fixture(scope="session")
def web_process(live_env, live_logs):
    """bin/web as one uvicorn process (no worker processes), with its base_url."""
    port = free_port()
    env = dict(live_env, WEB_PORT=str(port), WEB_CONCURRENCY="1")
    server = Process("web", ["bin/web"], env, live_logs)
    server.base_url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{server.base_url}/api/", status=401, timeout=60, what="the web server", process=server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def web_server(web_process):
    return web_process.base_url


@pytest.fixture
def live_api(transactional_db, web_server, celery_worker, celery_beat, user):
    """A requests session for `user` against the live web server, with a worker running jobs."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    session.base_url = web_server
    return session


def metric_samples(text: str) -> dict:
    """{(sample name, frozenset of labels): value} from the Prometheus text format."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
