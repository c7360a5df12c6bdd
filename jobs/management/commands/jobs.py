from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from jobs.management.commands._jobcli import _time, duration_text, job_list_any, table
from jobs.models import JobStatus

HEADERS = ["ID", "TYPE", "STATUS", "OWNER", "CREATED", "DURATION"]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "List jobs, anyone's, newest first, as a table: id, type, status, owner, created and duration. "
        "--status, --type and --user narrow the list; --limit sets how many rows (default 20)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=JobStatus.values, help="Only jobs with this status.")
        parser.add_argument("--type", help="Only jobs of this type, e.g. math.add.")
        parser.add_argument("--user", help="Only this user's jobs (a username).")
        parser.add_argument(
            "--limit", type=positive_int, default=20, metavar="N", help="Show the newest N jobs (default 20)."
        )

    def handle(self, *args, status, type, user, limit, **options):
        owner = self._owner(user) if user else None
        jobs = list(job_list_any(owner=owner, status=status, type=type)[: limit + 1])
        if not jobs:
            self.stdout.write("No jobs.")
            return
        rows = [
            [
                str(job.pk),
                job.type,
                job.status,
                job.owner.get_username(),
                _time(job.created_at),
                duration_text(job),
            ]
            for job in jobs[:limit]
        ]
        self.stdout.write(table(HEADERS, rows))
        if len(jobs) > limit:
            self.stderr.write(
                f"The newest {limit} shown; --limit N shows more.", style_func=str
            )  # not an error

    def _owner(self, username: str):
        User = get_user_model()
        owner = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if owner is None:
            raise CommandError(f"No user {username!r}.")
        return owner
