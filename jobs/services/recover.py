"""Recovering: nothing accepted is ever lost. Lost workers, killed jobs, stuck messages."""

import logging
from datetime import timedelta

from billiard.exceptions import WorkerLostError
from celery.exceptions import TimeLimitExceeded as CeleryTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common import locks
from jobs import events
from jobs.exceptions import TimeLimitExceeded, UnknownJobType
from jobs.models import Job, JobStatus, Workflow
from jobs.registry import job_type_get
from jobs.services.attempts import attempt_finish
from jobs.services.finish import job_finish
from jobs.services.operate import jobs_cancel
from jobs.services.publish import job_publish_many, publish_on_commit
from jobs.services.workflows import workflow_advance
from jobs.worker.claim import job_claim

logger = logging.getLogger(__name__)


def job_fail_from_outside(*, job_id, exc: BaseException) -> None:
    """Record what happened to a job whose process could not: killed at its hard time limit
    (failed), or lost with its worker process (run again as a new attempt, up to a limit).
    Any other failure was recorded by the job itself, or (a database outage) is left to the
    reconciler."""
    if not isinstance(exc, WorkerLostError | CeleryTimeLimitExceeded):
        return
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    if isinstance(exc, WorkerLostError):
        job_requeue_lost(job=job, reason=str(exc) or "The worker process running the job was lost.")
        return
    job_type = job_type_get(job.type)
    limit = (job_type and job_type.time_limit) or settings.CELERY_TASK_TIME_LIMIT
    stopped = TimeLimitExceeded(f"The job was stopped at its hard time limit of {limit:g} s.")
    job_finish(job=job, task=None, status=JobStatus.FAILED, exc=stopped)


REVOKED_REASONS = {
    "revoked": "Revoked through Celery's control (Flower's Revoke, or celery control revoke).",
    "terminated": "Terminated through Celery's control (Flower's Terminate, or revoke --terminate).",
    "expired": "Its Celery message expired before a worker ran it.",
}


def job_revoked(*, job_id, how: str, revoked_at=None) -> bool:
    """Record in the ledger that Celery revoked a job's task (`how`: a key of REVOKED_REASONS),
    so that the job ends cancelled rather than waiting for the reconciler to publish it again.

    A retry reuses the job's id, and a worker drops every message of an id it remembers as
    revoked. `revoked_at` is when this worker was told to revoke it: if the job was queued
    again after that, the revoke is stale and nothing is cancelled. A job still queued is
    published again (the dropped message was its only one); one already running from another
    message is left alone. False then tells the caller to forget the id; True otherwise.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return True
    if revoked_at is not None and job.queued_at is not None and job.queued_at > revoked_at:
        if job.status == JobStatus.QUEUED:
            logger.warning("job %s was queued again after it was revoked; publishing it again", job_id)
            job_publish_many(jobs=[job])
        return False
    # A cancel of ours that terminated the job lands here too: it finds the job cancelled already.
    jobs_cancel(job_ids=[job.pk], reason=REVOKED_REASONS[how])
    return True


def job_requeue_lost(*, job: Job, reason: str) -> bool:
    """Run a job whose worker was lost again, as a new attempt; fail it once attempts run out.

    Conditional on the job still being `running`, so a late report of the same loss, or the
    reconciler finding it too, changes nothing.
    """
    error = {"error_type": "WorkerLost", "error_message": reason}
    if job.attempts >= settings.JOB_MAX_ATTEMPTS_ON_WORKER_LOST:
        exc = WorkerLostError(f"{reason} Gave up after {job.attempts} attempts.")
        return job_finish(job=job, task=None, status=JobStatus.FAILED, exc=exc)
    with transaction.atomic():
        requeued = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts).update(
            status=JobStatus.QUEUED, queued_at=timezone.now(), heartbeat_at=None, **error
        )
        if requeued:
            attempt_finish(job=job, **error)
            publish_on_commit([job])
    if requeued:
        logger.warning("job %s: %s Queued again (attempt %d next).", job.pk, reason, job.attempts + 1)
        events.event_publish(job_id=job.pk, kind="status", data={"status": JobStatus.QUEUED})
    return bool(requeued)


def jobs_reconcile(*, limit: int = 1000) -> dict:
    """Find accepted jobs that would otherwise never finish, and put them back on track.

    - running, but no heartbeat for JOB_HEARTBEAT_TIMEOUT_S: the worker died; run it again.
    - queued, but publishing failed, or still not started JOB_RECONCILE_QUEUED_AFTER_S after
      it was queued (a lost message, a Redis restart, a crash between commit and publish):
      publish it again. A duplicate message is harmless: the claim lets one run.
    Runs under a lock, so two reconcilers never overlap. Returns what it did.
    """
    with locks.redis_lock("jobs:reconcile", ttl_s=settings.JOB_RECONCILE_INTERVAL_S) as held:
        if not held:
            return {"skipped": True}
        now = timezone.now()
        cutoff = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S)
        silent = Job.objects.filter(status=JobStatus.RUNNING).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        )[:limit]
        requeued = sum(
            job_requeue_lost(job=job, reason="The worker stopped sending heartbeats.") for job in silent
        )
        stuck = list(
            Job.objects.filter(status=JobStatus.QUEUED)
            .filter(
                Q(publish_failed=True)
                | Q(queued_at__lt=now - timedelta(seconds=settings.JOB_RECONCILE_QUEUED_AFTER_S))
            )
            .order_by("queued_at")[:limit]
        )
        if stuck:
            job_publish_many(jobs=stuck)
            Job.objects.filter(pk__in=[job.pk for job in stuck]).update(publish_failed=False, queued_at=now)
        advanced = _workflows_advance_stalled(limit=limit)
        return {"requeued": requeued, "republished": len(stuck), "workflows_advanced": advanced}


_IN_FLIGHT = [JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRYING]


def _workflows_advance_stalled(*, limit: int) -> int:
    """Advance running workflows with a pending step and nothing in flight: the worker that
    finished the step before died before it could advance the workflow."""
    stalled = list(
        Workflow.objects.filter(status=JobStatus.RUNNING, jobs__status=JobStatus.PENDING)
        .exclude(jobs__status__in=_IN_FLIGHT)
        .values_list("pk", flat=True)
        .distinct()[:limit]
    )
    for workflow_id in stalled:
        workflow_advance(workflow_id=workflow_id)
    return len(stalled)


def job_fail_unknown_type(*, job_id, worker: str = "") -> None:
    """A worker was sent a job whose type it has no task for (the type was removed, or the worker
    runs older code): the job fails with UnknownJobType rather than wait in the ledger forever.
    Claimed first, so a job that another worker already ran or is running is left alone."""
    job = job_claim(job_id=job_id, worker=worker)
    if job is None:
        return
    exc = UnknownJobType(f"No job type {job.type!r} is registered on worker {worker or '(unknown)'}.")
    job_finish(job=job, task=None, status=JobStatus.FAILED, exc=exc)
