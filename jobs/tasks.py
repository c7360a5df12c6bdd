import logging

from celery import shared_task
from celery.exceptions import Ignore

from jobs import services

logger = logging.getLogger(__name__)


# ignore_result: the service stores the outcome itself, in the same transaction as the
# job's terminal status (see services._job_finish); Celery storing it again would race that.
@shared_task(name="jobs.run", bind=True, ignore_result=True)
def run_job(self, *, job_id: str):
    job = services.job_claim(job_id=job_id)
    if job is None:
        logger.info("job %s is not queued (finished, running elsewhere or deleted); skipping", job_id)
        raise Ignore()
    return services.job_execute(job=job, task=self)
