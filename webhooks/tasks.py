from celery import shared_task

from webhooks import services


# max_retries=None: the service decides when to stop (services.WEBHOOK_MAX_ATTEMPTS).
@shared_task(name="webhooks.deliver", bind=True, ignore_result=True, max_retries=None)
def deliver(self, *, job_id: str, attempt: int = 1):
    retry_in = services.webhook_deliver(job_id=job_id, attempt=attempt)
    if retry_in is not None:
        raise self.retry(countdown=retry_in, kwargs={"job_id": job_id, "attempt": attempt + 1})


@shared_task(name="webhooks.reconcile", ignore_result=True, send_events=False)
def reconcile():
    """Schedule owed webhooks (run by beat every minute)."""
    services.webhooks_reconcile()
