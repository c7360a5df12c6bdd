from jobs.management.commands._jobcli import JobBulkCommand
from jobs.models import CANCELLABLE_STATUSES
from jobs.services.operate import CANCEL_CONFLICT, jobs_cancel


class Command(JobBulkCommand):
    help = (
        "Cancel jobs that have not finished, by id or by --status/--type, as POST /api/jobs/cancel/ "
        "does, and print each new status. Cancelling a cancelled job again is harmless; a succeeded "
        "or failed job is an error."
    )
    service = staticmethod(jobs_cancel)
    applies_to = CANCELLABLE_STATUSES
    conflict = CANCEL_CONFLICT
