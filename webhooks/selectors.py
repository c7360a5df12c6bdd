from django.db.models import QuerySet

from webhooks.models import WebhookDelivery


def webhook_delivery_list(*, user, job_id=None) -> QuerySet[WebhookDelivery]:
    """The attempts to deliver the user's jobs, newest first; another user's job gives none."""
    deliveries = WebhookDelivery.objects.filter(job__owner=user)
    if job_id is not None:
        deliveries = deliveries.filter(job_id=job_id)
    return deliveries
