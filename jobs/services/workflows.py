"""Workflows: steps that run one after another, each given the previous step's result."""

from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from jobs.exceptions import JobConflict
from jobs.models import TERMINAL_STATUSES, Job, JobStatus, Workflow
from jobs.services.operate import job_cancel
from jobs.services.publish import publish_on_commit
from jobs.services.submit import JobSpec, job_from_spec, job_params_validate


def workflow_create(*, owner, steps: list[dict]) -> Workflow:
    """Create a workflow whose steps run one after another; step n+1 gets step n's result.

    `steps` are {"type", "params"} dicts. Every step is validated before anything is
    stored; errors come back per step.
    """
    errors: list = []
    specs: list[JobSpec] = []
    for index, step in enumerate(steps):
        try:
            params = job_params_validate(
                type=step["type"], params=step.get("params", {}), previous_pending=index > 0
            )
            specs.append(JobSpec(type=step["type"], params=params))
            errors.append({})
        except ValidationError as error:
            errors.append(error.detail)
    if any(errors):
        raise ValidationError({"steps": errors})
    with transaction.atomic():
        workflow = Workflow.objects.create(owner=owner, status=JobStatus.RUNNING)
        jobs = [
            job_from_spec(owner=owner, spec=spec, workflow=workflow, step=index)
            for index, spec in enumerate(specs)
        ]
        for job in jobs[1:]:
            job.status = JobStatus.PENDING
        Job.objects.bulk_create(jobs)
        publish_on_commit(jobs[:1])
    return workflow


def workflow_advance(*, workflow_id) -> None:
    """After a step finished: queue the next, or stop the rest after a failure, or finish."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().filter(pk=workflow_id).first()
        if workflow is None or workflow.status in TERMINAL_STATUSES:
            return
        steps = list(workflow.jobs.order_by("step"))
        stopped = next((job for job in steps if job.status in {JobStatus.FAILED, JobStatus.CANCELLED}), None)
        if stopped is not None:
            reason = f"Step {stopped.step} ({stopped.type}) {stopped.status}; the steps after it did not run."
            for job in steps:
                if job.status == JobStatus.PENDING:
                    job_cancel(job=job, reason=reason)
            _workflow_finish(workflow, stopped.status)
            return
        waiting = next((job for job in steps if job.status == JobStatus.PENDING), None)
        if waiting is None:
            if all(job.status == JobStatus.SUCCEEDED for job in steps):
                _workflow_finish(workflow, JobStatus.SUCCEEDED)
            return
        previous = steps[steps.index(waiting) - 1]
        if previous.status == JobStatus.SUCCEEDED:
            Job.objects.filter(pk=waiting.pk, status=JobStatus.PENDING).update(
                status=JobStatus.QUEUED, queued_at=timezone.now()
            )
            waiting.status = JobStatus.QUEUED
            publish_on_commit([waiting])


def _workflow_finish(workflow: Workflow, status: str) -> None:
    workflow.status = status
    workflow.finished_at = timezone.now()
    workflow.save(update_fields=["status", "finished_at"])


def workflow_cancel(*, workflow: Workflow) -> Workflow:
    """Cancel every unfinished step; the workflow ends cancelled."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
        if workflow.status in TERMINAL_STATUSES and workflow.status != JobStatus.CANCELLED:
            raise JobConflict(f"The workflow has already {workflow.status}.")
        for job in workflow.jobs.exclude(status__in=TERMINAL_STATUSES).order_by("step"):
            job_cancel(job=job, reason="The workflow was cancelled.")
        _workflow_finish(workflow, JobStatus.CANCELLED)
    return workflow


def on_job_finished(sender, *, workflow_id=None, **kwargs) -> None:
    """The job_finished receiver (connected in jobs/apps.py): a finished step moves its workflow on."""
    if workflow_id is not None:
        workflow_advance(workflow_id=workflow_id)
