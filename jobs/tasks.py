import logging

from celery import shared_task
from celery.exceptions import Ignore
from celery.signals import task_failure
from celery.worker import state as worker_state
from celery.worker.control import control_command

from jobs.services.publish import RUN_TASK, job_dispatch_due
from jobs.services.recover import job_fail_from_outside, jobs_reconcile
from jobs.worker.claim import job_claim
from jobs.worker.run import job_execute

logger = logging.getLogger(__name__)


# ignore_result: the service stores the outcome itself, in the same transaction as the
# job's terminal status (see job_finish); Celery storing it again would race that.
@shared_task(name=RUN_TASK, bind=True, ignore_result=True)
def run_job(self, *, job_id: str):
    job = job_claim(job_id=job_id, worker=self.request.hostname or "")
    if job is None:
        logger.info("job %s is not queued (finished, running elsewhere or deleted); skipping", job_id)
        raise Ignore()
    return job_execute(job=job, task=self)


@task_failure.connect
def record_lost_or_killed_job(sender=None, task_id=None, exception=None, **kwargs):
    """Celery sends this from the worker's main process when a job's pool process died
    (WorkerLostError) or was killed at its hard time limit: the job could not record it
    itself. For ordinary failures, recorded by the job already, it changes nothing."""
    if sender is not None and sender.name == RUN_TASK:
        job_fail_from_outside(job_id=task_id, exc=exception)


# Routine tasks send no monitoring events: at one a second they would crowd every job out of
# Flower, which keeps a bounded number of tasks (config/flowerconfig.py).
@shared_task(name="jobs.dispatch_due", ignore_result=True, send_events=False)
def dispatch_due():
    """Publish scheduled and retrying jobs that are due (run by beat every second)."""
    count = job_dispatch_due()
    if count:
        logger.info("dispatched %d due job(s)", count)


@shared_task(name="jobs.reconcile", ignore_result=True, send_events=False)
def reconcile():
    """Run lost jobs again and republish stuck ones (run by beat every minute)."""
    outcome = jobs_reconcile()
    if outcome.get("requeued") or outcome.get("republished"):
        logger.warning("reconciler: %s", outcome)


@control_command(args=[("job_id", str)], signature="<job_id>")
def job_terminate(state, job_id):
    """Terminate the process running a job, without adding its id to Celery's revoked set."""
    for request in list(worker_state.active_requests):
        if request.id == job_id:
            request.terminate(state.consumer.pool, signal="SIGTERM")
            return {"ok": f"terminated job {job_id}"}
    return {"ok": "not running here"}
