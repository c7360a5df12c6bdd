from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_celery_beat.models import PeriodicTask

from jobs.periodic import periodic_task_edits, periodic_task_reset


class Command(BaseCommand):
    help = (
        "List the periodic tasks beat runs, and whether each is as the code declares it or was edited "
        "(in the admin); --reset NAME puts one back to the code's declaration, --reset-all every one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", nargs="+", metavar="NAME", default=[], help="Reset these tasks.")
        parser.add_argument("--reset-all", action="store_true", help="Reset every task the code declares.")

    def handle(self, *args, reset, reset_all, **options):
        declared = settings.CELERY_BEAT_SCHEDULE
        unknown = sorted(set(reset) - set(declared))
        if unknown:
            raise CommandError(
                f"the code declares no periodic task {', '.join(unknown)}; it declares {', '.join(declared)}"
            )
        for name in declared if reset_all else reset:
            periodic_task_reset(name=name)
            self.stdout.write(f"reset {name} to the code's declaration")
        if reset or reset_all:
            return
        for row in PeriodicTask.objects.order_by("name"):
            edits = periodic_task_edits(row)
            if edits is None:
                origin = "not in the code"
            else:
                origin = f"edited: {', '.join(edits)}" if edits else "as declared"
            state = "enabled" if row.enabled else "disabled"
            self.stdout.write(f"{row.name}  {row.task}  {schedule_text(row)}  {state}  {origin}")


def schedule_text(row: PeriodicTask) -> str:
    """The schedule on one line (a crontab's own str spans several)."""
    if row.crontab:
        cron = row.crontab
        fields = [cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week]
        return f"cron '{' '.join(fields)}' {cron.timezone}"
    return str(row.interval or row.solar or row.clocked)
