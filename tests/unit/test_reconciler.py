"""Nothing accepted is lost: publishing failures, lost messages and lost workers are repaired."""

from datetime import timedelta

import pytest
from billiard.exceptions import WorkerLostError
from celery import current_app
from celery.signals import task_failure
from django.utils import timezone
from django_celery_results.models import TaskResult

from common import locks
from jobs.models import Job, JobAttempt, JobStatus
from jobs.services.recover import jobs_reconcile
from jobs.services.submit import job_create, job_spec_build
from jobs.worker.claim import job_claim
from jobs.worker.progress import job_report_progress
from jobs.worker.run import job_execute
from tests.conftest import run_job

pytestmark = pytest.mark.django_db


def published_ids(publish):
    return {call.kwargs["task_id"] for call in publish.call_args_list}


def test_a_job_whose_publishing_failed_is_flagged_and_published_by_the_reconciler(
    user, publish, django_capture_on_commit_callbacks
):
    publish.side_effect = ConnectionError("Redis is down")
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = job_create(owner=user, spec=job_spec_build(type="math.add", params={"x": 1, "y": 2}))
    job.refresh_from_db()
    assert (job.status, job.publish_failed) == (JobStatus.QUEUED, True)

    publish.side_effect = None
    publish.reset_mock()
    assert jobs_reconcile() == {"requeued": 0, "republished": 1, "workflows_advanced": 0}
    assert published_ids(publish) == {str(job.pk)}
    job.refresh_from_db()
    assert job.publish_failed is False


def test_only_queued_jobs_waiting_past_the_grace_period_are_republished(user, publish, settings):
    settings.JOB_RECONCILE_QUEUED_AFTER_S = 300
    stuck = Job.objects.create(owner=user, type="math.add", queued_at=timezone.now() - timedelta(minutes=10))
    fresh = Job.objects.create(owner=user, type="math.add", queued_at=timezone.now())
    jobs_reconcile()
    assert published_ids(publish) == {str(stuck.pk)}
    assert str(fresh.pk) not in published_ids(publish)


def silent_running_job(user, attempts=1):
    job = Job.objects.create(
        owner=user,
        type="math.add",
        status="running",
        attempts=attempts,
        started_at=timezone.now() - timedelta(minutes=5),
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    JobAttempt.objects.create(job=job, number=attempts, worker="w@dead", started_at=job.started_at)
    return job


def test_a_running_job_gone_silent_runs_again_as_a_new_attempt(
    user, publish, django_capture_on_commit_callbacks
):
    job = silent_running_job(user)
    alive = Job.objects.create(owner=user, type="math.add", status="running", heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile()["requeued"] == 1
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert published_ids(publish) == {str(job.pk)}
    attempt = job.attempt_set.get()
    assert (attempt.error_type, attempt.finished_at is not None) == ("WorkerLost", True)
    alive.refresh_from_db()
    assert alive.status == JobStatus.RUNNING


def test_a_job_lost_too_often_fails_with_worker_lost(user, publish, settings):
    settings.JOB_MAX_ATTEMPTS_ON_WORKER_LOST = 3
    job = silent_running_job(user, attempts=3)
    jobs_reconcile()
    job.refresh_from_db()
    assert (job.status, job.error_type) == (JobStatus.FAILED, "WorkerLostError")
    assert "Gave up after 3 attempts" in job.error_message
    assert TaskResult.objects.get(task_id=str(job.pk)).status == "FAILURE"
    publish.assert_not_called()


def test_a_lost_worker_process_reported_by_celery_requeues_the_job_at_once(
    user, publish, django_capture_on_commit_callbacks
):
    job = silent_running_job(user)
    with django_capture_on_commit_callbacks(execute=True):
        task_failure.send(
            sender=current_app.tasks[job.type],
            task_id=str(job.pk),
            exception=WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)."),
        )
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert published_ids(publish) == {str(job.pk)}


def test_two_reconcilers_never_overlap(user, publish):
    silent_running_job(user)
    with locks.redis_lock("jobs:reconcile", ttl_s=30) as held:
        assert held
        assert jobs_reconcile() == {"skipped": True}
    assert Job.objects.get().status == JobStatus.RUNNING


def test_a_lock_is_held_by_one_caller_and_released_after(user):
    with locks.redis_lock("tests:lock", ttl_s=5) as first, locks.redis_lock("tests:lock", ttl_s=5) as second:
        assert (first, second) == (True, False)
    with locks.redis_lock("tests:lock", ttl_s=5) as again:
        assert again


@pytest.mark.django_db(transaction=True)
def test_a_running_job_keeps_sending_heartbeats(user, settings):
    settings.JOB_HEARTBEAT_S = 1
    job = Job.objects.create(owner=user, type="test.await_heartbeats", params={"beats": 2, "deadline_s": 20})
    outcome = run_job(str(job.pk))
    job.refresh_from_db()
    assert (job.status, outcome.result) == (JobStatus.SUCCEEDED, 2)
    # Each beat is at least JOB_HEARTBEAT_S after the one before it, the claim being the first.
    assert job.heartbeat_at >= job.started_at + timedelta(seconds=2)


@pytest.fixture
def ledger_rows(db):
    from django.db import connection

    from tests.job_types import ledger_table_ensure

    with connection.cursor() as cursor:
        ledger_table_ensure(cursor)

    def rows(job):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attempt FROM test_ledger WHERE job_id = %s ORDER BY attempt", [str(job.pk)]
            )
            return [attempt for (attempt,) in cursor.fetchall()]

    return rows


