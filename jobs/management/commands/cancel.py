from jobs import services
from jobs.management.commands._jobcli import JobBulkCommand
from jobs.models import CANCELLABLE_STATUSES


class Command(JobBulkCommand):
    help = (
        "Cancel jobs that have not finished, by id or by --status/--type, as POST /api/jobs/cancel/ "
        "does, and print each new status. Cancelling a cancelled job again is harmless; a succeeded "
        "or failed job is an error."
    )
    service = staticmethod(services.jobs_cancel)
    applies_to = CANCELLABLE_STATUSES
    conflict = services.CANCEL_CONFLICT
