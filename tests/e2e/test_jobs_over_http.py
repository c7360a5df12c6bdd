"""Over HTTP against uvicorn, with a live Celery worker, PostgreSQL and Redis: no eager mode."""

import json

import pytest
from django_celery_results.models import TaskResult
from rest_framework.exceptions import ValidationError

from config.celery_app import app as celery_app
from jobs.models import Job
from jobs.services.publish import job_publish
from jobs.services.submit import job_create, job_spec_build
from tests.conftest import wait_for
from tests.e2e.helpers import assert_stored_outcome, get_job, submit, wait_for_status, wait_until_finished
from tests.job_types import effect_count, release


@pytest.mark.broker
@pytest.mark.parametrize(
    ("type", "params", "result"),
    [
        ("text.uppercase", {"text": "hello, world"}, "HELLO, WORLD"),
        ("math.add", {"x": 2, "y": 3}, 5),
        ("math.add", {"x": 0.5, "y": 0.25}, 0.75),
        ("math.divide", {"x": 7, "y": 2}, 3.5),
    ],
)
def test_each_builtin_type_reaches_its_result(live_api, type, params, result):
    response = submit(live_api, type, **params)
    assert response.headers["Location"] == response.json()["url"]
    job = wait_until_finished(live_api, response.json()["id"])
    assert (job["status"], job["result"], job["error"], job["attempts"]) == ("succeeded", result, None, 1)
    assert job["started_at"] is not None and job["finished_at"] is not None


def test_division_by_zero_ends_failed_with_the_error(live_api):
    job = wait_until_finished(live_api, submit(live_api, "math.divide", x=1, y=0).json()["id"])
    assert job["status"] == "failed"
    assert job["result"] is None
    assert job["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}


@pytest.mark.broker
def test_countdown_progress_is_visible_before_it_finishes(live_api):
    job_id = submit(live_api, "demo.countdown", word="liftoff", steps=4, delay_s=0.5).json()["id"]
    seen = []

    def finished():
        job = get_job(live_api, job_id)
        if job["progress"] is not None:
            seen.append((job["status"], job["progress"]["current"], job["progress"]["percent"]))
        return job if job["status"] == "succeeded" else None

    job = wait_for(finished, timeout=30, interval=0.1, what="the countdown")
    assert job["result"] == "liftoff"
    assert job["progress"] == {"current": 4, "total": 4, "percent": 100.0, "message": "step 4 of 4"}
    running = [(current, percent) for status, current, percent in seen if status == "running"]
    assert any(0 < current < 4 for current, _ in running), seen
    assert [current for current, _ in running] == sorted(current for current, _ in running)


def test_the_outcome_is_a_task_result_that_plain_celery_can_read(live_api):
    ok_id = submit(live_api, "math.add", x=20, y=22).json()["id"]
    failed_id = submit(live_api, "math.divide", x=1, y=0).json()["id"]
    wait_until_finished(live_api, ok_id)
    wait_until_finished(live_api, failed_id)

    stored = TaskResult.objects.get(task_id=ok_id)
    assert (stored.status, stored.task_name, json.loads(stored.result)) == ("SUCCESS", "math.add", 42)
    assert "'x': 20" in stored.task_kwargs  # the params, as Flower shows them too
    assert stored.worker.startswith("e2e@")

    assert_stored_outcome(live_api, ok_id, status="SUCCESS", started=True)
    assert_stored_outcome(live_api, failed_id, status="FAILURE", started=True)

    assert celery_app.AsyncResult(ok_id).get(timeout=10) == 42
    failed = celery_app.AsyncResult(failed_id)
    with pytest.raises(ZeroDivisionError):
        failed.get(timeout=10)
    assert failed.state == "FAILURE"
    assert "ZeroDivisionError" in failed.traceback


def test_a_second_delivery_of_the_same_message_does_not_run_the_job_twice(live_api, user, celery_worker):
    job, _ = job_create(owner=user, spec=job_spec_build(type="test.count", params={"sleep_s": 0.5}))
    # The same message again, twice, while the first delivery is still running and after it.
    job_publish(job=job)
    finished = wait_until_finished(live_api, job.pk)
    job_publish(job=job)
    skipped = f"job {job.pk} is not queued"
    wait_for(lambda: celery_worker.log().count(skipped) == 2, timeout=20, what="both extra deliveries")

    assert finished["status"] == "succeeded"
    assert effect_count(job.pk) == 1
    job.refresh_from_db()
    assert job.attempts == 1
    assert job.finished_at.isoformat().replace("+00:00", "Z") == finished["finished_at"]


def test_a_job_type_is_a_celery_task_whose_delay_writes_the_ledger(live_api):
    uppercase = celery_app.tasks["text.uppercase"]
    with pytest.raises(ValidationError) as refused:
        uppercase.delay(txt="hi")
    assert "text" in refused.value.detail["params"] and "txt" in refused.value.detail["params"]

    result = uppercase.delay(text="hi")
    assert result.get(timeout=10) == "HI"
    job = Job.objects.get(pk=result.id)
    assert (job.type, job.params, job.status, job.owner.username) == (
        "text.uppercase",
        {"text": "hi"},
        "succeeded",
        "system",
    )
    stored = TaskResult.objects.get(task_id=result.id)
    assert (stored.task_name, stored.task_kwargs) == ("text.uppercase", json.dumps("{'text': 'hi'}"))


def test_a_running_job_has_a_started_task_result_that_keeps_its_start_to_the_end(live_api):
    job_id = submit(live_api, "test.hold").json()["id"]
    running = wait_for_status(live_api, job_id, "running")
    started = TaskResult.objects.get(task_id=job_id)
    release(job_id)
    assert (started.status, started.task_name) == ("STARTED", "test.hold")
    assert started.worker.startswith("e2e@")
    assert started.date_started.isoformat().replace("+00:00", "Z") == running["started_at"]
    wait_until_finished(live_api, job_id)
    done = assert_stored_outcome(live_api, job_id, status="SUCCESS", started=True)
    assert (done.date_started, done.date_created) == (started.date_started, started.date_created)
