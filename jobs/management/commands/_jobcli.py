"""What the job commands share: finding a job by id, showing it, and watching it finish.

The commands are thin: they parse their arguments, call jobs.services or jobs.selectors
and print. Django does not treat this module as a command because its name starts with `_`.
"""

import json
import uuid
from collections import Counter
from collections.abc import Callable
from time import monotonic, sleep

from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from jobs import selectors
from jobs.models import BATCH_MAX_JOBS, Job, JobStatus, progress_percent
from jobs.output import JobOutput, error_of
from jobs.services.operate import CONFLICT

POLL_INTERVAL_S = 0.25
BAR_WIDTH = 10


def job_find(job_id: str) -> Job:
    """Any user's job with this id: the commands are an operator's tool, like the admin."""
    try:
        job = Job.objects.select_related("owner").filter(pk=uuid.UUID(str(job_id))).first()
    except ValueError:
        job = None
    if job is None:
        raise CommandError(f"No job with id {job_id!r}.")
    return job


def job_with_result(job: Job) -> Job:
    """The job again, as the selectors return it: with its stored result and its attempts."""
    return selectors.job_list(user=job.owner).filter(pk=job.pk).first()


def to_json(value, *, indent: int | None = None) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=indent, ensure_ascii=False)


def job_json(job: Job) -> str:
    """The job exactly as the API shows it (JobOutput), except that its url is relative."""
    return to_json(JobOutput(job_with_result(job)).data, indent=2)


# --- Text ---------------------------------------------------------------------------------


def _time(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def _error_text(row) -> str:
    error = error_of(row)
    return f"{error['type']}: {error['message']}" if error else ""


def progress_text(job: Job) -> str:
    """`[#####.....] 50% step 5 of 10`, or "" before the job has reported any progress."""
    if not job.progress_total:
        return ""
    current = min(job.progress_current or 0, job.progress_total)
    filled = BAR_WIDTH * current // job.progress_total
    percent = f"{progress_percent(current, job.progress_total):g}"
    bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent}%"
    return f"{bar} {job.progress_message}".rstrip()


def status_line(job: Job) -> str:
    """The job's status and progress on one line: `running [#####.....] 50% step 5 of 10`."""
    return f"{job.status} {progress_text(job)}".rstrip()


def job_text(job: Job) -> str:
    """A readable page about one job: what it is, where it stands, each attempt, the outcome."""
    job = job_with_result(job)
    rows = [
        ("Job", str(job.pk)),
        ("Type", job.type),
        ("Status", job.status),
        ("Owner", job.owner.get_username()),
        ("Params", to_json(job.params)),
        ("Queue", f"{job.queue}, priority {job.priority}"),
    ]
    if job.workflow_id:
        rows.append(("Workflow", f"{job.workflow_id}, step {job.step}"))
    if job.run_at:
        rows.append(("Run at", _time(job.run_at)))
    if job.progress_total:
        rows.append(("Progress", progress_text(job)))
    rows.append(("Attempts", str(job.attempts)))
    for attempt in selectors.job_attempts(job=job):
        outcome = _error_text(attempt) or ("ok" if attempt.finished_at else "running")
        worker = attempt.worker or "unknown worker"
        rows.append(("", f"#{attempt.number} on {worker}, {_time(attempt.started_at)}: {outcome}"))
    if job.status == JobStatus.SUCCEEDED:
        rows.append(("Result", to_json(selectors.job_result(job))))
    if job.error_type:
        rows.append(("Error", _error_text(job)))
    rows += [("Created", _time(job.created_at)), ("Started", _time(job.started_at))]
    rows.append(("Finished", _time(job.finished_at)))
    if job.duration is not None:
        rows.append(("Duration", f"{job.duration.total_seconds():.2f} s"))
    width = max(len(label) for label, _ in rows) + 2
    return "\n".join(f"{label:<{width}}{value}" for label, value in rows)


