"""The operator's admin: jobs, workflows and webhook deliveries, read-only, acted on through services.

The job table may hold millions of rows, so every list here reads an index and stops early:
no page count from a full COUNT(*) (EstimatedCountPaginator), no filter whose choices need a
SELECT DISTINCT over the table (JobTypeFilter, JobQueueFilter), no facet counts, no
date_hierarchy, and sorting only by columns with an index (`sortable_by`, enforced by
IndexedChangeList).
"""

import json
import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django_celery_results.models import TaskResult
from rest_framework.exceptions import ValidationError

from jobs import services
from jobs.models import Job, JobAttempt, JobStatus, Workflow
from jobs.registry import job_type_names
from webhooks.models import WebhookDelivery

# --- Lists that stay fast on a big table -----------------------------------------------------


class ResultCount(int):
    """A row count that is a lower bound or an estimate, and says so when printed.

    The changelist pages and compares with it as a number; its templates and messages print
    it with str(), so they show "10,000+" or "~1,000,000" rather than a falsely exact number.
    """

    text: str

    def __new__(cls, value: int, *, text: str):
        count = super().__new__(cls, value)
        count.text = text
        return count

    def __str__(self) -> str:
        return self.text


def table_row_estimate(queryset: QuerySet) -> int:
    """PostgreSQL's estimate of the rows in the queryset's table (kept fresh by autovacuum).

    -1 (never analyzed) and a missing table both read as 0.
    """
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return max(row[0], 0) if row else 0


def _is_whole_table(queryset: QuerySet) -> bool:
    query = queryset.query
    return not (query.where or query.distinct or query.combinator or query.is_sliced)


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts more than `cap` rows.

    The unfiltered list of a table bigger than `cap` takes PostgreSQL's row estimate
    (pg_class.reltuples), shown as "~1,000,000"; anything else counts at most cap + 1 rows
    (`SELECT count(*) FROM (... LIMIT 10001)`) and shows "10,000+" beyond the cap. Pages go up
    to the count: past the cap, narrow the list with a filter or a search.
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if _is_whole_table(queryset):
            estimate = table_row_estimate(queryset)
            if estimate > self.cap:
                return ResultCount(estimate, text=f"~{estimate:,}")
        # No ORDER BY: the database may stop at the first cap + 1 rows of any index.
        counted = queryset.order_by()[: self.cap + 1].count()
        if counted > self.cap:
            return ResultCount(self.cap, text=f"{self.cap:,}+")
        return counted


