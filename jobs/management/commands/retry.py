from jobs.management.commands._jobcli import JobBulkCommand
from jobs.models import RETRYABLE_STATUSES
from jobs.services.operate import RETRY_CONFLICT, jobs_retry


class Command(JobBulkCommand):
    help = (
        "Queue failed or cancelled jobs again, by id or by --status/--type, as POST /api/jobs/retry/ "
        "does, and print each new status. Each runs as a new attempt with the same id and params."
    )
    service = staticmethod(jobs_retry)
    applies_to = RETRYABLE_STATUSES
    conflict = RETRY_CONFLICT
