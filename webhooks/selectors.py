from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import Job
from webhooks.models import WebhookDelivery


def webhook_delivery_list(*, user, job_id=None) -> QuerySet[WebhookDelivery]:
    """The attempts to deliver the user's jobs, newest first; another user's job gives none."""
    deliveries = WebhookDelivery.objects.filter(job__owner=user)
    if job_id is not None:
        deliveries = deliveries.filter(job_id=job_id)
    return deliveries


def webhook_owed_job_ids(*, limit: int = 500) -> list:
    """Finished jobs with a callback_url that never got a delivery attempt (Redis was down when
    they finished, or the worker died right after the commit).

    Looks back a day, and only at jobs finished more than a minute ago, so a delivery that is
    merely on its way is not sent twice.
    """
    now = timezone.now()
    owed = (
        Job.objects.filter(finished_at__range=(now - timedelta(days=1), now - timedelta(minutes=1)))
        .exclude(callback_url="")
        .filter(webhook_deliveries__isnull=True)
        .values_list("pk", flat=True)[:limit]
    )
    return list(owed)
