"""The ledger's gauges for /metrics (ops/metrics.py), read from PostgreSQL at each scrape: the
backlog is counted in the ledger, not in the broker, where kombu keeps each priority in a list
of its own and unacknowledged messages in a hash, and where a job the reconciler published
again would count twice."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.models import CANCELLABLE_STATUSES, Job, JobStatus

logger = logging.getLogger(__name__)

UNFINISHED = sorted(CANCELLABLE_STATUSES)

# The partial and status indexes keep this to the unfinished rows, however many have finished.
_LEDGER_SQL = f"""
    SELECT queue, status, count(*), min(queued_at)
    FROM {Job._meta.db_table} WHERE status = ANY(%s) GROUP BY queue, status
"""


class LedgerCollector(Collector):
    """`jobs_unfinished{queue,status}` and `jobs_oldest_queued_age_seconds{queue}`, with a zero
    for every configured queue, so that a series does not vanish when its queue empties."""

    def collect(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute(_LEDGER_SQL, [UNFINISHED])
                rows = cursor.fetchall()
        except DatabaseError:
            logger.warning("could not read the ledger for /metrics", exc_info=True)
            return
        queues = sorted({queue.name for queue in settings.CELERY_TASK_QUEUES} | {row[0] for row in rows})
        counts = {(queue, status): 0 for queue in queues for status in UNFINISHED}
        oldest = dict.fromkeys(queues, 0.0)
        now = timezone.now()
        for queue, status, count, queued_since in rows:
            counts[queue, status] = count
            if status == JobStatus.QUEUED and queued_since is not None:
                oldest[queue] = max(0.0, (now - queued_since).total_seconds())
        unfinished = GaugeMetricFamily(
            "jobs_unfinished",
            "Jobs not yet finished, in the ledger, by queue and status.",
            labels=["queue", "status"],
        )
        for (queue, status), count in counts.items():
            unfinished.add_metric([queue, status], count)
        yield unfinished
        age = GaugeMetricFamily(
            "jobs_oldest_queued_age_seconds",
            "How long the oldest queued job has waited, by queue.",
            labels=["queue"],
        )
        for queue, seconds in oldest.items():
            age.add_metric([queue], seconds)
        yield age
