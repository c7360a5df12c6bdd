from jobs import services
from jobs.management.commands._jobcli import JobActionCommand


class Command(JobActionCommand):
    help = (
        "Cancel a job that has not finished, as POST /api/jobs/{id}/cancel/ does, and print its new "
        "status. Cancelling a cancelled job again is harmless; a succeeded or failed job is an error."
    )

    def action(self, job):
        return services.job_cancel(job=job)
