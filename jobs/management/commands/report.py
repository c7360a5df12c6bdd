from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from jobs import selectors
from jobs.management.commands._jobcli import Watcher, job_with_result, validation_messages
from jobs.models import JobStatus
from reports.models import Report, ReportKind
from reports.services import report_submit


class Command(BaseCommand):
    help = (
        "Submit a report.generate job for everyone's jobs, owned by the system user, as beat does, and "
        "print its id. With --wait, show its progress until it has run, then print the report's id and "
        "headline numbers; exit 1 if it failed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--window", choices=ReportKind.values, default=ReportKind.HOUR, help="Default: hour."
        )
        parser.add_argument(
            "--at",
            metavar="ISO",
            help="Report the last complete hour or day before this time (default: now).",
        )
        parser.add_argument("--wait", action="store_true", help="Wait for the report and print a summary.")

    def handle(self, *args, **options):
        try:
            job = report_submit(window=options["window"], at=options["at"])
        except ValidationError as error:
            lines = "\n".join(f"  {line}" for line in validation_messages(error.detail))
            raise CommandError(f"The report job was not submitted:\n{lines}") from None
        self.stdout.write(str(job.pk))
        if not options["wait"]:
            return
        job = Watcher(self.stderr).wait(job)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Job {job.pk} {job.status}: {job.error_type}: {job.error_message}")
        report = Report.objects.get(pk=selectors.job_result(job_with_result(job))["report"])
        totals = report.data["totals"]
        self.stdout.write(
            f"Report {report.pk}: {report.kind} {report.window_start:%Y-%m-%d %H:%M} to "
            f"{report.window_end:%Y-%m-%d %H:%M} UTC\n"
            f"created {totals['created']}, finished {totals['finished']} (succeeded {totals['succeeded']}, "
            f"failed {totals['failed']}, cancelled {totals['cancelled']})"
        )
