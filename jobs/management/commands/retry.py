from jobs import services
from jobs.management.commands._jobcli import JobBulkCommand
from jobs.models import RETRYABLE_STATUSES


class Command(JobBulkCommand):
    help = (
        "Queue failed or cancelled jobs again, by id or by --status/--type, as POST /api/jobs/retry/ "
        "does, and print each new status. Each runs as a new attempt with the same id and params."
    )
    service = staticmethod(services.jobs_retry)
    applies_to = RETRYABLE_STATUSES
    conflict = services.RETRY_CONFLICT
