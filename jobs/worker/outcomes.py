"""What Celery's worker reports about jobs that could not report themselves; connected to
Celery's signals in jobs/apps.py."""

from jobs.services.recover import job_fail_from_outside, job_fail_unknown_type
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
