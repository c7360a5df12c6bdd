"""The job admin's actions: cancel, retry and rerun, on the selected jobs through the services."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rest_framework.exceptions import ValidationError

from jobs.admin_display import reasons_text
from jobs.models import Job
from jobs.services.operate import (
    CANCEL_CONFLICT,
    CONFLICT,
    NOT_FOUND,
    RETRY_CONFLICT,
    jobs_cancel,
    jobs_retry,
)
from jobs.services.submit import job_rerun

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
                request, f"{job.pk}: {'; '.join(reasons_text(invalid.detail))}", messages.WARNING
            )
    if changed:
        modeladmin.message_user(request, f"{len(changed)} job(s) {done}.", messages.SUCCESS)
    return changed


def _apply_in_bulk(modeladmin, request, queryset, service, *, conflict: str, done: str) -> None:
    """Run a bulk service (jobs_cancel, jobs_retry) on the selected jobs; report how many it
    changed and why the others not."""
    jobs = _selected(modeladmin, request, queryset)
    if not jobs:
        return
    changed = 0
    for job_id, outcome in service(job_ids=[job.pk for job in jobs]).items():
        if outcome.result in {CONFLICT, NOT_FOUND}:
            reason = conflict.format(status=outcome.status)
            modeladmin.message_user(request, f"{job_id}: {reason}", messages.WARNING)
        else:
            changed += 1
    if changed:
        modeladmin.message_user(request, f"{changed} job(s) {done}.", messages.SUCCESS)


@admin.action(description="Cancel selected jobs")
def cancel_jobs(modeladmin, request, queryset):
    conflict = CANCEL_CONFLICT
    _apply_in_bulk(modeladmin, request, queryset, jobs_cancel, conflict=conflict, done="cancelled")


@admin.action(description="Retry selected jobs")
def retry_jobs(modeladmin, request, queryset):
    conflict = RETRY_CONFLICT
    _apply_in_bulk(modeladmin, request, queryset, jobs_retry, conflict=conflict, done="queued again")


RERUN_LINKS_SHOWN = 10


@admin.action(description="Rerun selected jobs with the same params")
def rerun_jobs(modeladmin, request, queryset):
    reruns = _apply_to_each(modeladmin, request, queryset, job_rerun, "submitted again as new jobs")
    if reruns:
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:jobs_job_change", args=[job.pk]), job.pk) for job in reruns[:RERUN_LINKS_SHOWN]),
        )
        more = f" and {len(reruns) - RERUN_LINKS_SHOWN} more" if len(reruns) > RERUN_LINKS_SHOWN else ""
        modeladmin.message_user(request, format_html("New jobs: {}{}", links, more), messages.INFO)
