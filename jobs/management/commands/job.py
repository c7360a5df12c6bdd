from django.core.management.base import BaseCommand

from jobs.management.commands._jobcli import Watcher, job_find, job_json, job_text


class Command(BaseCommand):
    help = (
        "Show one job, anyone's: its type, status, params, progress, attempts, result or error and "
        "timings. --json prints it as the API does; --follow first shows its status and progress on "
        "stderr as they change, until it finishes."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", help="The job's id.")
        parser.add_argument(
            "--follow", action="store_true", help="Wait for the job to finish, showing changes."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the job as JSON, as GET /api/jobs/{id}/."
        )

    def handle(self, *args, **options):
        job = job_find(options["id"])
        if options["follow"]:
            job = Watcher(self.stderr).wait(job)
        self.stdout.write(job_json(job) if options["json"] else job_text(job))