class IndexedChangeList(ChangeList):
    """A changelist that sorts only by the columns in `sortable_by`, which have an index.

    Django greys out the other column headers but still sorts by any column named in `?o=`,
    which on a big table sorts millions of rows for one page. Those columns are dropped from
    `?o=`, and with none left the list keeps its default order.
    """

    def get_ordering(self, request, queryset):
        if ORDER_VAR in self.params:
            sortable = [part for part in self.params[ORDER_VAR].split(".") if self._is_sortable(part)]
            if sortable:
                self.params[ORDER_VAR] = ".".join(sortable)
            else:
                del self.params[ORDER_VAR]
        return super().get_ordering(request, queryset)

    def _is_sortable(self, part: str) -> bool:
        index = part.removeprefix("-")
        if not index.isdigit() or int(index) >= len(self.list_display):
            return False
        return self.list_display[int(index)] in self.sortable_by


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: staff look, and act through admin actions."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # no COUNT(*) over a big table for the "N total" link
    show_facets = admin.ShowFacets.NEVER  # facet counts are COUNT(*)s over the filtered table
    sortable_by = ["created_at"]  # the lists' default order; any other column would sort the table

    def get_changelist(self, request, **kwargs):
        return IndexedChangeList

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Removal belongs to a pruning service that also removes the job's TaskResult and log.
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ExactValueFilter(admin.SimpleListFilter):
    """Filter a column by exact value, with choices from code: no SELECT DISTINCT over the table.

    A value that is not among the choices (a job type no longer registered) still filters.
    """

    def values(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.values()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class JobTypeFilter(ExactValueFilter):
    title = "type"
    parameter_name = "type"

    def values(self):
        return job_type_names()


class JobQueueFilter(ExactValueFilter):
    title = "queue"
    parameter_name = "queue"

    def values(self):
        return [queue.name for queue in settings.CELERY_TASK_QUEUES]


# --- Showing a job ---------------------------------------------------------------------------

STATUS_COLOURS = {
    JobStatus.PENDING: "#5f7487",  # waiting: grey-blue
    JobStatus.SCHEDULED: "#5f7487",
    JobStatus.QUEUED: "#5f7487",
    JobStatus.RUNNING: "#1d64c2",
    JobStatus.RETRYING: "#b36b00",  # amber
    JobStatus.SUCCEEDED: "#2b7a34",
    JobStatus.FAILED: "#c0392b",
    JobStatus.CANCELLED: "#7b7b7b",
}
BADGE_STYLE = (
    "display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:11px;"
    "font-weight:600;line-height:16px;white-space:nowrap;background:{}"
)
BAR_STYLE = (
    "display:inline-block;width:80px;height:8px;border-radius:4px;background:#dcdcdc;"
    "overflow:hidden;vertical-align:middle"
)
FILL_STYLE = "display:block;height:100%;width:{}%;background:#1d64c2"
PRE_STYLE = "white-space:pre-wrap;word-break:break-word;max-height:32em;overflow:auto;margin:0"
SHOWN_CHARS = 100_000  # a bigger result or traceback is cut on the page; the TaskResult has it all


def status_badge(status: str):
    """A small coloured label for a job or workflow status."""
    colour = STATUS_COLOURS.get(status, "#7b7b7b")
    label = JobStatus(status).label if status in JobStatus.values else status
    return format_html(
        '<span class="job-status job-status-{}" style="{}">{}</span>',
        status,
        format_html(BADGE_STYLE, colour),
        label,
    )


def progress_bar(job: Job):
    """A bar and the percentage, or "—" before the job has reported progress."""
    if not job.progress_total:
        return "—"
    current = min(job.progress_current or 0, job.progress_total)
    percent = 100 * current // job.progress_total
    return format_html(
        '<span class="job-progress" title="{} of {}" role="progressbar" aria-valuenow="{}" '
        'aria-valuemin="0" aria-valuemax="100"><span style="{}"><span style="{}"></span></span> {}%</span>',
        current,
        job.progress_total,
        percent,
        BAR_STYLE,
        format_html(FILL_STYLE, percent),
        percent,
    )


def timestamp(value) -> str:
    """Local time to the second: Django's default format stops at the minute."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "—"


def seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _pre(text: str):
    if len(text) > SHOWN_CHARS:
        text = f"{text[:SHOWN_CHARS]}\n… cut at {SHOWN_CHARS:,} characters; the Celery result has the rest."
    return format_html('<pre style="{}">{}</pre>', PRE_STYLE, text)


def _pretty_json(value):
    return _pre(json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))


def _task_result(job: Job) -> TaskResult | None:
    """The job's Celery outcome (task id = job id), read once however many fields show it."""
    if not hasattr(job, "_task_result"):
        job._task_result = TaskResult.objects.filter(task_id=str(job.pk)).first()
    return job._task_result


# --- Acting on jobs ----------------------------------------------------------------------------


def _reasons(detail):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from (f"{key}: {reason}" for reason in _reasons(value))
    elif isinstance(detail, list):
        for item in detail:
            yield from _reasons(item)
    else:
        yield str(detail)


ACTION_MAX_JOBS = 1000  # "Select all" can pick a million jobs; one request should not act on them all


def _selected(modeladmin, request, queryset) -> list[Job]:
    """The selected jobs; none, with an error message, if there are more than ACTION_MAX_JOBS."""
    jobs = list(queryset[: ACTION_MAX_JOBS + 1])
    if len(jobs) > ACTION_MAX_JOBS:
        modeladmin.message_user(
            request,
            f"More than {ACTION_MAX_JOBS:,} jobs selected; nothing was done. Narrow the list with a filter.",
            messages.ERROR,
        )
        return []
    return jobs


def _apply_to_each(modeladmin, request, queryset, service, done: str) -> list[Job]:
    """Run a job service on each selected job; report how many it changed and why others not.

    Returns what the service returned for each job it did not refuse.
    """
    changed = []
    for job in _selected(modeladmin, request, queryset):
        try:
            changed.append(service(job=job))
        except ValidationError as invalid:  # e.g. a rerun of a type whose params have changed
            modeladmin.message_user(
                request, f"{job.pk}: {'; '.join(_reasons(invalid.detail))}", messages.WARNING
            )
    if changed:
        modeladmin.message_user(request, f"{len(changed)} job(s) {done}.", messages.SUCCESS)
    return changed


def _apply_in_bulk(modeladmin, request, queryset, service, *, conflict: str, done: str) -> None:
    """Run a bulk service (jobs_cancel, jobs_retry) on the selected jobs in one transaction;
    report how many it changed and why the others not."""
    jobs = _selected(modeladmin, request, queryset)
    if not jobs:
        return
    changed = 0
    for job_id, outcome in service(job_ids=[job.pk for job in jobs]).items():
        if outcome.result in {services.CONFLICT, services.NOT_FOUND}:
            reason = conflict.format(status=outcome.status)
            modeladmin.message_user(request, f"{job_id}: {reason}", messages.WARNING)
        else:
            changed += 1
    if changed:
        modeladmin.message_user(request, f"{changed} job(s) {done}.", messages.SUCCESS)


@admin.action(description="Cancel selected jobs")
def cancel_jobs(modeladmin, request, queryset):
    conflict = services.CANCEL_CONFLICT
    _apply_in_bulk(modeladmin, request, queryset, services.jobs_cancel, conflict=conflict, done="cancelled")


@admin.action(description="Retry selected jobs")
def retry_jobs(modeladmin, request, queryset):
    conflict = services.RETRY_CONFLICT
    _apply_in_bulk(modeladmin, request, queryset, services.jobs_retry, conflict=conflict, done="queued again")


RERUN_LINKS_SHOWN = 10


@admin.action(description="Rerun selected jobs with the same params")
def rerun_jobs(modeladmin, request, queryset):
    reruns = _apply_to_each(modeladmin, request, queryset, services.job_rerun, "submitted again as new jobs")
    if reruns:
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:jobs_job_change", args=[job.pk]), job.pk) for job in reruns[:RERUN_LINKS_SHOWN]),
        )
        more = f" and {len(reruns) - RERUN_LINKS_SHOWN} more" if len(reruns) > RERUN_LINKS_SHOWN else ""
        modeladmin.message_user(request, format_html("New jobs: {}{}", links, more), messages.INFO)


