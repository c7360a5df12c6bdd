"""The operator's admin: jobs, workflows and webhook deliveries, read-only, acted on through services;
and the periodic tasks, with a reset to the code's declaration.

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
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from common.admin import ExactValueFilter, ReadOnlyAdmin, ReadOnlyInline
from jobs.admin_actions import cancel_jobs, rerun_jobs, retry_jobs
from jobs.admin_display import (
    pre_block,
    pretty_json,
    progress_bar,
    seconds_text,
    status_badge,
    task_result_of,
    timestamp,
)
from jobs.models import Job, JobAttempt, JobStatus, Workflow
from jobs.periodic import periodic_task_reset
from jobs.registry import job_type_names
from webhooks.models import WebhookDelivery


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
        "kind",
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
        "kind",
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
        (None, {"fields": ["id", "owner", "kind", "type", "status_display", "attempts", "params_display"]}),
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
        return pretty_json(job.params)

    @admin.display(description="result")
    def result_display(self, job):
        task_result = task_result_of(job)
        if job.status != JobStatus.SUCCEEDED or task_result is None or task_result.result is None:
            return "—"
        return pretty_json(json.loads(task_result.result))

    @admin.display(description="error")
    def error_display(self, job):
        if not job.error_type:
            return "—"
        return pre_block(f"{job.error_type}: {job.error_message}")

    @admin.display(description="traceback")
    def traceback_display(self, job):
        task_result = task_result_of(job)
        if task_result is None or not task_result.traceback:
            return "—"
        return pre_block(task_result.traceback)

    @admin.display(description="Celery result")
    def task_result_link(self, job):
        task_result = task_result_of(job)
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


# django-celery-beat's own admin, with the reset the code's declarations make possible.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class DeclaredPeriodicTaskAdmin(PeriodicTaskAdmin):
    actions = [*PeriodicTaskAdmin.actions, "reset_to_code_default"]

    @admin.action(description="Reset selected tasks to the code's declaration")
    def reset_to_code_default(self, request, queryset):
        declared = [row.name for row in queryset if row.name in settings.CELERY_BEAT_SCHEDULE]
        for name in declared:
            periodic_task_reset(name=name)
        if declared:
            done = f"Reset to the code's declaration: {', '.join(declared)}."
            self.message_user(request, done, messages.SUCCESS)
        undeclared = [row.name for row in queryset if row.name not in declared]
        if undeclared:
            left = f"Not declared in the code, left as they are: {', '.join(undeclared)}."
            self.message_user(request, left, messages.WARNING)
