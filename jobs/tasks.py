import logging

from celery import shared_task
from celery.worker import state as worker_state
from celery.worker.control import control_command

from jobs.services.publish import DJANGO_TASK_CELERY_NAME, job_dispatch_due
from jobs.services.recover import jobs_reconcile
from jobs.tasks_api.ledger import task_import
from jobs.tasks_api.runner import DjangoTaskJob

logger = logging.getLogger(__name__)


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


@shared_task(name=DJANGO_TASK_CELERY_NAME, base=DjangoTaskJob)
def django_task(path, *args, **kwargs):
    """Run the Django Tasks API task at `path` (its job's type) with the job's arguments."""
    return task_import(path).call(*args, **kwargs)


@control_command(args=[("job_id", str)], signature="<job_id>")
def job_terminate(state, job_id):
    """Terminate the process running a job, without adding its id to Celery's revoked set."""
    for request in list(worker_state.active_requests):
        if request.id == job_id:
            request.terminate(state.consumer.pool, signal="SIGTERM")
            return {"ok": f"terminated job {job_id}"}
    return {"ok": "not running here"}