# --- The admins --------------------------------------------------------------------------------


class JobAttemptInline(ReadOnlyInline):
    model = JobAttempt
    fields = ["number", "worker", "started_at", "finished_at", "error_type", "error_message"]
    readonly_fields = fields


class WebhookDeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = ["attempt", "url", "status_code", "duration_ms", "delivered", "error", "created_at"]
    readonly_fields = fields
    ordering = ["attempt"]
    show_change_link = True


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "type",
        "status_display",
        "progress_display",
        "owner",
        "queue",
        "created_display",
        "duration_display",
        "attempts",
    ]
    sortable_by = ["created_display"]
    # Each filter wants an index on (column, -created_at); type and queue do not have one yet.
    list_filter = [
        "status",
        JobTypeFilter,
        JobQueueFilter,
        ("created_at", admin.DateFieldListFilter),
    ]
    actions = [cancel_jobs, retry_jobs, rerun_jobs]
    inlines = [JobAttemptInline, WebhookDeliveryInline]
    list_select_related = ["owner"]
    # `=`: iexact. It reads the (small) user table and then the (owner, created_at) index, unlike
    # icontains, and a full job id is looked up by primary key in get_search_results.
    search_fields = ["=owner__username"]
    search_help_text = "A full job id, or an owner's exact username (any case)."
    readonly_fields = [
        "id",
        "owner",
        "type",
        "status_display",
        "attempts",
        "queue",
        "priority",
        "run_at",
        "callback_url",
        "workflow",
        "step",
        "params_display",
        "progress_display",
        "progress_current",
        "progress_total",
        "progress_message",
        "result_display",
        "error_display",
        "traceback_display",
        "task_result_link",
        "flower_link",
        "created_display",
        "started_display",
        "finished_display",
        "duration_display",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "type", "status_display", "attempts", "params_display"]}),
        (
            "Progress",
            {"fields": ["progress_display", "progress_current", "progress_total", "progress_message"]},
        ),
        (
            "Outcome",
            {
                "fields": [
                    "result_display",
                    "error_display",
                    "traceback_display",
                    "task_result_link",
                    "flower_link",
                ]
            },
        ),
        (
            "Timing",
            {"fields": ["created_display", "started_display", "finished_display", "duration_display"]},
        ),
        ("Delivery", {"fields": ["queue", "priority", "run_at", "callback_url", "workflow", "step"]}),
    ]

    @admin.display(description="status")
    def status_display(self, job):
        return status_badge(job.status)

    @admin.display(description="progress")
    def progress_display(self, job):
        return progress_bar(job)

    @admin.display(description="created", ordering="created_at")
    def created_display(self, job):
        return timestamp(job.created_at)

    @admin.display(description="started")
    def started_display(self, job):
        return timestamp(job.started_at)

    @admin.display(description="finished")
    def finished_display(self, job):
        return timestamp(job.finished_at)

    @admin.display(description="duration")
    def duration_display(self, job):
        if job.duration is not None:
            return seconds_text(job.duration.total_seconds())
        if job.status == JobStatus.RUNNING and job.started_at:
            return f"{seconds_text((timezone.now() - job.started_at).total_seconds())} so far"
        return "—"

    @admin.display(description="params")
    def params_display(self, job):
        return _pretty_json(job.params)

    @admin.display(description="result")
    def result_display(self, job):
        task_result = _task_result(job)
        if job.status != JobStatus.SUCCEEDED or task_result is None or task_result.result is None:
            return "—"
        return _pretty_json(json.loads(task_result.result))

    @admin.display(description="error")
    def error_display(self, job):
        if not job.error_type:
            return "—"
        return _pre(f"{job.error_type}: {job.error_message}")

    @admin.display(description="traceback")
    def traceback_display(self, job):
        task_result = _task_result(job)
        if task_result is None or not task_result.traceback:
            return "—"
        return _pre(task_result.traceback)

    @admin.display(description="Celery result")
    def task_result_link(self, job):
        task_result = _task_result(job)
        if task_result is None:
            return "—"
        url = reverse("admin:django_celery_results_taskresult_change", args=[task_result.pk])
        return format_html('<a href="{}">{} (result, traceback)</a>', url, task_result.status)

    @admin.display(description="Flower")
    def flower_link(self, job):
        url = f"{settings.FLOWER_URL}/task/{job.pk}"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def get_search_results(self, request, queryset, search_term):
        # A full job id finds that job by primary key; anything else searches usernames.
        try:
            job_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=job_id), False


class WorkflowStepInline(ReadOnlyInline):
    model = Job
    fields = ["step", "id", "type", "status", "error_type", "error_message", "finished_at"]
    readonly_fields = fields
    ordering = ["step"]
    show_change_link = True


@admin.register(Workflow)
class WorkflowAdmin(ReadOnlyAdmin):
    list_display = ["id", "status_display", "owner", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "owner", "status", "created_at", "finished_at"]
    inlines = [WorkflowStepInline]

    @admin.display(description="status")
    def status_display(self, workflow):
        return status_badge(workflow.status)
