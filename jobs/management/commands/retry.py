from jobs import services
from jobs.management.commands._jobcli import JobActionCommand


class Command(JobActionCommand):
    help = (
        "Queue a failed or cancelled job again, as POST /api/jobs/{id}/retry/ does, and print its new "
        "status. It runs as a new attempt with the same id and params."
    )

    def action(self, job):
        return services.job_retry(job=job)