def test_a_transactional_job_writes_its_effect_together_with_its_success(user, ledger_rows):
    job = Job.objects.create(owner=user, type="test.ledger", params={"sleep_s": 0})
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert ledger_rows(job) == [1]


def test_a_superseded_attempt_rolls_its_effect_back(user, ledger_rows):
    job = Job.objects.create(owner=user, type="test.ledger", params={"sleep_s": 0}, queued_at=timezone.now())
    stale = job_claim(job_id=job.pk)
    # Meanwhile the reconciler gave up on this attempt and a second one took the job over.
    Job.objects.filter(pk=job.pk).update(attempts=2)

    assert job_execute(job=stale, task=current_app.tasks[job.type]) is None
    assert ledger_rows(job) == []
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 2)
    assert not TaskResult.objects.filter(task_id=str(job.pk)).exists()


def test_a_running_job_killed_before_its_first_heartbeat_is_found_too(user, publish):
    job = silent_running_job(user)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=None)
    assert jobs_reconcile()["requeued"] == 1


def test_a_superseded_attempt_can_neither_report_progress_nor_keep_going(user):
    from jobs.worker.context import JobContext

    job = Job.objects.create(owner=user, type="demo.countdown", params={}, queued_at=timezone.now())
    stale = job_claim(job_id=job.pk)
    ctx = JobContext(stale)
    assert ctx.cancelled is False
    Job.objects.filter(pk=job.pk).update(attempts=2)  # the reconciler ran it again elsewhere

    ctx.progress(5, 10, "from the old attempt")
    job.refresh_from_db()
    assert job.progress_current is None
    ctx._last_cancel_check = 0  # skip the throttle
    assert ctx.cancelled is True


def test_a_workflow_whose_advance_was_lost_is_moved_on(user, publish, django_capture_on_commit_callbacks):
    from jobs.models import Workflow

    workflow = Workflow.objects.create(owner=user, status="running")
    Job.objects.create(owner=user, type="math.add", workflow=workflow, step=0, status="succeeded")
    waiting = Job.objects.create(
        owner=user, type="math.add", params={"y": 1}, workflow=workflow, step=1, status="pending"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reconcile()["workflows_advanced"] == 1
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.QUEUED
    assert published_ids(publish) == {str(waiting.pk)}


def test_a_transactional_job_reports_progress_without_locking_its_row(user):
    from jobs import events

    job = Job.objects.create(owner=user, type="test.ledger", params={"sleep_s": 0}, queued_at=timezone.now())
    claimed = job_claim(job_id=job.pk)
    before = events.event_last_id(job_id=job.pk)
    job_report_progress(job=claimed, current=1, total=2, message="half")
    job.refresh_from_db()
    assert job.progress_current is None  # the row was not written
    assert events.event_exists_after(job_id=job.pk, event_id=before)  # listeners were told