def validation_messages(detail, prefix: str = "") -> list[str]:
    """Flatten DRF's error detail into lines: {"params": {"x": [...]}} -> `params.x: ...`."""
    if isinstance(detail, dict):
        return [
            line
            for key, value in detail.items()
            for line in validation_messages(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [f"{prefix}: {item}" if prefix else str(item) for item in detail]
        return [line for item in detail for line in validation_messages(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


# --- Watching -----------------------------------------------------------------------------


def _plain(text: str) -> str:
    return text


class Watcher:
    """Report a job's status and progress on stderr until it finishes.

    On a terminal, one line redrawn in place with \\r; otherwise (a log, a pipe) one line
    per change, so the output reads well in a file.
    """

    def __init__(self, stderr: OutputWrapper):
        self.stderr = stderr
        self.redraw = stderr.isatty()
        self.shown = ""

    def show(self, job: Job) -> None:
        line = status_line(job)
        if line == self.shown:
            return
        if self.redraw:
            # Pad over the rest of a longer previous line.
            self.stderr.write(f"\r{line:<{len(self.shown)}}", style_func=_plain, ending="")
            self.stderr.flush()
        else:
            # Progress is not an error: keep it out of the ERROR style stderr gets by default.
            self.stderr.write(line, style_func=_plain)
        self.shown = line

    def done(self) -> None:
        if self.redraw and self.shown:
            self.stderr.write("", style_func=_plain)

    def wait(self, job: Job, *, timeout: float | None = None) -> Job:
        """Poll the job's row until it is finished; return it, reloaded.

        Raises CommandError after `timeout` seconds, or when interrupted with Ctrl-C; the job
        itself carries on either way.
        """
        deadline = None if timeout is None else monotonic() + timeout
        try:
            while True:
                try:
                    job.refresh_from_db()
                except Job.DoesNotExist:
                    raise CommandError(f"Job {job.pk} was deleted.") from None
                self.show(job)
                if job.is_finished:
                    return job
                if deadline is not None and monotonic() >= deadline:
                    raise CommandError(
                        f"Job {job.pk} is still {job.status} after {timeout:g} s; it carries on. "
                        f"Follow it with: manage.py job {job.pk} --follow"
                    )
                sleep(
                    POLL_INTERVAL_S
                    if deadline is None
                    else max(0, min(POLL_INTERVAL_S, deadline - monotonic()))
                )
        except KeyboardInterrupt:
            raise CommandError(f"Stopped watching job {job.pk}; it is {job.status} and carries on.") from None
        finally:
            self.done()


class JobBulkCommand(BaseCommand):
    """Apply a bulk service (cancel, retry) to the jobs named by id, or to every job that matches
    --status and --type, 1,000 at a time, as POST /api/jobs/cancel/ and /retry/ do."""

    service: Callable[..., dict]  # jobs_cancel or jobs_retry
    applies_to: frozenset  # the statuses it can change
    conflict: str  # the message for a job it cannot change, with {status}

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", metavar="id", help="Job ids.")
        parser.add_argument("--status", choices=JobStatus.values, help="Every job with this status.")
        parser.add_argument("--type", help="Every job of this type (with --status: both).")

    def handle(self, *args, ids, status, type, **options):
        if ids and (status or type):
            raise CommandError("Give job ids, or --status and --type, not both.")
        if ids:
            self._by_ids([job_find(job_id).pk for job_id in ids])
        elif status or type:
            self._by_filters(status=status, type=type)
        else:
            raise CommandError("Give job ids, or --status and/or --type.")

    def _by_ids(self, job_ids: list) -> None:
        outcomes = self.service(job_ids=job_ids)
        refused = []
        for job_id, outcome in outcomes.items():
            if outcome.status is not None and outcome.result != CONFLICT:
                self.stdout.write(f"Job {job_id} is {outcome.status}.")
            else:
                refused.append(f"Job {job_id}: {self.conflict.format(status=outcome.status)}")
        if refused:
            raise CommandError("\n".join(refused))

    def _by_filters(self, *, status, type) -> None:
        counts: Counter = Counter()
        more = True
        while more:
            job_ids, more = selectors.job_ids_matching(
                status=status, type=type, among=self.applies_to, limit=BATCH_MAX_JOBS
            )
            if not job_ids:
                break
            counts.update(outcome.result for outcome in self.service(job_ids=job_ids).values())
        line = f"{sum(counts.values()):,} job(s) matched"
        if counts:
            line += ": " + ", ".join(f"{count:,} {result}" for result, count in sorted(counts.items()))
        self.stdout.write(f"{line}.")


# --- Lists and batches (jobs, prune) --------------------------------------------------------


def job_list_any(*, owner=None, status: str | None = None, type: str | None = None) -> QuerySet[Job]:
    """Everyone's jobs, or one owner's, newest first: what the admin's job list shows.

    Each filter is served by an index that ends in created_at, as the admin's and the API's are.
    """
    jobs = Job.objects.select_related("owner")
    if owner is not None:
        jobs = jobs.filter(owner=owner)
    if status:
        jobs = jobs.filter(status=status)
    if type:
        jobs = jobs.filter(type=type)
    return jobs.order_by("-created_at", "-id")


def duration_text(job: Job) -> str:
    return "-" if job.duration is None else f"{job.duration.total_seconds():.2f} s"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart, under a header line."""
    widths = [max(len(row[index]) for row in [headers, *rows]) for index in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )


def planner_row_estimate(queryset: QuerySet) -> int:
    """PostgreSQL's estimate of how many rows the queryset has, from its plan: no rows are read."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def count_for_progress(queryset: QuerySet, *, cap: int = 100_000) -> tuple[int, bool]:
    """(count, exact): an exact count up to `cap` rows; past it, the planner's estimate.

    Enough for a progress bar, without counting millions of rows before the work starts.
    """
    counted = queryset.order_by()[: cap + 1].count()
    if counted <= cap:
        return counted, True
    return max(planner_row_estimate(queryset), counted), False


class BatchProgress:
    """Report the progress of work done in batches on stderr: `[######........] 4,000/10,000`.

    On a terminal, one bar redrawn in place with \\r; otherwise (a log, a pipe) one line per
    batch. An estimated total is shown with a `~` and grows if the work outruns it.
    """

    width = 30

    def __init__(self, stderr: OutputWrapper, *, total: int, exact: bool = True):
        self.stderr = stderr
        self.redraw = stderr.isatty()
        self.total = total
        self.exact = exact
        self.shown = False

    def line(self, done: int) -> str:
        self.total = max(self.total, done)
        filled = self.width * done // self.total if self.total else self.width
        total = f"{self.total:,}" if self.exact else f"~{self.total:,}"
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{total}"

    def show(self, done: int) -> None:
        if self.redraw:
            self.stderr.write(f"\r{self.line(done)}", style_func=_plain, ending="")
            self.stderr.flush()
        else:
            self.stderr.write(self.line(done), style_func=_plain)
        self.shown = True

    def done(self) -> None:
        if self.redraw and self.shown:
            self.stderr.write("", style_func=_plain)
