import json

import pytest
from celery.signals import task_unknown
from django.db import transaction
from django_celery_results.models import TaskResult
from rest_framework.exceptions import ValidationError

from jobs.models import Job, JobStatus
from jobs.services.submit import job_create, job_spec_build
from jobs.worker.claim import job_claim
from jobs.worker.progress import job_report_progress
from tests.conftest import run_job

pytestmark = pytest.mark.django_db


def create(user, type, **params):
    job, created = job_create(owner=user, spec=job_spec_build(type=type, params=params))
    assert created
    return job


def run_task(job):
    """Run the Celery task function in-process, with the task id Celery would give it."""
    return run_job(str(job.pk))


def test_it_stores_validated_params_with_defaults(user, publish):
    job = create(user, "demo.countdown", word="go")
    job.refresh_from_db()
    assert job.params == {"word": "go", "steps": 10, "delay_s": 1.0}
    assert job.status == JobStatus.QUEUED


def test_it_publishes_only_after_commit_with_the_job_id_as_task_id(
    user, publish, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = create(user, "math.add", x=1, y=2)
        publish.assert_not_called()
    assert len(callbacks) == 1
    publish.assert_called_once_with(
        args=(), kwargs={"x": 1, "y": 2}, task_id=str(job.pk), queue="default", priority=4, ignore_result=True
    )


def test_it_publishes_nothing_when_the_transaction_rolls_back(
    user, publish, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        create(user, "math.add", x=1, y=2)
        raise RuntimeError("the request failed after creating the job")
    assert callbacks == []
    assert not Job.objects.exists()


def test_it_keeps_the_job_queued_when_the_broker_is_down(user, publish, django_capture_on_commit_callbacks):
    publish.side_effect = ConnectionError("Redis is down")
    with django_capture_on_commit_callbacks(execute=True):
        job = create(user, "math.add", x=1, y=2)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_it_names_the_valid_types_for_an_unknown_type(user):
    with pytest.raises(ValidationError) as error:
        create(user, "math.sqrt")
    message = str(error.value.detail["type"][0])
    assert "'math.sqrt'" in message
    assert "math.add" in message and "text.uppercase" in message


def test_it_reports_each_bad_param_by_name(user):
    with pytest.raises(ValidationError) as error:
        create(user, "math.divide", x="ten")
    params_errors = error.value.detail["params"]
    assert params_errors["x"] == ["A valid number is required."]
    assert params_errors["y"] == ["This field is required."]


def make_job(user, type, **params):
    return Job.objects.create(owner=user, type=type, params=params)


def test_a_job_is_claimed_only_once(user):
    job = make_job(user, "math.add", x=1, y=2)
    assert job_claim(job_id=job.pk) is not None
    assert job_claim(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.attempts == 1
    assert job.started_at is not None


def test_it_records_success_and_the_result_together(user):
    job = make_job(user, "text.uppercase", text="hello")
    outcome = run_task(job)
    job.refresh_from_db()
    assert outcome.result == "HELLO"
    assert job.status == JobStatus.SUCCEEDED
    assert job.finished_at >= job.started_at
    task_result = TaskResult.objects.get(task_id=str(job.pk))
    assert task_result.status == "SUCCESS"
    assert json.loads(task_result.result) == "HELLO"
    assert task_result.task_name == "text.uppercase"


def test_it_marks_the_job_failed_when_the_divisor_is_zero(user):
    job = make_job(user, "math.divide", x=1, y=0)
    outcome = run_task(job)
    job.refresh_from_db()
    assert outcome.failed()
    assert job.status == JobStatus.FAILED
    assert (job.error_type, job.error_message) == ("ZeroDivisionError", "division by zero")
    task_result = TaskResult.objects.get(task_id=str(job.pk))
    assert task_result.status == "FAILURE"
    assert "ZeroDivisionError: division by zero" in task_result.traceback


def test_it_fails_a_job_whose_result_json_cannot_hold(user):
    job = make_job(user, "test.unserializable")
    run_task(job)
    job.refresh_from_db()
    assert (job.status, job.error_type) == (JobStatus.FAILED, "ResultNotJSON")


def test_a_job_sent_to_a_worker_without_its_type_fails_with_unknown_job_type(user):
    job = make_job(user, "gone.type")
    # What Celery's consumer sends for a message naming a task it does not have.
    task_unknown.send(sender=None, message=None, exc=None, name="gone.type", id=str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_type, job.attempts) == (JobStatus.FAILED, "UnknownJobType", 1)
    assert TaskResult.objects.get(task_id=str(job.pk)).task_name == "gone.type"


def test_a_second_delivery_leaves_the_finished_job_and_its_result_alone(user):
    job = make_job(user, "math.add", x=2, y=3)
    run_task(job)
    job.refresh_from_db()
    finished_at = job.finished_at
    second = run_task(job)
    job.refresh_from_db()
    assert second.state == "IGNORED"
    assert (job.attempts, job.finished_at) == (1, finished_at)
    assert json.loads(TaskResult.objects.get(task_id=str(job.pk)).result) == 5


def test_progress_is_stored_on_the_running_job(user):
    job = make_job(user, "demo.countdown", word="go", steps=3, delay_s=0)
    run_task(job)
    job.refresh_from_db()
    assert (job.progress_current, job.progress_total) == (3, 3)
    assert job.progress_message == "step 3 of 3"


def test_progress_refuses_a_zero_total(user):
    job = make_job(user, "math.add", x=1, y=2)
    with pytest.raises(ValueError):
        job_report_progress(job=job, current=0, total=0)


def test_a_claim_marks_the_job_alive_and_records_the_attempt(user):
    job = make_job(user, "math.add", x=1, y=2)
    claimed = job_claim(job_id=job.pk, worker="w1@host")
    claimed.refresh_from_db()
    assert claimed.heartbeat_at == claimed.started_at is not None
    attempt = claimed.attempt_set.get()
    assert (attempt.number, attempt.worker, attempt.started_at) == (1, "w1@host", claimed.started_at)
