"""A job's current attempt: the one a running worker owns, and how it ends."""

from django.utils import timezone

from jobs.models import Job, JobAttempt, JobStatus


def attempt_finish(*, job: Job, error_type: str = "", error_message: str = "") -> None:
    JobAttempt.objects.filter(job=job, number=job.attempts).update(
        finished_at=timezone.now(), error_type=error_type, error_message=error_message
    )


def current_attempt(job: Job):
    """The job's row, if `job` is still its current running attempt."""
    return Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)
