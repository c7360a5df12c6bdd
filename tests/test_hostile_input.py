"""Bad input and outages get a clear JSON answer: never a 500, an HTML page or a traceback."""

from unittest import mock

import pytest
import redis
import requests
from django.db import OperationalError
from django.utils import timezone

from jobs import selectors
from jobs.models import Job
from jobs.services.recover import jobs_reconcile
from tests.conftest import Process, free_port, run_job, wait_for, wait_for_http
from tests.test_e2e import wait_until_finished

pytestmark = pytest.mark.django_db


def test_an_oversized_body_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"type": "text.uppercase", "params": {"text": "x" * 20_000}}
    response = api.post("/api/jobs/", body, format="json")
    assert (response.status_code, response.json()) == (413, {"detail": "The request body is too large."})


def test_a_wrong_content_type_is_a_415(api):
    response = api.post("/api/jobs/", "type=math.add", content_type="text/plain")
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_malformed_json_is_a_400(api):
    response = api.post("/api/jobs/", '{"type": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("outage", [OperationalError("connection refused"), redis.ConnectionError("refused")])
def test_an_outage_is_a_503_with_retry_after(api, outage):
    with mock.patch.object(selectors, "job_list", side_effect=outage):
        response = api.get("/api/jobs/")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {"detail": "The service is briefly unavailable; please retry shortly."}


def start_web(env, live_logs, name):
    port = free_port()
    server = Process(name, ["bin/web"], {**env, "WEB_PORT": str(port), "WEB_CONCURRENCY": "1"}, live_logs)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/api/schema/", timeout=60, what=f"the {name} web server", process=server)
    return server, base


@pytest.mark.e2e
def test_with_postgres_down_the_api_answers_503_with_retry_after(live_env, live_logs):
    closed = free_port()  # nothing listens here
    env = {**live_env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed}/jobs"}
    server, base = start_web(env, live_logs, "web-no-postgres")
    try:
        response = requests.get(f"{base}/api/jobs/", headers={"Authorization": "Token abc"}, timeout=30)
    finally:
        server.stop()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert response.headers["Content-Type"] == "application/json"
    assert "Traceback" not in response.text


@pytest.mark.e2e
def test_with_redis_down_a_job_is_accepted_and_runs_once_redis_is_back(live_api, live_env, live_logs):
    token = live_api.headers["Authorization"]
    env = {**live_env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    server, base = start_web(env, live_logs, "web-no-redis")
    try:
        response = requests.post(
            f"{base}/api/jobs/",
            json={"type": "math.add", "params": {"x": 20, "y": 22}},
            headers={"Authorization": token},
            timeout=60,
        )
    finally:
        server.stop()
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.publish_failed) == ("queued", True)

    # What the reconciler does every minute, against the real Redis the live worker uses.
    assert jobs_reconcile()["republished"] == 1
    assert wait_until_finished(live_api, job.pk)["result"] == 42


@pytest.mark.e2e
def test_the_worker_refuses_a_pickled_message(live_api, user, celery_worker):
    from config.celery_app import app

    job = Job.objects.create(owner=user, type="test.count", queued_at=timezone.now())
    # Someone with access to Redis sends a pickle: JSON is the only content the worker accepts.
    app.send_task("test.count", kwargs={}, task_id=str(job.pk), serializer="pickle")
    wait_for(
        lambda: "untrusted content of type pickle" in celery_worker.log(), timeout=20, what="the refusal"
    )
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 0)


def test_a_result_json_cannot_hold_fails_the_job_instead_of_breaking_the_api(api, user):

    job = Job.objects.create(owner=user, type="test.infinite")
    run_job(str(job.pk))
    response = api.get(f"/api/jobs/{job.pk}/")
    assert response.status_code == 200
    assert response.json()["error"] == {
        "type": "ResultNotJSON",
        "message": "The job's result cannot be stored: Numbers must be finite (no NaN or infinity).",
    }
    assert api.get("/api/jobs/").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "data.process", "params": {"data": {"a": 1e999}}}',
        '{"type": "text.uppercase", "params": {"text": "a\\u0000b"}}',
    ],
)
def test_values_the_database_cannot_store_are_a_400_not_a_503(api, body):
    response = api.post("/api/jobs/", body, content_type="application/json")
    assert response.status_code == 400
    assert "params" in response.json()
    assert not Job.objects.exists()


def test_the_params_check_refuses_what_jsonb_cannot_hold():
    from jobs.services.submit import json_storable_problem

    assert (
        json_storable_problem({"a": [1, {"b": float("inf")}]})
        == "Numbers must be finite (no NaN or infinity)."
    )
    assert json_storable_problem({"a": "x\x00y"}) == "Text must not contain NUL characters."
    assert json_storable_problem({"a": [1.5, "ok"]}) == ""
