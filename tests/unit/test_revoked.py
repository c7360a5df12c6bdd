"""Celery's task_revoked, as the worker's main process sends it, told to the ledger."""

import time
from datetime import timedelta

import pytest
from celery.app.task import Context
from celery.worker import state as worker_state
from django.utils import timezone

from config.celery_app import app as celery_app
from jobs.models import Job, JobStatus
from jobs.services.recover import REVOKED_REASONS
from jobs.tasks import reconcile
from jobs.worker.outcomes import record_revoked_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoked_ids():
    """The worker's set of revoked ids, emptied of what a test adds."""
    before = set(worker_state.revoked)
    yield worker_state.revoked
    for task_id in set(worker_state.revoked) - before:
        worker_state.revoked.discard(task_id)


def revoked(job, **flags):
    record_revoked_job(sender=celery_app.tasks[job.type], request=Context(id=str(job.pk)), **flags)
    job.refresh_from_db()
    return job


def test_a_revoke_cancels_the_job_with_the_reason(user, publish, revoked_ids):
    job = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}, queued_at=timezone.now())
    revoked_ids.add(str(job.pk))
    job = revoked(job)
    assert (job.status, job.error_message) == (JobStatus.CANCELLED, REVOKED_REASONS["revoked"])
    assert str(job.pk) in revoked_ids
    publish.assert_not_called()


def test_a_revoke_from_before_a_retry_is_forgotten_and_the_job_published_again(user, publish, revoked_ids):
    job = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2})
    revoked_ids.add(str(job.pk), now=time.monotonic() - 60)  # revoked a minute ago
    Job.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(seconds=5))  # retried since
    job = revoked(job)
    assert job.status == JobStatus.QUEUED
    assert str(job.pk) not in revoked_ids
    assert publish.call_args.kwargs["task_id"] == str(job.pk)


def test_a_stale_revoke_of_a_duplicate_message_leaves_the_retried_running_job_alone(
    user, publish, revoked_ids
):
    # A second message of the job (the reconciler's republish, say) reaches a worker that still
    # remembers a revoke from before the retry, while the retried job runs elsewhere.
    job = Job.objects.create(
        owner=user,
        type="math.add",
        params={"x": 1, "y": 2},
        status=JobStatus.RUNNING,
        queued_at=timezone.now(),
    )
    revoked_ids.add(str(job.pk), now=time.monotonic() - 60)
    job = revoked(job)
    assert job.status == JobStatus.RUNNING
    assert str(job.pk) not in revoked_ids
    publish.assert_not_called()


def test_a_termination_cancels_the_running_job(user, publish, revoked_ids):
    job = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2}, status=JobStatus.RUNNING)
    job = revoked(job, terminated=True)
    assert (job.status, job.error_message) == (JobStatus.CANCELLED, REVOKED_REASONS["terminated"])


def test_a_revoked_task_that_is_not_a_job_changes_nothing(user, publish):
    job = Job.objects.create(owner=user, type="math.add", params={"x": 1, "y": 2})
    record_revoked_job(sender=reconcile, request=Context(id=str(job.pk)))
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
