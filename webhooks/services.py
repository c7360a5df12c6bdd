"""Webhooks: once a job finishes, POST it to its callback_url, signed with the owner's secret.

Delivery is at least once: each attempt is a WebhookDelivery row, and a failed attempt
(connection error, timeout, any answer but 2xx) is retried with exponential backoff and full
jitter until WEBHOOK_MAX_ATTEMPTS. A URL netguard refuses is recorded once and not retried.
"""

import logging
import secrets
import time

from django.db.models import Q
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from common import netguard
from common.backoff import full_jitter_s
from jobs import selectors
from jobs.models import Job
from jobs.output import JobOutput
from ops.metrics import WEBHOOK_DELIVERIES
from webhooks import signing
from webhooks.models import WebhookDelivery, WebhookSecret

logger = logging.getLogger(__name__)

WEBHOOK_MAX_ATTEMPTS = 8
# Attempt n waits a random time between 0 and min(cap, base * 2 ** (n - 1)) after attempt n - 1
# failed: 1 s after the first, up to 10 min later on. Far below Redis' visibility timeout (1 h),
# so a countdown retry is safe.
WEBHOOK_BACKOFF_BASE_S = 1.0
WEBHOOK_BACKOFF_CAP_S = 600.0
WEBHOOK_TIMEOUT_S = 10
# The receiver's answer is not used; a receiver sending more than this counts as failed.
WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "jobservice-webhooks/1"


def webhook_secret_get(*, user) -> str:
    """The user's signing secret, created on first use."""
    row, _ = WebhookSecret.objects.get_or_create(user=user, defaults={"secret": _new_secret()})
    return row.secret


def webhook_secret_rotate(*, user) -> str:
    """Replace the user's secret and return the new one; attempts from now on are signed with it."""
    row, _ = WebhookSecret.objects.update_or_create(
        user=user, defaults={"secret": _new_secret(), "created_at": timezone.now()}
    )
    return row.secret


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_deliver(*, job_id, attempt: int) -> float | None:
    """Make delivery attempt number `attempt` of the job's webhook and record it.

    Returns the seconds to wait before the next attempt, or None if there is none: it was
    delivered, the URL is refused (retrying cannot help), attempts are used up, or there is
    nothing to do (job deleted, no callback_url, or this message was already handled).
    """
    job = Job.objects.select_related("owner").filter(pk=job_id).exclude(callback_url="").first()
    if job is None:
        logger.info("job %s is gone or has no callback_url; no webhook", job_id)
        return None
    if job.webhook_deliveries.filter(Q(attempt__gte=attempt) | Q(delivered=True)).exists():
        logger.info("webhook attempt %s of job %s was already made; skipping", attempt, job_id)
        return None

    body = JSONRenderer().render(JobOutput(selectors.job_get(user=job.owner, job_id=job.pk)).data)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.sign(webhook_secret_get(user=job.owner), body),
    }
    record = {"job": job, "url": job.callback_url, "attempt": attempt}
    started = time.monotonic()
    try:
        response = netguard.fetch(
            job.callback_url,
            method="POST",
            body=body,
            headers=headers,
            timeout=WEBHOOK_TIMEOUT_S,
            max_bytes=WEBHOOK_MAX_RESPONSE_BYTES,
            # A redirect would re-send a signed body somewhere the user did not name; a 3xx fails.
            max_redirects=0,
        )
    except netguard.UnsafeURL as exc:
        WebhookDelivery.objects.create(**record, error=f"UnsafeURL: {exc}")
        WEBHOOK_DELIVERIES.labels("refused").inc()
        return None
    except (ConnectionError, TimeoutError, netguard.ResponseTooLarge) as exc:
        delivery = WebhookDelivery.objects.create(
            **record, duration_ms=_ms_since(started), error=f"{type(exc).__name__}: {exc}"
        )
    else:
        delivery = WebhookDelivery.objects.create(
            **record,
            duration_ms=_ms_since(started),
            status_code=response.status,
            delivered=200 <= response.status < 300,
        )
    WEBHOOK_DELIVERIES.labels(_outcome(delivery)).inc()
    if delivery.delivered or attempt >= WEBHOOK_MAX_ATTEMPTS:
        return None
    return webhook_retry_delay(attempt=attempt + 1)


def webhook_retry_delay(*, attempt: int) -> float:
    """Seconds to wait before attempt number `attempt` (2 or more): exponential, full jitter."""
    return full_jitter_s(retry=attempt - 1, base_s=WEBHOOK_BACKOFF_BASE_S, cap_s=WEBHOOK_BACKOFF_CAP_S)


def _outcome(delivery: WebhookDelivery) -> str:
    """The `outcome` label of webhook_deliveries_total: delivered, rejected (not 2xx) or error."""
    if delivery.delivered:
        return "delivered"
    return "rejected" if delivery.status_code is not None else "error"


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
