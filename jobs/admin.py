import uuid

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django_celery_results.models import TaskResult

from jobs import services
from jobs.exceptions import JobConflict
from jobs.models import Job, JobAttempt, Workflow


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: staff look, and act through admin actions."""

    show_full_result_count = False  # no COUNT(*) over a big table for the "N total" link

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


class JobAttemptInline(ReadOnlyInline):
    model = JobAttempt
    fields = ["number", "worker", "started_at", "finished_at", "error_type", "error_message"]
    readonly_fields = fields


def _apply_to_each(modeladmin, request, queryset, service, done: str):
    """Run a job service on each selected job; report how many it changed and why others not."""
    changed = 0
    for job in queryset:
        try:
            service(job=job)
            changed += 1
        except JobConflict as conflict:
            modeladmin.message_user(request, f"{job.pk}: {conflict}", messages.WARNING)
    if changed:
        modeladmin.message_user(request, f"{changed} job(s) {done}.", messages.SUCCESS)


@admin.action(description="Cancel selected jobs")
def cancel_jobs(modeladmin, request, queryset):
    _apply_to_each(modeladmin, request, queryset, services.job_cancel, "cancelled")


@admin.action(description="Retry selected jobs")
def retry_jobs(modeladmin, request, queryset):
    _apply_to_each(modeladmin, request, queryset, services.job_retry, "queued again")


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "status", "owner", "created_at", "duration_display", "attempts"]
    list_filter = ["status", "type", "queue"]
    actions = [cancel_jobs, retry_jobs]
    inlines = [JobAttemptInline]
    list_select_related = ["owner"]
    search_fields = ["owner__username"]
    search_help_text = "A job id, or an owner's username."
    readonly_fields = [
        "id",
        "owner",
        "type",
        "params",
        "status",
        "progress_current",
        "progress_total",
        "progress_message",
        "attempts",
        "queue",
        "priority",
        "run_at",
        "callback_url",
        "workflow",
        "step",
        "error_type",
        "error_message",
        "created_at",
        "started_at",
        "finished_at",
        "duration_display",
        "task_result_link",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "type", "params", "status", "attempts"]}),
        ("Delivery", {"fields": ["queue", "priority", "run_at", "callback_url", "workflow", "step"]}),
        ("Progress", {"fields": ["progress_current", "progress_total", "progress_message"]}),
        ("Outcome", {"fields": ["error_type", "error_message", "task_result_link"]}),
        ("Timing", {"fields": ["created_at", "started_at", "finished_at", "duration_display"]}),
    ]

    @admin.display(description="duration")
    def duration_display(self, job):
        duration = job.duration
        return "—" if duration is None else f"{duration.total_seconds():.3f} s"

    @admin.display(description="Celery result")
    def task_result_link(self, job):
        task_result = TaskResult.objects.filter(task_id=str(job.pk)).only("pk", "status").first()
        if task_result is None:
            return "—"
        url = reverse("admin:django_celery_results_taskresult_change", args=[task_result.pk])
        return format_html('<a href="{}">{} (result, traceback)</a>', url, task_result.status)

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
    list_display = ["id", "status", "owner", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "owner", "status", "created_at", "finished_at"]
    inlines = [WorkflowStepInline]
