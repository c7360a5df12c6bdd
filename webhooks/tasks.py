"""The webhooks' Celery tasks, and the one place that publishes them (the services never do)."""

import logging

from celery import shared_task
from django.db import transaction

from webhooks import selectors, services

logger = logging.getLogger(__name__)


# max_retries=None: the service decides when to stop (services.WEBHOOK_MAX_ATTEMPTS).
@shared_task(name="webhooks.deliver", bind=True, ignore_result=True, max_retries=None)
def deliver(self, *, job_id: str, attempt: int = 1):
    retry_in = services.webhook_deliver(job_id=job_id, attempt=attempt)
    if retry_in is not None:
        raise self.retry(countdown=retry_in, kwargs={"job_id": job_id, "attempt": attempt + 1})


@shared_task(name="webhooks.reconcile", ignore_result=True, send_events=False)
def reconcile():
    """Schedule owed webhooks (run by beat every minute)."""
    for job_id in selectors.webhook_owed_job_ids():
        webhook_schedule(job_id=job_id)


def webhook_schedule(*, job_id) -> None:
    """Publish the first delivery attempt of a finished job's webhook; the callers (the
    job_finished receiver and the reconciler) only pass jobs with a callback_url.

    The job_finished signal is sent after commit; on_commit keeps this right if it is ever called
    inside a transaction. A broker outage is logged, not raised: the job has finished either way.
    """

    def publish():
        try:
            deliver.apply_async(kwargs={"job_id": str(job_id), "attempt": 1})
        except Exception:
            logger.exception("could not publish the webhook of job %s", job_id)

    transaction.on_commit(publish)
