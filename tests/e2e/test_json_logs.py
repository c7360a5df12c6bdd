"""LOG_FORMAT=json: every line bin/web and bin/worker write is a JSON object; the worker's lines
for a job carry its id, type and attempt, and the web's for a request its request id."""

import json
from urllib.parse import urlsplit

import pytest
import redis
import requests
from rest_framework.authtoken.models import Token

from tests.conftest import Process, wait_for
from tests.e2e.helpers import start_web


@pytest.fixture
def private_broker(live_env):
    """A Redis database no other worker of the test run reads."""
    url = urlsplit(live_env["CELERY_BROKER_URL"])._replace(path="/8").geturl()
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert line.startswith("{"), line
    return [json.loads(line) for line in lines]


def test_every_line_is_json_and_a_jobs_lines_carry_its_id(
    transactional_db, user, live_env, live_logs, private_broker
):
    env = dict(live_env, CELERY_BROKER_URL=private_broker, LOG_FORMAT="json", LOG_LEVEL="info")
    worker = Process("worker-json", ["bin/worker", "-c", "1", "-n", "json@%h"], env, live_logs)
    web, base_url = start_web(env, live_logs, "web-json")
    try:
        wait_for(lambda: "json@" in worker.log() and " ready" in worker.log(), timeout=60, what="the worker")
        headers = {"Authorization": f"Token {Token.objects.create(user=user).key}", "X-Request-ID": "req-42"}
        answer = requests.post(
            f"{base_url}/api/jobs/", json={"type": "test.log_line"}, headers=headers, timeout=10
        )
        assert answer.status_code == 202, answer.text
        assert answer.headers["X-Request-ID"] == "req-42"
        job_id = answer.json()["id"]
        wait_for(lambda: "a print from inside the job" in worker.log(), timeout=30, what="the job to run")
        requests.get(f"{base_url}/api/jobs/not-a-uuid/", headers=headers, timeout=10)  # a 404: Django logs it
    finally:
        web.stop()
        worker.stop()

    worker_lines = json_lines(worker.log())
    for line in worker_lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    inside = [line for line in worker_lines if "inside the job" in line["message"]]
    assert len(inside) == 2, inside  # the logged line and the print (Celery redirects stdout)
    for line in inside:
        assert (line["job_id"], line["job_type"], line["attempt"]) == (job_id, "test.log_line", 1)

    web_lines = json_lines(web.log())
    not_found = [line for line in web_lines if line["logger"] == "django.request"]
    assert not_found and all(line["request_id"] == "req-42" for line in not_found), web_lines
    posted = [line for line in web_lines if "POST /api/jobs/" in line["message"]]
    assert [line["request_id"] for line in posted] == ["req-42"]  # uvicorn's access line
