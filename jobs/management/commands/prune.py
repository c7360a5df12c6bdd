import argparse
import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs.management.commands._jobcli import BatchProgress, _time, count_for_progress
from jobs.models import TERMINAL_STATUSES, Job
from jobs.services.operate import jobs_prune

UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """`30d`, `12h` or `90m` as a timedelta; anything else is refused."""
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a number and d, h or m (30d, 12h, 90m), got {text!r}")
    age = timedelta(**{UNITS[match[2]]: int(match[1])})
    if not age:
        raise argparse.ArgumentTypeError("must be more than zero; 0 would prune every finished job")
    try:
        timezone.now() - age
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} reaches back before the year 1") from None
    return age


class Command(BaseCommand):
    help = (
        "Delete finished (succeeded, failed, cancelled) jobs created more than --older-than ago, with "
        "their Celery results, attempts and webhook deliveries, in batches. Unfinished jobs are kept. "
        "Shows progress on stderr; --dry-run only says how many would go."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=parse_age,
            required=True,
            metavar="AGE",
            help="Prune jobs created more than AGE ago: a number and d, h or m, e.g. 30d, 12h, 90m.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, metavar="N", help="Jobs deleted per transaction."
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count the jobs that would go.")

    def handle(self, *args, older_than, batch_size, dry_run, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - older_than
        what = f"finished job(s) created before {_time(cutoff)}"
        # The same jobs jobs_prune deletes.
        candidates = Job.objects.filter(created_at__lt=cutoff, status__in=TERMINAL_STATUSES)
        if dry_run:
            self.stdout.write(f"Would delete {candidates.count():,} {what}.")
            return
        total, exact = count_for_progress(candidates)
        progress = BatchProgress(self.stderr, total=total, exact=exact)
        deleted = 0
        try:
            for count in jobs_prune(older_than=cutoff, batch_size=batch_size):
                deleted += count
                progress.show(deleted)
        except KeyboardInterrupt:
            raise CommandError(f"Stopped after deleting {deleted:,} {what}; run again to go on.") from None
        finally:
            progress.done()
        self.stdout.write(f"Deleted {deleted:,} {what}.")
