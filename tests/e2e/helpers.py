"""What the end-to-end tests do over HTTP against the live web server."""

import json
import subprocess
import sys
from datetime import datetime, timedelta

import requests
from django_celery_results.models import TaskResult
from requests.adapters import HTTPAdapter

from tests.conftest import ROOT, Process, free_port, wait_for, wait_for_http


def submit(api, type, **params):
    response = api.post(f"{api.base_url}/api/jobs/", json={"type": type, "params": params}, timeout=10)
    assert response.status_code == 202, response.text
    return response


def get_job(api, job_id):
    return api.get(f"{api.base_url}/api/jobs/{job_id}/", timeout=10).json()


def wait_until_finished(api, job_id, timeout=30):
    def finished():
        job = get_job(api, job_id)
        return job if job["status"] in {"succeeded", "failed", "cancelled"} else None

    return wait_for(finished, timeout=timeout, interval=0.05, what=f"job {job_id} to finish")


def post(api, path, **kwargs):
    return api.post(f"{api.base_url}{path}", timeout=30, **kwargs)


def wait_for_status(api, job_id, status, timeout=30):
    return wait_for(
        lambda: (job := get_job(api, job_id))["status"] == status and job,
        timeout=timeout,
        what=f"job {job_id} to be {status}",
    )


def read_events(api, job_id, headers=None):
    """Every SSE event of a job's stream, until the server ends it."""
    response = api.get(f"{api.base_url}/api/jobs/{job_id}/events/", stream=True, timeout=30, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events, fields = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "data" in fields:
                events.append({**fields, "data": json.loads(fields["data"])})
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


def liveness_probe(role: str, env: dict) -> subprocess.CompletedProcess:
    """`python -m ops.liveness worker|beat`, the exec probe of Kubernetes and Compose."""
    return subprocess.run(
        [sys.executable, "-m", "ops.liveness", role], cwd=ROOT, env=env, capture_output=True, text=True
    )


def start_web(env: dict, live_logs, name: str) -> tuple[Process, str]:
    """bin/web as one uvicorn process of the test's own; returns it and its base URL."""
    port = free_port()
    server = Process(name, ["bin/web"], {**env, "WEB_PORT": str(port), "WEB_CONCURRENCY": "1"}, live_logs)
    base_url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base_url}/livez", status=200, timeout=60, what=f"the {name} web server", process=server)
    return server, base_url


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def session_from(address: str) -> requests.Session:
    """A requests session whose connections come from `address` (any of 127.0.0.0/8 on loopback),
    so a test's throttles and lockouts are its own."""
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def assert_stored_outcome(api, job_id, *, status: str, started: bool):
    """The job's TaskResult row, as the admin's Task results and Flower show it: Celery's state,
    the type as the task's name, its args and kwargs as its message showed them and, once the
    job had started, the worker and the start of its last attempt, the row having been created
    by its first STARTED state (created and started together, then done)."""
    job = get_job(api, job_id)
    row = TaskResult.objects.get(task_id=str(job_id))
    assert (row.status, row.task_name) == (status, job["type"])
    assert (row.task_args, row.task_kwargs) == (json.dumps("()"), json.dumps(repr(job["params"])))
    assert row.date_done is not None and row.date_created <= row.date_done
    if started:
        assert row.worker.startswith("e2e@"), row.worker
        last_attempt = job["attempt_history"][-1]
        assert row.date_started.isoformat().replace("+00:00", "Z") == last_attempt["started_at"]
        assert row.date_started <= row.date_done
        first_attempt = datetime.fromisoformat(job["attempt_history"][0]["started_at"])
        assert abs(row.date_created - first_attempt) < timedelta(seconds=1)
    else:
        assert (row.worker or "", row.date_started) == ("", None)
    return row
