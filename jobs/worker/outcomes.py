"""What Celery's worker reports about jobs that could not report themselves; connected to
Celery's signals in jobs/apps.py."""

import time
from datetime import UTC, datetime

from celery.worker import state as worker_state

from jobs.services.recover import job_fail_from_outside, job_fail_unknown_type, job_revoked
from jobs.worker.task import JobTask


def record_lost_or_killed_job(sender=None, task_id=None, exception=None, **kwargs):
    """Celery sends this from the worker's main process when a job's pool process died
    (WorkerLostError) or was killed at its hard time limit: the job could not record it
    itself. For ordinary failures, recorded by the job already, it changes nothing."""
    if isinstance(sender, JobTask):
        job_fail_from_outside(job_id=task_id, exc=exception)


def fail_job_of_unknown_type(sender=None, **kwargs):
    """Celery sends this when a worker receives a task it does not have. Each job's task id is
    its job id, so if this was a job, the ledger is told it cannot run here."""
    job_fail_unknown_type(job_id=kwargs["id"], worker=getattr(sender, "hostname", "") or "")


def record_revoked_job(sender=None, request=None, terminated=False, expired=False, **kwargs):
    """Celery sends this from the worker's main process when it drops a revoked task's message
    or terminates its process: Flower's Revoke and Terminate, `celery control revoke`, and our
    own cancel of a running job (jobs.tasks.job_terminate). The ledger is told."""
    if not isinstance(sender, JobTask):
        return
    job_id = request.id
    how = "terminated" if terminated else "expired" if expired else "revoked"
    if not job_revoked(job_id=job_id, how=how, revoked_at=_revoked_at(job_id)):
        # A stale revoke: the job was retried since. This worker forgets the id, so the
        # message published again runs (another worker that remembers it does the same); it
        # cannot take that message before this returns, on the consumer's own thread.
        worker_state.revoked.discard(job_id)


def _revoked_at(task_id: str) -> datetime | None:
    """When this worker was told to revoke the task id (Celery keeps it in monotonic time)."""
    inserted = worker_state.revoked.as_dict().get(task_id)
    if inserted is None:
        return None
    return datetime.fromtimestamp(time.time() - (time.monotonic() - inserted), tz=UTC)
