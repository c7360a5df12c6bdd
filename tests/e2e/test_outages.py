"""Outages and hostile messages against the live stack: PostgreSQL or Redis down, a pickled message."""

import requests
from django.utils import timezone

from config.celery_app import app
from jobs.models import Job
from jobs.services.recover import jobs_reconcile
from tests.conftest import free_port, wait_for
from tests.e2e.helpers import start_web, wait_until_finished


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

    # What the reconciler does every minute, against the real Redis the live worker uses. Beat's
    # own run may come first, or hold the reconciler's lock, so call it until the flag is cleared.
    def republished():
        jobs_reconcile()
        return not Job.objects.filter(pk=job.pk, publish_failed=True).exists()

    wait_for(republished, timeout=30, interval=0.5, what="the reconciler to publish the job")
    assert wait_until_finished(live_api, job.pk)["result"] == 42


def test_the_worker_refuses_a_pickled_message(live_api, user, celery_worker):
    job = Job.objects.create(owner=user, type="test.count", queued_at=timezone.now())
    # Someone with access to Redis sends a pickle: JSON is the only content the worker accepts.
    app.send_task("test.count", kwargs={}, task_id=str(job.pk), serializer="pickle")
    wait_for(
        lambda: "untrusted content of type pickle" in celery_worker.log(), timeout=20, what="the refusal"
    )
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 0)
